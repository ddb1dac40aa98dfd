"""A small client for the parts of OctoPrint's REST API the octoprint driver uses.

Every call sends the ``X-Api-Key`` header and has a timeout (connect 3 s, read 10 s; uploads read
120 s). Connection errors, timeouts and 5xx answers are retried a few times with a short backoff,
then raise :class:`OctoPrintUnavailable`; a 4xx answer raises :class:`OctoPrintRejected` at once.
Commands that would act twice when repeated (start a print, cancel) are not retried. After a
failed call the client stays quiet for ``quiet_after_failure_s`` (every call fails fast) so a
machine that is off does not slow the agent's loop down. The API key never appears in an error.

:class:`UploadRun` runs one upload in a worker thread (with its own HTTP session), so the agent's
loop asks "is it there yet?" at each step instead of waiting for a large file on a slow link.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from fablab_nodes import AGENT_NAME
from fablab_nodes.config import Secret

log = logging.getLogger(__name__)

TIMEOUT = (3.0, 10.0)
UPLOAD_TIMEOUT = (3.0, 120.0)


class OctoPrintError(Exception):
    """Any failure to get a usable answer from OctoPrint."""


class OctoPrintUnavailable(OctoPrintError):
    """OctoPrint could not be reached, or answered 5xx, after the retries."""


class OctoPrintRejected(OctoPrintError):
    """OctoPrint answered 4xx (409: the printer is not in a state for this; 403: a bad API key)."""

    def __init__(self, status: int, what: str, detail: str) -> None:
        super().__init__(f"OctoPrint refused {what} ({status}): {detail}")
        self.status = status
        self.detail = detail


class OctoPrintClient:
    """Calls one OctoPrint at ``base_url`` with ``api_key``.

    ``retries`` is the number of extra attempts after the first (idempotent calls only); the wait
    before attempt n is ``backoff_s * 2**n``, at most ``max_backoff_s``.
    """

    def __init__(self, base_url: str, api_key: Secret, *, retries: int = 2, backoff_s: float = 0.2,
                 max_backoff_s: float = 2.0, timeout: tuple[float, float] = TIMEOUT,
                 upload_timeout: tuple[float, float] = UPLOAD_TIMEOUT, quiet_after_failure_s: float = 5.0,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout = timeout
        self.upload_timeout = upload_timeout
        self.quiet_after_failure_s = quiet_after_failure_s
        self._sleep = sleep
        self._quiet_until = 0.0
        self.session = requests.Session()
        self.session.headers["User-Agent"] = AGENT_NAME

    def __repr__(self) -> str:
        return f"OctoPrintClient({self.base_url!r})"

    # -- the endpoints -------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        """GET /api/version: ``{"api", "server", "text"}``."""
        return self._json("GET", "/api/version")

    def printer(self) -> dict[str, Any]:
        """GET /api/printer (without temperatures and SD card); 409 when no printer is connected."""
        return self._json("GET", "/api/printer", params={"exclude": "temperature,sd"})

    def job(self) -> dict[str, Any]:
        """GET /api/job: ``{"job": {"file": {"name", ...}, ...}, "progress": {"completion", ...}, "state"}``."""
        return self._json("GET", "/api/job")

    def printer_profiles(self) -> dict[str, Any]:
        """GET /api/printerprofiles: ``{"profiles": {id: {"default", "current", "volume", ...}}}``."""
        return self._json("GET", "/api/printerprofiles")

    def file_info(self, name: str) -> dict[str, Any]:
        """GET /api/files/local/<name>: the file's metadata, with ``prints`` once it was printed."""
        return self._json("GET", f"/api/files/local/{quote(name)}")

    def upload(self, path: Path, name: str) -> dict[str, Any]:
        """POST /api/files/local: upload ``path`` as ``name`` (replacing a file of that name), without
        selecting or printing it. Retried: uploading the same file again does no harm. Sent on a
        session of its own, so an upload in a worker thread shares nothing with the other calls."""

        def call() -> Any:
            with path.open("rb") as fh, requests.Session() as session:
                session.headers.update(self.session.headers)
                return self._send("POST", "/api/files/local", files={"file": (name, fh, "application/octet-stream")},
                                  data={"select": "false", "print": "false"}, timeout=self.upload_timeout,
                                  session=session)

        return self._with_retries("POST /api/files/local", call)

    def delete_file(self, name: str) -> None:
        """DELETE /api/files/local/<name>. Retried: deleting twice does no harm. 404: there is no such
        file; 409: OctoPrint is printing it."""
        self._json("DELETE", f"/api/files/local/{quote(name)}")

    def select_and_print(self, name: str) -> None:
        """POST /api/files/local/<name> ``{"command": "select", "print": true}`` (not retried)."""
        path = f"/api/files/local/{quote(name)}"
        self._once(f"POST {path}", lambda: self._send("POST", path, json={"command": "select", "print": True}))

    def job_command(self, command: str) -> None:
        """POST /api/job ``{"command": command}`` (``cancel``, ``pause``, ...; not retried)."""
        self._once("POST /api/job", lambda: self._send("POST", "/api/job", json={"command": command}))

    def close(self) -> None:
        self.session.close()

    # -- plumbing -------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._with_retries(f"{method} {path}", lambda: self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, timeout: tuple[float, float] | None = None,
              session: requests.Session | None = None, **kwargs: Any) -> Any:
        what = f"{method} {path}"
        try:
            response = (session or self.session).request(method, self.base_url + path,
                                                         headers={"X-Api-Key": self._api_key.reveal()},
                                                         timeout=timeout or self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise _Transient(f"{what}: {exc.__class__.__name__}") from None
        with response:
            if response.status_code >= 500:
                raise _Transient(f"{what}: OctoPrint answered {response.status_code}")
            if response.status_code >= 400:
                raise OctoPrintRejected(response.status_code, what, _error_text(response))
            if not response.content:
                return {}
            try:
                data = response.json()
            except ValueError:
                raise _Transient(f"{what}: OctoPrint answered something that is not JSON") from None
        return data if isinstance(data, dict) else {"items": data}

    def _once(self, what: str, call: Callable[[], Any]) -> Any:
        return self._with_retries(what, call, retries=0)

    def _with_retries(self, what: str, call: Callable[[], Any], retries: int | None = None) -> Any:
        if time.monotonic() < self._quiet_until:
            raise OctoPrintUnavailable(f"{what}: OctoPrint was unreachable moments ago")
        retries = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                result = call()
                self._quiet_until = 0.0
                return result
            except _Transient as exc:
                if attempt >= retries:
                    self._quiet_until = time.monotonic() + self.quiet_after_failure_s
                    raise OctoPrintUnavailable(str(exc)) from None
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                log.debug("%s; retrying in %.2f s", exc, wait)
                attempt += 1
                self._sleep(wait)


class UploadRun:
    """``client.upload(path, name)`` started at once in a daemon thread; :meth:`poll` answers without
    waiting. The upload keeps the client's timeouts and retries; it cannot be stopped halfway (a
    caller that no longer wants the file deletes it once :attr:`finished`)."""

    def __init__(self, client: OctoPrintClient, path: Path, name: str) -> None:
        self.name = name
        self._error: OctoPrintError | None = None
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, path), name=f"octoprint-upload {name}",
                                        daemon=True)
        self._thread.start()

    def _run(self, client: OctoPrintClient, path: Path) -> None:
        try:
            client.upload(path, self.name)
        except OctoPrintError as exc:
            self._error = exc
        except Exception as exc:  # an unreadable G-code file, say: told by poll(), not lost in the thread
            self._error = OctoPrintError(f"upload of {self.name} failed: {exc}")
        finally:
            self._finished.set()

    @property
    def finished(self) -> bool:
        """Whether the upload has ended, well or badly."""
        return self._finished.is_set()

    def poll(self) -> bool:
        """True once the file is on OctoPrint, False while it is sent; raises the upload's
        :class:`OctoPrintError` when it failed (asking again gives the same answer)."""
        if not self._finished.is_set():
            return False
        if self._error is not None:
            raise self._error
        return True

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait up to ``timeout_s`` for the upload to end; whether it has."""
        return self._finished.wait(timeout_s)


class _Transient(OctoPrintUnavailable):
    """A failure worth one more try (raised as :class:`OctoPrintUnavailable` when not retried)."""


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])[:200]
    return response.reason or ""
