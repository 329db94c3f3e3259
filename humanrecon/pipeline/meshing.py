"""Meshing stage: marching cubes + pymeshlab cleanup -> ``meshes/{frame:06d}.ply`` (world, metres).

A chunk writes one PLY per frame and a manifest ``meshes/<chunk>.json`` (the rule's declared output)
listing each mesh with its size and SHA-256; every PLY is written atomically before the manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import h5py

from humanrecon.io.atomic import atomic_write_text
from humanrecon.meshing import clean_mesh, extract_mesh, write_ply
from humanrecon.pipeline.occupancy import read_grid
from humanrecon.provenance import provenance

log = logging.getLogger(__name__)


def mesh_chunk(
    occupancy: str | os.PathLike,
    manifest: str | os.PathLike,
    mesh_dir: str | os.PathLike,
    iso: float = 0.5,
    clean: dict | None = None,
    config: dict | None = None,
) -> dict:
    """Meshes of every frame of an occupancy chunk; returns the manifest dict."""
    mesh_dir = Path(mesh_dir)
    with h5py.File(occupancy, "r") as f:
        n = len(f["frames"])
    entries = {}
    for i in range(n):
        t0 = time.perf_counter()
        frame, grid = read_grid(occupancy, i)
        v, fc = extract_mesh(grid, iso=iso)
        v, fc = clean_mesh(v, fc, **(clean or {}))
        path = mesh_dir / f"{frame:06d}.ply"
        write_ply(path, v, fc)
        entries[f"{frame:06d}"] = {
            "path": path.name,
            "vertices": int(len(v)),
            "faces": int(len(fc)),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        log.info("frame %d (%d/%d): %d faces in %.2f s", frame, i + 1, n, len(fc), time.perf_counter() - t0)
    out = {"meshes": entries, "provenance": provenance(config or {})}
    atomic_write_text(manifest, json.dumps(out, indent=2, sort_keys=True) + "\n")
    return out
