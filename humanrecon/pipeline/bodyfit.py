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

Stages (docs/regressor.md, docs/bodyfit.md): (0) :func:`humanrecon.bodyfit.drop_collapsed_pairs` drops
left/right pairs detected on one spot and :func:`humanrecon.bodyfit.resolve_left_right` undoes left/right
swaps of the 2D joints, pair by pair and view by view; (1) :func:`humanrecon.regressor.infer.regress_views` on the
``F x C`` views in batches; (2) :func:`humanrecon.regressor.fusion.fuse_views`; (3) with ``refine``,
:func:`humanrecon.bodyfit.fit_limb_hypotheses` (:func:`humanrecon.bodyfit.fit_smpl` under the limbs'
left/right hypotheses) from the fused body on the segmenter's 2D joints, the silhouettes and the part maps.
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


def _skeleton_fn(body_model):
    """``(betas (10,), rot (F, 24, 3, 3)) -> (F, 24, 3)`` joints of the body model at zero translation
    (world root rotation first, then local joint rotations)."""
    from humanrecon.bodyfit.fit import TorchBody

    body = TorchBody(body_model, np.zeros(0, dtype=np.int64), torch.float64, torch.device("cpu"))

    def skeleton(betas: np.ndarray, rot: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            b = torch.as_tensor(np.asarray(betas, dtype=np.float64)[None])
            R = torch.as_tensor(np.asarray(rot, dtype=np.float64))
            joints, _ = body.forward_rotmat(b, R, torch.zeros(R.shape[0], 3, dtype=torch.float64), False)
        return joints.numpy()

    return skeleton


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
    from humanrecon.bodyfit import FitConfig, fit_limb_hypotheses
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
    # a detector unsure of front and back puts both joints of a pair on one limb in some views (dropped
    # there) and swaps left and right in others (undone from the geometry)
    from humanrecon.bodyfit import drop_collapsed_pairs, resolve_left_right

    j2d, collapsed = drop_collapsed_pairs(j2d)
    if collapsed.any():
        log.info("collapsed left/right detections dropped in %d of %d (frame, view, joint pair) labels", int(collapsed.sum()), collapsed.size)
    cfg = FitConfig(**(fit or {}))
    # frames of a chunk are a sequence (labels chosen together) unless the fit treats them as unrelated
    j2d, lr_swapped = resolve_left_right(j2d, cams, temporal_weight=1.0 if cfg.w_smooth > 0 else 0.0)
    if lr_swapped.any():
        log.info("left/right swapped back in %d of %d (frame, view, joint pair) labels", int(lr_swapped.sum()), lr_swapped.size)
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
                       valid, cams, rest_root, joints2d=j2d, skeleton=_skeleton_fn(bm))  # fmt: skip
    fused_out = bm.forward_numpy(np.tile(fused.betas, (F, 1)), fused.body_pose, fused.global_orient, fused.transl)
    log.info("fusion: root joint from %s", dict(zip(*np.unique(fused.pelvis_source, return_counts=True), strict=True)))
    # 3. refinement
    if refine:
        res = fit_limb_hypotheses(bm, cams, j2d[..., :2], j2d[..., 2], masks, parts, init_betas=fused.betas,
                                  init_global_orient=fused.global_orient, init_body_pose=fused.body_pose, init_transl=fused.transl,
                                  config=cfg, device=None)  # fmt: skip
        betas, go, bp, tr, joints, verts = res.betas, res.global_orient, res.body_pose, res.transl, res.joints, res.vertices
        reproj, used = res.reproj_px, res.views_used
        mirrored = res.mirrored_limbs
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
        mirrored = None
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
    arrays["lr_swapped"] = np.asarray(lr_swapped, dtype=np.uint8)
    if mirrored is not None:
        arrays["mirrored_limbs"] = np.asarray(mirrored, dtype=np.uint8)
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
    # no timings in the manifest: a rerun writes byte-identical outputs (timings are in the log and benchmark)
    out = {"frames": entries, "smpl": Path(output).name, "provenance": provenance(config or {})}
    atomic_write_text(manifest, json.dumps(out, indent=2, sort_keys=True) + "\n")
    log.info("chunk: %d frames x %d cameras in %.1f s", F, C, time.perf_counter() - t_start)
    return out


