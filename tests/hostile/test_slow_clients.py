"""Slow clients and oversized bodies against a real ``cosmoloc serve``: the hub keeps answering everyone else.

The embedded default (SQLite, one worker) and the scale setup (PostgreSQL, two workers) are attacked
alike: 200 connections that each send one byte every two seconds, half still in their headers and
half in a body they announced, while another client asks the hub for pages and expects answers
within a second.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 200


def _workers(hub_database: str | None) -> int:
    return 1 if hub_database is None else 2


class Dribblers:
    """``n`` connections to ``port``, each fed one byte of a never-finished request per ``tick()``."""

    def __init__(self, port: int, n: int) -> None:
        self.socks: list[socket.socket] = []
        self.pending: list[bytes] = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            if i % 2:
                # headers done, a body of 100 kB announced and sent a byte at a time
                s.sendall(b"POST /api/v1/accounts HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 100000\r\n\r\n")
                rest = b"{" * 100_000
            else:
                rest = b"GET /api/v1/designs HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"a" * 4000
            self.socks.append(s)
            self.pending.append(rest)

    def tick(self) -> int:
        """Send one more byte on every connection still open; return how many are open."""
        alive = 0
        for i, s in enumerate(self.socks):
            if not self.pending[i]:
                continue
            try:
                s.send(self.pending[i][:1])
                self.pending[i] = self.pending[i][1:]
                alive += 1
            except (BlockingIOError, OSError):
                self.pending[i] = b""
        return alive

    def close(self) -> None:
        for s in self.socks:
            s.close()


def test_two_hundred_slow_clients_do_not_stop_the_hub(start_hub: Any, hub_database: str | None) -> None:
    hub = start_hub(workers=_workers(hub_database))
    slow = Dribblers(hub.port, SLOW_CLIENTS)
    try:
        latencies: list[float] = []
        next_tick = 0.0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            if time.monotonic() >= next_tick:
                assert slow.tick() == SLOW_CLIENTS  # every slow client is still connected and still sending
                next_tick = time.monotonic() + 2
            started = time.monotonic()
            r = requests.get(hub.url + "/api/v1/designs", timeout=5)
            latencies.append(time.monotonic() - started)
            assert r.status_code == 200
            r = requests.post(hub.url + "/api/v1/validate", files={"file": ("cube.stl", b"solid x\nendsolid x\n")},
                              timeout=5)
            assert r.status_code in (200, 429), r.text
            time.sleep(0.2)
        assert len(latencies) >= 10
        assert max(latencies) < 1.0, latencies
    finally:
        slow.close()


def test_a_body_too_slow_is_cut_off_with_408(start_hub: Any, hub_database: str | None) -> None:
    hub = start_hub(workers=_workers(hub_database), limits={"body_timeout_s": "2", "body_min_rate_bps": "1000000"})
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as s:
        s.sendall(b"POST /api/v1/accounts HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        answer = s.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code": "request_timeout"' in answer or b'"code":"request_timeout"' in answer
    assert 1.5 < waited < 6


def test_announcing_a_big_body_buys_no_time(start_hub: Any, hub_database: str | None) -> None:
    """A client that announces 50 MB and trickles a byte a second is cut off by what it has sent, not
    kept for the 50 s that a 50 MB body may take at the minimum rate."""
    hub = start_hub(workers=_workers(hub_database), limits={"body_timeout_s": "2", "body_min_rate_bps": "1000000"})
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as s:
        s.sendall(b"POST /api/v1/designs HTTP/1.1\r\nHost: hub\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  b"Content-Length: 50000000\r\n\r\n")
        started = time.monotonic()
        s.settimeout(1.0)
        answer = b""
        while not answer and time.monotonic() - started < 20:
            try:
                s.sendall(b"-")
                answer = s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert waited < 6, waited


def test_a_body_over_the_limit_is_refused_before_it_is_sent(start_hub: Any, hub_database: str | None) -> None:
    hub = start_hub(workers=_workers(hub_database), COSMOLOC_MAX_UPLOAD_MB="1")
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as s:
        # 10 GB announced, nothing sent: the answer comes at once, nothing is read or stored
        s.sendall(b"POST /api/v1/designs HTTP/1.1\r\nHost: hub\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  b"Content-Length: 10000000000\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

    def endless() -> Any:  # chunked, no length announced: refused once past the limit
        for _ in range(100):
            yield b"x" * 65536

    r = requests.post(hub.url + "/api/v1/validate", data=endless(), headers={"Content-Type": "application/octet-stream"},
                      timeout=30)
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "too_large"
    # chunked bodies within the limit still reach the app whole
    body = b'{"email": "chunked@example.org", "password": "a long and unusual passphrase", "name": "Chunk"}'
    r = requests.post(hub.url + "/api/v1/accounts", data=iter([body[:20], body[20:]]),
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 201, r.text


def test_each_hub_has_its_own_control_socket_and_workers_are_recycled(start_hub: Any, tmp_path: Path) -> None:
    first = start_hub(limits={"requests_per_worker": "40"})
    second = start_hub()
    first_ctl, second_ctl = tmp_path / "data0" / "gunicorn.ctl", tmp_path / "data1" / "gunicorn.ctl"
    assert first_ctl.exists() and second_ctl.exists()
    for _ in range(60):
        assert requests.get(first.url + "/api/v1/designs", timeout=10).status_code == 200
    deadline = time.monotonic() + 20
    while first.log.read_text().count("Booting worker with pid") < 2 and time.monotonic() < deadline:
        assert requests.get(first.url + "/api/v1/designs", timeout=10).status_code == 200  # answered all along
        time.sleep(0.2)
    assert first.log.read_text().count("Booting worker with pid") >= 2  # the first worker was replaced
    first.stop()
    assert second_ctl.exists()  # stopping one hub leaves the other's socket alone
    assert requests.get(second.url + "/api/v1/designs", timeout=10).status_code == 200
