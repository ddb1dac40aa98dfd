"""Bounds applied to untrusted files before and while they are parsed."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 100 * 1024 * 1024  # raw upload size
    max_triangles: int = 5_000_000
    max_vertices: int = 5_000_000
    max_entities: int = 200_000  # DXF entities, INSERTs expanded (ezdxf reads ~20k a second)
    max_zip_entry_bytes: int = 512 * 1024 * 1024  # one uncompressed 3MF part
    max_zip_total_bytes: int = 1024 * 1024 * 1024
    max_zip_ratio: float = 200.0  # uncompressed / compressed for one entry
    max_zip_entries: int = 1000
    parse_seconds: int = 60  # CPU seconds for the sandboxed child
    parse_memory_mb: int = 2048  # address space parsing may add in the sandboxed child


DEFAULT_LIMITS = Limits()
