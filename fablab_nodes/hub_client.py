"""The agent's side of the hub's node API (API.md, "Node (agent) endpoints").

Every call has a timeout (connect 5 s, read 30 s). Connection errors, timeouts, 5xx and 429 are
retried a bounded number of times with exponential backoff and jitter, then raise
:class:`HubUnavailable`; a 4xx answer raises :class:`HubRejected` at once (no retry). The run
loop catches both: a hub that is down never ends it.

Answers are read into the contract's models (cosmoloc_contract): a job is an
:class:`~cosmoloc_contract.orders.Job`, a heartbeat's answer a
:class:`~cosmoloc_contract.node.HeartbeatAnswer`. An answer that breaks the contract is a
:class:`HubUnavailable` (like one that is not JSON): the agent acts on nothing it misread.
"""
from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError

from cosmoloc_contract import node
from cosmoloc_contract import orders as contract
from fablab_nodes import AGENT_NAME
from fablab_nodes.config import Secret

log = logging.getLogger(__name__)

API = "/api/v1/node"
TIMEOUT = (5.0, 30.0)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
M = TypeVar("M", bound=BaseModel)


class HubError(Exception):
    """Any failure to get an answer the agent can use from the hub."""


class HubUnavailable(HubError):
    """The hub could not be reached, or answered 5xx/429, after the retries: try again later."""


class HubRejected(HubError):
    """The hub answered 4xx: retrying the same request will not help. ``code`` is the problem+json code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"hub refused ({status} {code}): {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Download:
    """A file fetched from the hub: where it was written, its sha256 (hex) and the ETag the hub sent."""

    path: Path
    sha256: str
    etag: str
    size_bytes: int


class HubClient:
    """Calls the node endpoints with the node token.

    ``retries`` is the number of extra attempts after the first; the wait before attempt n is
    ``backoff_s * 2**n`` (at most ``max_backoff_s``) plus up to 50 % jitter. ``sleep`` lets the run
    loop make the waits end early on shutdown.
    """

    def __init__(self, base_url: str, token: Secret, *, retries: int = 3, backoff_s: float = 0.5,
                 max_backoff_s: float = 15.0, timeout: tuple[float, float] = TIMEOUT,
                 sleep: Callable[[float], Any] = time.sleep, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout = timeout
        self._sleep = sleep
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = AGENT_NAME
        self.session.headers["Accept"] = "application/json"

    def __repr__(self) -> str:
        return f"HubClient({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    # -- the endpoints -------------------------------------------------------------------

    def heartbeat(self, machines: list[dict[str, Any]], agent: str = AGENT_NAME) -> node.HeartbeatAnswer:
        """POST /heartbeat; the answer says how often to poll and how many jobs are offered."""
        return self._answer(node.HeartbeatAnswer, "POST", "/heartbeat", json={"agent": agent, "machines": machines})

    def jobs(self, state: str | None = None, max_pages: int = 20) -> list[contract.Job]:
        """GET /jobs (newest first), following pages up to ``max_pages`` of 100."""
        items: list[contract.Job] = []
        for page in range(1, max_pages + 1):
            params: dict[str, Any] = {"page": page, "per_page": 100}
            if state:
                params["state"] = state
            batch = self._answer(contract.JobList, "GET", "/jobs", params=params)
            items.extend(batch.items)
            if not batch.items or len(items) >= batch.total:
                break
        return items

    def job(self, job_id: str) -> contract.Job:
        """GET /jobs/{id}."""
        return self._answer(contract.Job, "GET", f"/jobs/{job_id}")

    def report(self, job_id: str, kind: str, body: dict[str, Any]) -> contract.Job:
        """POST /jobs/{id}/{kind} for kind in accept, decline, progress, complete, fail; returns the job."""
        return self._answer(contract.Job, "POST", f"/jobs/{job_id}/{kind}", json=body)

    def download(self, job_id: str, dest: Path) -> Download:
        """GET /jobs/{id}/file into ``dest`` (written to a ``.part`` file, then renamed), hashing as it goes."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")

        def fetch() -> Download:
            with self._request("GET", f"/jobs/{job_id}/file", stream=True) as response:
                digest = hashlib.sha256()
                size = 0
                with part.open("wb") as out:
                    try:
                        for chunk in response.iter_content(chunk_size=1 << 16):
                            digest.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
                    except requests.RequestException as exc:
                        raise _Transient(f"GET /jobs/{job_id}/file: {exc.__class__.__name__}") from None
                etag = response.headers.get("ETag", "").removeprefix("W/").strip('"').lower()
            part.replace(dest)
            return Download(dest, digest.hexdigest(), etag, size)

        try:
            return self._with_retries(f"GET /jobs/{job_id}/file", fetch)
        finally:
            part.unlink(missing_ok=True)

    # -- plumbing -------------------------------------------------------------------------

    def _answer(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        data = self._json(method, path, **kwargs)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise HubUnavailable(f"{method} {path}: the hub's answer breaks the contract "
                                 f"({exc.error_count()} errors; first: {exc.errors()[0]['loc']})") from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        def call() -> Any:
            with self._request(method, path, **kwargs) as response:
                if not response.content:
                    return {}
                try:
                    return response.json()
                except ValueError:
                    raise HubUnavailable(f"{method} {path}: the hub answered something that is not JSON") from None

        return self._with_retries(f"{method} {path}", call)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        try:
            response = self.session.request(method, self.base_url + API + path, headers=headers,
                                            timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise _Transient(f"{method} {path}: {exc.__class__.__name__}") from None
        if response.status_code in RETRY_STATUSES:
            retry_after = _retry_after(response)
            response.close()
            raise _Transient(f"{method} {path}: hub answered {response.status_code}", retry_after)
        if response.status_code >= 400:
            code, detail = _problem(response)
            response.close()
            raise HubRejected(response.status_code, code, detail)
        return response

    def _with_retries(self, what: str, call: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return call()
            except _Transient as exc:
                if attempt >= self.retries:
                    raise HubUnavailable(str(exc)) from None
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                wait += random.uniform(0, wait / 2)
                if exc.retry_after is not None:
                    wait = max(wait, min(exc.retry_after, self.max_backoff_s))
                log.debug("%s; retrying in %.2f s", exc, wait)
                attempt += 1
                if self._sleep(wait) is True:  # a stop event was set while waiting
                    raise HubUnavailable(f"{what}: stopped while waiting to retry") from None


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _problem(response: requests.Response) -> tuple[str, str]:
    """The ``code`` and ``detail`` of a problem+json answer (something sensible if it is not one)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = str(data.get("code") or data.get("title") or f"http_{response.status_code}")
        detail = str(data.get("detail") or data.get("title") or response.reason or "")
        return code, detail
    return f"http_{response.status_code}", str(response.reason or "")
