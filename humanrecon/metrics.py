"""Accuracy metrics: surfaces (P2S, Chamfer-L2, volumetric IoU), silhouettes, and bodies (MPJPE, PVE).

Definitions, units, sample counts and the way inside/outside is decided are written down in
``docs/metrics.md``; this module implements them. Lengths come in metres (:mod:`humanrecon.conventions`)
and every metric is reported in the unit its name states (``*_cm``, ``*_cm2``, ``*_mm``).

Surface metrics
---------------
A mesh is either an object with ``vertices`` (V, 3) and ``faces`` (T, 3) attributes (e.g.
``trimesh.Trimesh``) or a ``(vertices, faces)`` pair. Distances are exact point-to-triangle distances
found through a bounding-box hierarchy (:func:`point_to_surface`), not a sampled approximation.

Inside/outside is decided by the *generalised winding number* (Jacobson et al. 2013) so meshes with holes
or other defects still have a well-defined volume. :func:`winding_number` evaluates it with a bounding-volume
hierarchy and a second-order far-field expansion (Barill et al. 2018, "Fast winding numbers"), exactly for
near triangles (Van Oosterom-Strackee solid angle). :func:`occupancy_grid` evaluates it coarse-to-fine on
a voxel grid: only grid cells that may contain surface, or whose corners disagree or lie near 0.5, are
refined; every other cell is filled from its corners.

Body metrics
------------
Joints (B, J, 3) or (J, 3) and vertices (B, V, 3) or (V, 3) in metres; results in millimetres.
:func:`procrustes_align` is the similarity (Umeyama) alignment with ``det(R) = +1`` enforced.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "SurfaceMetrics",
    "chamfer_l2_cm",
    "joint2d_error_px",
    "mpjpe_mm",
    "occupancy_grid",
    "pa_mpjpe_mm",
    "pa_pve_mm",
    "p2s_cm",
    "point_to_surface",
    "procrustes_align",
    "pve_mm",
    "sample_surface",
    "silhouette_iou",
    "surface_metrics",
    "volumetric_iou",
    "winding_number",
]

#: Default number of surface samples per mesh for P2S / Chamfer.
DEFAULT_SAMPLES = 100_000
#: Default grid resolution (voxels along the longest side of the bounding box) for volumetric IoU.
DEFAULT_IOU_RESOLUTION = 128
#: Far-field acceptance ratio of the winding-number hierarchy: a node of radius ``r`` whose centre is
#: farther than ``WINDING_BETA * r`` from the query is replaced by its expansion.
WINDING_BETA = 2.0
#: Acceptance ratio used by :func:`occupancy_grid` (only the sign of ``w - 0.5`` matters there; the
#: expansion error at 1.5 is below 0.03).
OCCUPANCY_BETA = 1.5
#: Triangles per leaf of the triangle hierarchy (at most).
_LEAF_SIZE = 8
#: Pairwise work per chunk (query x triangle or query x node pairs) to bound memory.
_CHUNK_PAIRS = 1 << 18
#: Coarse-to-fine refinement: corners whose winding number is within this of 0.5 force refinement.
_WINDING_MARGIN = 0.25

_M_TO_CM = 100.0
_M_TO_MM = 1000.0


# ---------------------------------------------------------------------------------------------------------
# Mesh input
# ---------------------------------------------------------------------------------------------------------


def _mesh_arrays(mesh: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3) float64, faces (T, 3) int64)`` of a mesh-like input, validated."""
    if hasattr(mesh, "vertices") and hasattr(mesh, "faces"):
        vertices, faces = mesh.vertices, mesh.faces
    elif isinstance(mesh, tuple | list) and len(mesh) == 2:
        vertices, faces = mesh
    else:
        raise ValueError(
            f"{name}: expected a mesh with .vertices/.faces or a (vertices, faces) pair, got {type(mesh).__name__}"
        )
    return _check_mesh(vertices, faces, name)


def _check_mesh(vertices: Any, faces: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{name}: vertices must have shape (V, 3), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: vertices contain NaN or inf")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"{name}: faces must have shape (T, 3), got {f.shape}")
    if f.shape[0] == 0:
        raise ValueError(f"{name}: mesh has no faces")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"{name}: faces must be integer vertex indices, got dtype {f.dtype}")
    f = f.astype(np.int64, copy=False)
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise ValueError(f"{name}: face indices must lie in [0, {v.shape[0]}), got [{f.min()}, {f.max()}]")
    return v, f


