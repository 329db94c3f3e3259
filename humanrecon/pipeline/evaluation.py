"""Metrics stage: reconstructed meshes and silhouettes against the session's ground truth.

Per chunk ``metrics/<chunk>.json`` holds one record per frame; ``metrics.csv`` is the session table (one
row per frame plus a ``mean`` row). Columns (docs/metrics.md): ``p2s_cm``, ``chamfer_l2_cm2``,
``chamfer_seed_cm2``, ``accuracy_cm``, ``completeness_cm``, ``iou`` (volumetric, winding numbers) and
``silhouette_iou`` (segmentation masks vs GT masks), and with the learned segmenter ``part_miou`` (mean IoU
of the 12 parts over the frame's cameras) and ``joint2d_px`` (mean 2D joint error, image pixels, over the
joints inside the image in the views where the segmentation found the person); with the
SMPL stage, body errors in millimetres against the GT SMPL body (:func:`body_metrics`): ``mpjpe_mm``,
``pa_mpjpe_mm``, ``pve_mm`` of the final (refined) body, ``fused_*`` of the multi-view fusion of the
per-view regressions, ``view_*`` of the per-view regressions alone (mean over the views). A metric whose
ground truth (or prediction) is absent is left empty.
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
from humanrecon.metrics import joint2d_error_px, silhouette_iou, surface_metrics
from humanrecon.segmenter.metrics import iou_f1
from humanrecon.session import load_session

log = logging.getLogger(__name__)

COLUMNS = (
    "frame", "p2s_cm", "chamfer_l2_cm2", "chamfer_seed_cm2", "accuracy_cm", "completeness_cm", "iou", "silhouette_iou",
    "part_miou", "joint2d_px",
    "mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "fused_mpjpe_mm", "fused_pa_mpjpe_mm", "fused_pve_mm",
    "view_mpjpe_mm", "view_pa_mpjpe_mm", "view_pve_mm",
)  # fmt: skip


def body_metrics(smpl: dict, gt_joints: np.ndarray, gt_vertices: np.ndarray, body_model) -> list[dict]:
    """Per-frame body errors (mm) of an ``smpl/<chunk>.h5`` file's arrays against GT joints (F, 24, 3) and skin
    vertices (F, V, 3), world metres.

    * final and fused bodies: MPJPE and PVE in the **world frame** (no alignment: the calibrated result
      is expected to be where the person is), PA-MPJPE after a similarity Procrustes alignment;
    * per-view regressions (``view_*``): **root-relative** (the root joint subtracted from both; a single
      view fixes depth only roughly), PA-MPJPE as above; means over the views that saw the person.
    """
    from humanrecon.metrics import mpjpe_mm, pa_mpjpe_mm, pve_mm

    F = len(smpl["frames"])
    fused = body_model.forward_numpy(smpl["fused_betas"], smpl["fused_body_pose"], smpl["fused_global_orient"], smpl["fused_transl"])
    if "vertices" in smpl:
        final_v = smpl["vertices"].astype(np.float64)
    else:
        final_v = body_model.forward_numpy(smpl["betas"], smpl["body_pose"], smpl["global_orient"], smpl["transl"])["vertices"]
    recs = []
    for i in range(F):
        rec = {
            "mpjpe_mm": mpjpe_mm(smpl["joints"][i], gt_joints[i]),
            "pa_mpjpe_mm": pa_mpjpe_mm(smpl["joints"][i], gt_joints[i]),
            "pve_mm": pve_mm(final_v[i], gt_vertices[i]),
            "fused_mpjpe_mm": mpjpe_mm(fused["joints"][i], gt_joints[i]),
            "fused_pa_mpjpe_mm": pa_mpjpe_mm(fused["joints"][i], gt_joints[i]),
            "fused_pve_mm": pve_mm(fused["vertices"][i], gt_vertices[i]),
        }
        ok = np.isfinite(smpl["view_global_orient"][i]).all(axis=1)
        if ok.any():
            n = int(ok.sum())
            v = body_model.forward_numpy(smpl["view_betas"][i][ok], smpl["view_body_pose"][i][ok], smpl["view_global_orient"][i][ok], None)
            j = v["joints"]
            root = j[:, :1]
            gj = np.repeat(gt_joints[i][None], n, 0)
            gv = np.repeat(gt_vertices[i][None], n, 0)
            rec["view_mpjpe_mm"] = mpjpe_mm(j, gj, root=0)
            rec["view_pa_mpjpe_mm"] = pa_mpjpe_mm(j, gj)
            rec["view_pve_mm"] = pve_mm(v["vertices"] - root, gv - gj[:, :1])
        recs.append(rec)
    return recs


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
    smpl: str | os.PathLike | None = None,
    body_model: str | os.PathLike | None = None,
) -> list[dict]:
    """Metrics of every frame of a chunk; writes ``output`` (JSON list of per-frame records).

    ``smpl`` (the SMPL stage's ``smpl/<chunk>.h5``) and ``body_model`` (config ``body_model.path``) add the
    body errors of :func:`body_metrics` for frames whose session has GT SMPL parameters."""
    session = load_session(session_path)
    man = json.loads(Path(manifest).read_text())
    mesh_dir = Path(manifest).parent
    seg, _ = read_h5(segmentation, SEGMENTATION)
    cams = [str(c) for c in seg["camera_names"]]
    smpl_arrays = None
    if smpl is not None:
        from humanrecon.io.hdf5 import SMPL

        smpl_arrays, _ = read_h5(smpl, SMPL)
        if [int(f) for f in smpl_arrays["frames"]] != [int(f) for f in seg["frames"]]:
            raise ValueError(f"{smpl}: frames {list(smpl_arrays['frames'])} differ from the segmentation's ({segmentation})")
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
        smpl_path = session.gt_smpl_path(frame)
        if "joints2d" in seg and smpl_path is not None and smpl_path.exists():
            with np.load(smpl_path) as z:
                gt_cams = [str(c) for c in z["camera_names"]]
                gt2d = z["joints2d"][[gt_cams.index(c) for c in cams]]  # (C, 24, 2) distorted pixels
            H, W = seg["masks"].shape[-2:]
            seen = seg["masks"][i].reshape(len(cams), -1).any(axis=1)
            rec["joint2d_px"] = joint2d_error_px(seg["joints2d"][i], gt2d, (W, H), seen)
        if smpl is not None and body_model is not None and smpl_path is not None and smpl_path.exists():
            rec.update(_frame_body_metrics(smpl_arrays, body_model, i, smpl_path))
        records.append(rec)
        log.info("frame %d: %s (%.1f s)", frame, {k: round(v, 4) for k, v in rec.items() if k != "frame"}, time.perf_counter() - t0)
    atomic_write_text(output, json.dumps(records, indent=2, sort_keys=True) + "\n")
    return records


_BODY_CACHE: dict = {}


def _frame_body_metrics(a: dict, body_model_path, index: int, gt_path: Path) -> dict:
    """:func:`body_metrics` of frame ``index`` of an SMPL chunk's arrays against the GT parameters in ``gt_path``."""
    from humanrecon.bodymodel.model import load_body_model

    key = str(body_model_path)
    if key not in _BODY_CACHE:
        _BODY_CACHE[key] = load_body_model(body_model_path)
    bm = _BODY_CACHE[key]
    sel = {k: v[index:index + 1] for k, v in a.items() if k != "camera_names"}
    with np.load(gt_path) as z:
        gt = bm.forward_numpy(z["betas"][None], z["body_pose"][None], z["global_orient"][None], z["transl"][None])
        gj = z["joints"][None]
    return body_metrics(sel, gj, gt["vertices"], bm)[0]


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
