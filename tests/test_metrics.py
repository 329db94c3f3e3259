"""Metrics: known answers (spheres, cubes, lenses, offsets) and reference libraries (trimesh, scipy)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trimesh
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from humanrecon import metrics as M

# ---------------------------------------------------------------------------------------------------------
# Fixtures and references
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphere() -> trimesh.Trimesh:
    """Unit icosphere, 5120 outward-oriented faces."""
    return trimesh.creation.icosphere(subdivisions=4, radius=1.0)


@pytest.fixture(scope="module")
def holed_sphere(sphere) -> tuple[np.ndarray, np.ndarray]:
    """The unit icosphere with 5 % of its faces deleted at random (not watertight)."""
    rng = np.random.default_rng(7)
    keep = np.ones(len(sphere.faces), bool)
    keep[rng.choice(len(sphere.faces), len(sphere.faces) // 20, replace=False)] = False
    return np.asarray(sphere.vertices), np.asarray(sphere.faces)[keep]


def reference_distances(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Brute force with trimesh's per-triangle closest point: every point against every triangle."""
    tri = np.asarray(vertices)[np.asarray(faces)]
    out = np.empty(len(points))
    for i, p in enumerate(points):
        closest = trimesh.triangles.closest_point(tri, np.repeat(p[None], len(tri), axis=0))
        out[i] = np.linalg.norm(closest - p, axis=1).min()
    return out


def lens_iou(d: float, r: float = 1.0) -> float:
    """IoU of two balls of radius ``r`` whose centres are ``d`` apart (lens volume formula)."""
    lens = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12
    return lens / (2 * 4 / 3 * np.pi * r**3 - lens)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    return Rotation.random(random_state=rng).as_matrix()


# ---------------------------------------------------------------------------------------------------------
# Sampling and point-to-surface
# ---------------------------------------------------------------------------------------------------------


def test_sample_surface_deterministic_on_surface_and_area_weighted(sphere):
    state = np.random.get_state()
    a = M.sample_surface(sphere.vertices, sphere.faces, 5000, seed=3)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # global RNG untouched
    b = M.sample_surface(sphere.vertices, sphere.faces, 5000, seed=3)
    c = M.sample_surface(sphere.vertices, sphere.faces, 5000, seed=4)
    assert a.shape == (5000, 3) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert M.point_to_surface(a, sphere.vertices, sphere.faces).max() < 1e-12

    # two triangles with areas 1 : 3 (a unit right triangle and one scaled by sqrt(3))
    s3 = np.sqrt(3.0)
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 0, 0], [5 + s3, 0, 0], [5, s3, 0]], float)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    p = M.sample_surface(v, f, 40_000, seed=0)
    frac_small = np.mean(p[:, 0] < 2.5)
    assert frac_small == pytest.approx(0.25, abs=0.01)
    # uniform inside a triangle: mean = centroid
    np.testing.assert_allclose(p[p[:, 0] < 2.5].mean(axis=0), [1 / 3, 1 / 3, 0], atol=0.01)


def test_sample_surface_rejects_bad_input(sphere):
    with pytest.raises(ValueError, match="n must be"):
        M.sample_surface(sphere.vertices, sphere.faces, -1)
    with pytest.raises(ValueError, match="face indices"):
        M.sample_surface(sphere.vertices, np.array([[0, 1, 99999]]), 10)
    with pytest.raises(ValueError, match="zero total area"):
        M.sample_surface(np.zeros((3, 3)), np.array([[0, 1, 2]]), 10)


def test_point_to_surface_matches_trimesh_brute_force(sphere):
    rng = np.random.default_rng(0)
    # near the surface, far outside, deep inside (every triangle is nearly equidistant from the centre)
    near = M.sample_surface(sphere.vertices, sphere.faces, 200, seed=1) * rng.uniform(0.95, 1.05, (200, 1))
    far = rng.normal(size=(40, 3)) * 3.0
    deep = rng.normal(size=(20, 3)) * 0.05
    pts = np.concatenate([near, far, deep])
    got = M.point_to_surface(pts, sphere.vertices, sphere.faces)
    ref = reference_distances(pts, sphere.vertices, sphere.faces)
    np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)


