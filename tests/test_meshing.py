"""Meshing: marching cubes on analytic occupancy, cleanup with pymeshlab, PLY output."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import trimesh

from humanrecon.meshing import MeshingError, clean_mesh, extract_mesh, ply_bytes, write_ply
from humanrecon.occupancy import OccupancyGrid

CENTRE = np.array([0.1, 0.9, -0.2])
RADIUS = 0.3


def sphere_grid(resolution: int = 64, *, centre=CENTRE, radius: float = RADIUS, extent: float = 0.8) -> OccupancyGrid:
    """Soft occupancy of a sphere: 1 inside, 0 outside, a linear ramp one voxel wide across the surface
    (0.5 exactly on it)."""
    voxel = extent / (resolution - 1)
    origin = np.asarray(centre, dtype=float) - 0.5 * extent
    axis = np.arange(resolution) * voxel
    x, y, z = np.meshgrid(axis + origin[0], axis + origin[1], axis + origin[2], indexing="ij")
    dist = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2) - radius
    values = np.clip(0.5 - dist / voxel, 0.0, 1.0).astype(np.float32)
    return OccupancyGrid(values, origin, voxel, resolution**3, resolution)


def as_trimesh(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    return trimesh.Trimesh(vertices, faces, process=False)


@pytest.fixture(scope="module")
def sphere_mesh():
    return extract_mesh(sphere_grid())


def test_marching_cubes_sphere_area_orientation_watertight(sphere_mesh):
    verts, faces = sphere_mesh
    mesh = as_trimesh(verts, faces)
    assert verts.dtype == np.float64 and faces.dtype == np.int64
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.area == pytest.approx(4 * np.pi * RADIUS**2, rel=0.015)
    # outward normals: positive signed volume, face normals pointing away from the centre
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * RADIUS**3, rel=0.02)
    outward = np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles_center - CENTRE)
    assert np.all(outward > 0)
    # world coordinates (origin and voxel size applied)
    radius = np.linalg.norm(verts - CENTRE, axis=1)
    assert np.abs(radius - RADIUS).max() < 0.1 * (0.8 / 63)


def test_marching_cubes_closes_hull_cut_by_grid_border(caplog):
    grid = sphere_grid(32, extent=0.5)  # the sphere (0.6 m across) sticks out of the 0.5 m grid
    with caplog.at_level(logging.WARNING, logger="humanrecon.meshing"):
        verts, faces = extract_mesh(grid)
    assert "touches the grid border" in caplog.text
    mesh = as_trimesh(verts, faces)
    assert mesh.is_watertight and mesh.volume > 0
    lo = grid.origin - grid.voxel_size
    hi = grid.origin + (grid.resolution - 1) * grid.voxel_size + grid.voxel_size
    assert np.all(verts >= lo) and np.all(verts <= hi)


def test_marching_cubes_empty_grid_is_an_error():
    grid = sphere_grid(16)
    empty = OccupancyGrid(np.zeros_like(grid.values), grid.origin, grid.voxel_size, 0, 16)
    with pytest.raises(MeshingError, match="hull is empty"):
        extract_mesh(empty)


def test_clean_mesh_keeps_largest_component(sphere_mesh):
    verts, faces = sphere_mesh
    blob = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    blob_v = blob.vertices + CENTRE + np.array([1.0, 0.0, 0.0])
    all_v = np.concatenate([blob_v, verts])  # the blob first: "largest" is not "first"
    all_f = np.concatenate([blob.faces, faces + len(blob_v)])
    cv, cf = clean_mesh(all_v, all_f, taubin_steps=0)
    mesh = as_trimesh(cv, cf)
    assert len(mesh.split(only_watertight=False)) == 1
    assert np.abs(np.linalg.norm(cv - CENTRE, axis=1) - RADIUS).max() < 0.01
    assert len(cf) == len(faces)
    kept_both, _ = clean_mesh(all_v, all_f, keep_largest=False, taubin_steps=0)
    assert len(kept_both) == len(all_v)


def test_clean_mesh_closes_small_hole(sphere_mesh):
    verts, faces = sphere_mesh
    # remove the faces around one vertex: a hole bounded by its ring of neighbours
    star = np.any(faces == faces[0, 0], axis=1)
    holed = faces[~star]
    assert not as_trimesh(verts, holed).is_watertight
    cv, cf = clean_mesh(verts, holed)
    assert as_trimesh(cv, cf).is_watertight
    open_v, open_f = clean_mesh(verts, holed, max_hole_edges=0)
    assert not as_trimesh(open_v, open_f).is_watertight


def test_taubin_smoothing_does_not_shrink(sphere_mesh):
    verts, faces = sphere_mesh
    before = as_trimesh(verts, faces).volume
    cv, cf = clean_mesh(verts, faces, taubin_steps=20)
    assert as_trimesh(cv, cf).volume == pytest.approx(before, rel=0.01)
    assert not np.allclose(cv, verts)  # it did move the vertices
    with pytest.raises(MeshingError, match="Taubin"):
        clean_mesh(verts, faces, taubin_mu=-0.1)


def test_clean_mesh_decimates_to_target(sphere_mesh):
    verts, faces = sphere_mesh
    target = 2000
    cv, cf = clean_mesh(verts, faces, target_faces=target)
    assert abs(len(cf) - target) <= 0.05 * target
    mesh = as_trimesh(cv, cf)
    assert mesh.is_watertight and mesh.volume > 0
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * RADIUS**3, rel=0.03)
    # deterministic
    cv2, cf2 = clean_mesh(verts, faces, target_faces=target)
    assert np.array_equal(cv, cv2) and np.array_equal(cf, cf2)


def test_write_ply_round_trip_atomic_deterministic(tmp_path, sphere_mesh):
    verts, faces = sphere_mesh
    path = tmp_path / "out" / "mesh.ply"
    write_ply(path, verts, faces)
    first = path.read_bytes()
    write_ply(path, verts, faces)
    assert path.read_bytes() == first == ply_bytes(verts, faces)
    assert sorted(p.name for p in path.parent.iterdir()) == ["mesh.ply"]  # no temporary left behind
    assert first.startswith(b"ply\nformat binary_little_endian 1.0\nelement vertex ")
    loaded = trimesh.load(path, process=False)
    np.testing.assert_array_equal(loaded.vertices, verts.astype(np.float32))
    np.testing.assert_array_equal(loaded.faces, faces)
    with pytest.raises(MeshingError, match="faces index vertices outside"):
        write_ply(tmp_path / "bad.ply", verts, faces + len(verts))
    assert not (tmp_path / "bad.ply").exists()
