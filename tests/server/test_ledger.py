"""The commons ledger on the hub: events written where designs are published, versioned and remixed, exported
page by page with no personal data, the rule set, the pages, and one chain under concurrent appenders."""
from __future__ import annotations

import io
import json
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from design_commons.ledger import GENESIS, RuleBook, verify_chain
from tests.conftest import fresh_postgres_url
from tests.server.test_designs import cube_stl, publish


def _chain(client, limit: int = 1000) -> tuple[list[dict], str]:
    events, after = [], 0
    while True:
        body = client.get(f"/api/v1/ledger/events?after={after}&limit={limit}").get_json()
        events += body["items"]
        if body["next_after"] is None:
            return events, body["head"]
        after = body["next_after"]


def test_publishing_versioning_and_remixing_are_chained_events(client, make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    original = publish(alice, [("cube.stl", cube_stl())], title="Kettle lid").get_json()
    remix = publish(bob, [("cube.stl", cube_stl(25))], title="Kettle lid, larger", derived_from=str(original["id"])).get_json()
    r = bob.post(f"/api/v1/designs/{remix['id']}/versions", data={"files": [(io.BytesIO(cube_stl(26)), "c.stl")]},
                 content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()

    events, head = _chain(client, limit=2)  # three pages of at most two
    assert [(e["kind"], e["action"], e["resource"]) for e in events] == [
        ("design_published", "produce", {"kind": "design", "id": original["id"], "version": 1}),
        ("design_published", "produce", {"kind": "design", "id": remix["id"], "version": 1}),
        ("design_remixed", "cite", {"kind": "design", "id": remix["id"]}),
        ("design_versioned", "produce", {"kind": "design", "id": remix["id"], "version": 2}),
    ]
    assert events[2]["detail"]["parents"] == [{"id": original["id"], "weight": None}]
    assert events[0]["provider"] == {"kind": "account", "id": alice.id, "name": "Alice"}
    assert events[0]["detail"]["authors"] == [{"id": alice.id, "name": "Alice", "share": "1"}]
    assert [e["seq"] for e in events] == [1, 2, 3, 4] and events[0]["prev"] == GENESIS
    assert verify_chain(events, head=head) == [] and head == events[-1]["hash"]
    # public: names only, never an email
    raw = client.get("/api/v1/ledger/events").get_data(as_text=True)
    assert alice.email not in raw and bob.email not in raw and "@" not in raw
    assert client.get(f"/api/v1/ledger/events?after={events[-1]['seq']}").get_json() == {"items": [], "head": head,
                                                                                         "next_after": None}


def test_a_refused_publication_writes_no_event(client, make_user) -> None:
    alice = make_user("Alice")
    assert publish(alice, [("cube.stl", cube_stl())], license="CC-BY-NC-4.0").status_code == 422
    assert client.get("/api/v1/ledger/events").get_json()["items"] == []


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "limit=0", "limit=1001", "after=99999999999"])
def test_bad_paging_is_a_problem_not_a_500(client, query: str) -> None:
    r = client.get(f"/api/v1/ledger/events?{query}")
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] in ("invalid_query", "invalid_input")


def test_the_rules_in_force_and_the_methods_page(client) -> None:
    in_force = RuleBook.shipped().in_force
    rules = client.get("/api/v1/ledger/rules").get_json()
    assert rules["version"] == in_force.version and rules["sha256"] == in_force.sha256
    assert rules["lab_share"] == "0.10" and rules["pass_up"] == "0.5" and rules["max_generations"] == 8
    assert rules["contribution_percent"]["default"] == "5"
    assert rules["contribution_percent"]["lab_kind"] == {"cooperative": "3", "nonprofit": "3", "company": "10"}
    page = client.get("/ledger/methods").get_data(as_text=True)
    assert in_force.sha256 in page and "lab_share = &#34;0.10&#34;" in page and "keeps 0.5 of" in page


def test_the_ledger_page_shows_the_head_and_the_daily_head(client, make_user) -> None:
    assert "no events yet" in client.get("/ledger").get_data(as_text=True)
    publish(make_user("Alice"), [("cube.stl", cube_stl())], title="Kettle lid")
    head = client.get("/api/v1/ledger/events").get_json()["head"]
    page = client.get("/ledger").get_data(as_text=True)
    assert f'data-testid="ledger-head">{head}<' in page
    assert f'<code class="hash">{head}</code>' in page  # today's head so far
    assert "(so far)" in page and "design published" in page


# -- one chain, many processes ----------------------------------------------------------------------------------