def test_point_to_surface_cube_known_answer():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))  # 12 large triangles
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1.5, 1.5, (3000, 3))
    outside = np.linalg.norm(np.maximum(np.abs(pts) - 0.5, 0.0), axis=1)
    inside = 0.5 - np.abs(pts).max(axis=1)
    expected = np.where(np.abs(pts).max(axis=1) > 0.5, outside, inside)
    got = M.point_to_surface(pts, box.vertices, box.faces)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_point_to_surface_speed(sphere):
    """100k points near a 20k-face surface: well under the 3 s budget on this machine class."""
    import time

    big = trimesh.creation.icosphere(subdivisions=5)
    rng = np.random.default_rng(2)
    pts = M.sample_surface(big.vertices, big.faces, 100_000, seed=0) * rng.uniform(0.97, 1.03, (100_000, 1))
    t0 = time.perf_counter()
    d = M.point_to_surface(pts, big.vertices, big.faces)
    elapsed = time.perf_counter() - t0
    assert d.shape == (100_000,)
    assert elapsed < 6.0, f"point_to_surface took {elapsed:.1f} s"


# ---------------------------------------------------------------------------------------------------------
# P2S and Chamfer
# ---------------------------------------------------------------------------------------------------------


def test_p2s_and_chamfer_of_mesh_against_itself_is_zero(sphere):
    m = M.chamfer_l2_cm(sphere, sphere, n=5000)
    assert m.p2s_cm < 1e-9 and m.completeness_cm < 1e-9
    assert m.chamfer_l2_cm2 < 1e-15 and m.chamfer_seed_cm2 < 1e-15
    assert np.isnan(m.iou)
    assert M.p2s_cm(sphere, (sphere.vertices, sphere.faces), n=2000) < 1e-9


def test_concentric_spheres_one_centimetre(sphere):
    outer = trimesh.Trimesh(sphere.vertices * 1.01, sphere.faces, process=False)
    m = M.surface_metrics(outer, sphere, n=20_000, iou_resolution=None, seed=0)
    # parallel facets 1 cm apart (times the facet inradius factor ~0.999)
    assert m.p2s_cm == pytest.approx(1.0, rel=0.02)
    assert m.accuracy_cm == m.p2s_cm
    assert m.completeness_cm == pytest.approx(1.0, rel=0.02)
    assert m.chamfer_l2_cm2 == pytest.approx(1.0, rel=0.04)
    assert m.chamfer_seed_cm2 == pytest.approx(1.0, rel=0.04)
    assert M.p2s_cm(outer, sphere, n=20_000) == pytest.approx(m.p2s_cm, rel=1e-12)


def test_chamfer_definitions_and_asymmetry(sphere):
    """Ours >= seed formula (Jensen); a partial prediction is accurate but incomplete."""
    v, f = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    top = f[v[f].mean(axis=1)[:, 2] > 0.0]  # upper hemisphere only
    m = M.chamfer_l2_cm((v, top), (v, f), n=10_000, seed=5)
    assert m.accuracy_cm < 1e-9  # every predicted point lies on GT
    assert m.completeness_cm > 10.0  # GT's lower half is far from the prediction
    assert m.chamfer_seed_cm2 == pytest.approx(0.5 * m.completeness_cm**2 + 0.5 * m.accuracy_cm**2)
    assert m.chamfer_l2_cm2 >= m.chamfer_seed_cm2
    # reproducible for a seed
    again = M.chamfer_l2_cm((v, top), (v, f), n=10_000, seed=5)
    assert dataclasses.replace(again, iou=0.0) == dataclasses.replace(m, iou=0.0)


# ---------------------------------------------------------------------------------------------------------
# Winding numbers and volumetric IoU
# ---------------------------------------------------------------------------------------------------------


def test_winding_number_inside_outside_and_holes(sphere, holed_sphere):
    rng = np.random.default_rng(3)
    inside = rng.normal(size=(300, 3))
    inside *= (rng.uniform(0, 0.95, 300) / np.linalg.norm(inside, axis=1))[:, None]
    outside = rng.normal(size=(300, 3))
    outside *= (rng.uniform(1.05, 4.0, 300) / np.linalg.norm(outside, axis=1))[:, None]
    w_in = M.winding_number(inside, sphere.vertices, sphere.faces)
    w_out = M.winding_number(outside, sphere.vertices, sphere.faces)
    np.testing.assert_allclose(w_in, 1.0, atol=5e-3)
    np.testing.assert_allclose(w_out, 0.0, atol=5e-3)
    # reversed orientation flips the sign
    w_flip = M.winding_number(inside[:20], sphere.vertices, sphere.faces[:, ::-1])
    np.testing.assert_allclose(w_flip, -1.0, atol=5e-3)
    # 5 % of the faces removed: points well inside are still inside
    hv, hf = holed_sphere
    assert not trimesh.Trimesh(hv, hf, process=False).is_watertight
    w_holed = M.winding_number(inside * 0.8, hv, hf)
    assert np.all(w_holed > 0.5)
    assert np.all(M.winding_number(outside, hv, hf) < 0.5)


