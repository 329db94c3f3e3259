"""Meshes from occupancy grids: marching cubes, cleanup with pymeshlab, and binary PLY output.

Meshes are ``vertices (V, 3)`` float64 world metres and ``faces (T, 3)`` int64 vertex indices, triangles
wound counter-clockwise seen from outside (right-hand normals point out of the solid, so the signed
volume is positive).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pymeshlab
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.measure import marching_cubes

from humanrecon.io.atomic import atomic_output
from humanrecon.occupancy import DEFAULT_ISO, OccupancyGrid

logger = logging.getLogger(__name__)

#: Defaults of :func:`clean_mesh` (see its docstring for their meaning).
DEFAULT_MAX_HOLE_EDGES = 30
DEFAULT_TAUBIN_STEPS = 10
DEFAULT_TAUBIN_LAMBDA = 0.5
DEFAULT_TAUBIN_MU = -0.53
#: Quadric edge-collapse settings of :func:`clean_mesh`'s decimation: reject collapses creating triangles
#: of lower quality (0 degenerate .. 1 equilateral) than this ...
DECIMATION_QUALITY_THRESHOLD = 0.3
#: ... and those that flip a face normal; keep the topology (genus, manifoldness).
DECIMATION_PRESERVE_NORMAL = True
DECIMATION_PRESERVE_TOPOLOGY = True


class MeshingError(ValueError):
    """A grid or mesh cannot be turned into a surface; the message says what is wrong."""


def extract_mesh(grid: OccupancyGrid, iso: float = DEFAULT_ISO) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface of an occupancy grid by marching cubes (:func:`skimage.measure.marching_cubes`).

    The grid is cropped to the samples around the inside region and padded with one layer of 0
    (outside) samples, so the surface is always closed; a hull touching the grid's border is closed
    up to half a voxel beyond it (a warning says the bounding box is too small).

    Parameters
    ----------
    grid : OccupancyGrid
        ``values`` (R, R, R) with inside ``>= iso`` (see :mod:`humanrecon.occupancy`).
    iso : float
        Iso-level, in (0, 1].

    Returns
    -------
    vertices : numpy.ndarray
        (V, 3) float64 world coordinates, metres (``origin + index * voxel_size``, interpolated).
    faces : numpy.ndarray
        (T, 3) int64 vertex indices, wound so normals point outwards (towards lower occupancy).
        skimage winds them the other way for inside-high data; the columns are swapped here.

    Raises
    ------
    MeshingError
        The grid has no surface at ``iso`` (all inside or all outside).
    """
    values = np.asarray(grid.values)
    if values.ndim != 3:
        raise MeshingError(f"occupancy grid values must be 3-D, got shape {values.shape}")
    iso = float(iso)
    if not 0.0 < iso <= 1.0:
        raise MeshingError(f"iso must be in (0, 1], got {iso}")
    inside = values >= iso
    if not inside.any():
        raise MeshingError(f"occupancy grid has no sample >= iso {iso}: the hull is empty")
    lo = np.empty(3, dtype=np.int64)
    hi = np.empty(3, dtype=np.int64)
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(inside.any(axis=other))
        lo[axis] = max(hit[0] - 1, 0)
        hi[axis] = min(hit[-1] + 2, values.shape[axis])
        if hit[0] == 0 or hit[-1] == values.shape[axis] - 1:
            logger.warning(
                "the inside region touches the grid border along %s: the hull is cut by the bounding box "
                "(closed half a voxel beyond it); enlarge the box", "xyz"[axis],
            )
    crop = values[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float32, copy=False)
    padded = np.pad(crop, 1, mode="constant", constant_values=0.0)
    vs = float(grid.voxel_size)
    verts, faces, _, _ = marching_cubes(padded, level=iso, spacing=(vs, vs, vs), allow_degenerate=False)
    vertices = verts.astype(np.float64) + (np.asarray(grid.origin, dtype=np.float64) + (lo - 1) * vs)
    faces = faces[:, [0, 2, 1]].astype(np.int64)
    return vertices, faces


