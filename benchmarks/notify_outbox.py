"""What the notification outbox costs an event's transaction, and the sender's cost per email, in one run.

On a migrated throw-away SQLite file (and PostgreSQL at 127.0.0.1:5432 when reachable), with one account:

  (a) baseline: a transaction inserting one notification row through the ORM, nothing else;
  (b) ``outbox.record``: the insert with ON CONFLICT DO NOTHING ... RETURNING and its email delivery row,
      as a ratio to (a);
  (c) ``outbox.record`` of a key already there (the second hub process's path), as a ratio to (a);
  (d) floor of sending: the same emails sent with smtplib to aiosmtpd on loopback, one connection each;
  (e) ``deliver_due``: claim, compose, send and record each of them, as a ratio to (d).

    python benchmarks/notify_outbox.py [--quick] [--no-postgres]
"""
from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.db import Database, make_engine, utcnow  # noqa: E402
from server.notify import outbox  # noqa: E402
from server.notify.config import NotifySettings, Smtp  # noqa: E402
from server.notify.models import Kind, Notification, NotifyPrefs  # noqa: E402
from server.notify.sender import deliver_due  # noqa: E402
from server.schema import upgrade  # noqa: E402
from tests.server.notify.receivers import smtp_server  # noqa: E402


def _account(database: Database) -> int:
    from server.accounts.models import Account

    with database.session() as session:
        account = Account(email="bench@example.org", name="bench", password_hash="x")
        session.add(account)
        session.flush()
        session.add(NotifyPrefs(account_id=account.id, email_on=True, kinds_off=[],
                                confirmed_email=account.email, confirmed_at=utcnow()))
        return account.id


def _timed(n: int, step: object) -> float:
    start = time.perf_counter()
    for i in range(n):
        step(i)  # type: ignore[operator]
    return (time.perf_counter() - start) / n


def run(database: Database, label: str, n: int) -> None:
    account_id = _account(database)
    now = utcnow()

    def plain(i: int) -> None:
        with database.session() as session:
            session.add(Notification(recipient_id=account_id, kind=Kind.DESIGN_MADE, subject=f"plain:{i}",
                                     detail={}, created_at=now))

    def recorded(i: int) -> None:
        with database.session() as session:
            outbox.record(session, account_id, Kind.DESIGN_REMIXED, f"design:{i}:of:1", now,
                          {"design_id": 1, "design_title": f"Part {i}", "remix_id": i, "remix_title": "R"})

    def again(i: int) -> None:
        with database.session() as session:
            outbox.record(session, account_id, Kind.DESIGN_REMIXED, f"design:{i}:of:1", now, {})

    a, b, c = _timed(n, plain), _timed(n, recorded), _timed(n, again)
    print(f"{label}: (a) plain insert {a * 1e3:.2f} ms/event; (b) outbox.record {b / a:.2f}x; "
          f"(c) a duplicate {c / a:.2f}x")
    with smtp_server() as (inbox, port):
        notify = NotifySettings(smtp=Smtp("127.0.0.1", port, False, None, None), mail_from="hub@example.org",
                                allow_private_webhooks=False)

        def bare(i: int) -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.sendmail("hub@example.org", ["bench@example.org"], f"Subject: {i}\r\n\r\nbody\r\n")

        d = _timed(n, bare)
        start = time.perf_counter()
        sent = 0
        while sent < n:
            sent += deliver_due(database, notify, "bench-secret", "http://127.0.0.1:5000")
        e = (time.perf_counter() - start) / n
    print(f"{label}: (d) bare SMTP send {d * 1e3:.2f} ms/email; (e) deliver_due {e / d:.2f}x")


def _on(url: str, label: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    database = Database(url)
    try:
        run(database, label, n)
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    n = 100 if args.quick else 500
    with tempfile.TemporaryDirectory() as tmp:
        _on(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", "sqlite", n)
    if not args.no_postgres:
        try:
            from tests.conftest import fresh_postgres_url

            with fresh_postgres_url("cosmoloc_bench_notify") as pg_url:
                _on(pg_url, "postgresql", n)
        except Exception as exc:  # no PostgreSQL here: the SQLite figures stand alone
            print(f"postgresql: skipped ({type(exc).__name__}: {exc})")


if __name__ == "__main__":
    main()
