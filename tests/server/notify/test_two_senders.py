"""Two hub processes delivering at once send each message once (SKIP LOCKED on PostgreSQL, turns on SQLite)."""
from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import select

from server.db import utcnow
from server.notify import outbox
from server.notify.config import NotifySettings, Smtp
from server.notify.models import Delivery, DeliveryState, Kind, NotifyPrefs
from tests.server.notify.receivers import smtp_server


def _sender_process(database_url: str, port: int, rounds: int) -> None:
    from server.db import Database
    from server.notify.sender import deliver_due

    database = Database(database_url)
    notify = NotifySettings(smtp=Smtp("127.0.0.1", port, False, None, None), mail_from="hub@cosmoloc.example",
                            allow_private_webhooks=False)
    for _ in range(rounds):
        deliver_due(database, notify, "test-secret", "http://127.0.0.1:5000")
    database.dispose()


@pytest.mark.slow
def test_two_processes_deliver_every_message_once(app, database_url, make_user):
    user = make_user("designer")
    hub = app.extensions["cosmoloc.hub"]
    now = utcnow()
    with hub.db.session() as session:
        session.add(NotifyPrefs(account_id=user.id, email_on=True, kinds_off=[], confirmed_email=user.email,
                                confirmed_at=now))
        for i in range(60):
            outbox.record(session, user.id, Kind.DESIGN_REMIXED, f"design:{i}:of:1", now,
                          {"design_id": 1, "design_title": f"Part {i}", "remix_id": 100 + i, "remix_title": "R"})
    with smtp_server() as (inbox, port):
        spawn = multiprocessing.get_context("spawn")
        procs = [spawn.Process(target=_sender_process, args=(database_url, port, 3)) for _ in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
            assert proc.exitcode == 0
        titles = sorted(str(m["Subject"]) for m in inbox.to(user.email))
    assert len(titles) == 60 and len(set(titles)) == 60
    with hub.db.session() as session:
        states = {d.state for d in session.scalars(select(Delivery))}
    assert states == {DeliveryState.SENT}