def _check_points(points: Any, name: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contain NaN or inf")
    return p


def _triangle_areas(tri: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


# ---------------------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------------------


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Area-weighted uniform random points on a triangle mesh.

    Parameters
    ----------
    vertices : numpy.ndarray
        (V, 3) float vertex positions, metres.
    faces : numpy.ndarray
        (T, 3) integer vertex indices.
    n : int
        Number of samples (>= 0).
    seed : int
        Seed of the private :func:`numpy.random.default_rng` generator (global RNG state is neither
        read nor changed); the same inputs and seed give the same samples.

    Returns
    -------
    numpy.ndarray
        (n, 3) float64 points on the surface, metres. A triangle is chosen with probability proportional
        to its area, then a point uniformly inside it (``sqrt`` barycentric warp).

    Raises
    ------
    ValueError
        Malformed mesh, negative ``n``, or a mesh whose total area is zero.
    """
    v, f = _check_mesh(vertices, faces, "sample_surface")
    n = int(n)
    if n < 0:
        raise ValueError(f"sample_surface: n must be >= 0, got {n}")
    tri = v[f]
    areas = _triangle_areas(tri)
    cdf = np.cumsum(areas)
    total = cdf[-1]
    if not total > 0:
        raise ValueError("sample_surface: mesh has zero total area")
    rng = np.random.default_rng(seed)
    face = np.searchsorted(cdf, rng.random(n) * total, side="right")
    face = np.minimum(face, len(cdf) - 1)
    r1 = np.sqrt(rng.random(n))
    r2 = rng.random(n)
    t = tri[face]
    return (1.0 - r1)[:, None] * t[:, 0] + (r1 * (1.0 - r2))[:, None] * t[:, 1] + (r1 * r2)[:, None] * t[:, 2]


def _subtriangle_centroids(m: int) -> np.ndarray:
    """(m*m, 3) barycentric coordinates of the centroids of the m*m congruent sub-triangles."""
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    i, j = i.ravel(), j.ravel()
    up = i + j <= m - 1
    down = i + j <= m - 2
    u = np.concatenate([(i[up] + 1 / 3) / m, (i[down] + 2 / 3) / m])
    w = np.concatenate([(j[up] + 1 / 3) / m, (j[down] + 2 / 3) / m])
    return np.stack([1.0 - u - w, u, w], axis=1)


def _face_samples(tri: np.ndarray, spacing: float, max_split: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Points spread regularly over every triangle, each tagged with its triangle.

    Triangle ``t`` is split into ``m_t^2`` congruent sub-triangles (``m_t`` = ceil(R_t / spacing), at most
    ``max_split``; ``R_t`` = largest centroid-to-vertex distance) and their centroids are returned. Every
    point of triangle ``t`` lies within ``R_t / m_t`` of one of its samples.

    Returns
    -------
    points : (S, 3) float64, face_ids : (S,) int64, coverage : float
        ``coverage`` = max over triangles of ``R_t / m_t`` (metres).
    """
    centroid = tri.mean(axis=1)
    radius = np.linalg.norm(tri - centroid[:, None], axis=2).max(axis=1)
    split = np.clip(np.ceil(radius / spacing), 1, max_split).astype(np.int64)
    points, ids = [], []
    for m in np.unique(split):  # a handful of distinct split counts
        sel = np.flatnonzero(split == m)
        bary = _subtriangle_centroids(int(m))
        points.append(np.einsum("kb,fbd->fkd", bary, tri[sel]).reshape(-1, 3))
        ids.append(np.repeat(sel, len(bary)))
    coverage = float(np.max(radius / split))
    return np.concatenate(points), np.concatenate(ids), coverage


# ---------------------------------------------------------------------------------------------------------
# Triangle hierarchy (shared by distances and winding numbers)
# ---------------------------------------------------------------------------------------------------------

#: Monomials ``y_i y_j y_k`` (i <= j <= k) of the second-order far-field term, in column order.
_MONOMIALS = ((0, 0, 0), (1, 1, 1), (2, 2, 2), (0, 0, 1), (0, 0, 2), (0, 1, 1), (1, 1, 2), (0, 2, 2), (1, 2, 2), (0, 1, 2))
#: Rows of the :attr:`_Tree.node_data` arrays.
_C_CTR, _C_RAD, _C_N, _C_TRM, _C_M, _C_P, _C_D = 0, 3, 4, 7, 8, 14, 17
_NODE_COLS = 27


@dataclass(frozen=True)
class _Tree:
    """Balanced binary hierarchy over the triangles of a mesh.

    Level ``l`` has ``2**l`` nodes; node ``i`` owns the triangles ``perm[b[i]:b[i + 1]]`` with
    ``b = (arange(2**l + 1) * T) // 2**l`` (children of ``i`` are ``2i`` and ``2i + 1``; the triangles were
    ordered by recursive median splits along the longest centroid extent).

    ``node_data[l]`` is a (27, 2**l) float64 array, one column per node (structure of arrays):
    rows 0-2 area-weighted centroid ``p``; 3 bounding radius (max distance ``p`` -> owned vertex);
    4-6 ``N = sum_t A_t`` (area vectors); 7 ``tr(M)``; 8-13 ``M_xx, M_yy, M_zz, M_xy + M_yx, M_xz + M_zx,
    M_yz + M_zy`` with ``M = sum_t A_t (c_t - p)^T``; 14-16 ``P_k = 2 sum_i C_iik + sum_j C_kjj``; 17-26 the
    symmetrised coefficients of ``C[y, y, y]`` for :data:`_MONOMIALS`, where ``C_ijk = sum_t A_ti E_t[(x -
    p)_j (x - p)_k]`` (second moment over the triangle).
    """

    depth: int
    node_data: list[np.ndarray]
    node_box: list[np.ndarray]  # per level (6, 2**l): axis-aligned bounds (min xyz, max xyz) of each node
    leaf_soa: np.ndarray  # (9, 2**depth, L) leaf triangle coordinates, padded with degenerate triangles
    leaf_prep: np.ndarray  # (16, 2**depth, L) :func:`_prepare_triangles` rows, padded by repeating a triangle


def _build_tree(tri: np.ndarray) -> _Tree:
    """Build the hierarchy of :class:`_Tree` for triangles (T, 3, 3)."""
    n_tri = len(tri)
    depth = max(0, math.ceil(math.log2(n_tri / _LEAF_SIZE))) if n_tri > _LEAF_SIZE else 0
    cent = tri.mean(axis=1)
    perm = np.arange(n_tri)
    for level in range(depth):  # median split of every node along its longest centroid extent
        bounds = (np.arange(2**level + 1) * n_tri) // 2**level
        node = np.repeat(np.arange(2**level), np.diff(bounds))
        c = cent[perm]
        extent = np.maximum.reduceat(c, bounds[:-1]) - np.minimum.reduceat(c, bounds[:-1])
        axis = np.argmax(extent, axis=1)
        perm = perm[np.lexsort((c[np.arange(n_tri), axis[node]], node))]
    t = tri[perm]
    c = cent[perm]
    area_vec = 0.5 * np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    area = np.linalg.norm(area_vec, axis=1)
    e = t - c[:, None]
    cov = np.einsum("tvj,tvk->tjk", e, e) / 12.0  # second central moment of a uniform triangle
    t_lo, t_hi = t.min(axis=1), t.max(axis=1)
    node_data, node_box = [], []
    for level in range(depth + 1):
        bounds = (np.arange(2**level + 1) * n_tri) // 2**level
        start = bounds[:-1]
        counts = np.diff(bounds)
        node = np.repeat(np.arange(2**level), counts)
        a_sum = np.add.reduceat(area, start)
        with np.errstate(invalid="ignore", divide="ignore"):
            ctr = np.add.reduceat(area[:, None] * c, start) / a_sum[:, None]
        ctr = np.where(a_sum[:, None] > 0, ctr, np.add.reduceat(c, start) / counts[:, None])
        rad = np.maximum.reduceat(np.linalg.norm(t - ctr[node][:, None], axis=2).max(axis=1), start)
        d = c - ctr[node]
        mom = np.add.reduceat(area_vec[:, :, None] * d[:, None, :], start)  # (n, 3, 3)
        sec = np.add.reduceat(
            area_vec[:, :, None, None] * (d[:, :, None] * d[:, None, :] + cov)[:, None], start
        )  # (n, 3, 3, 3)
        data = np.empty((_NODE_COLS, 2**level))
        data[_C_CTR : _C_CTR + 3] = ctr.T
        data[_C_RAD] = rad
        data[_C_N : _C_N + 3] = np.add.reduceat(area_vec, start).T
        data[_C_TRM] = np.trace(mom, axis1=1, axis2=2)
        for col, (i, j) in enumerate(((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))):
            data[_C_M + col] = mom[:, i, j] + (mom[:, j, i] if i != j else 0.0)
        data[_C_P : _C_P + 3] = (2.0 * np.einsum("niik->nk", sec) + np.einsum("nkjj->nk", sec)).T
        for col, mono in enumerate(_MONOMIALS):
            data[_C_D + col] = sum(sec[:, i, j, k] for i, j, k in set(itertools.permutations(mono)))
        node_data.append(data)
        node_box.append(np.concatenate([np.minimum.reduceat(t_lo, start).T, np.maximum.reduceat(t_hi, start).T]))
    bounds = (np.arange(2**depth + 1) * n_tri) // 2**depth
    size = int(np.diff(bounds).max())
    slot = bounds[:-1, None] + np.arange(size)[None, :]
    valid = slot < bounds[1:, None]
    padded = np.concatenate([t, np.zeros((1, 3, 3))])  # a degenerate triangle subtends no solid angle
    leaf_soa = padded[np.where(valid, slot, n_tri)].reshape(2**depth, size, 9).transpose(2, 0, 1).copy()
    leaf_prep = _prepare_triangles(t)[:, np.where(valid, slot, bounds[:-1, None])]  # repeats keep minima
    return _Tree(depth, node_data, node_box, leaf_soa, leaf_prep)


def _expand(qi: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace every (query, node) pair by the pairs of the node's two children."""
    return np.repeat(qi, 2), (2 * node[:, None] + np.array([0, 1])[None, :]).ravel()


# ---------------------------------------------------------------------------------------------------------
# Point-to-surface distance
# ---------------------------------------------------------------------------------------------------------


def _prepare_triangles(tri: np.ndarray) -> np.ndarray:
    """Per-triangle constants for :func:`_dist2_prepared`: (16, T) float64 rows.

    Rows: ``a`` (3), ``ab = b - a`` (3), ``ac = c - a`` (3), ``n = ab x ac`` (3), ``ab.ab``, ``ab.ac``,
    ``ac.ac``, ``1 / |n|^2`` (0 for degenerate triangles).
    """
    a, ab, ac = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    n = np.cross(ab, ac)
    nn = np.einsum("ti,ti->t", n, n)
    inv_nn = np.divide(1.0, nn, out=np.zeros_like(nn), where=nn > 0)
    d00 = np.einsum("ti,ti->t", ab, ab)
    d01 = np.einsum("ti,ti->t", ab, ac)
    d11 = np.einsum("ti,ti->t", ac, ac)
    return np.concatenate([a.T, ab.T, ac.T, n.T, d00[None], d01[None], d11[None], inv_nn[None]])


def _dist2_prepared(px: np.ndarray, py: np.ndarray, pz: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exact squared point-triangle distances.

    ``px, py, pz`` point coordinates and ``t`` (16, ...) rows of :func:`_prepare_triangles`, broadcastable
    against each other. The plane distance is used when the projection falls inside the triangle, else the
    smallest distance to the three edges (so degenerate triangles are handled); every term is written with
    the dot products ``ap.ab``, ``ap.ac``, ``ap.ap`` and ``ap.n``, ``ap = p - a``.
    """
    apx, apy, apz = px - t[0], py - t[1], pz - t[2]
    d20 = apx * t[3] + apy * t[4] + apz * t[5]
    d21 = apx * t[6] + apy * t[7] + apz * t[8]
    dpp = apx * apx + apy * apy + apz * apz
    dpn = apx * t[9] + apy * t[10] + apz * t[11]
    d00, d01, d11, inv_nn = t[12], t[13], t[14], t[15]
    v = (d11 * d20 - d01 * d21) * inv_nn
    w = (d00 * d21 - d01 * d20) * inv_nn
    inside = (inv_nn > 0) & (v >= 0) & (w >= 0) & (v + w <= 1)
    # edge ab: |ap - s ab|^2 = dpp - 2 s d20 + s^2 d00
    s_ab = np.clip(d20 / np.where(d00 > 0, d00, 1.0), 0.0, 1.0)
    best = dpp - s_ab * (2.0 * d20 - s_ab * d00)
    s_ac = np.clip(d21 / np.where(d11 > 0, d11, 1.0), 0.0, 1.0)
    best = np.minimum(best, dpp - s_ac * (2.0 * d21 - s_ac * d11))
    # edge bc with bp = ap - ab, bc = ac - ab
    ebc = d11 - 2.0 * d01 + d00
    bp_bc = (d21 - d20) - (d01 - d00)
    bpp = dpp - 2.0 * d20 + d00
    s_bc = np.clip(bp_bc / np.where(ebc > 0, ebc, 1.0), 0.0, 1.0)
    best = np.minimum(best, bpp - s_bc * (2.0 * bp_bc - s_bc * ebc))
    return np.maximum(np.where(inside, dpn * dpn * inv_nn, best), 0.0)


@dataclass(frozen=True)
class _SurfaceIndex:
    """Triangles of one mesh prepared for distance queries: constants, centroid k-d tree, hierarchy."""

    prep: np.ndarray  # (16, T) :func:`_prepare_triangles`
    kdtree: cKDTree  # over triangle centroids
    tree: _Tree


def _surface_index(v: np.ndarray, f: np.ndarray) -> _SurfaceIndex:
    tri = v[f]
    return _SurfaceIndex(_prepare_triangles(tri), cKDTree(tri.mean(axis=1)), _build_tree(tri))


def _tree_dist2(p: np.ndarray, tree: _Tree, bound: np.ndarray) -> np.ndarray:
    """Exact squared distances from points (N, 3) given upper bounds (N,) on their distances (metres).

    Level by level, a (point, node) pair is dropped when the node's bounding box lies farther than the
    bound; the triangles of the surviving leaves are measured exactly.
    """
    out = np.empty(len(p))
    leaf_size = tree.leaf_prep.shape[2]
    step = max(1, _CHUNK_PAIRS // (16 * leaf_size))
    for s in range(0, len(p), step):
        pc = np.ascontiguousarray(p[s : s + step].T)  # (3, n)
        b2 = (bound[s : s + step] * (1 + 1e-9) + 1e-12) ** 2
        qi = np.arange(pc.shape[1])
        node = np.zeros(pc.shape[1], np.int64)
        for level in range(tree.depth + 1):
            box = tree.node_box[level]
            gap2 = np.zeros(len(qi))
            for axis in range(3):
                x = pc[axis][qi]
                g = np.maximum(np.maximum(box[axis][node] - x, x - box[axis + 3][node]), 0.0)
                gap2 += g * g
            keep = gap2 <= b2[qi]
            qi, node = qi[keep], node[keep]
            if level < tree.depth:
                qi, node = _expand(qi, node)
        res = np.full(pc.shape[1], np.inf)
        sub = max(1, _CHUNK_PAIRS // leaf_size)
        for t0 in range(0, len(qi), sub):
            qq, nn = qi[t0 : t0 + sub], node[t0 : t0 + sub]
            d2 = _dist2_prepared(pc[0, qq, None], pc[1, qq, None], pc[2, qq, None], tree.leaf_prep[:, nn])
            np.minimum.at(res, qq, d2.min(axis=1))
        out[s : s + step] = res
    return out


def _distances(p: np.ndarray, index: _SurfaceIndex) -> np.ndarray:
    """Exact unsigned distances (metres) from points (N, 3) to the indexed surface."""
    _, nearest = index.kdtree.query(p)
    # distance to the triangle with the nearest centroid: an upper bound that prunes the hierarchy
    bound2 = _dist2_prepared(p[:, 0], p[:, 1], p[:, 2], index.prep[:, nearest])
    return np.sqrt(np.minimum(bound2, _tree_dist2(p, index.tree, np.sqrt(bound2))))


def point_to_surface(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Exact unsigned distance from points to a triangle mesh surface.

    Parameters
    ----------
    points : numpy.ndarray
        (N, 3) float query points, metres.
    vertices : numpy.ndarray
        (V, 3) float mesh vertices, metres.
    faces : numpy.ndarray
        (T, 3) integer vertex indices.

    Returns
    -------
    numpy.ndarray
        (N,) float64 distance from each point to the closest point of any triangle, metres.

    Notes
    -----
    The distance to the triangle whose centroid is nearest (k-d tree) bounds the answer from above; the
    points then descend a bounding-box hierarchy of the triangles (median splits, at most 8 triangles per
    leaf), dropping every box farther than that bound, and the triangles of the surviving leaves are
    measured exactly (plane distance when the projection falls inside the triangle, otherwise the nearest
    edge). The result is exact (float round-off aside) for any mesh; cost grows with the distance of the
    points from the surface (all triangles are measured for a point at the centre of a sphere).
    """
    p = _check_points(points, "points")
    v, f = _check_mesh(vertices, faces, "point_to_surface")
    return _distances(p, _surface_index(v, f))


# ---------------------------------------------------------------------------------------------------------
# P2S / Chamfer
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurfaceMetrics:
    """Surface accuracy of a predicted mesh against ground truth (definitions: ``docs/metrics.md``).

    Attributes
    ----------
    p2s_cm : float
        Mean distance from predicted-surface samples to the GT surface, cm (equals ``accuracy_cm``).
    chamfer_l2_cm2 : float
        ``0.5 * mean(d_pred->gt^2) + 0.5 * mean(d_gt->pred^2)``, cm^2.
    chamfer_seed_cm2 : float
        The seed paper's formula ``0.5 * completeness^2 + 0.5 * accuracy^2``, cm^2.
    accuracy_cm : float
        Mean distance pred samples -> GT surface, cm.
    completeness_cm : float
        Mean distance GT samples -> predicted surface, cm.
    iou : float
        Volumetric IoU of the enclosed volumes (winding numbers on a grid); NaN when not computed.
    """

    p2s_cm: float
    chamfer_l2_cm2: float
    chamfer_seed_cm2: float
    accuracy_cm: float
    completeness_cm: float
    iou: float


def _directional_distances_cm(
    pred: Any, gt: Any, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(d_pred->gt (n,), d_gt->pred (n,)) in cm; pred samples use ``seed``, GT samples ``seed + 1``."""
    vp, fp = _mesh_arrays(pred, "pred")
    vg, fg = _mesh_arrays(gt, "gt")
    if int(n) < 1:
        raise ValueError(f"n (samples per mesh) must be >= 1, got {n}")
    sp = sample_surface(vp, fp, n, seed)
    sg = sample_surface(vg, fg, n, seed + 1)
    d_pg = _distances(sp, _surface_index(vg, fg)) * _M_TO_CM
    d_gp = _distances(sg, _surface_index(vp, fp)) * _M_TO_CM
    return d_pg, d_gp


def p2s_cm(pred: Any, gt: Any, n: int = DEFAULT_SAMPLES, seed: int = 0) -> float:
    """Point-to-surface distance: mean distance from ``n`` predicted-surface samples to the GT surface.

    Parameters
    ----------
    pred, gt : mesh
        ``trimesh.Trimesh`` (or anything with ``vertices``/``faces``) or a ``(vertices, faces)`` pair,
        world metres.
    n : int
        Number of area-weighted samples on ``pred``.
    seed : int
        Sampling seed (:func:`sample_surface`).

    Returns
    -------
    float
        Mean distance, centimetres.
    """
    vp, fp = _mesh_arrays(pred, "pred")
    vg, fg = _mesh_arrays(gt, "gt")
    if int(n) < 1:
        raise ValueError(f"n (samples) must be >= 1, got {n}")
    sp = sample_surface(vp, fp, n, seed)
    return float(np.mean(_distances(sp, _surface_index(vg, fg))) * _M_TO_CM)


def _chamfer_from(d_pg: np.ndarray, d_gp: np.ndarray, iou: float) -> SurfaceMetrics:
    acc, comp = float(np.mean(d_pg)), float(np.mean(d_gp))
    return SurfaceMetrics(
        p2s_cm=acc,
        chamfer_l2_cm2=float(0.5 * np.mean(d_pg**2) + 0.5 * np.mean(d_gp**2)),
        chamfer_seed_cm2=0.5 * comp**2 + 0.5 * acc**2,
        accuracy_cm=acc,
        completeness_cm=comp,
        iou=iou,
    )


def chamfer_l2_cm(pred: Any, gt: Any, n: int = DEFAULT_SAMPLES, seed: int = 0) -> SurfaceMetrics:
    """Chamfer-L2 both ways (ours and the seed paper's formula) plus accuracy/completeness; no IoU.

    Parameters
    ----------
    pred, gt : mesh
        Meshes (see :func:`p2s_cm`), world metres.
    n : int
        Samples per mesh (``pred`` with ``seed``, ``gt`` with ``seed + 1``).
    seed : int
        Sampling seed.

    Returns
    -------
    SurfaceMetrics
        ``chamfer_l2_cm2 = 0.5 mean(d_pg^2) + 0.5 mean(d_gp^2)`` (cm^2), ``chamfer_seed_cm2 = 0.5 c^2 +
        0.5 a^2`` (cm^2), ``accuracy_cm = a = mean(d_pg)``, ``completeness_cm = c = mean(d_gp)``,
        ``p2s_cm = a``; ``iou`` is NaN (use :func:`surface_metrics` for everything).
    """
    d_pg, d_gp = _directional_distances_cm(pred, gt, n, seed)
    return _chamfer_from(d_pg, d_gp, float("nan"))


# ---------------------------------------------------------------------------------------------------------
# Generalised winding number
# ---------------------------------------------------------------------------------------------------------


def _solid_angle_sum(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sum of signed solid angles (Van Oosterom-Strackee) of triangles seen from points, steradians.

    ``q`` (3, n) point coordinates; ``t`` (9, n, K) triangle coordinates ``(ax, ay, az, bx, ..., cz)``.
    Returns (n,) sums over ``K`` (outward-oriented closed surface: 4 pi inside, 0 outside).
    """
    ax, ay, az = t[0] - q[0, :, None], t[1] - q[1, :, None], t[2] - q[2, :, None]
    bx, by, bz = t[3] - q[0, :, None], t[4] - q[1, :, None], t[5] - q[2, :, None]
    cx, cy, cz = t[6] - q[0, :, None], t[7] - q[1, :, None], t[8] - q[2, :, None]
    la = np.sqrt(ax * ax + ay * ay + az * az)
    lb = np.sqrt(bx * bx + by * by + bz * bz)
    lc = np.sqrt(cx * cx + cy * cy + cz * cz)
    num = ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
    den = la * lb * lc + (ax * bx + ay * by + az * bz) * lc + (ax * cx + ay * cy + az * cz) * lb
    den += (bx * cx + by * cy + bz * cz) * la
    return 2.0 * np.arctan2(num, den).sum(axis=-1)


def _far_field(x: np.ndarray, y: np.ndarray, z: np.ndarray, d2: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Second-order expansion of ``sum_t Omega_t`` of a cluster; ``(x, y, z)`` = centre - query (n,),
    ``d2`` their squared norms, ``c`` the (27, n) node columns (see :class:`_Tree`)."""
    inv2 = 1.0 / d2
    inv3 = inv2 * np.sqrt(inv2)
    xx, yy, zz = x * x, y * y, z * z
    n_y = c[_C_N] * x + c[_C_N + 1] * y + c[_C_N + 2] * z
    m_yy = c[_C_M] * xx + c[_C_M + 1] * yy + c[_C_M + 2] * zz + c[_C_M + 3] * x * y
    m_yy += c[_C_M + 4] * x * z + c[_C_M + 5] * y * z
    p_y = c[_C_P] * x + c[_C_P + 1] * y + c[_C_P + 2] * z
    d = _C_D
    c_yyy = c[d] * xx * x + c[d + 1] * yy * y + c[d + 2] * zz * z + c[d + 3] * xx * y + c[d + 4] * xx * z
    c_yyy += c[d + 5] * x * yy + c[d + 6] * yy * z + c[d + 7] * x * zz + c[d + 8] * y * zz + c[d + 9] * x * y * z
    return inv3 * (n_y + c[_C_TRM] - 3.0 * m_yy * inv2 + inv2 * (-1.5 * p_y + 7.5 * c_yyy * inv2))


def _winding_tree_eval(q: np.ndarray, tree: _Tree, beta: float) -> np.ndarray:
    """Winding numbers of points (N, 3) via the hierarchy (far field to second order)."""
    out = np.zeros(len(q))
    leaf_size = tree.leaf_soa.shape[2]
    step = max(1, _CHUNK_PAIRS // (64 * leaf_size))
    beta2 = beta * beta
    for s in range(0, len(q), step):
        qc = np.ascontiguousarray(q[s : s + step].T)  # (3, n)
        nq = qc.shape[1]
        acc = np.zeros(nq)
        qi = np.arange(nq)
        node = np.zeros(nq, np.int64)
        for level in range(tree.depth + 1):
            if len(qi) == 0:
                break
            data = tree.node_data[level]
            x = data[0][node] - qc[0][qi]
            y = data[1][node] - qc[1][qi]
            z = data[2][node] - qc[2][qi]
            d2 = x * x + y * y + z * z
            rad = data[_C_RAD][node]
            far = d2 > beta2 * (rad * rad)
            if far.any():
                val = _far_field(x[far], y[far], z[far], d2[far], data[:, node[far]])
                acc += np.bincount(qi[far], weights=val, minlength=nq)
            near = ~far
            qi, node = qi[near], node[near]
            if level < tree.depth:
                qi, node = _expand(qi, node)
        sub = max(1, _CHUNK_PAIRS // leaf_size)
        for t0 in range(0, len(qi), sub):
            qq, nn = qi[t0 : t0 + sub], node[t0 : t0 + sub]
            ang = _solid_angle_sum(qc[:, qq], tree.leaf_soa[:, nn])
            acc += np.bincount(qq, weights=ang, minlength=nq)
        out[s : s + step] = acc / (4.0 * np.pi)
    return out


def _winding_exact(q: np.ndarray, tri: np.ndarray) -> np.ndarray:
    out = np.empty(len(q))
    soa = tri.reshape(-1, 9).T[:, None, :]  # (9, 1, T)
    step = max(1, _CHUNK_PAIRS // len(tri))
    for s in range(0, len(q), step):
        qc = np.ascontiguousarray(q[s : s + step].T)
        out[s : s + step] = _solid_angle_sum(qc, soa) / (4.0 * np.pi)
    return out


def winding_number(
    points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *, beta: float | None = WINDING_BETA
) -> np.ndarray:
    """Generalised winding number of a triangle mesh at query points.

    ``w(p) = (1 / 4 pi) * sum_t Omega_t(p)``, ``Omega_t`` the signed solid angle of triangle ``t`` seen from
    ``p`` (Van Oosterom-Strackee: ``tan(Omega / 2) = a . (b x c) / (|a||b||c| + (a.b)|c| + (a.c)|b| +
    (b.c)|a|)`` with ``a, b, c`` the vertices relative to ``p``). For a closed, outward-oriented
    (counter-clockwise seen from outside) mesh it is 1 inside and 0 outside; with holes it varies smoothly
    and ``w > 0.5`` is a robust inside test.

    Parameters
    ----------
    points : numpy.ndarray
        (N, 3) float query points, metres.
    vertices : numpy.ndarray
        (V, 3) float mesh vertices, metres.
    faces : numpy.ndarray
        (T, 3) integer vertex indices, counter-clockwise seen from outside.
    beta : float or None
        Far-field acceptance ratio of the triangle hierarchy (>= 1; larger is more accurate and slower):
        a cluster whose centre is farther than ``beta`` times its bounding radius contributes through a
        second-order multipole expansion (Barill et al. 2018), nearer triangles exactly. ``None`` sums every
        triangle exactly (O(N T), chunked).

    Returns
    -------
    numpy.ndarray
        (N,) float64 winding numbers (dimensionless).
    """
    p = _check_points(points, "points")
    v, f = _check_mesh(vertices, faces, "winding_number")
    tri = v[f]
    if beta is None:
        return _winding_exact(p, tri)
    if not beta >= 1.0:
        raise ValueError(f"winding_number: beta must be >= 1 or None, got {beta}")
    return _winding_tree_eval(p, _build_tree(tri), float(beta))


# ---------------------------------------------------------------------------------------------------------
# Occupancy on a voxel grid, volumetric IoU
# ---------------------------------------------------------------------------------------------------------


def _surface_cells(tri: np.ndarray, origin: np.ndarray, h: float, cells: tuple[int, int, int]) -> np.ndarray:
    """Boolean (cells) grid: True for every lattice cell that may touch the surface (conservative).

    Cell ``(i, j, k)`` spans lattice coordinates ``[i, i + 1] x [j, j + 1] x [k, k + 1]`` (lattice point
    ``(i, j, k)`` at ``origin + (i, j, k) * h``). Points spread on every triangle with covering radius
    ``r <= h / 4`` each mark the cells their ``r``-box overlaps (at most 2 per axis), which includes every
    cell holding surface.
    """
    pts, _, cov = _face_samples(tri, 0.25 * h, max_split=1 << 30)
    x = (pts - origin) / h
    r = cov / h + 1e-9
    last = np.array(cells) - 1
    lo = np.clip(np.floor(x - r), 0, last).astype(np.int64)  # outside the grid: clipped (only over-marks)
    hi = np.clip(np.floor(x + r), 0, last).astype(np.int64)  # hi - lo <= 1 because 2 r < 1
    strides = np.array([cells[1] * cells[2], cells[2], 1])
    base = lo @ strides
    step = (hi - lo) * strides  # (S, 3): 0 or the axis stride
    flags = np.zeros(cells, dtype=bool)
    flat = flags.reshape(-1)
    for dx, dy, dz in itertools.product((0, 1), repeat=3):
        flat[base + dx * step[:, 0] + dy * step[:, 1] + dz * step[:, 2]] = True
    return flags


def _propagate_child_cells(wgrid: np.ndarray, refine: np.ndarray, flags: np.ndarray) -> None:
    """Label corners of the child cells of refined cells through surface-free children, in place.

    ``wgrid`` is the lattice at the child stride (a view), ``refine`` (n) the refined parent cells, ``flags``
    (2n) the child cells that may hold surface. Each child cell has exactly one corner on the parent
    lattice (known). When the child is surface-free and that corner's winding number is farther than the
    margin from 0.5, its other corners take the same label (exact for closed meshes). Points receiving
    conflicting labels stay unknown (they are evaluated).
    """
    n = flags.shape
    parent = refine.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)
    known = wgrid[np.ix_(*[np.arange(k) + np.arange(k) % 2 for k in n])]
    source = parent & ~flags & (np.abs(known - 0.5) >= _WINDING_MARGIN)
    inside = source & (known > 0.5)
    votes = np.zeros(wgrid.shape, dtype=np.int8)
    votes_in = np.zeros(wgrid.shape, dtype=np.int8)
    for a, b, c in itertools.product((0, 1), repeat=3):
        view = (slice(a, a + n[0]), slice(b, b + n[1]), slice(c, c + n[2]))
        votes[view] += source
        votes_in[view] += inside
    fill = np.isnan(wgrid) & (votes > 0) & ((votes_in == 0) | (votes_in == votes))
    wgrid[fill] = (votes_in[fill] > 0).astype(np.float32)


def occupancy_grid(
    vertices: np.ndarray,
    faces: np.ndarray,
    origin: np.ndarray,
    voxel_size: float,
    shape: tuple[int, int, int],
    *,
    beta: float = OCCUPANCY_BETA,
) -> np.ndarray:
    """Inside/outside (generalised winding number > 0.5) at the voxel centres of a grid.

    Voxel ``(i, j, k)`` has its centre at ``origin + (i, j, k) * voxel_size`` (:mod:`humanrecon.conventions`).

    Parameters
    ----------
    vertices : numpy.ndarray
        (V, 3) float mesh vertices, metres.
    faces : numpy.ndarray
        (T, 3) integer vertex indices, counter-clockwise seen from outside.
    origin : numpy.ndarray
        (3,) world position of the centre of voxel ``(0, 0, 0)``, metres.
    voxel_size : float
        Voxel edge, metres.
    shape : tuple of int
        Grid size ``(X, Y, Z)``.
    beta : float
        Far-field acceptance ratio of the winding-number hierarchy (:func:`winding_number`); the default
        1.5 keeps the expansion error below ~0.03, ample for the ``w > 0.5`` test.

    Returns
    -------
    numpy.ndarray
        (X, Y, Z) bool occupancy.

    Notes
    -----
    Coarse to fine: the winding number is evaluated on the lattice of every ``S``-th voxel centre (``S``
    the largest power of two with ``16 S <= max(shape)``: 8 for 128). A cell of that lattice is subdivided
    (its 27 points at half the stride are labelled) when a conservative surface test says it may contain
    surface (every point of every triangle lies within ``voxel_size / 4`` of a point spread on it, and each
    spread point marks the cells its ``+-voxel_size / 4`` box touches),
    when its 8 corners disagree, or when a corner's winding number is within 0.25 of 0.5 (a hole nearby);
    otherwise every voxel centre in it takes the corners' label. For the last two halvings (child cells of
    two and one voxels), a surface-free child cell passes the label of its one known corner to its other
    corners instead of evaluating them (again only when that corner is farther than 0.25 from 0.5). For a
    closed mesh all of this is exact: off the surface the winding number is an integer-valued continuous
    function, hence constant in a surface-free cell. Near holes a voxel whose winding number is itself
    close to 0.5 (within about 0.1) may get either label. Only a band about two voxels thick around the
    surface is evaluated at full resolution.
    """
    v, f = _check_mesh(vertices, faces, "occupancy_grid")
    origin = np.asarray(origin, dtype=np.float64).reshape(-1)
    if origin.shape != (3,) or not np.all(np.isfinite(origin)):
        raise ValueError(f"occupancy_grid: origin must be 3 finite numbers, got {origin}")
    h = float(voxel_size)
    if not (h > 0 and math.isfinite(h)):
        raise ValueError(f"occupancy_grid: voxel_size must be a positive finite number, got {voxel_size}")
    shape_arr = np.asarray(shape, dtype=np.int64).reshape(-1)
    if shape_arr.shape != (3,) or np.any(shape_arr < 1):
        raise ValueError(f"occupancy_grid: shape must be 3 positive integers, got {shape}")
    tri = v[f]
    tree = _build_tree(tri)

    stride = 1
    while stride * 16 <= shape_arr.max():
        stride *= 2
    lattice = ((shape_arr - 1 + stride - 1) // stride) * stride + 1  # >= shape, (lattice - 1) % stride == 0
    flags = _surface_cells(tri, origin, h, tuple(int(c) for c in lattice - 1)) if stride > 1 else None
    wgrid = np.full(tuple(lattice), np.nan, dtype=np.float32)

    def evaluate(mask: np.ndarray, s: int) -> None:
        """Evaluate winding numbers at the stride-``s`` lattice points selected by ``mask``."""
        ijk = np.argwhere(mask) * s
        if len(ijk):
            wgrid[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = _winding_tree_eval(origin + ijk * h, tree, beta)

    evaluate(np.ones(tuple((lattice - 1) // stride + 1), dtype=bool), stride)
    s = stride
    while s > 1:
        corners = wgrid[::s, ::s, ::s]
        inside = corners > 0.5
        nc = tuple(int(c) for c in (lattice - 1) // s)
        views = [
            (slice(dx, dx + nc[0]), slice(dy, dy + nc[1]), slice(dz, dz + nc[2]))
            for dx in (0, 1)
            for dy in (0, 1)
            for dz in (0, 1)
        ]
        n_in = sum(inside[vw].astype(np.int8) for vw in views)
        near_half = np.zeros(nc, dtype=bool)
        for vw in views:
            near_half |= np.abs(corners[vw] - 0.5) < _WINDING_MARGIN
        assert flags is not None
        has_surface = flags.reshape(nc[0], s, nc[1], s, nc[2], s).any(axis=(1, 3, 5))
        refine = has_surface | near_half | ((n_in > 0) & (n_in < 8))
        # Fill the voxel centres of settled cells from their corners (they are all equal there).
        cell_label = n_in == 8
        unknown = np.isnan(wgrid)
        ii = [np.minimum(np.arange(lattice[a]) // s, nc[a] - 1) for a in range(3)]
        settled = ~refine[np.ix_(*ii)] & unknown
        wgrid[settled] = cell_label[np.ix_(*ii)][settled].astype(np.float32)
        # Evaluate the half-stride lattice points of refined cells.
        half = s // 2
        need = np.zeros(tuple(2 * np.array(nc) + 1), dtype=bool)
        for dx in (0, 1, 2):
            for dy in (0, 1, 2):
                for dz in (0, 1, 2):
                    need[dx : dx + 2 * nc[0] : 2, dy : dy + 2 * nc[1] : 2, dz : dz + 2 * nc[2] : 2] |= refine
        if half <= 2:  # skip points reachable through surface-free child cells (one or two voxels)
            child = (2 * np.array(nc)).tolist()
            child_flags = flags.reshape(child[0], half, child[1], half, child[2], half).any(axis=(1, 3, 5))
            _propagate_child_cells(wgrid[::half, ::half, ::half], refine, child_flags)
        evaluate(need & np.isnan(wgrid[::half, ::half, ::half]), half)
        s = half
    if np.isnan(wgrid).any():  # only possible for stride 1 grids (no refinement pass): evaluate directly
        evaluate(np.isnan(wgrid), 1)
    sx, sy, sz = (int(c) for c in shape_arr)
    return wgrid[:sx, :sy, :sz] > 0.5


def _iou_grid(
    boxes: list[np.ndarray], resolution: int | None, voxel_size: float | None, bbox: Any
) -> tuple[np.ndarray, float, tuple[int, int, int]]:
    """Grid (origin, voxel size, shape) covering ``bbox`` (default: union of ``boxes``) plus one voxel."""
    if bbox is None:
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
    else:
        box = np.asarray(bbox, dtype=np.float64)
        if box.shape != (2, 3) or not np.all(np.isfinite(box)) or np.any(box[1] <= box[0]):
            raise ValueError(f"bbox must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] with max > min, got {bbox}")
        lo, hi = box
    extent = hi - lo
    if not extent.max() > 0:
        raise ValueError("volumetric_iou: the bounding box has zero size")
    if voxel_size is not None:
        h = float(voxel_size)
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"voxel_size must be a positive finite number, got {voxel_size}")
    else:
        if resolution is None or int(resolution) < 4:
            raise ValueError(f"resolution must be an integer >= 4 (or give voxel_size), got {resolution}")
        h = float(extent.max()) / (int(resolution) - 2)
    counts = np.maximum(np.ceil(extent / h - 1e-9), 1).astype(np.int64) + 2
    origin = 0.5 * (lo + hi) - 0.5 * (counts - 1) * h
    return origin, h, tuple(int(c) for c in counts)


def volumetric_iou(
    pred: Any,
    gt: Any,
    resolution: int | None = DEFAULT_IOU_RESOLUTION,
    *,
    voxel_size: float | None = None,
    bbox: Any = None,
    seed: int = 0,
) -> float:
    """IoU of the volumes enclosed by two meshes, on a voxel grid, inside = winding number > 0.5.

    Parameters
    ----------
    pred, gt : mesh
        Meshes (see :func:`p2s_cm`), world metres; need not be watertight.
    resolution : int
        Voxels along the longest side of the grid (cubic voxels): ``voxel_size = max(extent) / (resolution
        - 2)`` and ``ceil(extent / voxel_size) + 2`` voxels per axis, centred on the box, so the outermost
        voxel centres lie at least half a voxel outside ``bbox``.
    voxel_size : float, optional
        Voxel edge in metres; overrides ``resolution``.
    bbox : array_like, optional
        (2, 3) ``[min, max]`` corners, metres; default: union of the two meshes' bounding boxes.
    seed : int
        Unused (the grid is deterministic); accepted so every surface metric takes the same keywords.

    Returns
    -------
    float
        ``|inside(pred) & inside(gt)| / |inside(pred) | inside(gt)|`` over voxel centres, in [0, 1].

    Raises
    ------
    ValueError
        Malformed meshes or grid arguments, or neither mesh encloses any voxel centre.
    """
    del seed
    vp, fp = _mesh_arrays(pred, "pred")
    vg, fg = _mesh_arrays(gt, "gt")
    origin, h, shape = _iou_grid(
        [np.stack([vp.min(0), vp.max(0)]), np.stack([vg.min(0), vg.max(0)])], resolution, voxel_size, bbox
    )
    occ_p = occupancy_grid(vp, fp, origin, h, shape)
    occ_g = occupancy_grid(vg, fg, origin, h, shape)
    union = np.count_nonzero(occ_p | occ_g)
    if union == 0:
        raise ValueError(
            f"volumetric_iou: neither mesh encloses any of the {shape} voxel centres (open/flat meshes, "
            "inverted faces, or a grid too coarse)"
        )
    return float(np.count_nonzero(occ_p & occ_g) / union)


def surface_metrics(
    pred: Any,
    gt: Any,
    n: int = DEFAULT_SAMPLES,
    iou_resolution: int | None = DEFAULT_IOU_RESOLUTION,
    seed: int = 0,
) -> SurfaceMetrics:
    """P2S, both Chamfer-L2 variants, accuracy, completeness and volumetric IoU of ``pred`` against ``gt``.

    Parameters
    ----------
    pred, gt : mesh
        Meshes (see :func:`p2s_cm`), world metres.
    n : int
        Surface samples per mesh (pred with ``seed``, GT with ``seed + 1``).
    iou_resolution : int or None
        Grid resolution for :func:`volumetric_iou`; ``None`` skips IoU (reported as NaN).
    seed : int
        Sampling seed.

    Returns
    -------
    SurfaceMetrics
    """
    d_pg, d_gp = _directional_distances_cm(pred, gt, n, seed)
    iou = float("nan") if iou_resolution is None else volumetric_iou(pred, gt, iou_resolution)
    return _chamfer_from(d_pg, d_gp, iou)


# ---------------------------------------------------------------------------------------------------------
# Silhouettes
# ---------------------------------------------------------------------------------------------------------


def silhouette_iou(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """Intersection over union of binary masks; the mean over views for (C, H, W) stacks.

    Parameters
    ----------
    pred_mask, gt_mask : numpy.ndarray
        (H, W) or (C, H, W) masks of the same shape; nonzero = foreground (uint8 {0, 1} by convention).

    Returns
    -------
    float
        IoU in [0, 1]; a view where both masks are empty counts as 1 (perfect agreement). For a stack,
        the unweighted mean of the per-view IoUs.
    """
    p = np.asarray(pred_mask)
    g = np.asarray(gt_mask)
    if p.shape != g.shape:
        raise ValueError(f"silhouette_iou: pred_mask shape {p.shape} != gt_mask shape {g.shape}")
    if p.ndim not in (2, 3) or p.size == 0:
        raise ValueError(f"silhouette_iou: masks must be non-empty (H, W) or (C, H, W), got shape {p.shape}")
    p = (p != 0).reshape(-1, p.shape[-2] * p.shape[-1])
    g = (g != 0).reshape(p.shape)
    inter = np.count_nonzero(p & g, axis=1)
    union = np.count_nonzero(p | g, axis=1)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return float(iou.mean())


# ---------------------------------------------------------------------------------------------------------
# Body metrics
# ---------------------------------------------------------------------------------------------------------


def _check_pair(pred: Any, gt: Any, what: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Batched float64 (B, N, 3) copies of two point sets; ``True`` when the input was unbatched."""
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"{what}: pred shape {p.shape} != gt shape {g.shape}")
    if p.ndim not in (2, 3) or p.shape[-1] != 3 or p.shape[-2] == 0:
        raise ValueError(f"{what}: expected (N, 3) or (B, N, 3) points, got shape {p.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(g))):
        raise ValueError(f"{what}: inputs contain NaN or inf")
    single = p.ndim == 2
    return (p[None], g[None], True) if single else (p, g, False)


def _reduce(err_mm: np.ndarray, single: bool, reduction: str) -> float | np.ndarray:
    """``err_mm`` (B, N): mean over everything, or per-sample means (B,) / a float for unbatched input."""
    if reduction == "mean":
        return float(err_mm.mean())
    if reduction == "none":
        per = err_mm.mean(axis=1)
        return float(per[0]) if single else per
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def procrustes_align(
    pred: np.ndarray, gt: np.ndarray, scale: bool = True
) -> tuple[np.ndarray, np.ndarray | float, np.ndarray, np.ndarray]:
    """Similarity (or rigid) Procrustes alignment of ``pred`` onto ``gt`` (Umeyama 1991), batched.

    Minimises ``sum_n |s R pred_n + t - gt_n|^2`` over rotations ``R`` (``det R = +1``: when the best
    orthogonal matrix is a reflection, the smallest singular direction is flipped), ``s > 0`` (or ``s = 1``
    when ``scale`` is False) and ``t``.

    Parameters
    ----------
    pred, gt : numpy.ndarray
        (N, 3) or (B, N, 3) float corresponding points, metres.
    scale : bool
        Estimate the scale ``s``; otherwise a rigid alignment.

    Returns
    -------
    aligned : numpy.ndarray
        ``s R pred + t``, same shape as ``pred``, float64.
    s : float or numpy.ndarray
        Scale (float, or (B,)).
    R : numpy.ndarray
        (3, 3) or (B, 3, 3) rotation, ``x' = R @ x``.
    t : numpy.ndarray
        (3,) or (B, 3) translation, metres.

    Raises
    ------
    ValueError
        Shape mismatch, non-finite values, or a ``pred`` whose points all coincide (scale undefined).
    """
    p, g, single = _check_pair(pred, gt, "procrustes_align")
    mu_p = p.mean(axis=1, keepdims=True)
    mu_g = g.mean(axis=1, keepdims=True)
    x = p - mu_p
    y = g - mu_g
    var_p = np.einsum("bni,bni->b", x, x) / p.shape[1]
    if np.any(var_p <= 1e-300):
        raise ValueError("procrustes_align: pred points all coincide (zero variance); alignment undefined")
    cov = np.einsum("bni,bnj->bij", y, x) / p.shape[1]  # (B, 3, 3) = E[y x^T]
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones((len(p), 3))
    d[:, 2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    d[d[:, 2] == 0, 2] = 1.0
    rot = np.einsum("bij,bj,bjk->bik", u, d, vt)
    s = (sig * d).sum(axis=1) / var_p if scale else np.ones(len(p))
    t = mu_g[:, 0] - s[:, None] * np.einsum("bij,bj->bi", rot, mu_p[:, 0])
    aligned = s[:, None, None] * np.einsum("bij,bnj->bni", rot, p) + t[:, None, :]
    if single:
        return aligned[0], float(s[0]), rot[0], t[0]
    return aligned, s, rot, t


def joint2d_error_px(pred: np.ndarray, gt: np.ndarray, image_size: tuple[int, int], seen: np.ndarray | None = None) -> float:
    """Mean 2D joint error (pixels) over the joints a detector could have found.

    Parameters
    ----------
    pred : (..., J, >= 2) detected u, v (pixels; further columns, e.g. confidence, are ignored)
    gt : (..., J, 2) GT projections, same pixels
    image_size : (W, H)
        Joints whose GT projection is outside ``[0, W) x [0, H)`` are not counted (not in the image).
    seen : (...) bool, optional
        Views that count (e.g. those whose segmentation found the person); a view without the person says
        nothing about where its joints are.

    Returns
    -------
    float
        Mean Euclidean distance over the counted joints; NaN when none counts.
    """
    p = np.asarray(pred, dtype=np.float64)[..., :2]
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"joint2d_error_px: pred (u, v) shape {p.shape} != gt shape {g.shape}")
    W, H = image_size
    ok = (g[..., 0] >= 0) & (g[..., 0] < W) & (g[..., 1] >= 0) & (g[..., 1] < H)
    if seen is not None:
        ok &= np.asarray(seen, dtype=bool)[..., None]
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(p - g, axis=-1)[ok].mean())


def mpjpe_mm(
    pred: np.ndarray, gt: np.ndarray, root: int | None = None, reduction: str = "mean"
) -> float | np.ndarray:
    """Mean per-joint position error: mean Euclidean joint distance, millimetres.

    Parameters
    ----------
    pred, gt : numpy.ndarray
        (J, 3) or (B, J, 3) joints, metres.
    root : int, optional
        Root-relative MPJPE: joint ``root`` is subtracted from all joints of ``pred`` and of ``gt``
        (per sample) first.
    reduction : {"mean", "none"}
        "mean": one float over all samples and joints; "none": per-sample means (B,) (a float for (J, 3)).

    Returns
    -------
    float or numpy.ndarray
        Millimetres.
    """
    p, g, single = _check_pair(pred, gt, "mpjpe_mm")
    if root is not None:
        if not -p.shape[1] <= int(root) < p.shape[1]:
            raise ValueError(f"mpjpe_mm: root index {root} out of range for {p.shape[1]} joints")
        r = int(root) % p.shape[1]
        p = p - p[:, r : r + 1]
        g = g - g[:, r : r + 1]
    return _reduce(np.linalg.norm(p - g, axis=2) * _M_TO_MM, single, reduction)


def pa_mpjpe_mm(pred: np.ndarray, gt: np.ndarray, reduction: str = "mean") -> float | np.ndarray:
    """MPJPE after similarity Procrustes alignment of each sample (:func:`procrustes_align`), millimetres.

    Parameters and returns as :func:`mpjpe_mm` (no root: alignment removes translation).
    """
    p, g, single = _check_pair(pred, gt, "pa_mpjpe_mm")
    aligned = procrustes_align(p, g, scale=True)[0]
    return _reduce(np.linalg.norm(aligned - g, axis=2) * _M_TO_MM, single, reduction)


def pve_mm(pred_vertices: np.ndarray, gt_vertices: np.ndarray, reduction: str = "mean") -> float | np.ndarray:
    """Per-vertex error: mean Euclidean distance between corresponding vertices, millimetres.

    Parameters
    ----------
    pred_vertices, gt_vertices : numpy.ndarray
        (V, 3) or (B, V, 3), same topology, metres.
    reduction : {"mean", "none"}
        As in :func:`mpjpe_mm`.
    """
    p, g, single = _check_pair(pred_vertices, gt_vertices, "pve_mm")
    return _reduce(np.linalg.norm(p - g, axis=2) * _M_TO_MM, single, reduction)


def pa_pve_mm(pred_vertices: np.ndarray, gt_vertices: np.ndarray, reduction: str = "mean") -> float | np.ndarray:
    """PVE after similarity Procrustes alignment of each sample's vertices, millimetres."""
    p, g, single = _check_pair(pred_vertices, gt_vertices, "pa_pve_mm")
    aligned = procrustes_align(p, g, scale=True)[0]
    return _reduce(np.linalg.norm(aligned - g, axis=2) * _M_TO_MM, single, reduction)