def test_winding_number_tree_matches_exact(sphere, holed_sphere):
    rng = np.random.default_rng(4)
    near = M.sample_surface(sphere.vertices, sphere.faces, 400, seed=2) * rng.uniform(0.97, 1.03, (400, 1))
    pts = np.concatenate([near, rng.uniform(-1.5, 1.5, (400, 3))])
    for v, f in ((sphere.vertices, sphere.faces), holed_sphere):
        exact = M.winding_number(pts, v, f, beta=None)
        fast = M.winding_number(pts, v, f)
        np.testing.assert_allclose(fast, exact, atol=1e-2)
        assert np.median(np.abs(fast - exact)) < 2e-3
    with pytest.raises(ValueError, match="beta"):
        M.winding_number(pts, sphere.vertices, sphere.faces, beta=0.5)


def test_occupancy_grid_matches_winding_at_every_voxel(holed_sphere):
    v, f = holed_sphere
    origin, h, shape = np.array([-1.1, -1.1, -1.1]), 2.2 / 39, (40, 40, 40)
    occ = M.occupancy_grid(v, f, origin, h, shape)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    w = M.winding_number(origin + ijk * h, v, f, beta=3.0)
    ref = (w > 0.5).reshape(shape)
    mismatch = occ != ref
    # only voxels whose winding number is itself ambiguous (near a hole) may differ
    assert np.count_nonzero(mismatch) <= 10
    assert np.all(np.abs(w.reshape(shape)[mismatch] - 0.5) < 0.15)


@pytest.mark.parametrize("d", [0.5, 1.0])
def test_volumetric_iou_of_two_spheres_matches_lens_formula(sphere, d):
    moved = sphere.copy().apply_translation([d, 0.0, 0.0])
    iou = M.volumetric_iou(sphere, moved, resolution=96)
    assert iou == pytest.approx(lens_iou(d), rel=0.01)


def test_volumetric_iou_sphere_and_cubes(sphere):
    small = trimesh.creation.box(extents=(1.0, 1.0, 1.0))  # inside the unit sphere (half-diagonal 0.87)
    big = trimesh.creation.box(extents=(2.5, 2.5, 2.5))  # contains it
    ball = sphere.volume  # the polyhedron's own volume (0.2 % below the round ball)
    assert M.volumetric_iou(small, sphere, resolution=96) == pytest.approx(1.0 / ball, rel=0.01)
    assert M.volumetric_iou(sphere, big, resolution=96) == pytest.approx(ball / 2.5**3, rel=0.01)
    assert M.volumetric_iou(sphere, sphere, resolution=48) == 1.0
    far = sphere.copy().apply_translation([3.0, 0.0, 0.0])
    assert M.volumetric_iou(sphere, far, resolution=48) == 0.0


def test_volumetric_iou_is_robust_to_holes(sphere, holed_sphere):
    moved = sphere.copy().apply_translation([0.5, 0.0, 0.0])
    closed = M.volumetric_iou(sphere, moved, resolution=64)
    holed = M.volumetric_iou(holed_sphere, moved, resolution=64)
    assert holed == pytest.approx(closed, abs=0.005)
    assert M.volumetric_iou(holed_sphere, sphere, resolution=64) > 0.99


def test_volumetric_iou_grid_arguments(sphere):
    moved = sphere.copy().apply_translation([0.5, 0.0, 0.0])
    by_size = M.volumetric_iou(sphere, moved, voxel_size=0.04)
    assert by_size == pytest.approx(lens_iou(0.5), rel=0.02)
    boxed = M.volumetric_iou(sphere, moved, resolution=64, bbox=[[-1.2, -1.2, -1.2], [1.7, 1.2, 1.2]])
    assert boxed == pytest.approx(lens_iou(0.5), rel=0.02)
    with pytest.raises(ValueError, match="bbox"):
        M.volumetric_iou(sphere, moved, bbox=[[0, 0, 0], [0, 1, 1]])
    with pytest.raises(ValueError, match="resolution"):
        M.volumetric_iou(sphere, moved, resolution=2)
    with pytest.raises(ValueError, match="encloses"):
        flat = (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), np.array([[0, 1, 2]]))
        M.volumetric_iou(flat, flat, resolution=16)
    with pytest.raises(ValueError, match="pred"):
        M.volumetric_iou("not a mesh", sphere)


def test_surface_metrics_all_fields(sphere):
    moved = sphere.copy().apply_translation([0.02, 0.0, 0.0])  # 2 cm shift
    m = M.surface_metrics(moved, sphere, n=5000, iou_resolution=64)
    assert isinstance(m, M.SurfaceMetrics)
    assert 0.5 < m.p2s_cm < 2.0 and 0.5 < m.completeness_cm < 2.0
    assert m.iou == pytest.approx(lens_iou(0.02), abs=0.01)


