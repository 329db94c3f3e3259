"""Visual hull by silhouette carving: point queries, an automatic bounding box, dense and coarse-to-fine grids.

A world point is *inside* the visual hull when it projects inside the silhouette of every camera
(projection with lens distortion, :mod:`humanrecon.conventions`). The occupancy returned here is soft so
that marching cubes at ``iso = 0.5`` places the surface with sub-voxel accuracy:

* each camera samples its ``{0, 1}`` mask with **bilinear interpolation** at the (distorted) pixel
  position, pixel centres at integer coordinates. Its 0.5 level set runs half-way between silhouette and
  background pixel centres, i.e. on the silhouette outline;
* the occupancy is the **minimum over cameras** (a fuzzy "and"): ``>= 0.5`` exactly where every camera
  sees the point within its silhouette outline, ``0`` as soon as one camera sees it clearly outside.
  Points are projected camera after camera and dropped once a camera gives 0 (early rejection).

The value ramps from 0 to 1 over one pixel's footprint. Where a voxel is larger than that footprint,
marching cubes' linear interpolation between samples is off by up to half a voxel (plus half a pixel
from the mask's quantisation); with voxels about as large as pixels the surface is sub-voxel accurate.

Points a camera cannot see
--------------------------
A camera *sees* a point when the point is in front of it (camera ``z > 0``), inside the valid region of
its distortion model (normalised radius below the fold of the radial polynomial, where pixels would
fold back into the image) and projects inside the image (``-0.5 <= u < width - 0.5``, same for ``v``:
the pixels' area). The policy for the others is ``outside_image``:

* ``"carve"`` (default): *outside the image => outside the hull*. Studio cameras each see the whole
  capture volume, so a point that some camera does not see is not where the subject is.
* ``"abstain"``: a camera does not carve points it does not see (outside its frustum, behind it, or
  beyond its distortion fold); a point must then be seen by at least ``min_views`` cameras. Use it
  for rigs whose cameras see only part of the volume. (:func:`bounding_box` assumes ``"carve"``.)

Grids
-----
:class:`OccupancyGrid` follows the voxel convention of :mod:`humanrecon.conventions`
(``values[i, j, k]`` at ``origin + (i, j, k) * voxel_size``, ``indexing='ij'``). Grids are cubic:
``resolution`` samples per axis, ``voxel_size = max bbox extent / (resolution - 1)``, centred on the
bounding box (the longest axis spans the box exactly, the others extend beyond it).
:func:`octree_occupancy` fills the same grid as :func:`dense_occupancy` coarse-to-fine and projects a
few percent of its points.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scipy.optimize import linprog

from humanrecon.calibration.camera import Camera, lens_monotone_radius2

logger = logging.getLogger(__name__)

#: Iso-level of the soft occupancy that separates inside (``>=``) from outside.
DEFAULT_ISO = 0.5
#: Points projected per batch (bounds the temporary memory: ~100 bytes per point).
DEFAULT_CHUNK = 1_000_000
#: Policies for points a camera does not see (see the module docstring).
OUTSIDE_IMAGE_POLICIES = ("carve", "abstain")
#: ``min_views`` used by the ``"abstain"`` policy when none is given: two views bound a point in depth.
ABSTAIN_DEFAULT_MIN_VIEWS = 2
#: Cells added around the cells crossing ``iso`` at each octree level (catches surface that bulges
#: between the corners of a coarse cell).
OCTREE_SAFETY_DILATION = 1
#: Default number of grid samples per axis of the coarsest octree level (the actual coarse level has
#: between this and twice this many).
DEFAULT_COARSE_RESOLUTION = 32
#: :func:`bounding_box`: margin added on every side, metres.
DEFAULT_BBOX_MARGIN = 0.05
#: :func:`bounding_box`: cells along the longest side of the initial (cone) box.
BBOX_COARSE_CELLS = 32
#: :func:`bounding_box`: cells are split until they are at most this size, metres ...
BBOX_CELL_SIZE = 0.005
#: ... or this many times.
BBOX_MAX_LEVELS = 8
#: :func:`bounding_box`: boundary samples per side of each silhouette's 2-D box when undistorting it.
BBOX_EDGE_SAMPLES = 256
#: :func:`bounding_box`: near-plane depth (metres) below which a point counts as not in front of a camera.
BBOX_NEAR = 1e-3
#: :func:`bounding_box`: pixels of slack in the conservative cell test. A point whose bilinear mask
#: value is positive lies within one pixel (per axis) of a silhouette pixel centre, i.e. within sqrt(2).
BBOX_PIXEL_SLACK = math.sqrt(2.0) + 0.25


class VisualHullError(ValueError):
    """Inputs to the visual hull are inconsistent; the message names the camera and what is wrong."""


@dataclass(frozen=True)
class OccupancyGrid:
    """A dense soft-occupancy grid.

    Attributes
    ----------
    values : numpy.ndarray
        (R, R, R) float32 occupancy in [0, 1]; ``values[i, j, k]`` is the sample at world position
        ``origin + (i, j, k) * voxel_size`` (x by ``i``, y by ``j``, z by ``k``). Inside is ``>= iso``.
    origin : numpy.ndarray
        (3,) float64 world position of sample ``(0, 0, 0)``, metres.
    voxel_size : float
        Grid spacing, metres (cubic voxels).
    num_queries : int
        Number of points actually projected into the cameras to fill ``values`` (``R**3`` for a dense
        grid).
    resolution : int
        ``R``, samples per axis.
    """

    values: np.ndarray
    origin: np.ndarray
    voxel_size: float
    num_queries: int
    resolution: int

    def points(self, index: np.ndarray) -> np.ndarray:
        """World positions (metres) of grid indices ``index`` (N, 3) -> (N, 3) float64."""
        return self.origin + np.asarray(index, dtype=np.float64) * self.voxel_size


# -- inputs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """One camera with its mask prepared for sampling."""

    camera: Camera
    flat: np.ndarray  # (H * W,) float32 mask values
    width: int
    height: int
    r2_max: float  # squared normalised radius of the distortion fold (inf if none)


def _prepare_views(masks: np.ndarray, cameras: list[Camera] | tuple[Camera, ...]) -> list[_View]:
    """Validate masks against cameras; raise :class:`VisualHullError` naming the camera at fault."""
    cameras = list(cameras)
    if not cameras:
        raise VisualHullError("visual hull needs at least one camera, got none")
    for cam in cameras:
        if not isinstance(cam, Camera):
            raise VisualHullError(f"cameras must be Camera objects, got {type(cam).__name__}")
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise VisualHullError(f"masks must have shape (C, H, W), got {masks.shape}")
    if masks.shape[0] != len(cameras):
        raise VisualHullError(
            f"got {masks.shape[0]} masks for {len(cameras)} cameras ({', '.join(c.name for c in cameras)})"
        )
    if masks.dtype != np.bool_ and not np.issubdtype(masks.dtype, np.integer):
        raise VisualHullError(f"masks must be uint8 (or bool) in {{0, 1}}, got dtype {masks.dtype}")
    views = []
    for cam, mask in zip(cameras, masks, strict=True):
        H, W = mask.shape
        if cam.width <= 0 or cam.height <= 0:
            raise VisualHullError(
                f"camera {cam.name!r}: image size unknown ({cam.width}x{cam.height}); fill width/height first"
            )
        if (W, H) != (cam.width, cam.height):
            raise VisualHullError(
                f"camera {cam.name!r}: mask is {W}x{H} (width x height) but the camera's image is "
                f"{cam.width}x{cam.height}"
            )
        if W < 2 or H < 2:
            raise VisualHullError(f"camera {cam.name!r}: image {W}x{H} is too small (need at least 2x2)")
        if cam.dist.shape != (5,):
            raise VisualHullError(
                f"camera {cam.name!r}: dist must have 5 entries (k1, k2, p1, p2, k3), got {cam.dist.size}"
            )
        peak = int(mask.max())
        if peak == 0:
            raise VisualHullError(f"camera {cam.name!r} has an empty silhouette for this frame")
        if peak > 1 or int(mask.min()) < 0:
            raise VisualHullError(
                f"camera {cam.name!r}: mask values must be 0 or 1, found range [{int(mask.min())}, {peak}] "
                "(binarise it, e.g. mask > 0)"
            )
        views.append(
            _View(cam, np.ascontiguousarray(mask, dtype=np.float32).reshape(-1), W, H, lens_monotone_radius2(cam.dist))
        )
    return views


def _resolve_policy(outside_image: str, min_views: int | None, num_cameras: int) -> int:
    if outside_image not in OUTSIDE_IMAGE_POLICIES:
        raise VisualHullError(
            f"outside_image must be one of {', '.join(OUTSIDE_IMAGE_POLICIES)}, got {outside_image!r}"
        )
    if min_views is None:
        return num_cameras if outside_image == "carve" else min(ABSTAIN_DEFAULT_MIN_VIEWS, num_cameras)
    if isinstance(min_views, bool) or not isinstance(min_views, int | np.integer) or not 1 <= min_views <= num_cameras:
        raise VisualHullError(f"min_views must be an integer in [1, {num_cameras}] (the cameras), got {min_views!r}")
    return int(min_views)


def _check_chunk(chunk: int) -> int:
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise VisualHullError(f"chunk must be a positive integer, got {chunk!r}")
    return int(chunk)


def _check_bbox(bbox: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    try:
        lo, hi = (np.asarray(b, dtype=np.float64).reshape(-1) for b in bbox)
    except (TypeError, ValueError) as exc:
        raise VisualHullError(f"bbox must be a pair (lo (3,), hi (3,)) of metres ({exc})") from None
    if lo.shape != (3,) or hi.shape != (3,) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise VisualHullError(f"bbox must be a pair of finite (3,) arrays, got lo={lo}, hi={hi}")
    if not np.all(hi > lo):
        raise VisualHullError(f"bbox is empty or inverted: lo={lo}, hi={hi} (need hi > lo on every axis)")
    return lo, hi


# -- projection and sampling ------------------------------------------------------------------------


def _project(view: _View, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distorted pixels ``u, v`` (n,), depth ``z`` (n,) and ``valid`` (in front and inside the distortion
    model's valid region) of world points (n, 3).

    The formula of :meth:`Camera.project` (tested equal); the world->camera transform is an ``einsum``
    rather than :meth:`Camera.world_to_camera`'s BLAS product, whose thread pool makes it up to ten times
    slower on a loaded machine. Invalid points get finite garbage.
    """
    cam = view.camera
    pc = np.einsum("ij,kj->ik", pts, cam.R) + cam.t
    z = pc[:, 2]
    front = z > 0.0
    xy = pc[:, :2] / np.where(front, z, 1.0)[:, None]
    r2 = np.einsum("ij,ij->i", xy, xy)
    valid = front & (r2 < view.r2_max)
    xy[~valid] = 0.0
    xyd = cam.distort_normalized(xy)
    K = cam.K
    u = K[0, 0] * xyd[:, 0] + K[0, 1] * xyd[:, 1] + K[0, 2]
    v = K[1, 1] * xyd[:, 1] + K[1, 2]
    return u, v, z, valid