def gt_segmentation(session_path: str | os.PathLike, frames: list[int]) -> dict:
    """Arrays of a ``segmentation`` file made from a synthetic session's ground truth: GT silhouettes,
    12-part maps and 2D joints (confidence 1). The SMPL stage's oracle input (benchmarks, tests)."""
    from humanrecon.io.images import read_label_map, read_mask
    from humanrecon.session import load_session

    session = load_session(session_path)
    if session.gt_mask_template is None or session.gt_part_template is None or session.gt_smpl_template is None:
        raise BodyStageError(f"{session.yaml_path}: the session has no GT masks, part maps and SMPL parameters")
    names = list(session.camera_names)
    masks = np.stack([[read_mask(session.gt_mask_path(c, f)) for c in names] for f in frames]).astype(np.uint8)
    parts = np.stack([[read_label_map(session.gt_part_path(c, f)) for c in names] for f in frames]).astype(np.uint8)
    j2d = np.ones((len(frames), len(names), 24, 3), np.float32)
    for i, f in enumerate(frames):
        with np.load(session.gt_smpl_path(f)) as z:
            cams = [str(c) for c in z["camera_names"]]
            j2d[i, :, :, :2] = z["joints2d"][[cams.index(c) for c in names]]
    return {"frames": np.asarray(frames, np.int64), "camera_names": np.asarray(names), "masks": masks, "parts": parts, "joints2d": j2d}


def gt_bodies(session_path: str | os.PathLike, frames: list[int], body_model) -> tuple[np.ndarray, np.ndarray]:
    """GT joints (F, 24, 3) and posed skin vertices (F, V, 3), world metres, of a session's frames
    (``body_model``: a loaded :class:`humanrecon.bodymodel.model.BodyModel`)."""
    from humanrecon.session import load_session

    session = load_session(session_path)
    joints, verts = [], []
    for f in frames:
        with np.load(session.gt_smpl_path(f)) as z:
            joints.append(z["joints"])
            verts.append(body_model.forward_numpy(z["betas"][None], z["body_pose"][None], z["global_orient"][None], z["transl"][None])["vertices"][0])
    return np.stack(joints), np.stack(verts)


def degraded_segmentation(gt: dict, level: float, seed: int) -> dict:
    """GT segmentation arrays (:func:`gt_segmentation`) degraded at strength ``level``: part boundaries
    displaced by up to ``2 level`` px (at 256 px image height; scaled with the image), one part bleeding
    ``level`` px over its neighbours, ``level`` % speckle (:func:`humanrecon.regressor.synthetic.degrade`),
    2D joints with ``3 level`` px Gaussian noise. Silhouettes stay GT."""
    from humanrecon.regressor.synthetic import Augment, degrade

    F, C, H, W = gt["parts"].shape
    aug = Augment(warp_px=2.0 * level, bleed_prob=1.0, bleed_px=max(1, int(round(level))), clothes_prob=0.0,
                  occluder_prob=0.0, speckle=0.01 * level, drop_parts_prob=0.0)  # fmt: skip
    gen = torch.Generator().manual_seed(int(seed))
    parts, _ = degrade(torch.from_numpy(np.ascontiguousarray(gt["parts"]).reshape(F * C, H, W)), aug, gen, scale=H / 256.0)
    parts = parts.numpy().reshape(F, C, H, W) * (gt["masks"] > 0)
    j2d = gt["joints2d"].copy()
    j2d[..., :2] += np.random.default_rng(seed).normal(0.0, 3.0 * level * H / 256.0, j2d[..., :2].shape)
    return {**gt, "parts": parts.astype(np.uint8), "joints2d": j2d.astype(np.float32)}


