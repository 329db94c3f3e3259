"""SMPL stage: per chunk, regression from every view's part map, multi-view fusion, refinement by fitting.

Reads the segmentation chunk (silhouettes, 12-part maps and 2D joints of the learned segmenter) and the
calibration; writes ``smpl/<chunk>.h5`` (:data:`humanrecon.io.hdf5.SMPL`) and, per frame, the exports
listed in the manifest ``smpl/<chunk>.json`` (the rule's second output):

* ``smpl/frames/{frame:06d}.npz`` — ``betas (10,)``, ``global_orient (3,)``, ``body_pose (69,)``,
  ``transl (3,)``, ``joints (24, 3)`` (world metres, smplx's API);
* ``smpl/frames/{frame:06d}.json`` — EasyMocap's SMPL format: a list with one person
  ``{"id": 0, "Rh": [[3]], "Th": [[3]], "poses": [[72]], "shapes": [[10]]}``. EasyMocap rotates the
  zero-root body about the *origin* (``v = R(Rh) v0 + Th``) whereas smplx rotates it about the rest root
  joint ``J_0``, so ``Th = transl + J_0 - R(Rh) J_0`` and ``poses[:3] = 0``;
* ``smpl/frames/{frame:06d}.ply`` — the posed skin mesh (world metres).

Stages (docs/regressor.md, docs/bodyfit.md): (1) :func:`humanrecon.regressor.infer.regress_views` on the
``F x C`` views in batches; (2) :func:`humanrecon.regressor.fusion.fuse_views`; (3) with ``refine``,
:func:`humanrecon.bodyfit.fit_smpl` from the fused body on the segmenter's 2D joints and the silhouettes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from humanrecon.io.atomic import atomic_write_bytes, atomic_write_text
from humanrecon.io.hdf5 import SEGMENTATION, SMPL, read_h5, write_h5
from humanrecon.pipeline.calibration import read_calibration
from humanrecon.provenance import provenance

log = logging.getLogger(__name__)


class BodyStageError(ValueError):
    """The SMPL stage cannot run on this input; the message names the file/frame and what to configure."""


def easymocap_record(betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray,
                     rest_root: np.ndarray) -> dict:
    """One frame's body as EasyMocap's SMPL JSON record (module docstring; ``rest_root`` = ``J_0(betas)`` (3,))."""
    R = Rotation.from_rotvec(global_orient).as_matrix()
    Th = transl + rest_root - R @ rest_root
    poses = np.concatenate([np.zeros(3), body_pose])
    return {"id": 0, "Rh": [global_orient.tolist()], "Th": [Th.tolist()], "poses": [poses.tolist()], "shapes": [betas.tolist()]}


def _rest_root_fn(body_model):
    """``betas (10,) -> (3,)`` rest root joint ``J_0`` of the body model."""
    from humanrecon.bodyfit.fit import TorchBody

    body = TorchBody(body_model, np.zeros(0, dtype=np.int64), torch.float64, torch.device("cpu"))
    Jt, Jd = body.J_template[0].numpy(), body.J_dirs[0].numpy()  # (3,), (3, 10)
    return lambda b: Jt + Jd @ np.asarray(b, dtype=np.float64)


def fit_chunk(
    segmentation: str | os.PathLike,
    calibration: str | os.PathLike,
    body_model: str | os.PathLike,
    model: str | os.PathLike,
    output: str | os.PathLike,
    manifest: str | os.PathLike,
    refine: bool = True,
    fit: dict | None = None,
    write_vertices: bool = True,
    batch_size: int = 64,
    threads: int = 1,
    session: str = "",
    config: dict | None = None,
) -> dict:
    """Bodies of every frame of a segmentation chunk (module docstring); returns the manifest dict.

    Parameters
    ----------
    body_model : path
        ``body_model.path`` (exported Anny model folder, licensed SMPL folder or .pkl).
    model : path
        Regressor weights (config ``body_fit.model``).
    fit : dict
        :class:`humanrecon.bodyfit.FitConfig` overrides (config ``body_fit.fit``).
    threads : int
        torch CPU threads (the fit's many small kernels run best on one).
    """
    from humanrecon.bodyfit import FitConfig, fit_smpl
    from humanrecon.bodymodel.model import load_body_model
    from humanrecon.regressor.fusion import fuse_views
    from humanrecon.regressor.infer import load_regressor, regress_views

    t_start = time.perf_counter()
    torch.set_num_threads(threads)
    seg, seg_attrs = read_h5(segmentation, SEGMENTATION)
    if "parts" not in seg or "joints2d" not in seg:
        raise BodyStageError(
            f"{segmentation}: no 12-part maps / 2D joints (segmentation source {seg_attrs.get('source', '?')!r}); the SMPL "
            "stage needs the learned segmenter: set segmentation.source to 'both' (plates for silhouettes) or 'network'"
        )
    rig = read_calibration(calibration)
    names = [str(c) for c in seg["camera_names"]]
    if list(rig.names) != names:
        raise BodyStageError(f"{segmentation}: cameras {names} differ from the calibration's {list(rig.names)} ({calibration})")
    cams = list(rig)
    frames = [int(f) for f in seg["frames"]]
    masks, parts, j2d = seg["masks"], seg["parts"], seg["joints2d"].astype(np.float64)
    F, C = masks.shape[:2]
    empty = ~masks.reshape(F, C, -1).any(axis=2)
    for i, fr in enumerate(frames):
        if empty[i].all():
            raise BodyStageError(f"{segmentation}: frame {fr}: no camera sees a person (every silhouette is empty)")
    bm = load_body_model(body_model)
    net = load_regressor(model)
    # 1. per-view regression, all frames and cameras in one batched pass
    reg = regress_views(net, parts.reshape(F * C, *parts.shape[2:]), masks.reshape(F * C, *masks.shape[2:]), cams * F, batch_size)
    log.info("regression: %d views in %.2f s (%.1f views/s)", F * C, reg.seconds, F * C / max(reg.seconds, 1e-9))
    rot = reg.rotmat.reshape(F, C, 24, 3, 3)
    valid = reg.valid.reshape(F, C)
    # 2. fusion in the world frame
    rest_root = _rest_root_fn(bm)
    fused = fuse_views(rot, reg.betas.reshape(F, C, 10), reg.pelvis_cam.reshape(F, C, 3), reg.pelvis_uv.reshape(F, C, 2),
                       valid, cams, rest_root, joints2d=j2d)  # fmt: skip
    fused_out = bm.forward_numpy(np.tile(fused.betas, (F, 1)), fused.body_pose, fused.global_orient, fused.transl)
    log.info("fusion: root joint from %s", dict(zip(*np.unique(fused.pelvis_source, return_counts=True), strict=True)))
    # 3. refinement
    cfg = FitConfig(**(fit or {}))
    if refine:
        res = fit_smpl(bm, cams, j2d[..., :2], j2d[..., 2], masks, init_betas=fused.betas, init_global_orient=fused.global_orient,
                       init_body_pose=fused.body_pose, init_transl=fused.transl, config=cfg, device=None)  # fmt: skip
        betas, go, bp, tr, joints, verts = res.betas, res.global_orient, res.body_pose, res.transl, res.joints, res.vertices
        reproj, used = res.reproj_px, res.views_used
        log.info("refinement: %d frames in %.2f s, reprojection %.1f px", F, res.seconds, float(np.mean(reproj)))
    else:
        betas, go, bp, tr = fused.betas, fused.global_orient, fused.body_pose, fused.transl
        joints, verts = fused_out["joints"], fused_out["vertices"]
        from humanrecon.bodyfit import project_torch
        from humanrecon.bodyfit.triangulate import camera_tensors

        uv = project_torch(torch.as_tensor(joints), camera_tensors(cams)).numpy().transpose(0, 2, 1, 3)  # (F, C, 24, 2)
        seen = (j2d[..., 2] > cfg.min_conf) & valid[..., None]
        err = np.linalg.norm(uv - j2d[..., :2], axis=-1)
        reproj = np.array([err[i][seen[i]].mean() if seen[i].any() else np.nan for i in range(F)])
        used = valid
    view_bp = np.full((F, C, 69), np.nan)
    view_bp[valid] = Rotation.from_matrix(rot[valid][:, 1:].reshape(-1, 3, 3)).as_rotvec().reshape(-1, 69)
    arrays = {
        "frames": np.asarray(frames, dtype=np.int64), "camera_names": np.asarray(names),
        "betas": np.tile(betas, (F, 1)), "body_pose": bp, "global_orient": go, "transl": tr, "joints": joints,
        "reproj_px": np.asarray(reproj, dtype=np.float64), "views_used": np.asarray(used, dtype=np.uint8),
        "fused_betas": np.tile(fused.betas, (F, 1)), "fused_body_pose": fused.body_pose, "fused_global_orient": fused.global_orient,
        "fused_transl": fused.transl, "fused_joints": fused_out["joints"], "fused_inliers": fused.inliers.astype(np.uint8),
        "view_betas": reg.betas.reshape(F, C, 10), "view_body_pose": view_bp, "view_global_orient": fused.view_global_orient,
        "view_pelvis": fused.view_pelvis,
    }  # fmt: skip
    if write_vertices:
        arrays["vertices"] = np.asarray(verts, dtype=np.float32)
    attrs = {"session": session, "regressor": str(model), "regressor_sha256": hashlib.sha256(Path(model).read_bytes()).hexdigest(),
             "refined": int(bool(refine)), "body_model": str(bm.path)}  # fmt: skip
    # exports first (atomic each), then the HDF5 file and the manifest that declare the chunk complete
    out_dir = Path(manifest).parent / "frames"
    entries = {}
    from humanrecon.meshing import write_ply

    for i, fr in enumerate(frames):
        stem = out_dir / f"{fr:06d}"
        buf = _npz_bytes(betas=betas, global_orient=go[i], body_pose=bp[i], transl=tr[i], joints=joints[i])
        atomic_write_bytes(stem.with_suffix(".npz"), buf)
        rec = easymocap_record(betas, go[i], bp[i], tr[i], rest_root(betas))
        atomic_write_text(stem.with_suffix(".json"), json.dumps([rec], indent=1) + "\n")
        write_ply(stem.with_suffix(".ply"), np.asarray(verts[i], dtype=np.float64), bm.faces)
        entries[f"{fr:06d}"] = {ext: f"frames/{fr:06d}.{ext}" for ext in ("npz", "json", "ply")}
    write_h5(output, SMPL, arrays, attrs=attrs, provenance_record=provenance(config or {}))
    out = {"frames": entries, "smpl": Path(output).name, "seconds": round(time.perf_counter() - t_start, 2),
           "provenance": provenance(config or {})}  # fmt: skip
    atomic_write_text(manifest, json.dumps(out, indent=2, sort_keys=True) + "\n")
    log.info("chunk: %d frames x %d cameras in %.1f s", F, C, time.perf_counter() - t_start)
    return out


def _npz_bytes(**arrays) -> bytes:
    import io

    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


__all__ = ["BodyStageError", "easymocap_record", "fit_chunk"]