def _in_image(view: _View, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u >= -0.5) & (u < view.width - 0.5) & (v >= -0.5) & (v < view.height - 0.5)


def _bilinear(view: _View, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear mask sample (float32) at pixel positions clamped to the pixel-centre rectangle."""
    W, H = view.width, view.height
    uc = np.clip(u, 0.0, W - 1.0)
    vc = np.clip(v, 0.0, H - 1.0)
    u0 = np.minimum(uc.astype(np.intp), W - 2)  # uc >= 0: truncation is floor
    v0 = np.minimum(vc.astype(np.intp), H - 2)
    fu = (uc - u0).astype(np.float32)
    fv = (vc - v0).astype(np.float32)
    i = v0 * W + u0
    flat = view.flat
    a = flat[i]
    b = flat[i + 1]
    c = flat[i + W]
    d = flat[i + W + 1]
    top = a + (b - a) * fu
    bottom = c + (d - c) * fu
    return top + (bottom - top) * fv


def _carve_chunk(pts: np.ndarray, views: list[_View], abstain: bool, min_views: int) -> np.ndarray:
    """Soft occupancy of (n, 3) float64 points; points are projected into a camera only while no
    earlier camera has put them clearly outside (value 0)."""
    n = pts.shape[0]
    occ = np.ones(n, dtype=np.float32)
    seen_count = np.zeros(n, dtype=np.int32) if abstain else None
    alive = np.arange(n)
    for view in views:
        if alive.size == 0:
            break
        u, v, _, valid = _project(view, pts[alive])
        seen = valid & _in_image(view, u, v)
        val = _bilinear(view, u, v)
        val[~seen] = 1.0 if abstain else 0.0
        if abstain:
            seen_count[alive[seen]] += 1
        occ[alive] = np.minimum(occ[alive], val)
        alive = alive[val > 0.0]
    if abstain:
        occ[seen_count < min_views] = 0.0
    return occ


def _carve(pts: np.ndarray, views: list[_View], outside_image: str, min_views: int, chunk: int) -> np.ndarray:
    out = np.empty(pts.shape[0], dtype=np.float32)
    abstain = outside_image == "abstain"
    for start in range(0, pts.shape[0], chunk):
        out[start:start + chunk] = _carve_chunk(pts[start:start + chunk], views, abstain, min_views)
    return out


def carve(
    points: np.ndarray,
    masks: np.ndarray,
    cameras: list[Camera] | tuple[Camera, ...],
    *,
    min_views: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    outside_image: Literal["carve", "abstain"] = "carve",
) -> np.ndarray:
    """Soft visual-hull occupancy of world points.

    Parameters
    ----------
    points : array_like
        (N, 3) world coordinates, metres. Must be finite.
    masks : numpy.ndarray
        (C, H, W) uint8 (or bool) silhouettes in {0, 1}, one per camera, each the size of its camera's
        image.
    cameras : sequence of Camera
        C calibrated cameras, in the order of ``masks``.
    min_views : int, optional
        Minimum number of cameras that must *see* a point (in front, inside the image, inside the
        distortion model's valid region) for it to be inside. With ``outside_image="carve"`` every
        camera must see it anyway (``None`` = C); with ``"abstain"`` ``None`` means
        :data:`ABSTAIN_DEFAULT_MIN_VIEWS` (at most C).
    chunk : int
        Points projected per batch (memory bound).
    outside_image : {"carve", "abstain"}
        Policy for points a camera does not see: ``"carve"`` (default) treats them as outside the hull,
        ``"abstain"`` lets that camera not vote (see the module docstring).

    Returns
    -------
    numpy.ndarray
        (N,) float32 occupancy in [0, 1]: the minimum over the (voting) cameras of the bilinearly
        interpolated mask at the point's distorted projection. ``>= 0.5`` (:data:`DEFAULT_ISO`) is inside.
        Deterministic.

    Raises
    ------
    VisualHullError
        A camera's silhouette is empty or its mask size does not match the camera (the message names
        the camera), mask values outside {0, 1}, bad ``points``/``min_views``/``chunk``.
    """
    hull = hull_function(masks, cameras, min_views=min_views, chunk=chunk, outside_image=outside_image)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise VisualHullError(f"points must have shape (N, 3), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise VisualHullError(f"points: {int(np.count_nonzero(~np.isfinite(pts).all(axis=1)))} rows are not finite")
    return hull(pts)


def hull_function(
    masks: np.ndarray,
    cameras: list[Camera] | tuple[Camera, ...],
    *,
    min_views: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    outside_image: Literal["carve", "abstain"] = "carve",
) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`carve` with its inputs validated and prepared once: a function of (N, 3) float64 world
    points returning (N,) float32 occupancy, for callers that query the same frame many times (the
    octree levels, the implicit reconstruction)."""
    views = _prepare_views(masks, cameras)
    min_views = _resolve_policy(outside_image, min_views, len(views))
    chunk = _check_chunk(chunk)
    return lambda pts: _carve(pts, views, outside_image, min_views, chunk)


# -- bounding box -----------------------------------------------------------------------------------


def _silhouette_cone(view: _View) -> tuple[np.ndarray, np.ndarray] | None:
    """Half-spaces ``A X <= b`` (world, metres) of the cone through the silhouette's 2-D bounding box
    (grown by one pixel: a positive bilinear sample is less than one pixel from a silhouette pixel centre),
    or None when the box reaches beyond the distortion model's valid region."""
    cam = view.camera
    mask = view.flat.reshape(view.height, view.width)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    u_lo = max(cols[0] - 1.0, -0.5)
    u_hi = min(cols[-1] + 1.0, view.width - 0.5)
    v_lo = max(rows[0] - 1.0, -0.5)
    v_hi = min(rows[-1] + 1.0, view.height - 0.5)
    s = np.linspace(0.0, 1.0, BBOX_EDGE_SAMPLES)
    us = u_lo + s * (u_hi - u_lo)
    vs = v_lo + s * (v_hi - v_lo)
    boundary = np.concatenate([
        np.stack([us, np.full_like(us, v_lo)], axis=1),
        np.stack([us, np.full_like(us, v_hi)], axis=1),
        np.stack([np.full_like(vs, u_lo), vs], axis=1),
        np.stack([np.full_like(vs, u_hi), vs], axis=1),
    ])
    xy = cam.undistort_pixels(boundary)
    if not np.all(np.isfinite(xy)):
        logger.warning(
            "camera %r: the silhouette's bounding box reaches beyond the distortion model's valid region; "
            "not using this camera for the initial bounding cone", cam.name,
        )
        return None
    # slack for the curvature of the undistorted box's sides between boundary samples
    pad = BBOX_PIXEL_SLACK / min(cam.K[0, 0], cam.K[1, 1])
    x_lo, y_lo = xy.min(axis=0) - pad
    x_hi, y_hi = xy.max(axis=0) + pad
    R, t = cam.R, cam.t
    # x_lo <= X/Z <= x_hi with Z > 0  <=>  X - x_hi Z <= 0 and x_lo Z - X <= 0 (camera coordinates)
    rows_c = np.array([
        [1.0, 0.0, -x_hi],
        [-1.0, 0.0, x_lo],
        [0.0, 1.0, -y_hi],
        [0.0, -1.0, y_lo],
        [0.0, 0.0, -1.0],  # Z >= near
    ])
    rhs_c = np.array([0.0, 0.0, 0.0, 0.0, -BBOX_NEAR])
    # rows_c @ (R X + t) <= rhs_c
    return rows_c @ R, rhs_c - rows_c @ t


def _cone_box(views: list[_View]) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box of the intersection of the silhouette-box cones (six small linear programs)."""
    cones = [c for c in (_silhouette_cone(v) for v in views) if c is not None]
    if not cones:
        raise VisualHullError("no camera gives a usable silhouette cone; cannot bound the capture volume")
    A = np.concatenate([c[0] for c in cones])
    b = np.concatenate([c[1] for c in cones])
    lo = np.empty(3)
    hi = np.empty(3)
    names = ", ".join(v.camera.name for v in views)
    for axis in range(3):
        for sign, out in ((1.0, lo), (-1.0, hi)):
            cost = np.zeros(3)
            cost[axis] = sign
            res = linprog(cost, A_ub=A, b_ub=b, bounds=[(None, None)] * 3, method="highs")
            if res.status == 2:
                raise VisualHullError(
                    f"the silhouettes of cameras {names} do not intersect in space (inconsistent "
                    "calibration or masks): the visual hull is empty"
                )
            if res.status == 3:
                raise VisualHullError(
                    f"the silhouette cones of cameras {names} do not bound the volume along "
                    f"{'xyz'[axis]} (too few or parallel cameras)"
                )
            if res.status != 0:
                raise VisualHullError(f"bounding-cone linear program failed: {res.message}")
            out[axis] = res.x[axis]
    return lo, hi


def _outside_distance(mask2d: np.ndarray) -> np.ndarray:
    """(H, W) float32 Euclidean distance (pixels) from each pixel centre to the nearest silhouette pixel centre."""
    return cv2.distanceTransform((mask2d == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _distortion_lipschitz(dist: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of the distortion map's Jacobian norm over the disc of normalised radius ``r``."""
    k1, k2, p1, p2, k3 = (abs(float(c)) for c in dist[:5])
    s = r * r
    return 1.0 + s * (3.0 * k1 + s * (5.0 * k2 + s * 7.0 * k3)) + 8.0 * (p1 + p2) * r


def _classify_cells(
    centres: np.ndarray, half_diag: float, views: list[_View], dts: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Conservative cell test for cells given by their centres (m, 3) and half-diagonal (metres).

    Returns ``possible`` (m,) bool, False only for cells that certainly hold no point :func:`carve` rates
    above 0 (in some camera the cell's bounding ball projects farther than :data:`BBOX_PIXEL_SLACK`
    pixels from every silhouette pixel centre), and ``occupied`` (m,) bool, True where the cell centre
    itself has a positive occupancy (a certain hull point).
    """
    possible = np.ones(centres.shape[0], dtype=bool)
    occupied = np.ones(centres.shape[0], dtype=bool)
    for view, dt in zip(views, dts, strict=True):
        idx = np.flatnonzero(possible)
        if idx.size == 0:
            break
        cam = view.camera
        u, v, z, valid = _project(view, centres[idx])
        pc = np.einsum("ij,kj->ik", centres[idx], cam.R) + cam.t
        r = np.hypot(pc[:, 0], pc[:, 1]) / np.where(z > 0, z, 1.0)
        depth = z - half_diag
        decidable = valid & (depth > BBOX_NEAR)
        # radius of the ball's projection in normalised coordinates, then through the lens, in pixels
        dn = half_diag * np.sqrt(1.0 + r * r) / np.where(decidable, depth, 1.0)
        decidable &= (r + dn) ** 2 < view.r2_max
        f = max(cam.K[0, 0], cam.K[1, 1]) + abs(cam.K[0, 1])
        radius_px = f * dn * _distortion_lipschitz(cam.dist, r + dn)
        # lower bound of the distance from (u, v) to the nearest silhouette pixel centre
        uc = np.clip(u, 0.0, view.width - 1.0)
        vc = np.clip(v, 0.0, view.height - 1.0)
        near = dt[np.rint(vc).astype(np.intp), np.rint(uc).astype(np.intp)]
        inner = np.maximum(near - math.sqrt(0.5), 0.0)
        lower = np.sqrt((u - uc) ** 2 + (v - vc) ** 2 + inner**2)
        possible[idx[decidable & (lower > radius_px + BBOX_PIXEL_SLACK)]] = False
        occupied[idx[~(valid & _in_image(view, u, v) & (_bilinear(view, u, v) > 0.0))]] = False
    return possible, occupied & possible


def _shrink_box(
    lo: np.ndarray, hi: np.ndarray, views: list[_View], dts: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest box found (coarse-to-fine) holding every cell of ``[lo, hi]`` that may contain hull.

    Cells are refined (split in 8) only while they stick out of the box of the certain hull points found
    so far; the others lie inside the final box anyway.
    """
    h = float(np.max(hi - lo)) / BBOX_COARSE_CELLS
    counts = np.maximum(np.ceil((hi - lo) / h).astype(int), 1)
    axes = [lo[a] + (np.arange(counts[a]) + 0.5) * h for a in range(3)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    known_lo = np.full(3, np.inf)  # box of certain hull points
    known_hi = np.full(3, -np.inf)
    children = 0.25 * np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=np.float64)
    for level in range(BBOX_MAX_LEVELS + 1):
        possible, occupied = _classify_cells(centres, 0.5 * math.sqrt(3.0) * h, views, dts)
        if np.any(occupied):
            known_lo = np.minimum(known_lo, centres[occupied].min(axis=0))
            known_hi = np.maximum(known_hi, centres[occupied].max(axis=0))
        centres = centres[possible]
        # only cells reaching beyond the certain box can move the result
        centres = centres[np.any((centres - 0.5 * h < known_lo) | (centres + 0.5 * h > known_hi), axis=1)]
        if centres.shape[0] == 0 or h <= BBOX_CELL_SIZE or level == BBOX_MAX_LEVELS:
            break
        centres = (centres[:, None, :] + children[None] * h).reshape(-1, 3)
        h *= 0.5
    if centres.shape[0]:
        known_lo = np.minimum(known_lo, centres.min(axis=0) - 0.5 * h)
        known_hi = np.maximum(known_hi, centres.max(axis=0) + 0.5 * h)
    if not np.all(known_hi >= known_lo):
        names = ", ".join(v.camera.name for v in views)
        raise VisualHullError(
            f"the silhouettes of cameras {names} have no common point in space (inconsistent calibration "
            "or masks): the visual hull is empty"
        )
    return np.maximum(known_lo, lo), np.minimum(known_hi, hi)


def bounding_box(
    masks: np.ndarray,
    cameras: list[Camera] | tuple[Camera, ...],
    *,
    margin: float = DEFAULT_BBOX_MARGIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box that contains the whole visual hull, from the silhouettes and the cameras.

    Method (every step is conservative, so the box contains every point that :func:`carve` with the
    default policy rates above 0, a superset of the hull):

    1. each silhouette's 2-D bounding box (grown by one pixel) is undistorted into a cone from the
       camera; the exact axis-aligned box of the cones' intersection comes from six linear programs;
    2. that box is cut into cells (:data:`BBOX_COARSE_CELLS` along its longest side). A cell is dropped
       when, in some camera, the projection of its bounding ball (radius bounded through the lens
       distortion) stays farther than :data:`BBOX_PIXEL_SLACK` pixels from every silhouette pixel centre
       (exact distance transform). Cell centres with positive occupancy are certain hull points; cells
       that stick out of their box are split in 8, down to :data:`BBOX_CELL_SIZE`;
    3. the box of what is left, plus ``margin`` on every side.

    Without margin the box exceeds the hull by about one final cell plus the pixel slack seen from the
    camera distance (~1 cm for 512-pixel views of a person at 3 m).

    Parameters
    ----------
    masks : numpy.ndarray
        (C, H, W) uint8 silhouettes in {0, 1}.
    cameras : sequence of Camera
        The C cameras, in the order of ``masks``; they must bound the volume (at least two views from
        different directions).
    margin : float
        Metres added on every side (>= 0).

    Returns
    -------
    lo, hi : numpy.ndarray
        (3,) float64 world corners, metres, ``lo < hi``.

    Raises
    ------
    VisualHullError
        Bad masks (naming the camera), silhouettes that do not intersect, cameras that do not bound
        the volume, negative margin.
    """
    views = _prepare_views(masks, cameras)
    margin = float(margin)
    if not math.isfinite(margin) or margin < 0:
        raise VisualHullError(f"margin must be a finite number of metres >= 0, got {margin}")
    lo, hi = _cone_box(views)
    dts = [_outside_distance(v.flat.reshape(v.height, v.width)) for v in views]
    lo, hi = _shrink_box(lo, hi, views, dts)
    return lo - margin, hi + margin


# -- grids ------------------------------------------------------------------------------------------


def grid_geometry(bbox: tuple[np.ndarray, np.ndarray], resolution: int) -> tuple[np.ndarray, float]:
    """Origin (3,) float64 and voxel size (metres) of the cubic ``resolution**3`` grid centred on ``bbox``.

    ``voxel_size = max(hi - lo) / (resolution - 1)``; the grid spans the box exactly along its longest
    axis and symmetrically beyond it along the others.
    """
    lo, hi = _check_bbox(bbox)
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) or resolution < 2:
        raise VisualHullError(f"resolution must be an integer >= 2, got {resolution!r}")
    voxel = float(np.max(hi - lo)) / (resolution - 1)
    origin = 0.5 * (lo + hi) - 0.5 * (resolution - 1) * voxel
    return origin, voxel


def dense_occupancy(
    masks: np.ndarray,
    cameras: list[Camera] | tuple[Camera, ...],
    bbox: tuple[np.ndarray, np.ndarray],
    resolution: int,
    *,
    min_views: int | None = None,
    outside_image: Literal["carve", "abstain"] = "carve",
    chunk: int = DEFAULT_CHUNK,
) -> OccupancyGrid:
    """Brute-force reference: :func:`carve` at every sample of the grid (see :func:`grid_geometry`).

    Parameters are those of :func:`carve` and :func:`octree_occupancy`. ``num_queries = resolution**3``.
    """
    views = _prepare_views(masks, cameras)
    min_views = _resolve_policy(outside_image, min_views, len(views))
    chunk = _check_chunk(chunk)
    origin, voxel = grid_geometry(bbox, resolution)
    R = int(resolution)
    values = np.empty(R**3, dtype=np.float32)
    for start in range(0, R**3, chunk):
        flat = np.arange(start, min(start + chunk, R**3))
        ijk = np.stack(np.unravel_index(flat, (R, R, R)), axis=1)
        values[start:start + flat.size] = _carve(origin + ijk * voxel, views, outside_image, min_views, chunk)
    return OccupancyGrid(values.reshape(R, R, R), origin, voxel, R**3, R)


def _corner_slices(n: int) -> list[tuple[slice, slice, slice]]:
    return [
        (slice(a, a + n), slice(b, b + n), slice(c, c + n)) for a in (0, 1) for b in (0, 1) for c in (0, 1)
    ]


def _mixed_cells(values: np.ndarray, iso: float) -> np.ndarray:
    """(n, n, n) bool: cells of the (n+1)**3 sample array whose 8 corners are not all on one side of iso."""
    inside = values >= iso
    n = values.shape[0] - 1
    any_in = np.zeros((n, n, n), dtype=bool)
    all_in = np.ones((n, n, n), dtype=bool)
    for sl in _corner_slices(n):
        any_in |= inside[sl]
        all_in &= inside[sl]
    return any_in & ~all_in


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Dilation by a (2 steps + 1)**3 cube, separable."""
    out = mask.copy()
    for _ in range(steps):
        for axis in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(0, -1)
            hi[axis] = slice(1, None)
            grown = out.copy()
            grown[tuple(lo)] |= out[tuple(hi)]
            grown[tuple(hi)] |= out[tuple(lo)]
            out = grown
    return out


def _upsample(a: np.ndarray, size: int) -> np.ndarray:
    """(n+1)**3 -> (size,)**3 with ``size <= 2n + 1``: sample ``(i, j, k)`` takes the value of the coarse
    sample ``a[i // 2, j // 2, k // 2]``, the lower corner of its parent cell."""
    out = np.empty((size,) * 3, dtype=a.dtype)
    for i in (0, 1):
        for j in (0, 1):
            for k in (0, 1):
                out[i::2, j::2, k::2] = a[: (size - i + 1) // 2, : (size - j + 1) // 2, : (size - k + 1) // 2]
    return out


def _cell_points(cells: np.ndarray) -> np.ndarray:
    """(n, n, n) bool cells -> (2n+1)**3 bool: the 27 finer samples of every marked cell."""
    a = cells
    for axis in range(3):
        shape = list(a.shape)
        n = shape[axis]
        shape[axis] = 2 * n + 1
        out = np.zeros(shape, dtype=bool)
        for offset in (0, 1, 2):
            sl = [slice(None)] * 3
            sl[axis] = slice(offset, offset + 2 * n, 2)
            out[tuple(sl)] |= a
        a = out
    return a


def octree_occupancy(
    masks: np.ndarray,
    cameras: list[Camera] | tuple[Camera, ...],
    bbox: tuple[np.ndarray, np.ndarray],
    resolution: int = 256,
    *,
    coarse_resolution: int = DEFAULT_COARSE_RESOLUTION,
    iso: float = DEFAULT_ISO,
    min_views: int | None = None,
    outside_image: Literal["carve", "abstain"] = "carve",
    chunk: int = DEFAULT_CHUNK,
) -> OccupancyGrid:
    """The grid of :func:`dense_occupancy`, filled coarse-to-fine with far fewer projections.

    Algorithm: the grid's sample spacing is refined by halving, from a coarse stride ``s0 = 2**L``
    (``L`` the largest with at least ``coarse_resolution`` samples per axis; the grid is padded to
    ``s0 * n + 1`` samples internally and cropped at the end) down to 1. Every sample of the coarse
    level is evaluated with :func:`carve`. At each level a cell is *refined* when its 8 corner samples
    are not all on the same side of ``iso``, grown by :data:`OCTREE_SAFETY_DILATION` cells (26-neighbour
    cube); the next level evaluates only the samples of refined cells not evaluated before. Samples of
    cells never refined take their parent cell's value (the sample at the parent's lower corner): all
    corners of such a cell are on one side of ``iso``, so it stays uniformly inside or outside.

    The result equals the dense grid wherever the surface is found; it can miss structures that slip
    between the samples of a coarse cell and of its neighbours, i.e. thinner than about one coarse cell
    (``max bbox extent / coarse_resolution``; 7 cm for a 2.2 m box at 32) and not crossing any coarse
    sample. The cost scales with the surface area ``A``: roughly ``12 A / voxel_size**2`` points
    (measured: 2.7 % of 256**3 for a person in its bounding box, 20 % of 128**3 for a sphere filling it).

    Parameters
    ----------
    masks, cameras, min_views, outside_image, chunk
        As for :func:`carve`.
    bbox : (lo (3,), hi (3,))
        World box, metres (e.g. from :func:`bounding_box`); see :func:`grid_geometry`.
    resolution : int
        ``R``, samples per axis of the output grid (>= 2).
    coarse_resolution : int
        Samples per axis of the coarsest level (at least this many; >= 2).
    iso : float
        Inside/outside threshold used for the refinement decisions (the marching-cubes level).

    Returns
    -------
    OccupancyGrid
        ``values`` (R, R, R) float32; ``num_queries`` counts the points projected.
    """
    hull = hull_function(masks, cameras, min_views=min_views, chunk=chunk, outside_image=outside_image)
    return octree_grid(hull, bbox, resolution, coarse_resolution=coarse_resolution, iso=iso)


def octree_grid(
    evaluate: Callable[[np.ndarray], np.ndarray],
    bbox: tuple[np.ndarray, np.ndarray],
    resolution: int = 256,
    *,
    coarse_resolution: int = DEFAULT_COARSE_RESOLUTION,
    iso: float = DEFAULT_ISO,
) -> OccupancyGrid:
    """Coarse-to-fine evaluation of any occupancy function on the grid of :func:`grid_geometry`.

    ``evaluate`` maps (n, 3) float64 world points (metres) to (n,) float32 occupancy in [0, 1]; the
    refinement is that of :func:`octree_occupancy` (which calls this with the silhouette carve). The
    learned implicit reconstruction (:mod:`humanrecon.implicit`) uses it with its network.
    """
    origin, voxel = grid_geometry(bbox, resolution)
    if (
        isinstance(coarse_resolution, bool)
        or not isinstance(coarse_resolution, int | np.integer)
        or coarse_resolution < 2
    ):
        raise VisualHullError(f"coarse_resolution must be an integer >= 2, got {coarse_resolution!r}")
    iso = float(iso)
    if not 0.0 < iso <= 1.0:
        raise VisualHullError(f"iso must be in (0, 1], got {iso}")
    R = int(resolution)
    levels = max(0, math.floor(math.log2((R - 1) / (coarse_resolution - 1)))) if R > coarse_resolution else 0
    stride = 2**levels
    n = -(-(R - 1) // stride)  # cells per axis at the coarse level

    def at(index: np.ndarray, step: int) -> np.ndarray:
        return np.asarray(evaluate(origin + index * (step * voxel)), dtype=np.float32)

    ijk = np.stack(np.meshgrid(*(np.arange(n + 1),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    values = at(ijk, stride).reshape(n + 1, n + 1, n + 1)
    exact = np.ones(values.shape, dtype=bool)
    queries = ijk.shape[0]
    while stride > 1:
        refine = _dilate(_mixed_cells(values, iso), OCTREE_SAFETY_DILATION)
        todo = _cell_points(refine)
        todo[::2, ::2, ::2] &= ~exact  # coarse samples evaluated before keep their values
        stride //= 2
        size = todo.shape[0] if stride > 1 else R  # the finest level is cropped to the output grid
        todo = todo[:size, :size, :size]
        values = _upsample(values, size)
        index = np.argwhere(todo)
        if index.size:
            values[todo] = at(index, stride)
        queries += index.shape[0]
        if stride > 1:
            coarse_exact = exact
            exact = todo
            exact[::2, ::2, ::2] |= coarse_exact
    return OccupancyGrid(values, origin, voxel, int(queries), R)
