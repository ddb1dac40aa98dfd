"""The hub client's retries and refusals; the outbox's order, seq counter and drops."""
from __future__ import annotations

from pathlib import Path

import pytest

from cosmoloc_contract.enums import JobState
from fablab_nodes.config import Secret
from fablab_nodes.hub_client import HubClient, HubRejected, HubUnavailable
from fablab_nodes.outbox import Outbox, ReportKind, ReportStatus
from fablab_nodes.state_db import StateDB
from tests.fablab_nodes.fake_hub import FakeHub


def client_for(hub: FakeHub, retries: int = 2) -> HubClient:
    waits: list[float] = []
    client = HubClient(hub.url, Secret(hub.token), retries=retries, backoff_s=0.01, max_backoff_s=0.05,
                       sleep=waits.append)
    client.waits = waits  # type: ignore[attr-defined]
    return client


def test_5xx_is_retried_a_bounded_number_of_times_with_growing_waits(hub: FakeHub) -> None:
    hub.mode = "503"
    client = client_for(hub, retries=3)
    with pytest.raises(HubUnavailable, match="503"):
        client.heartbeat([])
    assert len(hub.requests) == 0  # 503 answered before the hub's logic
    waits = client.waits  # type: ignore[attr-defined]
    assert len(waits) == 3
    assert waits[0] < 0.02 and waits[1] >= 0.02 and waits[2] <= 0.075


def test_a_hub_that_is_down_raises_hub_unavailable(hub: FakeHub) -> None:
    hub.stop()
    with pytest.raises(HubUnavailable):
        client_for(hub, retries=1).jobs()


def test_4xx_problem_becomes_hub_rejected_without_retry(hub: FakeHub) -> None:
    job = hub.add_job()
    hub.withdraw(job["id"])
    client = client_for(hub)
    with pytest.raises(HubRejected) as caught:
        client.report(str(job["id"]), "accept", {})
    assert (caught.value.status, caught.value.code) == (409, "not_offered")
    assert caught.value.detail == "job is withdrawn"
    assert len(hub.requests) == 1 and client.waits == []  # type: ignore[attr-defined]


def test_jobs_are_read_as_the_contract_says(hub: FakeHub) -> None:
    job = hub.add_job(material="PETG", bbox_mm=(30, 20, 10))
    got = client_for(hub).job(str(job["id"]))
    assert got.state is JobState.OFFERED and got.material == "PETG"
    assert got.file.requirements.bbox_mm == [30, 20, 10] and got.delivery.approximate is True


def test_an_answer_that_breaks_the_contract_is_not_acted_on(hub: FakeHub) -> None:
    job = hub.add_job()
    hub.check_answers = False
    hub.jobs[str(job["id"])]["state"] = "teleported"  # a state no hub speaks of
    with pytest.raises(HubUnavailable, match="breaks the contract"):
        client_for(hub).job(str(job["id"]))


def test_download_gives_the_sha256_and_etag(hub: FakeHub, tmp_path: Path) -> None:
    job = hub.add_job(content=b"x" * 200_000)
    client = client_for(hub)
    client.report(str(job["id"]), "accept", {"machine_key": "m"})
    got = client.download(str(job["id"]), tmp_path / "f" / "part.stl")
    assert got.sha256 == got.etag == job["file"]["sha256"]
    assert got.path.read_bytes() == b"x" * 200_000
    assert not list((tmp_path / "f").glob("*.part"))


def test_seq_counter_survives_a_restart(tmp_path: Path) -> None:
    first = Outbox(StateDB(tmp_path))
    assert [first.append_progress("7", p)[1] for p in (0, 10, 20)] == [1, 2, 3]
    assert first.append_progress("8", 5)[1] == 1
    again = Outbox(StateDB(tmp_path))
    assert again.append_progress("7", 30)[1] == 4
    assert [r.body["seq"] for r in again.pending() if r.job_id == "7"] == [1, 2, 3, 4]


class Recorder:
    """A report sender that refuses some jobs and can go down."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    def report(self, job_id: str, kind: str, body: dict) -> dict:
        if self.down:
            raise HubUnavailable("down")
        if job_id == "gone":
            raise HubRejected(409, "not_offered", "withdrawn")
        self.sent.append((job_id, kind))
        return {}


def test_outbox_delivers_in_order_stops_when_down_and_drops_refused(tmp_path: Path) -> None:
    outbox = Outbox(StateDB(tmp_path))
    outbox.append("1", ReportKind.ACCEPT, {"machine_key": "m"})
    outbox.append("gone", ReportKind.ACCEPT, {"machine_key": "m"})
    outbox.append_progress("1", 0)
    sender = Recorder()
    sender.down = True
    result = outbox.deliver(sender)
    assert result.delivered == [] and result.remaining == 3
    sender.down = False
    outbox.append(" 1".strip(), ReportKind.COMPLETE, {})
    result = outbox.deliver(sender)
    assert sender.sent == [("1", "accept"), ("1", "progress"), ("1", "complete")]
    assert [r.job_id for r in result.dropped] == ["gone"]
    assert outbox.pending() == []
    assert [r.status for r in outbox.reports("gone")] == [ReportStatus.DROPPED]
    assert outbox.deliver(sender).delivered == []  # nothing is sent twice
