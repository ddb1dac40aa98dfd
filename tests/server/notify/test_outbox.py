"""The outbox: events become notifications in the transaction of the change; one per recipient, kind, subject."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from server.db import Database, utcnow
from server.notify import outbox, sender
from server.notify.config import NotifySettings
from server.notify.models import Channel, Delivery, DeliveryState, Kind, Notification
from tests.server.orderflow import Lab, order, publish


@pytest.fixture
def world(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    lab = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    return {"designer": designer, "operator": operator, "citizen": citizen, "design": design, "lab": lab}


def told(app) -> list[tuple[int, str, str]]:
    with app.extensions["cosmoloc.hub"].db.session() as session:
        return [(n.recipient_id, n.kind.value, n.subject)
                for n in session.scalars(select(Notification).order_by(Notification.id))]


def test_the_order_life_tells_each_party_once(app, client, world):
    citizen, operator, designer, lab = world["citizen"], world["operator"], world["designer"], world["lab"]
    o = order(citizen, world["design"]).get_json()
    job = lab.jobs("offered")[0]
    assert told(app) == [(operator.id, "offer_made", f"job:{job['id']}")]
    assert lab.post(job["id"], "accept").status_code == 200
    assert lab.post(job["id"], "accept").status_code == 200  # the same accept twice tells nothing more
    assert lab.post(job["id"], "complete").status_code == 200
    assert citizen.post(f"/api/v1/orders/{o['id']}/confirm").status_code == 200
    assert told(app) == [(operator.id, "offer_made", f"job:{job['id']}"),
                         (citizen.id, "order_accepted", f"job:{job['id']}"),
                         (citizen.id, "order_ready", f"job:{job['id']}"),
                         (designer.id, "design_made", f"order:{o['id']}")]
    with app.extensions["cosmoloc.hub"].db.session() as session:
        deliveries = list(session.scalars(select(Delivery)))
    # each waits for the sender: nothing was sent in the requests
    assert len(deliveries) == 4 and {(d.channel, d.state) for d in deliveries} == {(Channel.EMAIL, DeliveryState.PENDING)}


def test_a_cancel_tells_the_lab_and_a_remix_tells_the_designer(app, client, world, make_user):
    citizen, operator, lab = world["citizen"], world["operator"], world["lab"]
    o = order(citizen, world["design"]).get_json()
    job = lab.jobs("offered")[0]
    assert citizen.post(f"/api/v1/orders/{o['id']}/cancel").status_code == 200
    remixer = make_user("remixer")
    import io

    from tests.server.orderflow import cube_stl
    r = remixer.post("/api/v1/designs", data={"title": "Remix", "license": "CERN-OHL-S-2.0",
                                              "derived_from": str(world["design"]["id"]),
                                              "files": [(io.BytesIO(cube_stl(10)), "r.stl")]},
                     content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    kinds = told(app)
    assert (operator.id, "job_withdrawn", f"job:{job['id']}") in kinds
    assert (world["designer"].id, "design_remixed", f"design:{r.get_json()['id']}:of:{world['design']['id']}") in kinds


def test_a_failed_request_leaves_no_notification(app, client, world):
    """The outbox row is in the change's transaction: a refused change leaves none behind."""
    lab = world["lab"]
    order(world["citizen"], world["design"])
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept", machine_key="no-such-machine").status_code == 422
    assert [k for _, k, _ in told(app)] == ["offer_made"]


def test_expiring_offers_and_receipt_reminders_come_from_the_scan(app, client, world):
    citizen, lab = world["citizen"], world["lab"]
    hub = app.extensions["cosmoloc.hub"]
    o = order(citizen, world["design"]).get_json()
    job = lab.jobs("offered")[0]
    assert sender.scan_round(hub) == 0  # 15 minutes left: not yet
    later = utcnow() + dt.timedelta(minutes=11)
    assert sender.scan_round(hub, later) == 1 and sender.scan_round(hub, later) == 0
    assert lab.post(job["id"], "accept").status_code == 200 and lab.post(job["id"], "complete").status_code == 200
    assert sender.scan_round(hub, utcnow() + dt.timedelta(days=4)) == 1
    assert sender.scan_round(hub, utcnow() + dt.timedelta(days=5)) == 0
    kinds = [(k, s) for _, k, s in told(app)]
    assert ("offer_expiring", f"job:{job['id']}") in kinds and ("confirm_receipt", f"order:{o['id']}") in kinds


def test_two_sessions_seeing_one_event_make_one_notification(app, database_url, world):
    """Two hub processes (here two concurrent database sessions) record the same expiring offer at once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the concurrent-insert race is a PostgreSQL test (SQLite write transactions take turns)")
    order(world["citizen"], world["design"])
    job = world["lab"].jobs("offered")[0]
    first_db, second_db = Database(database_url), Database(database_url)
    now = utcnow()
    results: dict[str, object] = {}
    first = first_db.sessionmaker()
    results["first"] = outbox.record(first, world["operator"].id, Kind.OFFER_EXPIRING, f"job:{job['id']}", now)

    def second_process() -> None:
        with second_db.session() as session:
            results["second"] = outbox.record(session, world["operator"].id, Kind.OFFER_EXPIRING,
                                              f"job:{job['id']}", now)

    thread = threading.Thread(target=second_process)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive()  # the second insert waits on the first's uncommitted row, neither fails
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert results["first"] is not None and results["second"] is None
    assert [k for _, k, _ in told(app)].count("offer_expiring") == 1
    with app.extensions["cosmoloc.hub"].db.session() as session:
        assert len(list(session.scalars(select(Delivery).join(Notification).where(
            Notification.kind == Kind.OFFER_EXPIRING)))) == 1
    first_db.dispose()
    second_db.dispose()


def test_two_senders_never_claim_the_same_delivery(app, database_url, world):
    for _ in range(3):
        order(world["citizen"], world["design"])
    a_db, b_db = Database(database_url), Database(database_url)
    now = utcnow()
    a, b = sender.claim(a_db, now), sender.claim(b_db, now)
    assert len(a) == 3 and b == []  # claimed until the lease runs out
    taken = sender.claim(b_db, now + sender.LEASE + dt.timedelta(seconds=1))  # a dead sender's, taken again
    assert sorted(i for i, _ in taken) == sorted(i for i, _ in a)
    # the first sender, back late, may neither send nor record them: its claim was superseded
    assert not any(sender._still_mine(a_db, i, n) for i, n in a)
    assert all(sender._still_mine(b_db, i, n) for i, n in taken)
    a_db.dispose()
    b_db.dispose()


def test_with_email_off_deliveries_are_skipped_with_the_reason(app, world):
    order(world["citizen"], world["design"])
    hub = app.extensions["cosmoloc.hub"]
    off = NotifySettings(smtp=None, mail_from="", allow_private_webhooks=False)
    assert sender.delivery_round(hub, off) == 0
    with hub.db.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.state == DeliveryState.SKIPPED and "COSMOLOC_SMTP_URL" in delivery.last_error