def segmentation_quality(seg: dict, gt: dict) -> tuple[float, float]:
    """(12-part mean IoU, mean 2D joint error in pixels) of segmentation arrays against GT ones (the joint
    error over joints inside the image in views with a person, :func:`humanrecon.metrics.joint2d_error_px`)."""
    from humanrecon.bodymodel.skeleton import NUM_PARTS
    from humanrecon.metrics import joint2d_error_px
    from humanrecon.segmenter.metrics import iou_f1

    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    iou, _ = iou_f1(flat(seg["parts"]), flat(gt["parts"]), NUM_PARTS + 1)
    H, W = seg["masks"].shape[-2:]
    seen = seg["masks"].reshape(*seg["masks"].shape[:2], -1).any(axis=-1)
    err = joint2d_error_px(seg["joints2d"], gt["joints2d"][..., :2], (W, H), seen)
    return float(np.nanmean(iou[1:])), float(err)


def quality_curve(
    session_path: str | os.PathLike,
    segmentation: str | os.PathLike,
    calibration: str | os.PathLike,
    body_model: str | os.PathLike,
    model: str | os.PathLike,
    output: str | os.PathLike,
    levels: tuple[float, ...] = (1.0, 2.0, 4.0),
    fit: dict | None = None,
    threads: int = 1,
    config: dict | None = None,
) -> list[dict]:
    """Body error against segmentation quality on the frames of one chunk (Neural Body Fitting's Figure 3).

    The SMPL stage runs again on the chunk's frames with GT segmentations (:func:`gt_segmentation`),
    degraded ones (:func:`degraded_segmentation` at each of ``levels``) and the given (predicted) one.
    Writes ``output`` (JSON: one row per input with ``part_miou``, ``joint2d_px`` and the body errors of
    :func:`humanrecon.pipeline.evaluation.body_metrics`, means over the frames).
    """
    import tempfile

    from humanrecon.bodymodel.model import load_body_model
    from humanrecon.pipeline.evaluation import body_metrics

    pred, _ = read_h5(segmentation, SEGMENTATION)
    frames = [int(f) for f in pred["frames"]]
    gt = gt_segmentation(session_path, frames)
    if list(gt["camera_names"]) != [str(c) for c in pred["camera_names"]]:
        raise BodyStageError(f"{segmentation}: cameras differ from the session's ({session_path})")
    bm = load_body_model(body_model)
    gt_j, gt_v = gt_bodies(session_path, frames, bm)
    inputs = {"gt": gt, **{f"degraded-{k:g}": degraded_segmentation(gt, k, seed=int(round(100 * k))) for k in levels}}
    inputs["predicted"] = {k: pred[k] for k in ("frames", "camera_names", "masks", "parts", "joints2d") if k in pred}
    if "parts" not in inputs["predicted"]:
        raise BodyStageError(f"{segmentation}: no part maps (segmentation.source must be 'both' or 'network')")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, arrays in inputs.items():
            seg_file = Path(tmp) / f"{kind}.h5"
            write_h5(seg_file, SEGMENTATION, arrays)
            out = Path(tmp) / f"{kind}_smpl.h5"
            t0 = time.perf_counter()
            fit_chunk(seg_file, calibration, body_model, model, out, out.with_suffix(".json"), fit=fit, write_vertices=True, threads=threads)
            recs = body_metrics(read_h5(out, SMPL)[0], gt_j, gt_v, bm)
            miou, j2d = segmentation_quality(arrays, gt)
            row = {"input": kind, "part_miou": miou, "joint2d_px": j2d}
            row.update({k: float(np.nanmean([r.get(k, np.nan) for r in recs])) for k in recs[0]})
            rows.append(row)
            log.info("%s: part mIoU %.3f, 2D joints %.1f px -> MPJPE %.1f mm (fused %.1f); %.2f s per frame", kind, miou, j2d,
                     row["mpjpe_mm"], row["fused_mpjpe_mm"], (time.perf_counter() - t0) / len(frames))  # fmt: skip
    atomic_write_text(output, json.dumps({"frames": frames, "rows": rows, "provenance": provenance(config or {})}, indent=2) + "\n")
    return rows


def _npz_bytes(**arrays) -> bytes:
    import io

    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


__all__ = ["BodyStageError", "degraded_segmentation", "gt_bodies", "easymocap_record", "fit_chunk", "gt_segmentation", "quality_curve", "segmentation_quality"]
