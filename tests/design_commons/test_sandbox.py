"""Untrusted files are parsed in a bounded child: a hostile file gets a verdict, the caller survives."""
from __future__ import annotations

import struct

import pytest
import trimesh

from design_commons.limits import Limits
from design_commons.sandbox import validate_isolated


def test_good_file_gives_report_canonical_and_thumbnail(tmp_path):
    path = tmp_path / "cube.stl"
    path.write_bytes(bytes(trimesh.creation.box(extents=(10, 20, 30)).export(file_type="stl")))
    result = validate_isolated(path, "cube.stl", "mm")
    assert result.report["status"] == "passed"
    assert result.canonical is not None and len(result.canonical) == 84 + 50 * 12
    assert result.thumbnail_png is not None and result.thumbnail_png.startswith(b"\x89PNG")


def test_header_claiming_a_billion_triangles_is_refused(tmp_path):
    path = tmp_path / "liar.stl"
    path.write_bytes(b"\x00" * 80 + struct.pack("<I", 1_000_000_000) + b"\x00" * 50 * 10)
    result = validate_isolated(path, "liar.stl", "mm")
    assert result.report["status"] == "failed"
    codes = [i["code"] for i in result.report["issues"]]
    assert codes and codes[0] in ("too_large", "parse_error")


def test_memory_bound_stops_a_big_parse(tmp_path):
    # a real 330k-triangle mesh (16 MB) under a 16 MB address-space bound: the child dies, the caller gets a verdict
    sphere = trimesh.creation.icosphere(subdivisions=7)
    path = tmp_path / "sphere.stl"
    path.write_bytes(bytes(sphere.export(file_type="stl")))
    result = validate_isolated(path, "sphere.stl", "mm", Limits(parse_memory_mb=16))
    assert result.report["status"] == "failed"
    assert result.report["issues"][0]["code"] == "too_large"


def test_an_empty_upload_is_reported_as_empty(tmp_path):
    path = tmp_path / "nothing.stl"
    path.write_bytes(b"")
    result = validate_isolated(path, "nothing.stl", "mm")
    assert [i["code"] for i in result.report["issues"]] == ["empty"]


def test_background_work_leaves_a_sandbox_for_callers_who_wait() -> None:
    """With 2 slots, a backlog of background validations takes one; an anonymous check still gets the other."""
    import threading

    from design_commons.sandbox import SandboxBusy, SandboxSlots

    slots = SandboxSlots(2)
    holding, release = threading.Event(), threading.Event()
    second_started = threading.Event()

    def background(started: threading.Event) -> None:
        with slots.hold(background=True):
            started.set()
            release.wait(10)

    first = threading.Thread(target=background, args=(holding,))
    second = threading.Thread(target=background, args=(second_started,))
    first.start()
    assert holding.wait(5)
    second.start()
    assert not second_started.wait(0.3)  # the second background job waits ...
    with slots.hold(wait_s=0.5):  # ... while a caller who waits gets the free slot at once
        with pytest.raises(SandboxBusy):
            with slots.hold(wait_s=0.1):  # and both slots are now taken
                pass
    release.set()
    first.join(5)
    second.join(5)
    assert second_started.is_set()
    single = SandboxSlots(1)  # with one slot there is nothing to reserve: background work may take it
    with single.hold(wait_s=0.1, background=True):
        pass
