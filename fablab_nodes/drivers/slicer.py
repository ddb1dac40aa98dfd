"""PrusaSlicer on the command line: an STL sliced into G-code in a child process.

:class:`SliceRun` starts PrusaSlicer and answers "is it done yet?" without waiting
(:meth:`SliceRun.poll`), so the agent's loop goes on with heartbeats and offers while a long
slice runs; :meth:`SliceRun.kill` stops it (a job withdrawn mid-slice). :func:`slice_stl` is
the same run waited for. The estimated print time comes from the G-code's comments
(:func:`read_estimated_seconds`).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import IO, NoReturn

SLICER_NAMES = ("prusa-slicer", "prusa-slicer-console", "PrusaSlicer")
_ESTIMATE = re.compile(r"^;\s*estimated printing time(?: \(normal mode\))?\s*=\s*(.+)$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_OUTPUT_TAIL = 64 * 1024  # bytes of the slicer's output read back for its last words


class SlicingError(Exception):
    """PrusaSlicer is missing, failed, took too long or was stopped; the message is meant for people."""


def find_slicer(configured: str | None = None) -> str | None:
    """The PrusaSlicer program to run: ``configured`` (a path, or a name on PATH), else the first of
    :data:`SLICER_NAMES` found on PATH; None when there is none."""
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else shutil.which(configured)
    return next((found for name in SLICER_NAMES if (found := shutil.which(name))), None)


class SliceRun:
    """One slice of ``stl_path`` with the PrusaSlicer profile ``ini_path`` into ``out_path`` (G-code),
    started at once in its own process group.

    ``copies`` > 1 prints that many copies side by side. Runs headless; when the slicer wants a
    display and none is there, it is run again under ``xvfb-run``. ``timeout_s`` bounds the whole
    run (real seconds). Raises :class:`SlicingError` when the slicer cannot be run at all.
    """

    def __init__(self, stl_path: Path, ini_path: Path, out_path: Path, *, slicer: str | None = None,
                 timeout_s: float = 600.0, copies: int = 1) -> None:
        program = find_slicer(slicer)
        if program is None:
            raise SlicingError(f"PrusaSlicer not found (looked for {slicer or ', '.join(SLICER_NAMES)})")
        self.out_path = out_path
        self.timeout_s = timeout_s
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.unlink(missing_ok=True)
        self._args = [program, "--export-gcode", "--load", str(ini_path), "--output", str(out_path)]
        if copies > 1:
            self._args += ["--duplicate", str(copies)]
        self._args.append(str(stl_path))
        # The command line needs no display; Qt/GTK parts that look for one are told to do without.
        self._env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        self._deadline = time.monotonic() + timeout_s
        self._under_xvfb = False
        self._outcome: Path | SlicingError | None = None
        self._launch(self._args)

    def _launch(self, args: list[str]) -> None:
        # A file, not a pipe: nobody reads while it runs, and PrusaSlicer can say a lot.
        self._output: IO[bytes] = tempfile.TemporaryFile()
        try:
            # Its own session: a Ctrl-C meant for the agent does not reach it, and kill() ends
            # whatever it started (xvfb-run's X server) with it.
            self._process = subprocess.Popen(args, env=self._env, stdin=subprocess.DEVNULL, stdout=self._output,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self._output.close()
            raise SlicingError(f"cannot run PrusaSlicer: {exc.strerror or exc}") from None

    @property
    def pid(self) -> int:
        """The process id of the slicer (of ``xvfb-run`` when it runs under it)."""
        return self._process.pid

    def poll(self) -> Path | None:
        """The G-code file once the slice is done; None while it runs. Raises :class:`SlicingError`
        when the slicer failed, ran past ``timeout_s`` (it is then killed) or was stopped; asking again
        gives the same answer."""
        if isinstance(self._outcome, SlicingError):
            raise self._outcome
        if self._outcome is not None:
            return self._outcome
        code = self._process.poll()
        if code is None:
            if time.monotonic() < self._deadline:
                return None
            self._stop()
            self._fail(f"PrusaSlicer took longer than {self.timeout_s:g} s")
        output = self._output_tail()
        self._output.close()
        if code != 0 and not self._under_xvfb and "display" in output.lower() and shutil.which("xvfb-run"):
            self._under_xvfb = True
            self._launch(["xvfb-run", "-a", *self._args])
            return None
        if code != 0 or not self.out_path.is_file() or self.out_path.stat().st_size == 0:
            self._fail(f"PrusaSlicer failed (exit {code}): {_last_words(output)}")
        self._outcome = self.out_path
        return self.out_path

    def wait(self) -> Path:
        """Wait for the slice to end; the G-code file, or :class:`SlicingError`."""
        while (done := self.poll()) is None:
            with suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=max(0.01, self._deadline - time.monotonic()))
        return done

    def kill(self) -> None:
        """Stop the slice now (nothing more is written; a half-written G-code file is removed).
        A run that already ended is left as it was."""
        if self._outcome is not None:
            return
        self._stop()
        self._outcome = SlicingError("slicing was stopped")

    def _stop(self) -> None:
        if self._process.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
        self._output.close()
        self.out_path.unlink(missing_ok=True)

    def _fail(self, message: str) -> NoReturn:
        self._outcome = SlicingError(message)
        raise self._outcome

    def _output_tail(self) -> str:
        self._output.seek(0, os.SEEK_END)
        self._output.seek(max(0, self._output.tell() - _OUTPUT_TAIL))
        return self._output.read().decode("utf-8", errors="replace")


def slice_stl(stl_path: Path, ini_path: Path, out_path: Path, *, slicer: str | None = None,
              timeout_s: float = 600.0, copies: int = 1) -> Path:
    """Slice ``stl_path`` into ``out_path`` and wait for it (see :class:`SliceRun`); returns
    ``out_path``. Raises :class:`SlicingError`."""
    run = SliceRun(stl_path, ini_path, out_path, slicer=slicer, timeout_s=timeout_s, copies=copies)
    try:
        return run.wait()
    finally:
        run.kill()  # only does something when the wait was interrupted


def _last_words(output: str) -> str:
    # PrusaSlicer logs a lot at trace level; its real complaint is among the last lines without it.
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and "[trace]" not in ln and "[debug]" not in ln]
    return " | ".join(lines[-3:])[:500] or "no message"


def parse_duration(text: str) -> float | None:
    """Seconds in a PrusaSlicer duration such as ``1d 2h 3m 4s`` or ``42s``; None if it has none."""
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    return sum(float(n) * _SECONDS[unit] for n, unit in parts)


def read_estimated_seconds(gcode_path: Path) -> float | None:
    """The estimated print time (normal mode) from PrusaSlicer's G-code comments, in seconds; None
    when the file has no estimate."""
    found: float | None = None
    with gcode_path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(";") and "estimated printing time" in line:
                m = _ESTIMATE.match(line.strip())
                if m and "silent" not in line:
                    found = parse_duration(m.group(1))
    return found