# ---------------------------------------------------------------------------------------------------------
# Silhouettes
# ---------------------------------------------------------------------------------------------------------


def test_joint2d_error_counts_joints_in_the_image_of_views_with_the_person():
    from humanrecon.metrics import joint2d_error_px

    gt = np.array([[[10.0, 10.0], [50.0, 20.0], [120.0, 5.0]],     # view 0: third joint right of the image
                   [[30.0, 30.0], [40.0, 40.0], [50.0, 50.0]]])    # view 1: the person not found
    pred = gt.copy()
    pred[0, 0] += [3.0, 4.0]        # 5 px
    pred[0, 1] += [0.0, -1.0]       # 1 px
    pred[0, 2] = [0.0, 0.0]         # not counted: GT outside the 100 x 80 image
    pred[1] = 0.0                   # not counted: view without the person
    conf = np.ones((2, 3, 1))
    assert joint2d_error_px(np.concatenate([pred, conf], -1), gt, (100, 80), seen=[True, False]) == pytest.approx(3.0)
    # every view counts without `seen`: 5, 1, 42.4, 56.6, 70.7 px
    assert joint2d_error_px(pred, gt, (100, 80)) == pytest.approx(np.mean([5, 1, *np.hypot([30, 40, 50], [30, 40, 50])]))
    assert np.isnan(joint2d_error_px(pred, gt, (100, 80), seen=[False, False]))
    with pytest.raises(ValueError, match="shape"):
        joint2d_error_px(pred[:, :2], gt, (100, 80))


def test_silhouette_iou_known_answers():
    a = np.zeros((4, 6), np.uint8)
    a[:, :3] = 1
    b = np.zeros_like(a)
    b[:, 3:] = 1
    half = np.zeros_like(a)
    half[:2, :3] = 1  # half of a, inside a
    assert M.silhouette_iou(a, a) == 1.0
    assert M.silhouette_iou(a, b) == 0.0
    assert M.silhouette_iou(half, a) == 0.5
    shifted = np.zeros_like(a)
    shifted[:, 1:4] = 1  # overlaps 2 of 3 columns: 8 / 16
    assert M.silhouette_iou(shifted, a) == 0.5
    assert M.silhouette_iou(np.zeros_like(a), np.zeros_like(a)) == 1.0
    stack = M.silhouette_iou(np.stack([a, a, half]), np.stack([a, b, a]))
    assert stack == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    with pytest.raises(ValueError, match="shape"):
        M.silhouette_iou(a, a[:, :2])


# ---------------------------------------------------------------------------------------------------------
# Procrustes and body metrics
# ---------------------------------------------------------------------------------------------------------


def test_procrustes_recovers_similarity_and_matches_scipy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 3)) * 0.4
    R_true = random_rotation(rng)
    s_true, t_true = 1.37, np.array([0.3, -1.2, 2.0])
    y = s_true * x @ R_true.T + t_true
    aligned, s, R, t = M.procrustes_align(x, y)
    np.testing.assert_allclose(R, R_true, atol=1e-12)
    assert s == pytest.approx(s_true, rel=1e-12)
    np.testing.assert_allclose(t, t_true, atol=1e-12)
    np.testing.assert_allclose(aligned, y, atol=1e-12)

    # noisy data: rotation equals scipy's (both solve the same least-squares problem on centred points)
    y_noisy = y + rng.normal(scale=0.05, size=y.shape)
    _, s, R, t = M.procrustes_align(x, y_noisy)
    xc, yc = x - x.mean(0), y_noisy - y_noisy.mean(0)
    R_scipy = Rotation.align_vectors(yc, xc)[0].as_matrix()
    np.testing.assert_allclose(R, R_scipy, atol=1e-10)
    omega, _ = orthogonal_procrustes(xc, yc)  # xc @ omega ~ yc
    np.testing.assert_allclose(R, omega.T, atol=1e-10)
    assert s == pytest.approx(np.sum(yc * (xc @ R.T)) / np.sum(xc * xc), rel=1e-12)
    np.testing.assert_allclose(t, y_noisy.mean(0) - s * R @ x.mean(0), atol=1e-12)

    # rigid
    _, s_rigid, R_rigid, _ = M.procrustes_align(x, x @ R_true.T, scale=False)
    assert s_rigid == 1.0
    np.testing.assert_allclose(R_rigid, R_true, atol=1e-12)


