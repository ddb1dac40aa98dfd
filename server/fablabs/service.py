"""Labs and machines: registration, editing, node tokens, the directory (heartbeats: :mod:`server.fablabs.heartbeats`).

Services take the session and flush; the request edge commits.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from cosmoloc_contract.fablabs import FablabIn, FablabPatch, MachineIn
from server.accounts.models import Account
from server.errors import ApiError, invalid, not_found
from server.fablabs import geocoding, nearby, spatial
from server.fablabs.models import Fablab, Machine, MachineStateSample

NODE_TOKEN_PREFIX = "cln_"
MAX_RADIUS_KM = spatial.EARTH_HALF_CIRCUMFERENCE_KM
DEFAULT_RADIUS_KM = 200.0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_node_token(lab: Fablab) -> str:
    """Give the lab a new node token (the old one stops working now); return it to show once."""
    token = NODE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    lab.node_token_hash = hash_token(token)
    lab.node_token_prefix = token[:10]
    return token


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    approximate: bool
    address: str


def resolve_location(latitude: float | None, longitude: float | None, address: str | None) -> Location:
    """Coordinates as given, or the address geocoded; 422 ``address_not_found`` when it cannot be placed."""
    if latitude is not None and longitude is not None:
        return Location(latitude, longitude, False, (address or "").strip())
    if (latitude is None) != (longitude is None):
        raise invalid("Give both latitude and longitude, or an address.", {"latitude": ["both or none"]},
                      code="invalid_location")
    if not address or not address.strip():
        raise invalid("Give the lab's latitude and longitude, or an address.", {"address": ["required"]},
                      code="invalid_location")
    try:
        place = geocoding.geocode(address.strip())
    except geocoding.AddressNotFound as exc:
        raise ApiError(422, "address_not_found", str(exc), {"address": [str(exc)]}) from None
    return Location(place.latitude, place.longitude, place.approximate, address.strip())


def place_lab(lab: Fablab, where: Location) -> None:
    lab.latitude, lab.longitude = where.latitude, where.longitude
    lab.location_approximate = where.approximate
    lab.address = where.address
    for column, value in spatial.cells_of(where.latitude, where.longitude).items():
        setattr(lab, column, value)


def new_machine(spec: MachineIn) -> Machine:
    x, y, z = spec.build_volume_mm
    return Machine(key=spec.key, name=spec.name, process=spec.process, build_x_mm=x, build_y_mm=y, build_z_mm=z,
                   materials=list(spec.materials))


def _check_unique_keys(machines: list[MachineIn]) -> None:
    keys = [m.key for m in machines]
    if len(keys) != len(set(keys)):
        raise invalid("Machine keys must be unique within a lab.", {"machines": ["duplicate key"]},
                      code="duplicate_machine_key")


def check_machine_count(count: int, max_machines: int) -> None:
    """422 ``too_many_machines`` when a lab would have more than ``max_machines`` (the ``machines_per_lab`` limit)."""
    if count > max_machines:
        raise invalid(f"A lab may have at most {max_machines} machines; this would give it {count}.",
                      {"machines": [f"at most {max_machines}"]}, code="too_many_machines")


def register(session: Session, operator: Account, body: FablabIn, max_machines: int) -> tuple[Fablab, str]:
    """Register a lab run by ``operator``; return it with its node token (shown once). 422 ``too_many_machines``
    past ``max_machines``."""
    _check_unique_keys(body.machines)
    check_machine_count(len(body.machines), max_machines)
    where = resolve_location(body.latitude, body.longitude, body.address)
    lab = Fablab(name=body.name.strip(), kind=body.kind, description=body.description, operator=operator,
                 accepting_orders=body.accepting_orders, machines=[new_machine(m) for m in body.machines])
    place_lab(lab, where)
    token = new_node_token(lab)
    session.add(lab)
    session.flush()
    return lab, token


def get_lab(session: Session, lab_id: int) -> Fablab:
    lab = session.get(Fablab, lab_id, options=[selectinload(Fablab.machines)])
    if lab is None:
        raise not_found("fablab")
    return lab


def require_operator(lab: Fablab, account: Account) -> None:
    if lab.operator_id != account.id:
        raise ApiError(403, "not_operator", "Only the lab's operator can change it.")


def update(session: Session, operator: Account, lab: Fablab, patch: FablabPatch, now: dt.datetime,
           max_machines: int) -> Fablab:
    """Apply the operator's changes (``machines``, when given, is the whole list: at most ``max_machines``, else
    422 ``too_many_machines``). A lab that opens to orders or changes its machines may now make
    what nearby unmatched orders need: they are retried soon."""
    require_operator(lab, operator)
    was_open = lab.accepting_orders
    fields = patch.model_fields_set
    for name in ("name", "kind", "description", "accepting_orders"):
        if name in fields and getattr(patch, name) is not None:
            setattr(lab, name, getattr(patch, name))
    if fields & {"latitude", "longitude", "address"}:
        place_lab(lab, resolve_location(patch.latitude, patch.longitude, patch.address))
    if "machines" in fields and patch.machines is not None:
        _check_unique_keys(patch.machines)
        check_machine_count(len(patch.machines), max_machines)
        current = {m.key: m for m in lab.machines}
        wanted = {m.key for m in patch.machines}
        for spec in patch.machines:
            m = current.get(spec.key)
            if m is None:
                lab.machines.append(new_machine(spec))
            else:
                m.name, m.process, m.materials = spec.name, spec.process, list(spec.materials)
                m.build_x_mm, m.build_y_mm, m.build_z_mm = spec.build_volume_mm
        for key, m in current.items():
            if key not in wanted:
                lab.machines.remove(m)
    lab.updated_at = now
    session.flush()
    if lab.accepting_orders and (not was_open or patch.machines is not None):
        from server.orders.service import capacity_appeared

        capacity_appeared(session, lab.latitude, lab.longitude, now)
    return lab


def rotate_token(session: Session, operator: Account, lab: Fablab) -> str:
    require_operator(lab, operator)
    token = new_node_token(lab)
    session.flush()
    return token


def lab_for_node_token(session: Session, token: str) -> Fablab | None:
    if not token.startswith(NODE_TOKEN_PREFIX):
        return None
    return session.scalar(select(Fablab).where(Fablab.node_token_hash == hash_token(token)))


def is_online(last_seen_at: dt.datetime | None, now: dt.datetime, stale_after_s: int) -> bool:
    """Whether a lab last seen then counts as online now."""
    return last_seen_at is not None and (now - last_seen_at).total_seconds() <= stale_after_s


SelectT = TypeVar("SelectT", bound=Select)


def _process_filter(query: Select[Any], process: str | None) -> Select[Any]:
    if process:
        return query.where(Fablab.id.in_(select(Machine.fablab_id).where(Machine.process == process)))
    return query


def prefilter(query: SelectT, latitude: float, longitude: float, radius_km: float) -> SelectT:
    """Narrow a lab query to the grid cells covering the circle (or its latitude band)."""
    cover = spatial.cover(latitude, longitude, radius_km)
    if cover.column is not None:
        return query.where(getattr(Fablab, cover.column).in_(cover.cells))
    dlat = radius_km / spatial.KM_PER_DEG_LAT_MIN * 1.01
    return query.where(Fablab.latitude.between(latitude - dlat, latitude + dlat))


def within_arrays(session: Session, latitude: float, longitude: float, radius_km: float,
                  query: Select[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labs within ``radius_km`` of the point (geodesic): ``(ids, distances_km)``, nearest first (ties by id).

    ``query`` may add filters to ``select(Fablab)``; the spatial prefilter is added here.
    """
    base = query if query is not None else select(Fablab)
    rows = session.execute(prefilter(base.with_only_columns(Fablab.id, Fablab.latitude, Fablab.longitude),
                                     latitude, longitude, radius_km)).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    table = np.array([tuple(r) for r in rows], dtype=float).reshape(len(rows), 3)  # tuples: numpy probes Rows slowly
    ids = table[:, 0].astype(np.int64)
    dist = spatial.distances_km(latitude, longitude, table[:, 1], table[:, 2])
    keep = dist <= radius_km
    ids, dist = ids[keep], dist[keep]
    order = np.lexsort((ids, dist))
    return ids[order], dist[order]


