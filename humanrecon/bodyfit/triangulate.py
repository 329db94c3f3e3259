"""Multi-view triangulation of 2D keypoints and a differentiable torch projection.

Frames and units follow :mod:`humanrecon.conventions`: world points in metres, image points in *distorted*
pixels (what a detector reports on the raw image, ``(0, 0)`` the centre of the top-left pixel), cameras
in the OpenCV model of :class:`humanrecon.calibration.camera.Camera` (``X_c = R X_w + t``, distortion
``(k1, k2, p1, p2, k3)``). Dimension letters: ``C`` cameras (views), ``N`` points.

:func:`triangulate_points`
    Confidence-weighted linear (DLT) triangulation in undistorted normalised coordinates, solved by a
    batched SVD over all points at once, then a robust step per point: with >= 3 views the pair of views
    whose two-view solution has the lowest MSAC cost (squared reprojection errors capped at
    :attr:`TriangulationConfig.ransac_px`, summed over the views) seeds the inlier set (RANSAC-lite,
    exhaustive over the pairs), the point is re-solved on the inliers, views whose reprojection error exceeds
    ``max(outlier_px, outlier_factor * median)`` are dropped and the point is solved once more. Points
    seen by fewer than 2 views are NaN.

:func:`project_torch`
    The same projection as :meth:`Camera.project`, batched over points and cameras, differentiable.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from humanrecon.calibration.camera import Camera

__all__ = [
    "COLLAPSIBLE_JOINTS",
    "LR_JOINTS",
    "BodyFitError",
    "CameraTensors",
    "TriangulationConfig",
    "camera_tensors",
    "drop_collapsed_pairs",
    "project_torch",
    "resolve_left_right",
    "triangulate_points",
]


class BodyFitError(ValueError):
    """Inputs to triangulation or body fitting are inconsistent; the message names the frame/camera."""


# --------------------------------------------------------------------------------------------------
# Torch projection
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraTensors:
    """A rig's parameters stacked as torch tensors (one dtype/device), for :func:`project_torch`.

    Attributes
    ----------
    names : tuple of str
        Camera names, in order.
    K : (C, 3, 3) pixels; dist : (C, 5) ``(k1, k2, p1, p2, k3)``; R : (C, 3, 3) world->camera;
    t : (C, 3) metres.
    """

    names: tuple[str, ...]
    K: torch.Tensor
    dist: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor


def camera_tensors(
    cameras: Sequence[Camera], dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> CameraTensors:
    """Stack ``cameras`` into a :class:`CameraTensors` of ``dtype`` on ``device``."""
    cams = list(cameras)
    if not cams:
        raise BodyFitError("no cameras given")

    def stack(field: str) -> torch.Tensor:
        arr = np.stack([np.asarray(getattr(c, field), dtype=np.float64) for c in cams])
        return torch.as_tensor(arr, dtype=dtype, device=device)

    for c in cams:
        if np.asarray(c.dist).shape != (5,):
            raise BodyFitError(f"camera {c.name!r}: dist must have 5 entries (k1, k2, p1, p2, k3), got {np.size(c.dist)}")
    return CameraTensors(tuple(c.name for c in cams), stack("K"), stack("dist"), stack("R"), stack("t"))


def project_torch(
    X: torch.Tensor, cameras: Sequence[Camera] | CameraTensors, *, return_depth: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Project world points into every camera, OpenCV distortion included (as :meth:`Camera.project`).

    Parameters
    ----------
    X : torch.Tensor
        (..., 3) world points, metres.
    cameras : list of Camera or CameraTensors
        C cameras; a list is converted with :func:`camera_tensors` to ``X``'s dtype and device.
    return_depth : bool
        Also return the camera-frame depth.

    Returns
    -------
    uv : torch.Tensor
        (..., C, 2) distorted pixel coordinates. Points at ``z <= 0`` get the formula's meaningless value,
        exactly like :meth:`Camera.project`; mask them with the depth.
    z : torch.Tensor, only with ``return_depth``
        (..., C) depth along each camera's optical axis, metres.
    """
    if not isinstance(cameras, CameraTensors):
        cameras = camera_tensors(cameras, dtype=X.dtype, device=X.device)
    if X.shape[-1] != 3:
        raise BodyFitError(f"project_torch: points must have shape (..., 3), got {tuple(X.shape)}")
    Xc = torch.einsum("cij,...j->...ci", cameras.R, X) + cameras.t  # (..., C, 3)
    z = Xc[..., 2]
    x = Xc[..., 0] / z
    y = Xc[..., 1] / z
    d = cameras.dist
    k1, k2, p1, p2, k3 = d[:, 0], d[:, 1], d[:, 2], d[:, 3], d[:, 4]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xy2 = 2.0 * x * y
    xd = x * radial + p1 * xy2 + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + p2 * xy2
    K = cameras.K
    u = K[:, 0, 0] * xd + K[:, 0, 1] * yd + K[:, 0, 2]
    v = K[:, 1, 1] * yd + K[:, 1, 2]
    uv = torch.stack([u, v], dim=-1)
    return (uv, z) if return_depth else uv


