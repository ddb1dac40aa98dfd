"""Photo checks and evidence figures, measured against baselines in the same run.

  (a) photos: ``check_photo`` of a phone-sized JPEG (4000 x 3000) and a PNG (2000 x 1500) against
      the floor, Pillow's plain ``Image.open(...).load()`` of the same bytes; and the refusal of a
      PNG bomb (20000 x 20000, a few hundred kB) against that JPEG floor;
  (b) evidence: ``lab_reputation`` and ``design_evidence`` over N jobs against the floor of sorting
      the N records by offer time (which the counting rules must do anyway).

    python benchmarks/evidence_photos.py            # 100k jobs
    python benchmarks/evidence_photos.py --quick    # 10k jobs, fewer repeats
"""
from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from design_commons.evidence import Answer, JobRecord, Outcome, design_evidence, lab_reputation  # noqa: E402
from design_commons.photos import PhotoRefused, check_photo  # noqa: E402


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _photo(width: int, height: int, fmt: str) -> bytes:
    image = Image.radial_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    Image.blend(image, noise, 0.3).save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def _bomb(side: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _refuse(data: bytes) -> None:
    try:
        check_photo(data)
    except PhotoRefused:
        return
    raise AssertionError("the bomb was accepted")


def photos(repeats: int) -> None:
    jpeg, png, bomb = _photo(4000, 3000, "JPEG"), _photo(2000, 1500, "PNG"), _bomb(20_000)
    print(f"(a) photos: JPEG 4000x3000 {len(jpeg) / 1e6:.1f} MB, PNG 2000x1500 {len(png) / 1e6:.1f} MB, "
          f"bomb {len(bomb) / 1e3:.0f} kB")
    floors = {}
    for name, data in (("jpeg", jpeg), ("png", png)):
        floors[name] = best_of(repeats, lambda d=data: Image.open(io.BytesIO(d)).load())
        ours = best_of(repeats, lambda d=data: check_photo(d))
        print(f"    {name}: decode floor {floors[name] * 1e3:7.1f} ms; check_photo {ours * 1e3:7.1f} ms "
              f"= {ours / floors[name]:.2f}x the floor")
    refusal = best_of(repeats, lambda: _refuse(bomb))
    print(f"    bomb refused in {refusal * 1e3:.2f} ms = {refusal / floors['jpeg']:.4f}x the JPEG decode floor")


def _jobs(n: int, seed: int = 7) -> list[JobRecord]:
    rng = random.Random(seed)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        offered = now - timedelta(days=rng.uniform(0, 365))
        accepted = rng.random() < 0.8
        done = offered + timedelta(days=rng.uniform(0.5, 5))
        out.append(JobRecord(
            job_id=i, lab_id=1 + i % 3, citizen_id=rng.randrange(n // 4 + 1), offered_at=offered,
            lab_operator_ids=frozenset({-1}), answer=Answer.ACCEPTED if accepted else Answer.DECLINED,
            answered_at=offered + timedelta(minutes=rng.uniform(1, 600)), price_agreed=True,
            promised_by=offered + timedelta(days=3), completed_at=done if accepted else None,
            outcome=rng.choice(list(Outcome)) if accepted else None,
            received_at=done + timedelta(days=1) if accepted and rng.random() < 0.7 else None,
            estimated_time_s=3600.0, actual_time_s=rng.uniform(3000, 5000)))
    return out


def evidence(n: int, repeats: int) -> None:
    jobs = _jobs(n)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    floor = best_of(repeats, lambda: sorted(jobs, key=lambda j: (j.offered_at, j.job_id)))
    rep = best_of(repeats, lambda: lab_reputation(jobs, now))
    des = best_of(repeats, lambda: design_evidence(jobs))
    print(f"(b) evidence over {n} jobs: sort floor {floor * 1e3:.1f} ms; lab_reputation {rep * 1e3:.1f} ms "
          f"= {rep / floor:.1f}x; design_evidence {des * 1e3:.1f} ms = {des / floor:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 2 if args.quick else 3
    photos(repeats)
    evidence(10_000 if args.quick else 100_000, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
