"""Constrained field types shared by the request and answer models."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer, WithJsonSchema

from cosmoloc_contract.enums import PROCESSES

#: The largest value of an ``Integer`` column on PostgreSQL (ids, ``seq``, counts); SQLite holds more,
#: but a value that only one of the two databases can store is refused on both.
MAX_DB_INT = 2**31 - 1

#: An id or a count in a request body or query: a positive ``Integer`` column value.
DbId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_control(value: str) -> str:
    """``value`` unchanged; ValueError when it holds a control character (line break, tab, ...)."""
    if _CONTROL.search(value):
        raise ValueError("a name holds no control characters (line breaks, tabs, ...)")
    return value


#: A one-line name (titles, lab, machine and account names): control characters are refused, so a name
#: can never break the line of a file it is written into (an agent's TOML, a log, a header).
Name = Annotated[str, AfterValidator(no_control)]


def check_process(value: str) -> str:
    if value not in PROCESSES:
        raise ValueError(f"process must be one of {', '.join(PROCESSES)}")
    return value


#: A process name, checked against the vocabulary with the hub's own message (documented as an enum).
ProcessName = Annotated[str, AfterValidator(check_process), Field(json_schema_extra={"enum": list(PROCESSES)})]

#: A machine's key within its lab.
MachineKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]

#: A time in ISO 8601 with its UTC offset, written as Python's ``isoformat()`` writes it
#: (``2026-12-06T21:49:04.123456+00:00``), as the hub always has.
Timestamp = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
                     WithJsonSchema({"type": "string", "format": "date-time"})]

#: Three lengths in mm (x, y, z).
Vec3 = tuple[float, float, float]