# --------------------------------------------------------------------------------------------------
# Triangulation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriangulationConfig:
    """Thresholds of :func:`triangulate_points`.

    Attributes
    ----------
    min_conf : float
        A view observes a point when its confidence is strictly above this (confidences in [0, 1]).
    ransac_px : float
        Inlier threshold (pixels, reprojection error) for scoring the two-view hypotheses.
    outlier_px : float
        Views whose reprojection error (pixels) exceeds ``max(outlier_px, outlier_factor * median)`` of the
        point's inlier errors are dropped before the final solve.
    outlier_factor : float
        See ``outlier_px``.
    min_inliers : int
        A point observed by 4 or more views needs at least this many views agreeing (else NaN): two views
        can agree by chance on a point far from the body when a detector fails in most views.
    """

    min_conf: float = 0.1
    ransac_px: float = 10.0
    outlier_px: float = 10.0
    outlier_factor: float = 3.0
    min_inliers: int = 3


def _dlt(xy: np.ndarray, w: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Weighted DLT for N points at once.

    xy : (C, N, 2) normalised undistorted coordinates (any finite value where ``w == 0``);
    w : (C, N) row weights (0 = view not used); P : (C, 3, 4) normalised projection matrices ``[R | t]``.
    Returns (N, 3) world points (NaN where the homogeneous solution is at infinity).
    """
    rows_x = xy[..., 0:1] * P[:, None, 2, :] - P[:, None, 0, :]  # (C, N, 4)
    rows_y = xy[..., 1:2] * P[:, None, 2, :] - P[:, None, 1, :]
    A = np.concatenate([rows_x * w[..., None], rows_y * w[..., None]], axis=0)  # (2C, N, 4)
    A = np.transpose(A, (1, 0, 2))  # (N, 2C, 4)
    _, _, vt = np.linalg.svd(A)
    h = vt[:, -1, :]  # (N, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        X = h[:, :3] / h[:, 3:4]
    X[~np.isfinite(X).all(axis=1)] = np.nan
    return X


def _reproject(X: np.ndarray, cameras: Sequence[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """(C, N, 2) pixels and (C, N) depths of world points (N, 3) (NaN rows stay NaN)."""
    uv = np.empty((len(cameras), X.shape[0], 2))
    z = np.empty((len(cameras), X.shape[0]))
    with np.errstate(invalid="ignore"):
        for c, cam in enumerate(cameras):
            uv[c], z[c] = cam.project_with_depth(X)
    return uv, z


def _errors(X: np.ndarray, uv: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """(C, N) reprojection error in pixels; inf where the point is behind the camera or not finite."""
    proj, z = _reproject(X, cameras)
    with np.errstate(invalid="ignore"):
        err = np.linalg.norm(proj - uv, axis=-1)
        err[~(z > 0) | ~np.isfinite(err)] = np.inf
    return err


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``values`` where ``mask`` (NaN where no entry)."""
    v = np.where(mask, values, np.nan)
    out = np.full(values.shape[1], np.nan)
    has = mask.any(axis=0)
    if has.any():
        out[has] = np.nanmedian(v[:, has], axis=0)
    return out


def triangulate_points(
    uv: np.ndarray,
    conf: np.ndarray,
    cameras: Sequence[Camera],
    config: TriangulationConfig = TriangulationConfig(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust multi-view triangulation of N points seen by C cameras (module docstring).

    Parameters
    ----------
    uv : array_like
        (C, N, 2) distorted image pixels of each point in each camera (any value where unobserved).
    conf : array_like
        (C, N) confidences in [0, 1]; a view is used for a point when ``conf > config.min_conf`` and its
        pixel is finite. Confidences weight the DLT rows.
    cameras : list of Camera
        The C cameras, in the order of ``uv``'s first axis.
    config : TriangulationConfig

    Returns
    -------
    X : numpy.ndarray
        (N, 3) float64 world points, metres; NaN for points with fewer than 2 usable views.
    residual_px : numpy.ndarray
        (N,) mean reprojection error (pixels, distortion included) over the views finally used; NaN where
        ``X`` is NaN.
    used : numpy.ndarray
        (C, N) bool, the views the final solve used.

    Raises
    ------
    BodyFitError
        Shapes disagree (the message names the array and, for cameras, the camera).
    """
    cams = list(cameras)
    uv = np.asarray(uv, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    C = len(cams)
    if uv.ndim != 3 or uv.shape[2] != 2:
        raise BodyFitError(f"triangulate_points: uv must have shape (C, N, 2), got {uv.shape}")
    if uv.shape[0] != C:
        names = ", ".join(repr(c.name) for c in cams)
        raise BodyFitError(f"triangulate_points: uv has {uv.shape[0]} views but {C} cameras were given ({names})")
    if conf.shape != uv.shape[:2]:
        raise BodyFitError(f"triangulate_points: conf must have shape {uv.shape[:2]} (C, N), got {conf.shape}")
    N = uv.shape[1]
    X = np.full((N, 3), np.nan)
    residual = np.full(N, np.nan)
    if N == 0:
        return X, residual, np.zeros((C, 0), dtype=bool)

    observed = (conf > config.min_conf) & np.isfinite(uv).all(axis=-1)
    xy = np.zeros((C, N, 2))
    for c, cam in enumerate(cams):  # a loop over cameras, vectorised over points
        idx = np.flatnonzero(observed[c])
        if idx.size:
            und = cam.undistort_pixels(uv[c, idx])
            ok = np.isfinite(und).all(axis=1)
            xy[c, idx[ok]] = und[ok]
            observed[c, idx[~ok]] = False
    P = np.stack([np.hstack([cam.R, cam.t[:, None]]) for cam in cams])  # (C, 3, 4)
    weight = np.where(observed, np.clip(conf, 0.0, 1.0), 0.0)
    nviews = observed.sum(axis=0)
    valid = nviews >= 2
    used = observed & valid[None]

    # RANSAC-lite for points with >= 3 views: the pair of views with the most inliers seeds the inlier set.
    multi = nviews >= 3
    if multi.any():
        best_count = np.full(N, -1)
        best_cost = np.full(N, np.inf)
        best_inliers = used.copy()
        for i, j in itertools.combinations(range(C), 2):
            pair = multi & observed[i] & observed[j]
            if not pair.any():
                continue
            w_pair = np.zeros_like(weight)
            w_pair[i], w_pair[j] = np.where(pair, 1.0, 0.0), np.where(pair, 1.0, 0.0)
            Xp = _dlt(xy, w_pair, P)
            err = _errors(Xp, uv, cams)
            inl = observed & (err <= config.ransac_px)
            count = inl.sum(axis=0)
            # MSAC score: squared errors capped at the threshold, summed over the observing views
            cost = np.where(observed, np.minimum(err, config.ransac_px) ** 2, 0.0).sum(axis=0)
            better = pair & (count >= 2) & (cost < best_cost)
            best_count = np.where(better, count, best_count)
            best_cost = np.where(better, cost, best_cost)
            best_inliers[:, better] = inl[:, better]
        found = multi & (best_count >= 2)
        used[:, found] = best_inliers[:, found]

    X = _dlt(xy, np.where(used, weight, 0.0), P)
    err = _errors(X, uv, cams)
    # Final outlier rejection against the adaptive threshold, then one more solve.
    med = _masked_median(err, used & np.isfinite(err))
    thresh = np.maximum(config.outlier_px, config.outlier_factor * np.nan_to_num(med, nan=np.inf))
    keep = used & (err <= thresh[None])
    drop = (keep.sum(axis=0) >= 2) & (keep != used).any(axis=0)
    if drop.any():
        used[:, drop] = keep[:, drop]
        X_new = _dlt(xy, np.where(used, weight, 0.0), P)
        X[drop] = X_new[drop]
        err = _errors(X, uv, cams)

    need = np.where(nviews >= 4, max(2, config.min_inliers), 2)
    ok = (used.sum(axis=0) >= need) & np.isfinite(X).all(axis=1)
    used &= ok[None]
    X[~ok] = np.nan
    with np.errstate(invalid="ignore"):
        e = np.where(used, err, 0.0)
        residual = np.where(ok, e.sum(axis=0) / np.maximum(used.sum(axis=0), 1), np.nan)
    return X, residual, used


# --------------------------------------------------------------------------------------------------
# Left/right consistency across views
# --------------------------------------------------------------------------------------------------


#: Left joints of the left/right pairs that :func:`resolve_left_right` labels one by one (the right ones
#: are their :data:`~humanrecon.bodymodel.skeleton.MIRROR`), each after the pair it hangs from
#: (:data:`_LR_CHAIN`): hip, knee, ankle, foot; shoulder, collar, elbow, wrist, hand. A detector may
#: label a view's legs the wrong way round and its arms the right way, or a wrist the other way from its
#: elbow.
LR_JOINTS: tuple[int, ...] = (1, 4, 7, 10, 16, 13, 18, 20, 22)
#: The pair each non-root pair of :data:`LR_JOINTS` is labelled from (left joints; the roots are the hips
#: and the shoulders, the widest pairs of the legs and the arms).
_LR_CHAIN: dict[int, int] = {4: 1, 7: 4, 10: 7, 13: 16, 18: 16, 20: 18, 22: 20}


def _swap_pairs(j2d: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """``j2d`` (F, C, 24, 3) with the left and right joints of pair ``p`` exchanged where
    ``swapped[..., p]`` ((F, C, P) bool, pairs in :data:`LR_JOINTS` order)."""
    from humanrecon.bodymodel.skeleton import MIRROR

    out = j2d.copy()
    for p, jl in enumerate(LR_JOINTS):
        jr = MIRROR[jl]
        f, c = np.nonzero(swapped[..., p])
        out[f, c, jl], out[f, c, jr] = j2d[f, c, jr], j2d[f, c, jl]
    return out


def _best_pattern(cf: np.ndarray, iu: tuple[np.ndarray, np.ndarray], C: int, max_brute: int) -> np.ndarray:
    """Swap bits (C,) (view 0 as labelled) minimising the summed pair costs ``cf`` (pairs, 2):
    [same labelling, opposite labelling] for the view pairs ``iu``; exhaustive for ``C <= max_brute``,
    else greedy (one bit at a time)."""
    if C <= max_brute:
        bits = ((np.arange(2 ** (C - 1))[:, None] >> np.arange(C - 1)) & 1).astype(bool)
        bits = np.concatenate([np.zeros((bits.shape[0], 1), bool), bits], axis=1)
        opp = bits[:, iu[0]] ^ bits[:, iu[1]]
        total = np.where(opp, cf[None, :, 1], cf[None, :, 0]).sum(axis=1)
        return bits[int(np.argmin(total))]
    best = np.zeros(C, bool)
    improved = True
    while improved:
        improved = False
        for c in range(1, C):
            trial = best.copy()
            trial[c] = ~trial[c]
            t_cost = np.where(trial[iu[0]] ^ trial[iu[1]], cf[:, 1], cf[:, 0]).sum()
            b_cost = np.where(best[iu[0]] ^ best[iu[1]], cf[:, 1], cf[:, 0]).sum()
            if t_cost < b_cost - 1e-12:
                best, improved = trial, True
    return best


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.nan_to_num(c, nan=0.0)


def _unit(v: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis; 0 where the norm is 0."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 1e-12)


def _same_cross(al: np.ndarray, ar: np.ndarray, bl: np.ndarray, br: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed distances between two left/right pairs (..., D): ``|al - bl| + |ar - br|`` (same labelling)
    and ``|al - br| + |ar - bl|`` (swapped)."""
    d = lambda x, y: np.linalg.norm(x - y, axis=-1)  # noqa: E731
    return d(al, bl) + d(ar, br), d(al, br) + d(ar, bl)


def _image_steps(j2d: np.ndarray, conf: np.ndarray, jl: int, jr: int, m_per_px: np.ndarray) -> np.ndarray:
    """Steps of a joint pair between consecutive frames seen in the images, (F - 1, 2) metres.

    ``j2d`` (F, C, 24, 2) pixels with the step-1 patterns applied, ``conf`` (F, C, 24), ``m_per_px`` (C,)
    metres per pixel at the body's distance. Per view, ``|l_f - l_{f+1}| + |r_f - r_{f+1}|`` (same
    labelling) and ``|l_f - r_{f+1}| + |r_f - l_{f+1}|`` (swapped) in pixels x ``m_per_px``, averaged over
    the views that see all four detections (weights: the smallest confidence). NaN where no view does."""
    a, b = j2d[:-1], j2d[1:]
    same, cross = _same_cross(a[:, :, jl], a[:, :, jr], b[:, :, jl], b[:, :, jr])
    w = np.minimum.reduce([conf[:-1, :, jl], conf[:-1, :, jr], conf[1:, :, jl], conf[1:, :, jr]])  # (F-1, C)
    wsum = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.stack([(w * same * m_per_px).sum(1), (w * cross * m_per_px).sum(1)], axis=1) / wsum[:, None]
    out[wsum <= 0] = np.nan
    return out


def _chain_labels(
    evidence: np.ndarray, xl: np.ndarray, xr: np.ndarray, seen: np.ndarray, weight: float, image_steps: np.ndarray | None = None
) -> np.ndarray:
    """Which frames of a chunk take the complement of a joint pair's labelling (F,) bool.

    Exact minimum (Viterbi over the two labellings) of ``sum_f u_f + weight * sum_f c_f``: the unary cost
    ``u_f`` is ``max(0, -evidence_f)`` for keeping and ``max(0, evidence_f)`` for swapping (metres); the
    continuity cost ``c_f`` between frames f and f + 1 (both with the pair triangulated, ``seen``) is the
    summed 3D step of the two joints under the chosen labellings ``|l_f - l_{f+1}| + |r_f - r_{f+1}|``, less
    its smaller alternative. A joint moves a few millimetres between frames and a pair's joints are
    10-100 cm apart, so frames whose own evidence is weak or wrong follow their neighbours; with
    ``weight`` 0 every frame is decided on its own evidence. Between frames where the pair is not
    triangulated, ``image_steps`` (F - 1, 2) [same, swapped] (metres, from the views' 2D detections,
    :func:`_image_steps`) stands in for the 3D steps (NaN: no link)."""
    F = evidence.shape[0]
    unary = np.stack([np.maximum(0.0, -evidence), np.maximum(0.0, evidence)], axis=1)  # (F, 2): keep, swap
    if weight <= 0 or F == 1:
        return unary[:, 1] < unary[:, 0]
    step_same, step_cross = _same_cross(xl[1:], xr[1:], xl[:-1], xr[:-1])
    linked = seen[1:] & seen[:-1]
    if image_steps is not None:
        use2d = ~linked & np.isfinite(image_steps).all(axis=1)
        step_same = np.where(use2d, image_steps[:, 0], step_same)
        step_cross = np.where(use2d, image_steps[:, 1], step_cross)
        linked = linked | use2d
    base = np.minimum(step_same, step_cross)
    pair = np.zeros((F - 1, 2, 2))  # [f, state_f, state_f+1]
    pair[:, 0, 0] = pair[:, 1, 1] = np.where(linked, step_same - base, 0.0)
    pair[:, 0, 1] = pair[:, 1, 0] = np.where(linked, step_cross - base, 0.0)
    pair *= weight
    cost = unary[0].copy()
    back = np.zeros((F, 2), dtype=np.int64)
    for f in range(1, F):
        total = cost[:, None] + pair[f - 1]  # (previous state, state)
        back[f] = np.argmin(total, axis=0)
        cost = total[back[f], [0, 1]] + unary[f]
    states = np.zeros(F, dtype=np.int64)
    states[-1] = int(np.argmin(cost))
    for f in range(F - 1, 0, -1):
        states[f - 1] = back[f, states[f]]
    return states.astype(bool)


def resolve_left_right(
    joints2d: np.ndarray, cameras: Sequence[Camera], min_conf: float = 0.1, cap_m: float = 0.15, max_brute: int = 12,
    min_cos: float = 0.5, chain_weight: float = 0.25, temporal_weight: float = 1.0, majority_m: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Swap left and right joints in the views where a 2D detector got them the wrong way round.

    A detector unsure whether it sees the person's front or back labels limbs the wrong way round in some
    views, and not always a whole body alike: the legs swapped and the arms right, or a wrist the other
    way from its elbow. Triangulating such views together gives no consistent body. Each left/right joint
    pair of :data:`LR_JOINTS` is labelled on its own, in three steps.

    1. **Across views.** Per frame and view pair ``(a, b)`` the cost of "same labelling" is the sum of the
       distances (metres, capped at ``cap_m``, weighted by the smaller confidence) between the rays of the
       left joint in ``a`` and in ``b`` and between those of the right joint; "opposite labelling" pairs
       each with its mirror joint. The swap pattern (one bit per view) minimising the summed cost is found
       exhaustively (``C <= max_brute`` cameras; else greedily, a bit at a time). ``chain_weight`` x the
       cost of the pair it hangs from (:data:`_LR_CHAIN`) is added, so that a pair whose joints nearly
       coincide (the collars, a few cm apart) follows its neighbour.
    2. **Which of the pattern and its complement** (they fit the rays equally well: a mirrored pair). The
       chain roots (hips, shoulders) put the body's left on its left: the cross product of (left - right)
       with (pelvis -> neck) points the way the feet point (ankle -> toe of both feet, a direction that
       needs no left/right labels), with a cosine beyond ``min_cos`` and feet of plausible length; where
       the feet do not tell, the shoulders keep the detector's majority (the pattern with fewer swapped
       views) and the hips the labelling whose left/right axis agrees with the shoulders' (hips and
       shoulders face the same way), or their majority where that is unclear too. Down each limb chain
       (:data:`_LR_CHAIN`), a pair takes the labelling that keeps its left joint nearer the left joint of
       the pair it hangs from (summed 3D distances of the triangulated joints); where either pair is not
       triangulated, the labelling that puts the left joint on the body's left (the feet's, else the
       decided shoulders' or hips' left/right axis), or the detector's majority where none of that is
       known.
    3. **Over the chunk.** Each of these cues is a signed margin in metres (the lateral offset of the pair
       along the body's left, the difference of the summed distances to the pair above, ``majority_m`` x
       the vote margin for the detector's majority); the labels of every frame of the chunk are chosen
       together (:func:`_chain_labels`): the margins plus ``temporal_weight`` x the 3D step of the pair's
       joints between consecutive frames (where the pair is not triangulated in both, the step of its
       2D detections in each view, in metres at the body's distance). A frame whose own cues are missing
       or misleading (the feet hidden, most views swapped) takes its neighbours' labels; 0 decides every
       frame on its own (for chunks of unrelated frames).

    Parameters
    ----------
    joints2d : (F, C, 24, 3)
        u, v (distorted pixels) and confidence per frame, view and SMPL joint.
    cameras : C cameras.
    temporal_weight : float
        Weight of the continuity between consecutive frames (step 3); 0 for frames that are not a sequence.
    majority_m : float
        Margin (metres) of a unanimous detector vote, the weakest cue.

    Returns
    -------
    joints2d : (F, C, 24, 3) with the swapped pairs' left and right joints exchanged (a copy).
    swapped : (F, C, P) bool, per joint pair in :data:`LR_JOINTS` order.
    """
    from humanrecon.bodymodel.skeleton import MIRROR

    j2d = np.array(joints2d, dtype=np.float64)
    F, C = j2d.shape[:2]
    P = len(LR_JOINTS)
    swapped = np.zeros((F, C, P), dtype=bool)
    if C < 2:
        return j2d, swapped
    centres = np.stack([c.center for c in cameras])  # (C, 3)
    rays = np.zeros((F, C, 24, 3))
    for c, cam in enumerate(cameras):
        xy = cam.undistort_pixels(j2d[:, c, :, :2].reshape(-1, 2))
        d = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1) @ cam.R  # R^T d, world directions
        rays[:, c] = (d / np.linalg.norm(d, axis=1, keepdims=True)).reshape(F, 24, 3)
    conf = np.where(j2d[..., 2] > min_conf, j2d[..., 2], 0.0)  # (F, C, 24)

    def ray_dist(da, db, base):  # (..., 3) unit directions, (3,) baseline b - a -> metres
        n = np.cross(da, db)
        nn_ = np.linalg.norm(n, axis=-1)
        para = nn_ < 1e-9
        d = np.abs((n * base).sum(-1)) / np.where(para, 1.0, nn_)
        along = np.linalg.norm(np.cross(base, da), axis=-1)  # distance of b's centre from a's ray
        return np.minimum(np.where(para, along, d), cap_m)

    # 1. per pair, the views' labelling relative to each other
    L = np.asarray(LR_JOINTS)
    R = np.asarray([MIRROR[j] for j in L])
    cost = np.zeros((F, C, C, P, 2))  # [same, opposite] per view pair and joint pair
    for a in range(C):
        for b in range(a + 1, C):
            base = centres[b] - centres[a]
            for k, ((ja1, jb1), (ja2, jb2)) in enumerate((((L, L), (R, R)), ((L, R), (R, L)))):
                d1 = ray_dist(rays[:, a, ja1], rays[:, b, jb1], base)
                d2 = ray_dist(rays[:, a, ja2], rays[:, b, jb2], base)
                w1 = np.minimum(conf[:, a, ja1], conf[:, b, jb1])
                w2 = np.minimum(conf[:, a, ja2], conf[:, b, jb2])
                cost[:, a, b, :, k] = w1 * d1 + w2 * d2
    # a pair also weighs the rays of the pair it hangs from: a pair whose joints are close together (the
    # collars, a few cm apart) takes the labelling of its neighbour instead of a coin toss
    chain_cost = cost.copy()
    for p, jl in enumerate(LR_JOINTS):
        if jl in _LR_CHAIN:
            chain_cost[..., p, :] += chain_weight * cost[..., LR_JOINTS.index(_LR_CHAIN[jl]), :]
    iu = np.triu_indices(C, 1)
    for f in range(F):
        for p in range(P):
            swapped[f, :, p] = _best_pattern(chain_cost[f][iu][:, p], iu, C, max_brute)
    # 2. the pattern or its complement, per pair (3. decided over the chunk): triangulate once with the
    # patterns applied
    out = _swap_pairs(j2d, swapped)
    conf_out = np.where(out[..., 2] > min_conf, out[..., 2], 0.0)
    X, _, _ = triangulate_points(
        out[..., :2].transpose(1, 0, 2, 3).reshape(C, F * 24, 2), conf_out.transpose(1, 0, 2).reshape(C, F * 24),
        cameras, TriangulationConfig(min_conf=min_conf),
    )
    X = X.reshape(F, 24, 3)
    ok = np.isfinite(X).all(axis=-1)  # (F, 24)
    # metres per pixel of each view at the body (for the image-space continuity of step 3)
    body = np.nanmedian(X.reshape(-1, 3), axis=0) if ok.any() else np.zeros(3)
    m_per_px = np.array([np.linalg.norm(body - cam.center) / float(cam.K[0, 0]) for cam in cameras])
    X = np.nan_to_num(X, nan=0.0)
    up = X[:, 12] - X[:, 0]  # pelvis -> neck
    toes = (X[:, 10] - X[:, 7]) + (X[:, 11] - X[:, 8])  # ankle -> toe, both feet: no left/right labels needed
    toe_len = np.linalg.norm(toes, axis=-1)
    feet_ok = (toe_len > 0.1) & (toe_len < 0.45) & ok[:, [0, 12, 7, 8, 10, 11]].all(axis=1)  # 2 x 5-22 cm
    # the body's left (+x of SMPL) is up x forward; (left - right) . lat > 0 for a correct labelling
    lat = _unit(np.cross(up, toes))
    flip = np.zeros((F, P), dtype=bool)  # complement pair p's pattern in frame f
    # a weak vote for the detector's majority (the labelling that swaps fewer views), metres
    majority = majority_m * (C - 2 * swapped.sum(axis=1)) / C  # (F, P), > 0 keeps the pattern
    both = lambda j: ok[:, j] & ok[:, MIRROR[j]]  # noqa: E731
    Xl: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # decided (left, right) positions per pair

    def decide(p: int, evidence: np.ndarray) -> None:
        """Pair p's labelling per frame from the signed evidence (F,) (metres; > 0 keeps the step-1
        pattern) and the chunk's continuity (:func:`_chain_labels`)."""
        jl = LR_JOINTS[p]
        xl, xr = X[:, jl], X[:, MIRROR[jl]]
        steps = _image_steps(out[..., :2], conf_out, jl, MIRROR[jl], m_per_px) if F > 1 else None
        flip[:, p] = _chain_labels(evidence, xl, xr, both(jl), temporal_weight, steps)
        fl = flip[:, p, None]
        Xl[jl] = (np.where(fl, xr, xl), np.where(fl, xl, xr))

    # roots: the body's left on its left
    sho, hip = LR_JOINTS.index(16), LR_JOINTS.index(1)
    arms_axis, legs_axis = X[:, 16] - X[:, 17], X[:, 1] - X[:, 2]  # left - right with the step-1 labels
    feet_arms = feet_ok & both(16) & (np.abs(_cosine(arms_axis, lat)) > min_cos)
    decide(sho, np.where(feet_arms, (arms_axis * lat).sum(-1), majority[:, sho]))
    arms_axis = Xl[16][0] - Xl[16][1]
    agree = np.where(both(16) & both(1), _cosine(legs_axis, arms_axis), 0.0)
    by_arms = np.where(np.abs(agree) > min_cos, (legs_axis * _unit(arms_axis)).sum(-1), majority[:, hip])
    feet_legs = feet_ok & both(1) & (np.abs(_cosine(legs_axis, lat)) > min_cos)
    decide(hip, np.where(feet_legs, (legs_axis * lat).sum(-1), by_arms))
    legs_axis = Xl[1][0] - Xl[1][1]
    # where the feet do not give the body's left, the decided shoulders (else hips) do
    lat = np.where(feet_ok[:, None], lat, _unit(np.where(both(16)[:, None], arms_axis, legs_axis)))
    has_lat = feet_ok | both(16) | both(1)
    mid = np.where(ok[:, [0]], X[:, 0], X[:, 12])  # a midline point
    # down each chain: keep the left joint nearer the (decided) left joint of the pair above; where
    # either pair is not triangulated, the left joint on the body's left
    for p, jl in enumerate(LR_JOINTS):
        parent = _LR_CHAIN.get(jl)
        if parent is None:
            continue
        jr = MIRROR[jl]
        xl, xr = X[:, jl], X[:, jr]
        pl, pr = Xl[parent]
        same, cross = _same_cross(xl, xr, pl, pr)
        known = both(jl) & both(parent)
        side = np.where(both(jl), ((xl - xr) * lat).sum(-1),
                        np.where(ok[:, jl], ((xl - mid) * lat).sum(-1), -((xr - mid) * lat).sum(-1)))  # fmt: skip
        sided = has_lat & (ok[:, jl] | ok[:, jr]) & (ok[:, 0] | ok[:, 12])
        decide(p, np.where(known, cross - same, np.where(sided, side, majority[:, p])))
    swapped ^= flip[:, None, :]
    return _swap_pairs(j2d, swapped), swapped


#: Left joints of the pairs whose joints are far enough apart on the body (>= 10 cm at rest) for two
#: coinciding detections to mean a collapsed detection (not the collars, a few cm apart).
COLLAPSIBLE_JOINTS: tuple[int, ...] = (1, 4, 7, 10, 16, 18, 20, 22)


def drop_collapsed_pairs(joints2d: np.ndarray, min_separation: float = 0.03, min_conf: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Zero the confidence of left/right joint pairs that a detector put on the same spot of a view.

    A heatmap detector unsure which limb is which often puts both joints of a pair on one limb (both
    wrists on a raised hand). Such a view says nothing about the other limb, and one of the two labels is
    wrong; its rays would drag triangulation and fitting towards the wrong limb. A pair of
    :data:`COLLAPSIBLE_JOINTS` counts as collapsed in a view when its two detections (both with confidence
    above ``min_conf``) are closer than ``min_separation`` x the longer side of the box of that view's
    confident joints (0.03: ~10 px for a 350 px tall person). Limbs that really overlap in one view are
    seen apart by the others.

    Parameters
    ----------
    joints2d : (F, C, 24, 3) u, v (pixels) and confidence.

    Returns
    -------
    joints2d : (F, C, 24, 3) a copy, collapsed pairs with confidence 0.
    collapsed : (F, C, P) bool, per pair of :data:`COLLAPSIBLE_JOINTS`.
    """
    from humanrecon.bodymodel.skeleton import MIRROR

    out = np.array(joints2d, dtype=np.float64)
    seen = out[..., 2] > min_conf  # (F, C, 24)
    uv = out[..., :2]
    lo = np.where(seen[..., None], uv, np.inf).min(axis=2)
    hi = np.where(seen[..., None], uv, -np.inf).max(axis=2)
    extent = np.nan_to_num(np.max(hi - lo, axis=-1), nan=0.0, posinf=0.0, neginf=0.0)  # (F, C) pixels
    L = np.asarray(COLLAPSIBLE_JOINTS)
    R = np.asarray([MIRROR[j] for j in L])
    gap = np.linalg.norm(uv[:, :, L] - uv[:, :, R], axis=-1)  # (F, C, P)
    collapsed = seen[:, :, L] & seen[:, :, R] & (gap < min_separation * extent[..., None])
    f, c, p = np.nonzero(collapsed)
    out[f, c, L[p], 2] = 0.0
    out[f, c, R[p], 2] = 0.0
    return out, collapsed
