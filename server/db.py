"""The database: declarative base, engine and sessions.

SQLite runs in WAL mode and every transaction that writes starts with ``BEGIN IMMEDIATE``,
so two hub processes serialise their writes instead of failing half-way; PostgreSQL
uses its own row locks. Requests get one session each; the request edge commits.
Engines hide statement parameters from errors and logs: they hold password and token hashes
and addresses.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime}


def str_enum(e: type[enum.Enum]) -> Enum:
    """A column holding an enum's values as plain strings (portable; no database enum type to migrate)."""
    return Enum(e, native_enum=False, length=20, values_callable=lambda x: [m.value for m in x])


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: False while serving a request that only reads (GET): its SQLite transactions then start deferred,
#: so readers never queue behind writers. Everything else begins with BEGIN IMMEDIATE.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=True)


@contextmanager
def read_then_release(session: Session) -> Iterator[None]:
    """Run the block in a read transaction (deferred on SQLite) and end it on leaving.

    For a request that must do slow work on what it reads before it writes (argon2 takes ~0.3 s):
    read here, do the slow work after the block with no transaction open, then write. Holding
    SQLite's only write lock (or a PostgreSQL transaction) through the slow work would make
    every other writer wait. Objects loaded in the block are expired when it ends: take plain
    values out of it. The session must have nothing pending when the block starts.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("read_then_release on a session with unsaved changes")
    session.rollback()  # a transaction begun earlier in this request began as a write
    token = write_intent.set(False)
    try:
        yield
    finally:
        write_intent.reset(token)
        session.rollback()


def make_engine(url: str) -> Engine:
    """Create the engine; on SQLite switch on WAL, foreign keys and immediate write transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        database = engine.url.database

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            if database and database != ":memory:":
                _owner_only(Path(database))
            # Let SQLAlchemy, not the driver, decide when a transaction begins.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")

        return engine
    # No JIT: the hub's queries are short, and range joins over cell indexes are estimated so high
    # that PostgreSQL would spend more time compiling them than running them.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True,
                         connect_args={"options": "-c jit=off"})


def _owner_only(database: Path) -> None:
    """The SQLite file and its WAL and SHM readable by the hub's user alone (they hold password hashes).

    SQLite gives new WAL and SHM files the database file's mode, so this mostly repairs files
    made before; ``cosmoloc serve`` also runs with umask 077.
    """
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except FileNotFoundError:
            pass


class Database:
    """Holds the engine and the session factory of one application."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for background work: commits on success, rolls back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