def _appender(url: str, worker: int, n: int) -> None:
    from server.db import Database
    from server.ledger import service

    db = Database(url)
    for i in range(n):
        with db.session() as session:
            service.append(session, "design_versioned", {"kind": "account", "id": worker, "name": f"w{worker}"},
                           resource={"kind": "design", "id": worker, "version": i + 1})
    db.dispose()


def _appenders_leave_one_chain(url: str, processes: int = 4, each: int = 40) -> None:
    from server.db import Database
    from server.ledger import service
    from server.schema import upgrade

    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_appender, args=(url, w, each)) for w in range(processes)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    db = Database(url)
    with db.session() as session:
        events = list(service.all_events(session))
    db.dispose()
    assert [e["seq"] for e in events] == list(range(1, processes * each + 1))
    assert verify_chain(events) == []
    for w in range(processes):  # each appender's events in the order it wrote them
        mine = [e["resource"]["version"] for e in events if e["provider"]["id"] == w]
        assert mine == list(range(1, each + 1))


def test_concurrent_appenders_on_sqlite_leave_one_chain(tmp_path: Path) -> None:
    _appenders_leave_one_chain(f"sqlite:///{tmp_path / 'hub.sqlite3'}")


def test_concurrent_appenders_on_postgres_leave_one_chain() -> None:
    with fresh_postgres_url("cosmoloc_ledger") as url:
        _appenders_leave_one_chain(url)


def test_the_database_refuses_a_fork(database_url: str) -> None:
    """Even an appender that skipped the lock could not add a second event after the same one."""
    from sqlalchemy.exc import IntegrityError

    from server.db import Database
    from server.ledger import service
    from server.ledger.models import LedgerEvent

    db = Database(database_url)
    with db.session() as session:
        first = service.append(session, "design_versioned", resource={"kind": "design", "id": 1, "version": 1})
        first_hash = first.hash
    with pytest.raises(IntegrityError), db.session() as session:
        row = service.append(session, "design_versioned", resource={"kind": "design", "id": 1, "version": 2})
        session.add(LedgerEvent(seq=row.seq + 1, at=row.at, kind=row.kind, action=row.action, detail={},
                                prev=first_hash, hash="f" * 64))
        session.flush()
    with db.session() as session:
        assert service.count(session) == 1
    db.dispose()
    if database_url.startswith("postgresql"):
        with create_engine(database_url).begin() as conn:
            conn.execute(text("TRUNCATE ledger_events"))


def test_exported_events_are_json_without_floats(client, make_user) -> None:
    publish(make_user("Zoë"), [("cube.stl", cube_stl())], title="Grille, 3 × 4")
    body = client.get("/api/v1/ledger/events").get_data(as_text=True)
    assert "Zoë" in json.loads(body)["items"][0]["provider"]["name"]
    assert verify_chain(json.loads(body)["items"]) == []


def _confirmer(url: str, order_ids: list[int]) -> None:
    from server.db import Database
    from server.ledger import receipts

    db = Database(url)
    for order_id in order_ids:
        with db.session() as session:
            receipts.part_received(session, order_id)
    db.dispose()


def test_concurrent_confirmations_from_four_processes_replay_clean(app, client, make_user, database_url) -> None:
    """Receipts written at once by four processes (each its claims in one transaction) leave one chain whose every
    receipt recomputes from the export."""
    from types import SimpleNamespace

    from design_commons.ledger import recompute
    from server.designs.models import Design
    from server.ledger import receipts

    alice, bob = make_user("Alice"), make_user("Bob")
    root = publish(alice, [("cube.stl", cube_stl())], title="Root").get_json()
    remix = publish(bob, [("cube.stl", cube_stl(22))], title="Remix", derived_from=str(root["id"])).get_json()
    lab = SimpleNamespace(id=9, name="Lab", kind="cooperative")
    db = app.extensions["cosmoloc.db"]
    orders = list(range(1, 41))
    with db.session() as s:
        for order_id in orders:
            design = s.get(Design, remix["id"] if order_id % 2 else root["id"])
            receipts.quote_agreed(s, order_id, design, lab, 1000 + 37 * order_id, "EUR")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_confirmer, args=(database_url, orders[w::4])) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    events, head = _chain(client)
    replay = recompute(events, head=head)
    assert replay.ok, replay.problems[:3]
    assert sorted(replay.receipts) == orders
    assert all(sum(c.amount for c in r.claims) == r.contribution > 0 for r in replay.receipts.values())
