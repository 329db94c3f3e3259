"""Visual hull: known answers on an analytic sphere, octree vs dense, lens distortion, policies, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from humanrecon.calibration import Camera
from humanrecon.meshing import extract_mesh
from humanrecon.occupancy import (
    OccupancyGrid,
    VisualHullError,
    bounding_box,
    carve,
    dense_occupancy,
    grid_geometry,
    octree_occupancy,
)
from humanrecon.synth.rig import look_at

SPHERE_CENTRE = np.array([0.05, 1.0, -0.03])
SPHERE_RADIUS = 0.3
MILD_DIST = (-0.12, 0.05, 5e-4, -4e-4, 0.0)


def ring_cameras(
    n: int = 8,
    *,
    radius: float = 3.0,
    size: int = 256,
    f: float = 600.0,
    dist=MILD_DIST,
    target=SPHERE_CENTRE,
    height: float = 1.0,
) -> list[Camera]:
    """``n`` cameras on a horizontal ring around the y axis (heights jittered by +-0.2 m), looking at
    ``target``; principal point a few pixels off-centre, fy 1 % larger than fx."""
    cams = []
    for i in range(n):
        az = 2.0 * np.pi * i / n + 0.1
        centre = np.array([radius * np.sin(az), height + 0.2 * np.cos(3 * az), radius * np.cos(az)])
        R, t = look_at(centre, np.asarray(target, dtype=float))
        K = np.array([[f, 0.0, (size - 1) / 2 + 3.0], [0.0, 1.01 * f, (size - 1) / 2 - 2.0], [0.0, 0.0, 1.0]])
        cams.append(Camera(f"cam{i:02d}", K, np.array(dist, dtype=float), R, t, size, size))
    return cams


def spheres_masks(cameras: list[Camera], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 exact silhouettes of a union of spheres: pixel-centre rays (lens distortion
    included, :meth:`Camera.pixel_rays`) intersected with every sphere."""
    centres = np.atleast_2d(np.asarray(centres, dtype=float))
    radii = np.atleast_1d(np.asarray(radii, dtype=float))
    out = []
    for cam in cameras:
        origin, dirs = cam.pixel_rays()
        H, W, _ = dirs.shape
        d = dirs.reshape(-1, 3)
        oc = origin - centres  # (S, 3)
        b = d @ oc.T  # (P, S)
        disc = b * b - (np.einsum("ij,ij->i", oc, oc) - radii**2)
        with np.errstate(invalid="ignore"):
            hit = (disc >= 0) & (-b + np.sqrt(np.maximum(disc, 0.0)) > 0)
        out.append(hit.any(axis=1).reshape(H, W).astype(np.uint8))
    return np.stack(out)


def person_spheres() -> tuple[np.ndarray, np.ndarray]:
    """A 1.7 m person-like union of spheres (torso, head, arms abducted, legs), +y up."""
    segments = [
        ((0.0, 0.95, 0.0), (0.0, 1.35, 0.0), 0.14),
        ((0.0, 1.38, 0.0), (0.0, 1.50, 0.0), 0.05),
        ((0.0, 1.56, 0.01), (0.0, 1.62, 0.01), 0.10),
    ]
    for s in (-1.0, 1.0):
        segments += [
            ((s * 0.15, 1.38, 0.0), (s * 0.40, 1.15, 0.02), 0.045),
            ((s * 0.40, 1.15, 0.02), (s * 0.58, 0.95, 0.08), 0.035),
            ((s * 0.09, 0.90, 0.0), (s * 0.11, 0.50, 0.02), 0.07),
            ((s * 0.11, 0.50, 0.02), (s * 0.12, 0.10, 0.0), 0.05),
        ]
    centres, radii = [], []
    for a, b, r in segments:
        a, b = np.array(a), np.array(b)
        n = int(math.ceil(np.linalg.norm(b - a) / (0.5 * r))) + 1
        centres.append(a + np.linspace(0.0, 1.0, n)[:, None] * (b - a))
        radii.append(np.full(n, r))
    return np.concatenate(centres), np.concatenate(radii)


def mesh_area_volume(vertices: np.ndarray, faces: np.ndarray) -> tuple[float, float]:
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * float(np.linalg.norm(cross, axis=1).sum())
    volume = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()) / 6.0
    return area, volume


def symmetric_vertex_distance(v1: np.ndarray, v2: np.ndarray) -> float:
    return float(max(cKDTree(v2).query(v1)[0].max(), cKDTree(v1).query(v2)[0].max()))