def test_procrustes_reflection_gives_proper_rotation():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 3)) * np.array([1.0, 0.5, 0.2])
    mirror = np.diag([1.0, 1.0, -1.0])
    y = x @ (random_rotation(rng) @ mirror).T
    xc, yc = x - x.mean(0), y - y.mean(0)
    omega, _ = orthogonal_procrustes(xc, yc)
    assert np.linalg.det(omega) == pytest.approx(-1.0)  # the best orthogonal map is a reflection
    _, s, R, _ = M.procrustes_align(x, y)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R, Rotation.align_vectors(yc, xc)[0].as_matrix(), atol=1e-10)
    assert s > 0


def test_pa_mpjpe_of_similarity_copy_is_zero_and_batched_equals_looped():
    rng = np.random.default_rng(8)
    gt = rng.normal(size=(5, 24, 3)) * 0.3
    pred = np.stack([
        rng.uniform(0.5, 2.0) * g @ random_rotation(rng).T + rng.normal(size=3) for g in gt
    ])
    assert M.pa_mpjpe_mm(pred, gt) < 1e-9
    assert M.mpjpe_mm(pred, gt) > 100.0

    noisy = pred + rng.normal(scale=0.01, size=pred.shape)
    aligned, s, R, t = M.procrustes_align(noisy, gt)
    assert aligned.shape == (5, 24, 3) and s.shape == (5,) and R.shape == (5, 3, 3) and t.shape == (5, 3)
    for b in range(5):
        a_b, s_b, R_b, t_b = M.procrustes_align(noisy[b], gt[b])
        np.testing.assert_allclose(aligned[b], a_b, atol=1e-12)
        assert s[b] == pytest.approx(s_b, rel=1e-12)
        np.testing.assert_allclose(R[b], R_b, atol=1e-12)
        np.testing.assert_allclose(t[b], t_b, atol=1e-12)
    per = M.pa_mpjpe_mm(noisy, gt, reduction="none")
    looped = [M.pa_mpjpe_mm(noisy[b], gt[b]) for b in range(5)]
    np.testing.assert_allclose(per, looped, rtol=1e-12)
    assert M.pa_mpjpe_mm(noisy, gt) == pytest.approx(np.mean(looped), rel=1e-12)
    np.testing.assert_allclose(
        M.mpjpe_mm(noisy, gt, reduction="none"), [M.mpjpe_mm(noisy[b], gt[b]) for b in range(5)], rtol=1e-12
    )


def test_mpjpe_and_pve_known_answers():
    rng = np.random.default_rng(9)
    gt = rng.normal(size=(2, 24, 3))
    offset = rng.normal(size=3)
    offset *= 0.010 / np.linalg.norm(offset)  # 10 mm in a random direction
    assert M.mpjpe_mm(gt + offset, gt) == pytest.approx(10.0, rel=1e-9)
    assert M.mpjpe_mm(gt + offset, gt, root=0) == pytest.approx(0.0, abs=1e-9)
    # one joint 30 mm off, root-relative: 30 / 24 mm on average
    pred = gt.copy()
    pred[:, 5, 1] += 0.030
    assert M.mpjpe_mm(pred, gt, root=0) == pytest.approx(30.0 / 24, rel=1e-9)
    moved_root = gt.copy()
    moved_root[:, 0] += [0.0, 0.0, 0.024]  # every other joint is 24 mm off relative to the root
    assert M.mpjpe_mm(moved_root, gt, root=0) == pytest.approx(24.0 * 23 / 24, rel=1e-9)
    assert M.mpjpe_mm(moved_root, gt, root=-24) == M.mpjpe_mm(moved_root, gt, root=0)

    verts = rng.normal(size=(100, 3))
    pred_v = verts.copy()
    pred_v[:50] += [0.004, 0.0, 0.0]  # half the vertices 4 mm off
    assert M.pve_mm(pred_v, verts) == pytest.approx(2.0, rel=1e-9)
    R = random_rotation(rng)
    assert M.pa_pve_mm(0.9 * verts @ R.T + 1.0, verts) < 1e-9
    assert M.pve_mm(pred_v[None], verts[None], reduction="none").shape == (1,)

    with pytest.raises(ValueError, match="shape"):
        M.mpjpe_mm(gt, gt[:, :10])
    with pytest.raises(ValueError, match="root"):
        M.mpjpe_mm(gt, gt, root=24)
    with pytest.raises(ValueError, match="reduction"):
        M.pve_mm(verts, verts, reduction="sum")
    with pytest.raises(ValueError, match="coincide"):
        M.procrustes_align(np.ones((5, 3)), verts[:5])
