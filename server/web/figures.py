"""Live figures for the home page: designs, labs online, orders made and how far they travelled."""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.designs.models import Design
from server.fablabs.models import Fablab
from server.orders.models import Order, OrderStatus

MADE = (OrderStatus.COMPLETED, OrderStatus.RECEIVED)


@dataclass(frozen=True)
class Figures:
    designs: int
    labs: int
    labs_online: int
    orders_made: int
    median_distance_km: float | None  # between the lab that made it and the citizen


def figures(session: Session, now: dt.datetime, stale_after_s: int) -> Figures:
    """Counts for the home page; "online" is the same test as the directory's (a report within ``stale_after_s``)."""
    fresh = now - dt.timedelta(seconds=stale_after_s)
    distances = [d for d in session.scalars(select(Order.distance_km).where(Order.status.in_(MADE))) if d is not None]
    made = int(session.scalar(select(func.count()).select_from(Order).where(Order.status.in_(MADE))) or 0)
    return Figures(
        designs=int(session.scalar(select(func.count()).select_from(Design)) or 0),
        labs=int(session.scalar(select(func.count()).select_from(Fablab)) or 0),
        labs_online=int(session.scalar(select(func.count()).select_from(Fablab).where(Fablab.last_seen_at >= fresh)) or 0),
        orders_made=made,
        median_distance_km=statistics.median(distances) if distances else None,
    )