@pytest.fixture(scope="module")
def sphere_scene():
    cams = ring_cameras()
    return cams, spheres_masks(cams, SPHERE_CENTRE, [SPHERE_RADIUS])


@pytest.fixture(scope="module")
def person_scene():
    cams = ring_cameras(f=230.0, target=(0.0, 0.85, 0.0), height=1.2)
    centres, radii = person_spheres()
    return cams, spheres_masks(cams, centres, radii)


# -- known answers ----------------------------------------------------------------------------------


def test_sphere_hull_known_answer(sphere_scene):
    cams, masks = sphere_scene
    margin = 0.05
    lo, hi = bounding_box(masks, cams, margin=margin)
    grid = octree_occupancy(masks, cams, (lo, hi), 64)
    verts, faces = extract_mesh(grid)
    area, volume = mesh_area_volume(verts, faces)
    r = SPHERE_RADIUS
    true_area, true_volume = 4.0 * np.pi * r**2, 4.0 / 3.0 * np.pi * r**3
    # the hull of a sphere from 8 views is slightly larger than the sphere
    assert true_volume * 0.99 <= volume <= true_volume * 1.10
    assert true_area * 0.98 <= area <= true_area * 1.10
    # no carving inside the sphere: points half a pixel footprint (3 m / 600 px / 2) inside are in
    dirs = np.random.default_rng(0).normal(size=(20_000, 3))
    shell = SPHERE_CENTRE + (r - 0.0025) * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    assert np.all(carve(shell, masks, cams) >= 0.5)
    # mesh vertices: on or outside the sphere up to marching cubes' linear interpolation between samples
    # (the mask ramp is one pixel, 5 mm, narrower than a voxel: up to half a voxel) and the outline's
    # half-pixel quantisation; at most 2 voxels outside (the 8-view hull exceeds the sphere by ~1.8 cm)
    radius = np.linalg.norm(verts - SPHERE_CENTRE, axis=1)
    assert radius.min() >= r - 0.5 * grid.voxel_size - 0.0025
    assert radius.max() <= r + 2.0 * grid.voxel_size


def test_bounding_box_contains_hull_and_is_tight(sphere_scene):
    cams, masks = sphere_scene
    margin = 0.05
    lo, hi = bounding_box(masks, cams, margin=margin)
    c, r = SPHERE_CENTRE, SPHERE_RADIUS
    assert np.all(lo <= c - r - margin) and np.all(hi >= c + r + margin)
    assert np.all(lo >= c - r - margin - 0.05) and np.all(hi <= c + r + margin + 0.05)
    # every point with positive occupancy (a superset of the hull) lies in the box without margin
    lo0, hi0 = bounding_box(masks, cams, margin=0.0)
    np.testing.assert_allclose(lo0 - margin, lo)
    wide = dense_occupancy(masks, cams, (c - r - 0.15, c + r + 0.15), 96)
    support = wide.points(np.argwhere(wide.values > 0))
    assert np.all(support >= lo0) and np.all(support <= hi0)


def test_grid_geometry_is_cubic_and_centred():
    lo, hi = np.array([0.0, -1.0, 2.0]), np.array([1.0, 1.0, 2.5])
    origin, voxel = grid_geometry((lo, hi), 101)
    assert voxel == pytest.approx(2.0 / 100)
    np.testing.assert_allclose(origin + 50 * voxel, 0.5 * (lo + hi))
    np.testing.assert_allclose(origin[1], -1.0)  # the longest axis spans the box exactly
    with pytest.raises(VisualHullError, match="inverted"):
        grid_geometry((hi, lo), 10)


# -- octree -----------------------------------------------------------------------------------------


def test_octree_matches_dense_with_few_queries(person_scene):
    cams, masks = person_scene
    bbox = bounding_box(masks, cams)
    R = 128
    octree = octree_occupancy(masks, cams, bbox, R)
    dense = dense_occupancy(masks, cams, bbox, R)
    assert isinstance(octree, OccupancyGrid) and octree.values.shape == (R, R, R)
    assert octree.values.dtype == np.float32 and dense.num_queries == R**3
    np.testing.assert_array_equal(octree.origin, dense.origin)
    assert octree.voxel_size == dense.voxel_size
    assert octree.num_queries <= 0.10 * R**3
    assert np.array_equal(octree.values >= 0.5, dense.values >= 0.5)
    v_oct, _ = extract_mesh(octree)
    v_den, _ = extract_mesh(dense)
    assert symmetric_vertex_distance(v_oct, v_den) <= octree.voxel_size
    # deterministic
    again = octree_occupancy(masks, cams, bbox, R)
    assert again.values.tobytes() == octree.values.tobytes() and again.num_queries == octree.num_queries


