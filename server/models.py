"""Imports every model module so the metadata knows all tables (Alembic and tests use it)."""
from server.accounts.models import Account, ApiToken, WebSession  # noqa: F401
from server.designs.models import Blob, Design, DesignFile, DesignTag, DesignVersion, FileProcess  # noqa: F401
from server.designs.parents import DesignParent  # noqa: F401
from server.evidence.models import BuildPhoto, BuildReportRecord, ReceiptRecord  # noqa: F401
from server.fablabs.models import Fablab, Machine, MachineStateSample  # noqa: F401
from server.idempotency import IdempotencyRecord  # noqa: F401
from server.ledger.models import LedgerEvent, ValueChoice  # noqa: F401
from server.orders.models import Job, Order, OrderEvent  # noqa: F401
from server.quotes.models import RateCardVersion  # noqa: F401