def within(session: Session, latitude: float, longitude: float, radius_km: float,
           query: Select[Any] | None = None) -> list[tuple[int, float]]:
    """:func:`within_arrays` as a list of ``(lab id, distance_km)``, nearest first."""
    ids, dist = within_arrays(session, latitude, longitude, radius_km, query)
    return list(zip(ids.tolist(), dist.tolist(), strict=True))


def near(session: Session, latitude: float, longitude: float, radius_km: float, process: str | None,
         page: int, per_page: int) -> tuple[list[tuple[Fablab, float]], int]:
    """One page of the directory around a point: labs and their distances, nearest first, and the total."""
    lo, hi = (page - 1) * per_page, page * per_page
    ids, dist, total = nearby.page(session, latitude, longitude, radius_km, process, lo, hi)
    chosen = list(zip(ids.tolist(), dist.tolist(), strict=True))
    labs = {lab.id: lab for lab in session.scalars(
        select(Fablab).where(Fablab.id.in_([i for i, _ in chosen])).options(selectinload(Fablab.machines),
                                                                             selectinload(Fablab.operator)))}
    return [(labs[i], d) for i, d in chosen if i in labs], total


def listing(process: str | None) -> Select[Any]:
    query = _process_filter(select(Fablab), process)
    return query.options(selectinload(Fablab.machines), selectinload(Fablab.operator)).order_by(Fablab.id)


def history(session: Session, lab: Fablab, since: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """Recent states per machine key: ``{key: [{"at", "state", "queue_length"}, ...]}``, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {m.key: [] for m in lab.machines}
    keys = {m.id: m.key for m in lab.machines}
    rows = session.scalars(select(MachineStateSample).where(MachineStateSample.machine_id.in_(keys),
                                                            MachineStateSample.at >= since)
                           .order_by(MachineStateSample.at))
    for row in rows:
        out[keys[row.machine_id]].append({"at": row.at.isoformat(), "state": row.state.value,
                                          "queue_length": row.queue_length})
    return out