def test_octree_sphere_equals_dense_and_small_grids(sphere_scene):
    cams, masks = sphere_scene
    bbox = bounding_box(masks, cams)
    for R in (20, 64, 77):  # coarser than the coarse level, a power-of-two-ish and an odd size
        octree = octree_occupancy(masks, cams, bbox, R)
        dense = dense_occupancy(masks, cams, bbox, R)
        assert octree.values.shape == (R, R, R)
        assert np.array_equal(octree.values >= 0.5, dense.values >= 0.5)
        assert octree.num_queries <= R**3


# -- lens distortion --------------------------------------------------------------------------------


def test_lens_distortion_is_handled():
    # wide, strongly distorted cameras aimed 0.8 m above the sphere: it is seen off-axis, where the
    # barrel distortion moves its outline by ~10 pixels (~5 cm at the sphere)
    centre, r = np.array([0.0, 0.6, 0.0]), 0.25
    cams = ring_cameras(radius=2.0, f=200.0, dist=(-0.35, 0.08, 1e-3, -1e-3, 0.0), target=(0.0, 1.4, 0.0), height=1.2)
    masks = spheres_masks(cams, centre, [r])
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(20_000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    # a shell just inside the sphere (1 pixel is ~1 cm here: the mask outline is within half a pixel)
    shell = centre + dirs * (r - 0.015)
    occ = carve(shell, masks, cams)
    assert np.all(occ >= 0.5)
    undistorted = [
        Camera(c.name, c.K, np.zeros(5), c.R, c.t, c.width, c.height) for c in cams
    ]
    occ_wrong = carve(shell, masks, undistorted)
    assert np.mean(occ_wrong < 0.5) > 0.2  # ignoring the distortion would carve into the sphere
    grid = octree_occupancy(masks, cams, bounding_box(masks, cams), 64)
    verts, _ = extract_mesh(grid)
    # marching cubes' half voxel plus the mask outline's half pixel (1 cm per pixel at the sphere)
    assert np.linalg.norm(verts - centre, axis=1).min() >= r - 0.5 * grid.voxel_size - 0.005


def test_carve_samples_mask_bilinearly_at_camera_projection():
    cam = ring_cameras(1, dist=(-0.3, 0.1, 2e-3, -1e-3, 0.01))[0]
    rng = np.random.default_rng(1)
    mask = (rng.random((cam.height, cam.width)) < 0.7).astype(np.uint8)
    mask[0, 0] = 1
    pts = SPHERE_CENTRE + rng.uniform(-0.5, 0.5, size=(5000, 3))
    uv = cam.project(pts)
    inside = (uv[:, 0] > 0) & (uv[:, 0] < cam.width - 1) & (uv[:, 1] > 0) & (uv[:, 1] < cam.height - 1)
    assert inside.mean() > 0.9
    u0 = np.floor(uv[inside, 0]).astype(int)
    v0 = np.floor(uv[inside, 1]).astype(int)
    fu, fv = uv[inside, 0] - u0, uv[inside, 1] - v0
    m = mask.astype(float)
    expected = (
        m[v0, u0] * (1 - fu) * (1 - fv) + m[v0, u0 + 1] * fu * (1 - fv)
        + m[v0 + 1, u0] * (1 - fu) * fv + m[v0 + 1, u0 + 1] * fu * fv
    )
    got = carve(pts, mask[None], [cam])
    np.testing.assert_allclose(got[inside], expected, atol=1e-5)
    assert got.dtype == np.float32 and np.all((got >= 0) & (got <= 1))


# -- policies ---------------------------------------------------------------------------------------


def test_outside_image_policy(sphere_scene):
    cams, masks = sphere_scene
    masks = masks.copy()
    # widen camera 0's field: a point far outside its image but inside every other silhouette
    cam0 = cams[0]
    others_inside = SPHERE_CENTRE + 0.1 * np.array([1.0, 0.0, 0.0])
    offimage = cam0.project(others_inside[None])[0]
    assert 0 <= offimage[0] < cam0.width  # sanity: all cameras see the sphere point
    # a point behind camera 0 that lies on the ray of camera 0's centre pixel
    behind = cam0.center - 0.5 * (SPHERE_CENTRE - cam0.center)
    occ = carve(np.stack([others_inside, behind]), masks, cams)
    assert occ[0] == 1.0 and occ[1] == 0.0
    # with a camera that does not see the sphere at all, "carve" empties the hull, "abstain" keeps it
    away = Camera("away", cam0.K, cam0.dist, cam0.R, cam0.t + np.array([5.0, 0.0, 0.0]), cam0.width, cam0.height)
    blob = np.zeros_like(masks[0])
    blob[:10, :10] = 1
    rig = [*cams, away]
    all_masks = np.concatenate([masks, blob[None]])
    assert carve(others_inside[None], all_masks, rig)[0] == 0.0
    assert carve(others_inside[None], all_masks, rig, outside_image="abstain")[0] == 1.0
    # the point is seen by 8 cameras: requiring 9 views rejects it
    assert carve(others_inside[None], all_masks, rig, outside_image="abstain", min_views=9)[0] == 0.0
    with pytest.raises(VisualHullError, match="min_views"):
        carve(others_inside[None], masks, cams, min_views=9)
    with pytest.raises(VisualHullError, match="outside_image"):
        carve(others_inside[None], masks, cams, outside_image="ignore")


def test_points_beyond_the_distortion_fold_are_not_seen():
    # strong barrel distortion folds back beyond r ~ 0.91: a point at 56 degrees off-axis (r = 1.5) is
    # mapped to r_d = 1.5 (1 - 0.4 * 1.5**2) = 0.15, inside the image, by the polynomial; it must count as
    # outside the image, not sample the mask there
    cam = ring_cameras(1, dist=(-0.4, 0.0, 0.0, 0.0, 0.0))[0]
    mask = np.ones((cam.height, cam.width), dtype=np.uint8)
    off_axis = np.array([1.5, 0.0, 1.0])  # camera frame
    world = (off_axis - cam.t) @ cam.R
    uv = cam.project(world[None])[0]
    assert 0 <= uv[0] < cam.width and 0 <= uv[1] < cam.height  # the polynomial folds it into the image
    assert carve(world[None], mask[None], [cam])[0] == 0.0


def test_chunking_does_not_change_results(sphere_scene):
    cams, masks = sphere_scene
    pts = SPHERE_CENTRE + np.random.default_rng(2).uniform(-0.4, 0.4, size=(3001, 3))
    np.testing.assert_array_equal(carve(pts, masks, cams), carve(pts, masks, cams, chunk=97))


# -- errors -----------------------------------------------------------------------------------------


def test_empty_silhouette_names_the_camera(sphere_scene):
    cams, masks = sphere_scene
    masks = masks.copy()
    masks[3] = 0
    for fn in (
        lambda: carve(np.zeros((1, 3)), masks, cams),
        lambda: bounding_box(masks, cams),
        lambda: octree_occupancy(masks, cams, (np.zeros(3), np.ones(3)), 16),
    ):
        with pytest.raises(VisualHullError, match="camera 'cam03' has an empty silhouette for this frame"):
            fn()


def test_mask_problems_name_the_camera(sphere_scene):
    cams, masks = sphere_scene
    with pytest.raises(VisualHullError, match=r"camera 'cam05': mask is 256x256 .* image is 200x256"):
        bad = [*cams[:5], Camera("cam05", cams[5].K, cams[5].dist, cams[5].R, cams[5].t, 200, 256), *cams[6:]]
        carve(np.zeros((1, 3)), masks, bad)
    with pytest.raises(VisualHullError, match="7 masks for 8 cameras"):
        carve(np.zeros((1, 3)), masks[:7], cams)
    scaled = masks * 255
    with pytest.raises(VisualHullError, match="camera 'cam00': mask values must be 0 or 1"):
        carve(np.zeros((1, 3)), scaled, cams)
    with pytest.raises(VisualHullError, match="points must have shape"):
        carve(np.zeros((4, 2)), masks, cams)


def test_inconsistent_silhouettes_are_reported(sphere_scene):
    cams, masks = sphere_scene
    masks = masks.copy()
    masks[2] = 0
    masks[2, :5, :5] = 1  # camera 2 sees something in its corner only: no common point
    with pytest.raises(VisualHullError, match="visual hull is empty"):
        bounding_box(masks, cams)
