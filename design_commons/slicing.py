"""Slice a canonical STL with PrusaSlicer and a reference profile, in a bounded child process.

A quote for FDM rests on grams and hours. The geometry formula (design_commons.estimates) guesses
them; PrusaSlicer works them out from the part as it would be printed. The hub slices each
canonical STL once per material with :data:`REFERENCE` (0.2 mm layers, 15 % infill, 2 perimeters,
0.4 mm nozzle, the material's density and flow from PrusaSlicer's generic filament profiles) and
keeps the figures per (file sha256, material, :func:`profile_sha256`), so the same bytes are never
sliced twice for one profile.

The slicer runs as a child like design_commons.sandbox's parsers: ``RLIMIT_AS`` bounds its memory,
``RLIMIT_CPU`` its processor time, and the parent kills it (its whole process group) past a
wall-clock bound. Its G-code is read by design_commons.gcode and then deleted.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from design_commons import gcode, materials
from design_commons.reports import CodedError

SLICER_NAMES = ("prusa-slicer", "PrusaSlicer", "prusaslicer")
MEMORY_MB = 2048  # address space the slicer may map (it reserves far more than it touches)
CPU_S = 120
WALL_S = 180

# The printer and print settings every part is sliced with: a Prusa MK3S-like 0.4 mm nozzle printer at the
# generic profiles' speeds. Layer, infill and perimeters match the geometry formula's assumptions.
REFERENCE: dict[str, str] = {
    "bed_shape": "0x0,250x0,250x210,0x210", "max_print_height": "210", "gcode_flavor": "marlin2",
    "nozzle_diameter": "0.4", "filament_diameter": "1.75", "layer_height": "0.2", "first_layer_height": "0.2",
    "perimeters": "2", "top_solid_layers": "5", "bottom_solid_layers": "4", "fill_density": "15%",
    "fill_pattern": "gyroid", "skirts": "0", "support_material": "0", "perimeter_speed": "45",
    "external_perimeter_speed": "25", "infill_speed": "80", "solid_infill_speed": "80",
    "top_solid_infill_speed": "40", "travel_speed": "180", "first_layer_speed": "20",
}
# Per material: PrusaSlicer's generic filament profiles' volumetric flow limit (mm3/s), which bounds the
# speed; the density comes from design_commons.materials (the same source the geometry estimate uses).
MAX_VOLUMETRIC_SPEED = {"PLA": "15", "PETG": "8", "ABS": "11", "ASA": "11", "PC": "8", "Nylon": "8", "TPU": "1.5"}
SLICED_MATERIALS = ("PLA", "PETG", "ABS")  # sliced for every FDM file once it passed validation


class SliceError(CodedError):
    """The part could not be sliced (``code``: ``no_slicer``, ``unknown_material``, ``slicer_failed``,
    ``slicer_limit``, ``no_figures``)."""


@dataclass(frozen=True)
class SliceFigures:
    """One piece of the part in the reference profile for a material: grams, cm3 and printing seconds."""

    material: str
    profile_sha256: str
    mass_g: float
    material_cm3: float
    machine_time_s: float
    slicer_version: str


def find_slicer() -> str | None:
    return next((found for name in SLICER_NAMES if (found := shutil.which(name))), None)


def profile(material: str) -> str:
    """The PrusaSlicer ``.ini`` text of the reference profile for a material the table knows."""
    known = materials.lookup(material)
    if known is None or known.name not in MAX_VOLUMETRIC_SPEED:
        raise SliceError("unknown_material", f"no reference filament profile for {material!r}")
    settings = {**REFERENCE, "filament_density": f"{known.density_g_cm3:g}",
                "filament_max_volumetric_speed": MAX_VOLUMETRIC_SPEED[known.name]}
    return "".join(f"{k} = {v}\n" for k, v in sorted(settings.items()))


def profile_sha256(material: str) -> str:
    return hashlib.sha256(profile(material).encode()).hexdigest()


# The child sets its bounds and becomes PrusaSlicer (exec): no code runs between fork and exec in the hub's
# threaded process (subprocess's preexec_fn is not safe there).
_BOUNDED = ("import os, resource, sys; m, c = int(sys.argv[1]), int(sys.argv[2]); "
            "resource.setrlimit(resource.RLIMIT_AS, (m, m)); resource.setrlimit(resource.RLIMIT_CPU, (c, c + 5)); "
            "os.execv(sys.argv[3], sys.argv[3:])")


def slice_stl(stl: Path, material: str, *, slicer: str | None = None, memory_mb: int = MEMORY_MB,
              cpu_s: int = CPU_S, wall_s: float = WALL_S) -> SliceFigures:
    """Slice one piece of ``stl`` for ``material`` in the reference profile; :class:`SliceError` says why not."""
    program = shutil.which(slicer) if slicer else find_slicer()
    if program is None:
        raise SliceError("no_slicer", "PrusaSlicer is not installed")
    ini_text = profile(material)
    with tempfile.TemporaryDirectory(prefix="cosmoloc-slice-") as tmp:
        ini, out = Path(tmp) / "reference.ini", Path(tmp) / "part.gcode"
        ini.write_text(ini_text)
        part = Path(tmp) / "part.stl"  # PrusaSlicer knows a file by its extension; stored files have none
        part.symlink_to(Path(stl).resolve())
        args = [sys.executable, "-I", "-S", "-c", _BOUNDED, str(memory_mb * 1024 * 1024), str(cpu_s), program,
                "--export-gcode", "--load", str(ini), "--output", str(out), str(part)]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": tmp}  # no user profile is read or written
        with open(Path(tmp) / "output.txt", "wb") as said:
            child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=said, stderr=subprocess.STDOUT, env=env,
                                     cwd=tmp, start_new_session=True)
            try:
                code = child.wait(timeout=wall_s)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                raise SliceError("slicer_limit", f"slicing took longer than {wall_s:g} s") from None
        if code != 0 or not out.exists():
            if code in (-signal.SIGKILL, -signal.SIGXCPU, -signal.SIGSEGV, -signal.SIGABRT):
                raise SliceError("slicer_limit", f"the slicer stopped at a bound of the hub (signal {-code})")
            tail = (Path(tmp) / "output.txt").read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise SliceError("slicer_failed", f"PrusaSlicer could not slice the part (exit {code}): {tail[0][:200]}")
        try:
            facts = gcode.parse(out)
            e = gcode.estimate(facts, materials.canonical(material))
        except gcode.GcodeError as exc:
            raise SliceError("no_figures", str(exc)) from None
    return SliceFigures(materials.canonical(material), hashlib.sha256(ini_text.encode()).hexdigest(), e.mass_g,
                        e.material_cm3, e.machine_time_s, facts.slicer_version)
