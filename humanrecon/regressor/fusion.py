"""Fusion of per-view SMPL regressions in the world frame of a calibration.

Each view ``c`` of a frame gives a root orientation in its camera frame ``R_c``, 23 local joint rotations,
10 betas and a root-joint position (ray x depth) in its camera frame. With the calibration
(``X_c = R_cam X_w + t_cam``, :mod:`humanrecon.conventions`):

* **root orientation** in the world: ``R_w = R_cam^T R_c`` per view, then the robust chordal mean;
* **joint rotations**: local, hence view-independent: robust chordal mean per joint;
* **betas**: one person per chunk: the median over every valid view of every frame;
* **root position**: triangulated (DLT across views, :func:`humanrecon.bodyfit.triangulate_points`) from
  the segmenter's 2D joints when it has them in >= 2 views with a reprojection error <= ``max_px``,
  otherwise from the regressor's root pixels; with a single view, that view's ray x depth. Given the
  fused body's skeleton, each triangulated joint of :data:`ROOT_JOINTS` (pelvis, hips, spine1: within
  ~12 cm of the root, so an error of the fused root orientation barely moves them) gives the root as
  ``X_j - (J_j - J_0)``; their mean averages the segmenter's 2D noise over four joints instead of one.

The **robust chordal mean** of rotations ``R_1..R_V`` (weights ``w``) is ``proj_SO(3)(sum w_i R_i)``, the
rotation minimising ``sum w_i |R - R_i|_F^2`` (Hartley et al., "Rotation averaging", IJCV 2013). Views
further than ``max(outlier_deg, outlier_factor x median)`` degrees from it are dropped and the mean is
recomputed (``rounds`` times); vectorised over frames and joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from humanrecon.bodymodel.skeleton import NUM_JOINTS
from humanrecon.calibration.camera import Camera

#: Joints whose triangulations place the fused root (pelvis, left hip, right hip, spine1).
ROOT_JOINTS: tuple[int, ...] = (0, 1, 2, 3)


def project_to_so3(M: np.ndarray) -> np.ndarray:
    """Nearest rotations (Frobenius) to ``(..., 3, 3)`` matrices."""
    U, _, Vt = np.linalg.svd(M)
    d = np.sign(np.linalg.det(U @ Vt))
    U = U.copy()
    U[..., :, 2] *= d[..., None]
    return U @ Vt


def angle_deg(R1: np.ndarray, R2: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between ``(..., 3, 3)`` rotations."""
    tr = np.einsum("...ji,...ji->...", R1, R2)  # trace(R1^T R2)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def robust_rotation_mean(
    R: np.ndarray, valid: np.ndarray, outlier_deg: float = 30.0, outlier_factor: float = 2.5, rounds: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Robust chordal mean over the leading (view) axis.

    Parameters
    ----------
    R : (V, ..., 3, 3) rotations
    valid : (V, ...) bool
        Views that take part (at least one per mean).

    Returns
    -------
    mean : (..., 3, 3)
    inliers : (V, ...) bool
        The views the final mean used.
    """
    R = np.asarray(R, dtype=np.float64)
    w = np.asarray(valid, dtype=bool).copy()
    if not w.any(axis=0).all():
        raise ValueError("robust_rotation_mean: every mean needs at least one valid view")
    Rz = np.where(w[..., None, None], R, 0.0)
    mean = project_to_so3(Rz.sum(axis=0))
    for _ in range(rounds):
        d = angle_deg(R, mean[None])  # (V, ...)
        med = np.nanmedian(np.where(w, d, np.nan), axis=0)  # over the current inliers (a subset of valid)
        keep = np.asarray(valid, bool) & (d <= np.maximum(outlier_deg, outlier_factor * med)[None])
        keep |= ~keep.any(axis=0)[None] & np.asarray(valid, bool)  # never drop every view
        w = keep
        mean = project_to_so3(np.where(w[..., None, None], R, 0.0).sum(axis=0))
    return mean, w


@dataclass
class FusedBodies:
    """Fused SMPL parameters of F frames (world frame, smplx's API, numpy float64).

    Attributes
    ----------
    betas : (10,)
    global_orient : (F, 3), body_pose : (F, 69)
        Axis-angle, radians.
    transl : (F, 3)
        Metres; the posed root joint is ``J_0(betas) + transl``.
    pelvis : (F, 3)
        Fused root-joint position, world metres.
    pelvis_source : (F,) str
        ``segmenter`` (triangulated 2D root joints), ``regressor`` (triangulated regressed root pixels) or
        ``single_view``.
    inliers : (F, C) bool
        Views whose root orientation the fusion kept.
    view_global_orient : (F, C, 3)
        Each view's root orientation in the world (NaN where the view has no person).
    view_pelvis : (F, C, 3)
        Each view's root joint in the world (ray x depth).
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    pelvis: np.ndarray
    pelvis_source: np.ndarray
    inliers: np.ndarray
    view_global_orient: np.ndarray
    view_pelvis: np.ndarray


def fuse_views(
    rotmat: np.ndarray,
    betas: np.ndarray,
    pelvis_cam: np.ndarray,
    pelvis_uv: np.ndarray,
    valid: np.ndarray,
    cameras: list[Camera],
    rest_root,
    joints2d: np.ndarray | None = None,
    max_px: float = 15.0,
    min_conf: float = 0.3,
    skeleton=None,
) -> FusedBodies:
    """Fuse per-view regressions of F frames x C cameras (module docstring).

    Parameters
    ----------
    rotmat : (F, C, 24, 3, 3)
        Root in each camera's frame, joints 1..23 local.
    betas : (F, C, 10)
    pelvis_cam : (F, C, 3)
        Root joint per view, camera frame, metres.
    pelvis_uv : (F, C, 2)
        Regressed root joint, distorted image pixels.
    valid : (F, C) bool
        Views with a person.
    cameras : list of C Camera
    rest_root : callable
        ``betas (10,) -> (3,)`` the body model's rest root joint ``J_0`` (for ``transl``).
    joints2d : (F, C, 24, 3), optional
        Segmenter joints (u, v, confidence) for the root translation.
    skeleton : callable, optional
        ``(betas (10,), rot (F, 24, 3, 3)) -> (F, 24, 3)`` the body model's joints for world root
        rotations and local joint rotations, at zero translation. With it the root comes from every
        triangulated joint of :data:`ROOT_JOINTS`; without it from the 2D root joint alone.
    """
    from humanrecon.bodyfit import TriangulationConfig, triangulate_points

    F, C = valid.shape
    if not valid.any(axis=1).all():
        bad = [int(f) for f in np.flatnonzero(~valid.any(axis=1))]
        raise ValueError(f"frames (chunk indices) {bad}: no view sees the person")
    Rcam = np.stack([c.R for c in cameras])  # (C, 3, 3)
    tcam = np.stack([c.t for c in cameras])  # (C, 3)
    rot = np.where(valid[..., None, None, None], rotmat, np.eye(3))
    Rw = np.einsum("cji,fcjk->fcik", Rcam, rot[:, :, 0])  # (F, C, 3, 3) = R_cam^T R_c
    root, inl = robust_rotation_mean(Rw.transpose(1, 0, 2, 3), valid.T)  # (F, 3, 3), (C, F)
    joints, _ = robust_rotation_mean(
        rot[:, :, 1:].transpose(1, 0, 2, 3, 4), np.repeat(valid.T[:, :, None], NUM_JOINTS - 1, axis=2)
    )  # (F, 23, 3, 3)
    b = np.median(betas[valid], axis=0)
    view_pel = np.einsum("cji,fcj->fci", Rcam, pelvis_cam - tcam[None])  # R^T (p - t)
    view_pel = np.where(valid[..., None], view_pel, np.nan)
    view_go = np.full((F, C, 3), np.nan)
    view_go[valid] = Rotation.from_matrix(Rw[valid]).as_rotvec()

    cfg = TriangulationConfig()
    pelvis = np.full((F, 3), np.nan)
    source = np.array(["single_view"] * F, dtype=object)
    if joints2d is not None:
        js = list(ROOT_JOINTS) if skeleton is not None else [0]
        J = len(js)
        uv = joints2d[:, :, js, :2].transpose(1, 0, 2, 3).reshape(C, F * J, 2)  # (C, F*J, 2)
        conf = np.where(valid.T[:, :, None], joints2d[:, :, js, 2].transpose(1, 0, 2), 0.0).reshape(C, F * J)
        X, res, _ = triangulate_points(uv, conf, cameras, TriangulationConfig(min_conf=min_conf))
        X, res = X.reshape(F, J, 3), res.reshape(F, J)
        good = np.isfinite(X).all(axis=2) & (res <= max_px)  # (F, J)
        if skeleton is not None:
            R = np.concatenate([root[:, None], joints], axis=1)  # (F, 24, 3, 3)
            sk = np.asarray(skeleton(b, R), dtype=np.float64)
            X = X - (sk[:, js] - sk[:, :1])  # each joint's estimate of the root joint
        est = np.where(good[..., None], X, 0.0).sum(axis=1) / np.maximum(good.sum(axis=1), 1)[:, None]
        ok = good.any(axis=1)
        pelvis[ok] = est[ok]
        source[ok] = "segmenter"
    todo = ~np.isfinite(pelvis).all(axis=1)
    if todo.any():
        X, _, _ = triangulate_points(pelvis_uv.transpose(1, 0, 2), valid.T.astype(np.float64), cameras, cfg)
        ok = todo & np.isfinite(X).all(axis=1)
        pelvis[ok] = X[ok]
        source[ok] = "regressor"
    todo = ~np.isfinite(pelvis).all(axis=1)
    pelvis[todo] = np.nanmean(view_pel[todo], axis=1)
    transl = pelvis - np.asarray(rest_root(b), dtype=np.float64)[None]
    return FusedBodies(
        betas=b,
        global_orient=Rotation.from_matrix(root).as_rotvec(),
        body_pose=Rotation.from_matrix(joints.reshape(-1, 3, 3)).as_rotvec().reshape(F, -1),
        transl=transl,
        pelvis=pelvis,
        pelvis_source=source.astype(str),
        inliers=inl.T,
        view_global_orient=view_go,
        view_pelvis=view_pel,
    )


__all__ = ["FusedBodies", "angle_deg", "fuse_views", "project_to_so3", "robust_rotation_mean"]
