"""Metrics stage: reconstructed meshes and silhouettes against the session's ground truth.

Per chunk ``metrics/<chunk>.json`` holds one record per frame; ``metrics.csv`` is the session table (one
row per frame plus a ``mean`` row). Columns (docs/metrics.md): ``p2s_cm``, ``chamfer_l2_cm2``,
``chamfer_seed_cm2``, ``accuracy_cm``, ``completeness_cm``, ``iou`` (volumetric, winding numbers) and
``silhouette_iou`` (segmentation masks vs GT masks), and with the learned segmenter ``part_miou`` (mean IoU
of the 12 parts over the frame's cameras) and ``joint2d_px`` (mean 2D joint error, image pixels). A
metric whose ground truth (or prediction) is absent is left empty.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import trimesh

from humanrecon.bodymodel.skeleton import NUM_PARTS
from humanrecon.io.atomic import atomic_write_text
from humanrecon.io.hdf5 import SEGMENTATION, read_h5
from humanrecon.io.images import read_label_map, read_mask
from humanrecon.metrics import silhouette_iou, surface_metrics
from humanrecon.segmenter.metrics import iou_f1
from humanrecon.session import load_session

log = logging.getLogger(__name__)

COLUMNS = (
    "frame", "p2s_cm", "chamfer_l2_cm2", "chamfer_seed_cm2", "accuracy_cm", "completeness_cm", "iou", "silhouette_iou",
    "part_miou", "joint2d_px",
)  # fmt: skip


def _load_mesh(path: Path) -> trimesh.Trimesh:
    return trimesh.load(path, file_type="ply", process=False, force="mesh")


def evaluate_chunk(
    session_path: str | os.PathLike,
    manifest: str | os.PathLike,
    segmentation: str | os.PathLike,
    output: str | os.PathLike,
    surface_samples: int = 100_000,
    iou_resolution: int = 128,
    seed: int = 0,
) -> list[dict]:
    """Metrics of every frame of a chunk; writes ``output`` (JSON list of per-frame records)."""
    session = load_session(session_path)
    man = json.loads(Path(manifest).read_text())
    mesh_dir = Path(manifest).parent
    seg, _ = read_h5(segmentation, SEGMENTATION)
    cams = [str(c) for c in seg["camera_names"]]
    records = []
    for i, frame in enumerate(int(f) for f in seg["frames"]):
        t0 = time.perf_counter()
        rec: dict = {"frame": frame}
        gt_mesh = session.gt_mesh_path(frame)
        entry = man["meshes"].get(f"{frame:06d}")
        if entry is None:
            raise ValueError(f"{manifest}: no mesh for frame {frame}")
        if gt_mesh is not None and gt_mesh.exists():
            m = surface_metrics(_load_mesh(mesh_dir / entry["path"]), _load_mesh(gt_mesh), n=surface_samples, iou_resolution=iou_resolution, seed=seed)
            rec.update(asdict(m))
        if session.gt_mask_template is not None:
            gt = np.stack([read_mask(session.gt_mask_path(c, frame), expect_size=seg["masks"].shape[-1:-3:-1]) for c in cams])
            rec["silhouette_iou"] = float(silhouette_iou(seg["masks"][i], gt))
        if "parts" in seg and session.gt_part_template is not None:
            gt = np.stack([read_label_map(session.gt_part_path(c, frame), expect_size=seg["parts"].shape[-1:-3:-1]) for c in cams])
            iou, _ = iou_f1(seg["parts"][i], gt, NUM_PARTS + 1)
            rec["part_miou"] = float(np.nanmean(iou[1:]))
        smpl = session.gt_smpl_path(frame)
        if "joints2d" in seg and smpl is not None and smpl.exists():
            with np.load(smpl) as z:
                gt_cams = [str(c) for c in z["camera_names"]]
                gt2d = z["joints2d"][[gt_cams.index(c) for c in cams]]  # (C, 24, 2) distorted pixels
            rec["joint2d_px"] = float(np.linalg.norm(seg["joints2d"][i][..., :2] - gt2d, axis=-1).mean())
        records.append(rec)
        log.info("frame %d: %s (%.1f s)", frame, {k: round(v, 4) for k, v in rec.items() if k != "frame"}, time.perf_counter() - t0)
    atomic_write_text(output, json.dumps(records, indent=2, sort_keys=True) + "\n")
    return records


def metrics_table(chunk_files: list[str | os.PathLike], output: str | os.PathLike) -> list[dict]:
    """Concatenate per-chunk records into the session CSV (frame order) with a final ``mean`` row."""
    rows = []
    for p in chunk_files:
        rows.extend(json.loads(Path(p).read_text()))
    rows.sort(key=lambda r: r["frame"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r["frame"]] + [_fmt(r.get(c)) for c in COLUMNS[1:]])
    means = {c: [r[c] for r in rows if r.get(c) is not None and np.isfinite(r[c])] for c in COLUMNS[1:]}
    w.writerow(["mean"] + [_fmt(float(np.mean(v))) if v else "" for v in means.values()])
    atomic_write_text(output, buf.getvalue())
    return rows


def _fmt(x) -> str:
    if x is None:
        return ""
    return f"{x:.6f}"