def _check_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise MeshingError(f"vertices must have shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise MeshingError(f"faces must have shape (T, 3), got {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise MeshingError(f"faces must be integer vertex indices, got dtype {f.dtype}")
    f = f.astype(np.int64)
    if not np.all(np.isfinite(v)):
        raise MeshingError("vertices have non-finite coordinates")
    if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
        raise MeshingError(f"faces index vertices outside [0, {v.shape[0]}): range [{f.min()}, {f.max()}]")
    return v, f


def _largest_component(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """Faces of the connected component (through shared vertices) with the most faces; ties go to the
    component holding the lowest face index."""
    rows = np.repeat(faces[:, 0], 2)
    cols = faces[:, 1:].reshape(-1)
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(num_vertices, num_vertices))
    _, labels = connected_components(graph, directed=False)
    face_label = labels[faces[:, 0]]
    counts = np.bincount(face_label)
    best = int(np.argmax(counts))  # first maximum: the lowest label, labels follow vertex order
    return faces[face_label == best]


def clean_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    keep_largest: bool = True,
    max_hole_edges: int = DEFAULT_MAX_HOLE_EDGES,
    taubin_steps: int = DEFAULT_TAUBIN_STEPS,
    taubin_lambda: float = DEFAULT_TAUBIN_LAMBDA,
    taubin_mu: float = DEFAULT_TAUBIN_MU,
    target_faces: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Clean a marching-cubes mesh with pymeshlab.

    Steps, in order: merge duplicate vertices (exactly equal positions), remove duplicate and
    zero-area faces and unreferenced vertices; keep the largest connected component; close small holes;
    Taubin smoothing; optional quadric edge-collapse decimation.

    Parameters
    ----------
    vertices : array_like
        (V, 3) world coordinates, metres.
    faces : array_like
        (T, 3) integer vertex indices.
    keep_largest : bool
        Keep only the connected component with the most faces (drops floating blobs that the visual
        hull keeps where the silhouettes agree by accident).
    max_hole_edges : int
        Holes bounded by at most this many edges are closed (0 disables). Marching cubes on a padded grid
        leaves none; decimation or an upstream crop may.
    taubin_steps : int
        Taubin smoothing iterations (each a ``lambda`` then a ``mu`` Laplacian step); 0 disables. Removes
        the voxel staircase without shrinking the mesh.
    taubin_lambda : float
        Positive (shrinking) step factor, dimensionless, in (0, 1).
    taubin_mu : float
        Negative (inflating) step factor, dimensionless, ``mu < -lambda`` (the pass band is
        ``1/lambda + 1/mu``).
    target_faces : int, optional
        Decimate to this many faces (quadric edge collapse, topology and normals preserved); None keeps
        the resolution. The result lands within a few percent of the target.

    Returns
    -------
    vertices : numpy.ndarray
        (V', 3) float64 metres.
    faces : numpy.ndarray
        (T', 3) int64, the input's winding.

    Raises
    ------
    MeshingError
        Bad input, an empty mesh, bad parameters, or a pymeshlab filter failure (the message names it).
    """
    v, f = _check_mesh(vertices, faces)
    if f.shape[0] == 0:
        raise MeshingError("mesh has no faces")
    for name, value in (("max_hole_edges", max_hole_edges), ("taubin_steps", taubin_steps)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise MeshingError(f"{name} must be an integer >= 0, got {value!r}")
    if not 0.0 < taubin_lambda < 1.0 or not taubin_mu < -taubin_lambda:
        raise MeshingError(
            f"Taubin factors need 0 < lambda < 1 and mu < -lambda, got lambda={taubin_lambda}, mu={taubin_mu}"
        )
    if target_faces is not None and (
        isinstance(target_faces, bool) or not isinstance(target_faces, int | np.integer) or target_faces < 4
    ):
        raise MeshingError(f"target_faces must be an integer >= 4 or None, got {target_faces!r}")

    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(vertex_matrix=v, face_matrix=f.astype(np.int32)))
    step = "removing duplicates"
    try:
        ms.meshing_remove_duplicate_vertices()
        ms.meshing_remove_duplicate_faces()
        ms.meshing_remove_null_faces()
        ms.meshing_remove_unreferenced_vertices()
        if keep_largest:
            step = "keeping the largest component"
            mesh = ms.current_mesh()
            cur_v = mesh.vertex_matrix()
            cur_f = _largest_component(mesh.face_matrix().astype(np.int64), cur_v.shape[0])
            ms = pymeshlab.MeshSet()
            ms.add_mesh(pymeshlab.Mesh(vertex_matrix=cur_v, face_matrix=cur_f.astype(np.int32)))
            ms.meshing_remove_unreferenced_vertices()
        if max_hole_edges > 0:
            step = "closing holes"
            ms.meshing_close_holes(maxholesize=int(max_hole_edges), newfaceselected=False, selfintersection=False)
        if taubin_steps > 0:
            step = "Taubin smoothing"
            ms.apply_coord_taubin_smoothing(
                lambda_=float(taubin_lambda), mu=float(taubin_mu), stepsmoothnum=int(taubin_steps)
            )
        if target_faces is not None and ms.current_mesh().face_number() > target_faces:
            step = "decimation"
            ms.meshing_decimation_quadric_edge_collapse(
                targetfacenum=int(target_faces),
                qualitythr=DECIMATION_QUALITY_THRESHOLD,
                preservenormal=DECIMATION_PRESERVE_NORMAL,
                preservetopology=DECIMATION_PRESERVE_TOPOLOGY,
                optimalplacement=True,
                autoclean=True,
            )
        ms.meshing_remove_unreferenced_vertices()
    except pymeshlab.PyMeshLabException as exc:
        raise MeshingError(f"pymeshlab failed while {step}: {exc}") from None
    mesh = ms.current_mesh()
    return mesh.vertex_matrix().astype(np.float64), mesh.face_matrix().astype(np.int64)


def ply_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Binary little-endian PLY: float32 ``x y z`` vertices and ``uchar``-counted int32 triangles.

    The header has no comments or timestamps: the same mesh gives the same bytes.
    """
    v, f = _check_mesh(vertices, faces)
    if f.size and f.max() > np.iinfo(np.int32).max:
        raise MeshingError(f"mesh has {v.shape[0]} vertices: too many for int32 PLY indices")
    header = (
        "ply\n"
        "format binary_little_endian 1.0\n"
        f"element vertex {v.shape[0]}\n"
        "property float x\n"
        "property float y\n"
        "property float z\n"
        f"element face {f.shape[0]}\n"
        "property list uchar int vertex_indices\n"
        "end_header\n"
    ).encode("ascii")
    face_rec = np.empty(f.shape[0], dtype=np.dtype([("n", "u1"), ("i", "<i4", (3,))]))
    face_rec["n"] = 3
    face_rec["i"] = f
    return header + v.astype("<f4").tobytes() + face_rec.tobytes()


def write_ply(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a triangle mesh as binary little-endian PLY, atomically (see :func:`ply_bytes`).

    Parameters
    ----------
    path : path-like
        Output file; parent folders are created; a partial file never appears under this name.
    vertices : array_like
        (V, 3) metres (stored as float32).
    faces : array_like
        (T, 3) integer vertex indices (stored as int32).
    """
    data = ply_bytes(vertices, faces)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
