"""Multi-view SMPL fitting (humanrecon.bodyfit): projection, robust triangulation, and fits with known answers.

The synthetic scenes are a GT body (betas ~ N(0, 0.5^2), poses from humanrecon.synth.poses, random heading)
seen by cameras of a random ring rig (512 x 512 px, OpenCV distortion). 2D joints are the GT joints'
projections plus 1 px Gaussian noise; silhouettes (256 x 256) are the GT mesh rasterised triangle by triangle.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from humanrecon.bodyfit import (
    TERM_NAMES,
    BodyFitError,
    FitConfig,
    TriangulationConfig,
    camera_tensors,
    fit_smpl,
    priors,
    project_torch,
    triangulate_points,
)
from humanrecon.bodyfit import fit as fit_module
from humanrecon.calibration.camera import Camera
from humanrecon.metrics import mpjpe_mm, pve_mm
from humanrecon.synth import poses
from humanrecon.synth.rig import RigConfig, look_at, make_rig


@pytest.fixture(autouse=True)
def _one_thread():
    """The fit is dominated by small tensor ops: one thread is fastest and keeps CPU results reproducible."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _rig(num_cameras: int, size: int, seed: int) -> list[Camera]:
    return list(make_rig(np.random.default_rng(seed), RigConfig(num_cameras=num_cameras, image_size=(size, size))))


def rasterise(cam: Camera, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(H, W) uint8 mask of a mesh: every triangle in front of the camera filled (1/16 px vertex precision)."""
    uv, z = cam.project_with_depth(vertices)
    mask = np.zeros((cam.height, cam.width), np.uint8)
    tris = np.round(uv[faces] * 16).astype(np.int32)
    for tri in tris[(z[faces] > 0).all(axis=1)]:
        cv2.fillConvexPoly(mask, tri, 1, lineType=cv2.LINE_8, shift=4)
    return mask


def make_scene(body_model, num_frames: int, num_cameras: int, seed: int, sil_size: int = 256, noise_px: float = 1.0):
    """GT body sequence, its noisy 2D joints (F, C, 24, 2), confidences and silhouettes (F, C, S, S)."""
    rng = np.random.default_rng(seed)
    cams = _rig(num_cameras, 512, seed)
    betas = rng.normal(0.0, 0.5, 10)
    pose = poses.sample_sequence(rng, num_frames, perturb_deg=10.0)
    go = poses.compose_heading(pose[:, 0], np.full(num_frames, rng.uniform(-np.pi, np.pi)))
    bp = pose[:, 1:].reshape(num_frames, -1)
    transl = np.zeros((num_frames, 3))
    transl[:, [0, 2]] = rng.uniform(-0.2, 0.2, 2)
    B = np.tile(betas, (num_frames, 1))
    transl[:, 1] = -body_model.forward_numpy(B, bp, go, transl)["vertices"][..., 1].min()  # feet on the floor
    out = body_model.forward_numpy(B, bp, go, transl)
    uv = np.stack([[c.project(out["joints"][f]) for c in cams] for f in range(num_frames)])
    uv += rng.normal(0.0, noise_px, uv.shape)
    sil = np.stack(
        [[rasterise(c.scaled(sil_size / 512), out["vertices"][f], body_model.faces) for c in cams] for f in range(num_frames)]
    )
    return {
        "cameras": cams, "betas": betas, "global_orient": go, "body_pose": bp, "transl": transl,
        "joints": out["joints"], "vertices": out["vertices"], "uv": uv, "conf": np.ones(uv.shape[:3]), "sil": sil,
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Projection and triangulation
# --------------------------------------------------------------------------------------------------


def test_project_torch_matches_camera_project():
    cams = _rig(5, 512, seed=0)
    assert all(np.any(c.dist != 0) for c in cams)
    X = np.random.default_rng(1).uniform([-0.8, 0.0, -0.8], [0.8, 2.0, 0.8], (500, 3))
    uv, z = project_torch(torch.as_tensor(X), cams, return_depth=True)
    assert uv.shape == (500, 5, 2) and z.shape == (500, 5)
    for c, cam in enumerate(cams):
        ref_uv, ref_z = cam.project_with_depth(X)
        assert np.abs(uv[:, c].numpy() - ref_uv).max() <= 1e-6
        assert np.abs(z[:, c].numpy() - ref_z).max() <= 1e-9
    # batched leading dimensions and pre-stacked cameras give the same numbers
    uv2 = project_torch(torch.as_tensor(X).reshape(5, 100, 3), camera_tensors(cams))
    assert torch.equal(uv2.reshape(500, 5, 2), uv)


def test_triangulation_of_exact_projections():
    cams = _rig(5, 512, seed=2)
    X = np.random.default_rng(3).uniform([-0.5, 0.1, -0.5], [0.5, 1.9, 0.5], (2000, 3))
    uv = np.stack([c.project(X) for c in cams])
    Xh, residual, used = triangulate_points(uv, np.ones((5, 2000)), cams)
    assert np.abs(Xh - X).max() <= 1e-6
    assert residual.max() <= 1e-6 and used.all()


def test_triangulation_rejects_a_grossly_wrong_view():
    cams = _rig(5, 512, seed=4)
    rng = np.random.default_rng(5)
    X = rng.uniform([-0.5, 0.1, -0.5], [0.5, 1.9, 0.5], (1000, 3))
    uv = np.stack([c.project(X) for c in cams])
    angle, radius = rng.uniform(0, 2 * np.pi, 1000), rng.uniform(30.0, 120.0, 1000)
    uv[3] += np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)  # camera 3 is wrong everywhere
    uv[[0, 1, 2, 4]] += rng.normal(0.0, 0.2, (4, 1000, 2))  # the others are good to 0.2 px
    Xh, residual, used = triangulate_points(uv, np.ones((5, 1000)), cams)
    err_mm = np.linalg.norm(Xh - X, axis=1) * 1000
    assert not used[3].any() and used[[0, 1, 2, 4]].all()
    assert err_mm.max() <= 6.0 and np.median(err_mm) <= 1.5  # the noise of the four good views, nothing more
    good = [0, 1, 2, 4]
    ref, _, _ = triangulate_points(uv[good], np.ones((4, 1000)), [cams[c] for c in good])
    assert np.abs(Xh - ref).max() <= 1e-9
    assert residual.max() <= 1.0
    naive, _, _ = triangulate_points(uv, np.ones((5, 1000)), cams, TriangulationConfig(ransac_px=1e9, outlier_px=1e9))
    assert np.median(np.linalg.norm(naive - X, axis=1)) * 1000 > 20.0  # without the robust step it is far off


def test_triangulation_needs_two_views():
    cams = _rig(4, 512, seed=6)
    X = np.random.default_rng(7).uniform(-0.5, 0.5, (10, 3)) + [0.0, 1.0, 0.0]
    uv = np.stack([c.project(X) for c in cams])
    conf = np.ones((4, 10))
    conf[1:, :3] = 0.0  # points 0-2: one view
    conf[:, 3] = 0.0  # point 3: none
    conf[2:, 4] = 0.05  # point 4: two views above min_conf
    uv[0, 5] = np.nan  # point 5: a NaN pixel is not an observation
    Xh, residual, used = triangulate_points(uv, conf, cams)
    assert np.isnan(Xh[:4]).all() and np.isnan(residual[:4]).all() and not used[:, :4].any()
    assert np.abs(Xh[4:] - X[4:]).max() <= 1e-6
    assert used[:, 4].tolist() == [True, True, False, False] and not used[0, 5]


def test_triangulation_shape_errors_name_the_problem():
    cams = _rig(3, 256, seed=8)
    with pytest.raises(BodyFitError, match="3 cameras"):
        triangulate_points(np.zeros((2, 5, 2)), np.ones((2, 5)), cams)
    with pytest.raises(BodyFitError, match="conf must have shape"):
        triangulate_points(np.zeros((3, 5, 2)), np.ones((3, 4)), cams)


# --------------------------------------------------------------------------------------------------
# Body layer and priors
# --------------------------------------------------------------------------------------------------


def test_torch_body_matches_smplx(body_model):
    rng = np.random.default_rng(9)
    betas = rng.normal(0, 1, 10)
    pose = np.stack([poses.sample_pose(rng) for _ in range(3)])
    go, bp, tr = rng.normal(0, 1, (3, 3)), pose[:, 1:].reshape(3, -1), rng.normal(0, 1, (3, 3))
    ref = body_model.forward_numpy(np.tile(betas, (3, 1)), bp, go, tr)
    subset = fit_module.vertex_subset(body_model, 500)
    assert len(np.unique(subset)) == 500 and subset.max() < body_model.num_surface_vertices
    body = fit_module.TorchBody(body_model, subset, torch.float64, torch.device("cpu"))
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    joints, verts = body(t(betas[None]), t(go), t(bp), t(tr), True)
    assert np.abs(joints.numpy() - ref["joints"]).max() <= 1e-9
    assert np.abs(verts.numpy() - ref["vertices"][:, subset]).max() <= 1e-9


def test_priors():
    key = torch.as_tensor(np.stack([poses.KEY_POSES[n][1:].reshape(-1) for n in poses.KEY_POSE_NAMES]))
    assert torch.all(priors.angle_limit_penalty(key) == 0)
    bent = torch.zeros(69, dtype=torch.float64)
    bent[3 * 3] = -0.5  # left knee (joint 4) bent forwards by 0.5 rad
    bent[3 * 17 + 1] = 0.5  # left elbow (joint 18) bent backwards
    expected = 2 * (0.5 - np.deg2rad(priors.HYPEREXTENSION_DEG)) ** 2
    assert float(priors.angle_limit_penalty(bent)) == pytest.approx(expected)
    garbage = torch.as_tensor(np.random.default_rng(10).normal(0, 1.0, (20, 69)))
    assert priors.gaussian_pose_prior(key).mean() < 0.1 * priors.gaussian_pose_prior(garbage).mean()
    mean, precision = priors.gaussian_prior_params()
    assert mean.shape == (69,) and np.all(np.linalg.eigvalsh(precision) > 0)


# --------------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------------

MISSING_FRAME = 2
MISSING_VIEWS = (0, 2, 3)


@pytest.fixture(scope="module")
def scene(body_model):
    sc = make_scene(body_model, num_frames=4, num_cameras=6, seed=11)
    # in one frame three of the six cameras do not see the person: no joints, empty silhouettes
    for c in MISSING_VIEWS:
        sc["conf"][MISSING_FRAME, c] = 0.0
        sc["uv"][MISSING_FRAME, c] = 0.0
        sc["sil"][MISSING_FRAME, c] = 0
    return sc


@pytest.fixture(scope="module")
def fitted(body_model, scene):
    torch.set_num_threads(1)
    return fit_smpl(body_model, scene["cameras"], scene["uv"], scene["conf"], scene["sil"], device="cpu")


def test_fit_recovers_ground_truth(scene, fitted):
    r = fitted
    F = 4
    assert r.betas.shape == (10,) and r.global_orient.shape == (F, 3) and r.body_pose.shape == (F, 69)
    assert r.transl.shape == (F, 3) and r.joints.shape == (F, 24, 3) and r.vertices.shape == scene["vertices"].shape
    assert set(r.losses) == {*TERM_NAMES, "total"} and all(v.shape == (F,) and np.isfinite(v).all() for v in r.losses.values())
    full = [f for f in range(F) if f != MISSING_FRAME]
    mpjpe = mpjpe_mm(r.joints, scene["joints"], reduction="none")
    assert mpjpe[full].max() <= 10.0, mpjpe
    assert mpjpe_mm(r.triangulated[full], scene["joints"][full]) <= 10.0
    assert np.all(r.reproj_px <= 2.0), r.reproj_px  # 1 px noise per coordinate: mean distance ~1.25 px
    assert r.losses["sil_out"].max() > 0 and r.losses["sil_in"].max() > 0  # the silhouette terms were active
    assert pve_mm(r.vertices, scene["vertices"]) <= 30.0  # loose: limb twists are weakly observed


def test_fit_with_views_missing_the_person(scene, fitted):
    r = fitted
    assert r.views_used[MISSING_FRAME].tolist() == [c not in MISSING_VIEWS for c in range(6)]
    assert r.views_used[[0, 1, 3]].all()
    assert mpjpe_mm(r.joints[MISSING_FRAME], scene["joints"][MISSING_FRAME]) <= 15.0


def test_frame_without_person_raises(body_model, scene):
    uv, conf, sil = scene["uv"][:2].copy(), scene["conf"][:2].copy(), scene["sil"][:2].copy()
    conf[1], sil[1] = 0.0, 0
    with pytest.raises(BodyFitError, match=r"frame 1: the person is seen by 0 of 6 views") as info:
        fit_smpl(body_model, scene["cameras"], uv, conf, sil, device="cpu")
    assert "frame 0" not in str(info.value) and "'cam05' (empty silhouette" in str(info.value)
    conf, sil = scene["conf"][:2].copy(), scene["sil"][:2].copy()
    conf[0, 1:] = 0.0  # only cam00 has joints in frame 0
    with pytest.raises(BodyFitError, match=r"frame 0: the person is seen by 1 of 6 views.*'cam01' \(no joint"):
        fit_smpl(body_model, scene["cameras"], uv, conf, sil, device="cpu")


def test_input_errors_name_frame_and_camera(body_model, scene):
    conf = scene["conf"][:2].copy()
    conf[1, 4, 7] = 1.5
    with pytest.raises(BodyFitError, match=r"frame 1, camera 'cam04', joint left_ankle"):
        fit_smpl(body_model, scene["cameras"], scene["uv"][:2], conf, device="cpu")
    with pytest.raises(BodyFitError, match=r"joints2d must have shape"):
        fit_smpl(body_model, scene["cameras"][:5], scene["uv"][:2], scene["conf"][:2], device="cpu")
    with pytest.raises(BodyFitError, match=r"camera 'cam00': silhouettes are 256x128"):
        fit_smpl(body_model, scene["cameras"], scene["uv"][:2], scene["conf"][:2], scene["sil"][:2, :, :128], device="cpu")


def test_silhouettes_alone_pull_a_displaced_body_back(body_model, scene):
    """Joint terms off, GT pose and shape, translation off by 7 cm: the silhouette terms recover it."""
    sl = slice(0, 2)
    offset = np.array([0.05, 0.03, -0.04])
    cfg = FitConfig(stage1_iters=0, stage2_iters=0, stage3_iters=24, w_joints2d=0.0, w_joints3d=0.0, w_smooth=0.0)
    r = fit_smpl(
        body_model, scene["cameras"], scene["uv"][sl], scene["conf"][sl], scene["sil"][sl], config=cfg, device="cpu",
        init_betas=scene["betas"], init_global_orient=scene["global_orient"][sl], init_body_pose=scene["body_pose"][sl],
        init_transl=scene["transl"][sl] + offset,
    )
    assert np.linalg.norm(r.transl - scene["transl"][sl], axis=1).max() <= 0.01


def test_fit_is_deterministic(body_model, scene):
    sl = slice(0, 2)
    cfg = FitConfig(stage1_iters=10, stage2_iters=40, stage3_iters=8, silhouette_rounds=2)
    args = (body_model, scene["cameras"], scene["uv"][sl], scene["conf"][sl], scene["sil"][sl])
    a = fit_smpl(*args, config=cfg, device="cpu")
    b = fit_smpl(*args, config=cfg, device="cpu")
    for name in ("betas", "global_orient", "body_pose", "transl", "joints", "vertices", "reproj_px"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert all(np.array_equal(a.losses[k], b.losses[k]) for k in a.losses)


def test_given_initialisation_is_used_and_inputs_are_not_modified(body_model, scene):
    """Starting at the GT with no iterations returns the GT body exactly (init plumbing, per-frame betas);
    a fit that does iterate leaves the caller's initial arrays untouched."""
    sl = slice(0, 2)
    init = {
        "init_betas": np.tile(scene["betas"], (2, 1)), "init_global_orient": scene["global_orient"][sl].copy(),
        "init_body_pose": scene["body_pose"][sl].copy(), "init_transl": scene["transl"][sl].copy(),
    }  # fmt: skip
    before = {k: v.copy() for k, v in init.items()}
    cfg = FitConfig(stage1_iters=0, stage2_iters=0, stage3_iters=0, ik_init=False)  # the body as given
    r = fit_smpl(body_model, scene["cameras"], scene["uv"][sl], scene["conf"][sl], config=cfg, device="cpu", **init)
    assert mpjpe_mm(r.joints, scene["joints"][sl]) <= 1e-6
    assert r.losses["sil_out"].max() == 0.0  # no silhouettes given
    fit_smpl(body_model, scene["cameras"], scene["uv"][sl], scene["conf"][sl], config=FitConfig(stage2_iters=5, stage3_iters=0),
             device="cpu", **init)
    assert all(np.array_equal(init[k], before[k]) for k in init)


def test_look_at_cameras_without_distortion(body_model):
    """Hand-made undistorted cameras on a circle; a short chunk without silhouettes still fits."""
    cams = []
    for i in range(4):
        a = 2 * np.pi * i / 4 + 0.3
        R, t = look_at(np.array([3.0 * np.sin(a), 1.4, 3.0 * np.cos(a)]), np.array([0.0, 0.9, 0.0]))
        cams.append(Camera(f"c{i}", [[400.0, 0, 159.5], [0, 400.0, 159.5], [0, 0, 1]], np.zeros(5), R, t, 320, 320))
    rng = np.random.default_rng(12)
    pose = poses.sample_pose(rng, "standing_relaxed")
    go, bp = pose[None, 0], pose[None, 1:].reshape(1, -1)
    tr = np.array([[0.0, 0.95, 0.0]])
    J = body_model.forward_numpy(None, bp, go, tr)["joints"]
    uv = np.stack([c.project(J[0]) for c in cams])[None]
    r = fit_smpl(body_model, cams, uv, np.ones((1, 4, 24)), device="cpu")
    assert mpjpe_mm(r.joints, J) <= 5.0


# --------------------------------------------------------------------------------------------------
# Part-map term
# --------------------------------------------------------------------------------------------------


def rasterise_parts(cam: Camera, vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 12-part map (0 background, 1..12): triangles painted far to near with their first
    vertex's part (painter's algorithm; exact enough for a known-answer fit)."""
    uv, z = cam.project_with_depth(vertices)
    out = np.zeros((cam.height, cam.width), np.uint8)
    front = (z[faces] > 0).all(axis=1)
    depth = z[faces].mean(axis=1)
    order = [i for i in np.argsort(-depth) if front[i]]
    tris = np.round(uv[faces] * 16).astype(np.int32)
    for i in order:
        cv2.fillConvexPoly(out, tris[i], int(labels[faces[i, 0]]), lineType=cv2.LINE_8, shift=4)
    return out


def test_part_points_sample_each_observed_part_inside_its_region():
    cams = _rig(2, 512, 3)
    parts = np.zeros((1, 2, 256, 256), np.uint8)
    parts[0, 0, 40:60, 100:140] = 3  # 800 px of part 3 in view 0
    parts[0, 0, 200:202, 10:12] = 7  # 4 px of part 7: under part_min_pixels, not used
    parts[0, 1, 10:30, 10:30] = 12
    cfg = FitConfig(part_points=16, part_min_pixels=8, silhouette_size=256)
    labels = np.array([3, 3, 7, 12, 1])
    pp = fit_module._prepare_parts(cams, parts, np.ones((1, 2), bool), labels, cfg, torch.float64, torch.device("cpu"))
    K = 16
    w = pp.weight.numpy()
    assert w.shape == (1, 2, 12 * K)
    assert w[0, 0, 2 * K : 3 * K].all() and w[0, 0].sum() == K  # only part 3 in view 0 (part 7 too small)
    assert w[0, 1, 11 * K :].all() and w[0, 1].sum() == K
    pts = pp.points.numpy()[0, 0, 2 * K : 3 * K] * 256 / 512  # back to 256-px part-map pixels (camera is 512)
    assert (pts[:, 0] > 99).all() and (pts[:, 0] < 140).all() and (pts[:, 1] > 39).all() and (pts[:, 1] < 60).all()
    assert len({tuple(p) for p in pts.round(3)}) == K  # distinct pixels spread through the region
    same = pp.same_part.numpy()
    assert same.shape == (12 * K, 5) and same[2 * K].tolist() == [True, True, False, False, False]


#: Left shoulder, elbow, wrist, hand: the arm the part-term tests bend.
_LEFT_ARM = [16, 18, 20, 22]


def _bent_left_arm(body_model, scene):
    """First two frames of the scene: GT part maps (half resolution) and silhouettes, and the GT body with
    the left shoulder and elbow turned 35 / 20 degrees off as ``init_*`` keywords of :func:`fit_smpl`."""
    from scipy.spatial.transform import Rotation

    sl = slice(0, 2)
    labels = body_model.part_labels
    parts = np.stack([[rasterise_parts(c.scaled(0.5), scene["vertices"][f], body_model.faces, labels) for c in scene["cameras"]]
                      for f in range(2)])  # fmt: skip
    bp = scene["body_pose"][sl].copy()
    for j in (16, 18):  # left shoulder, left elbow (body_pose holds joints 1..23)
        R = Rotation.from_rotvec(bp[:, 3 * (j - 1) : 3 * j]) * Rotation.from_euler("xyz", [0.0, 35.0, 20.0], degrees=True)
        bp[:, 3 * (j - 1) : 3 * j] = R.as_rotvec()
    init = {"init_betas": scene["betas"], "init_global_orient": scene["global_orient"][sl], "init_body_pose": bp,
            "init_transl": scene["transl"][sl]}  # fmt: skip
    return parts, (parts > 0).astype(np.uint8), init


def _arm_error_mm(r, scene) -> float:
    return float(np.linalg.norm(r.joints[:, _LEFT_ARM] - scene["joints"][:2, _LEFT_ARM], axis=-1).mean() * 1000)


#: Stage 3 alone with neither joint term nor smoothness: what the silhouettes and parts say.
_STAGE3_ONLY = dict(stage1_iters=0, stage2_iters=0, stage3_iters=60, w_joints2d=0.0, w_joints3d=0.0, w_smooth=0.0, w_pose=1e-4, ik_init=False)


def test_part_maps_pull_a_wrongly_bent_arm_back(body_model, scene):
    """GT shape, root and translation; the left arm's shoulder and elbow 35 degrees off; no joint and no
    silhouette terms: the part maps alone bring the arm back (measured: 314 mm -> 66 mm in 60 iterations;
    silhouettes alone 61 mm, both 57 mm)."""
    parts, sil, init = _bent_left_arm(body_model, scene)
    args = (body_model, scene["cameras"], scene["uv"][:2], scene["conf"][:2], sil)
    start = fit_smpl(*args, parts, config=FitConfig(**{**_STAGE3_ONLY, "stage3_iters": 0}), device="cpu", **init)
    with_parts = fit_smpl(*args, parts, config=FitConfig(**_STAGE3_ONLY, w_sil_out=0.0, w_sil_in=0.0, w_parts=1.0), device="cpu", **init)
    assert with_parts.losses["parts"].max() > 0
    assert _arm_error_mm(start, scene) > 80.0
    assert _arm_error_mm(with_parts, scene) < 0.25 * _arm_error_mm(start, scene), (_arm_error_mm(start, scene), _arm_error_mm(with_parts, scene))


def test_part_term_trusts_the_limb_but_not_its_side(body_model, scene):
    """Part maps whose arms are labelled the wrong way round in every view (a segmenter unsure of front
    and back): matching a limb's pixels to either limb of the pair (``parts_mirror``, the default) still
    pulls a wrongly bent left arm back; trusting the labels' side pulls it towards the right arm."""
    from humanrecon.bodymodel.skeleton import PART_MIRROR

    parts, sil, init = _bent_left_arm(body_model, scene)
    arms = np.isin(parts, [3, 4, 5, 6])
    parts[arms] = np.asarray(PART_MIRROR, dtype=np.uint8)[parts[arms]]
    base = dict(_STAGE3_ONLY, w_sil_out=0.0, w_sil_in=0.0, w_parts=1.0)
    args = (body_model, scene["cameras"], scene["uv"][:2], scene["conf"][:2], sil, parts)
    start = _arm_error_mm(fit_smpl(*args, config=FitConfig(**{**base, "stage3_iters": 0}), device="cpu", **init), scene)
    either = _arm_error_mm(fit_smpl(*args, config=FitConfig(**base), device="cpu", **init), scene)
    trusted = _arm_error_mm(fit_smpl(*args, config=FitConfig(**base, parts_mirror=False), device="cpu", **init), scene)
    assert either < 0.25 * start, (start, either)
    assert trusted > 2.0 * either, (either, trusted)


def _exact_joints2d(scene) -> np.ndarray:
    """(F, C, 24, 3) exact projections of the scene's GT joints with confidence 1 (no detector noise)."""
    uv = np.stack([[c.project(X) for c in scene["cameras"]] for X in scene["joints"]])
    return np.concatenate([uv, np.ones((*uv.shape[:3], 1))], axis=-1)


def test_left_right_swaps_are_found_and_undone(scene):
    """Views whose detector swapped left and right are found from the rays alone, including the case
    where most views are swapped (the mirrored body is rejected by its handedness)."""
    from humanrecon.bodyfit import resolve_left_right
    from humanrecon.bodymodel.skeleton import MIRROR

    cams = scene["cameras"]
    clean = _exact_joints2d(scene)
    for views in ([1, 3, 4], [0, 1, 2, 4, 5], []):
        j2d = clean.copy()
        j2d[:, views] = clean[:, views][:, :, list(MIRROR)]
        j2d[..., :2] += np.random.default_rng(1).normal(0, 2.0, j2d[..., :2].shape)
        fixed, swapped = resolve_left_right(j2d, cams)
        expected = [[[c in views] * 9 for c in range(6)]] * 4  # (F, C, P): every joint pair alike
        assert swapped.tolist() == expected, (views, swapped)
        assert np.abs(fixed[..., :2] - clean[..., :2]).max() < 12.0


def test_left_right_pairs_are_resolved_one_by_one(scene):
    """A detector may swap a view's legs but not its arms, or label the wrists the other way from the
    elbows in every view (both seen with the shipped segmenter on held-out sessions): each joint pair gets
    its own swap pattern across the views, and the pattern or its complement is chosen down each limb
    chain from the pair it hangs from."""
    from humanrecon.bodyfit import LR_JOINTS, resolve_left_right
    from humanrecon.bodymodel.skeleton import MIRROR

    cams = scene["cameras"]
    clean = _exact_joints2d(scene)
    legs, arms, hands = (1, 4, 7, 10), (13, 16, 18), (20, 22)
    swapped_views = {**{j: [0, 2, 3, 5] for j in legs}, **{j: [1] for j in arms}, **{j: [0, 1, 2, 3, 4, 5] for j in hands}}
    j2d = clean.copy()
    for jl, views in swapped_views.items():
        jr = MIRROR[jl]
        for c in views:
            j2d[:, c, jl], j2d[:, c, jr] = clean[:, c, jr], clean[:, c, jl]
    j2d[..., :2] += np.random.default_rng(2).normal(0, 2.0, j2d[..., :2].shape)
    fixed, swapped = resolve_left_right(j2d, cams)
    for p, jl in enumerate(LR_JOINTS):
        assert swapped[..., p].tolist() == [[c in swapped_views[jl] for c in range(6)]] * 4, (jl, swapped[..., p])
    assert np.abs(fixed[..., :2] - clean[..., :2]).max() < 12.0


def test_left_right_labels_follow_the_chunk_where_a_frame_has_no_evidence_of_its_own(scene):
    """A frame where most views are swapped and the feet (the handedness cue) are not seen would be
    labelled by the detector's majority, the wrong way; the chunk's continuity (a joint moves millimetres
    between frames, a pair's joints are decimetres apart) labels it like its neighbours."""
    from humanrecon.bodyfit import LR_JOINTS, resolve_left_right
    from humanrecon.bodymodel.skeleton import MIRROR

    cams = scene["cameras"]
    clean = _exact_joints2d(scene)
    clean[..., [10, 11], 2] = 0.0  # no feet: no handedness cue
    j2d = clean.copy()
    for f, views in enumerate(([4], [0, 1, 2, 4], [3], [5])):
        j2d[f, views] = clean[f, views][:, list(MIRROR)]
    j2d[..., :2] += np.random.default_rng(3).normal(0, 2.0, j2d[..., :2].shape)
    on_its_own = resolve_left_right(j2d, cams, temporal_weight=0.0)[1]
    assert on_its_own[1].all(axis=1).tolist() == [c not in (0, 1, 2, 4) for c in range(6)]  # frame 1 mirrored
    fixed, swapped = resolve_left_right(j2d, cams)
    for f, views in enumerate(([4], [0, 1, 2, 4], [3], [5])):
        pairs = [p for p, jl in enumerate(LR_JOINTS) if jl != 10]  # the unseen feet: nothing to decide
        assert swapped[f][:, pairs].tolist() == [[c in views] * 8 for c in range(6)], (f, swapped[f])
    seen = clean[..., 2] > 0
    assert np.abs(fixed[..., :2] - clean[..., :2])[seen].max() < 12.0


def test_left_right_labels_follow_the_chunk_in_the_images_where_a_pair_is_not_triangulated(scene):
    """In frame 1 only view 0 sees the shoulders (no 3D position to compare with frames 0 and 2) and has
    them the wrong way round: the 2D continuity of view 0's detections links the frame to its neighbours;
    on its own, the frame keeps the detector's labels."""
    from humanrecon.bodyfit import resolve_left_right
    from humanrecon.bodymodel.skeleton import MIRROR

    cams = scene["cameras"]
    clean = _exact_joints2d(scene)
    clean[..., [10, 11], 2] = 0.0  # no feet: no handedness cue
    clean[1, 1:, [16, 17], 2] = 0.0  # frame 1: shoulders in view 0 only
    j2d = clean.copy()
    j2d[1, 0] = clean[1, 0][list(MIRROR)]
    j2d[..., :2] += np.random.default_rng(4).normal(0, 2.0, j2d[..., :2].shape)
    shoulders = [16, 17]
    on_its_own = resolve_left_right(j2d, cams, temporal_weight=0.0)[0]
    assert np.linalg.norm(on_its_own[1, 0, shoulders, :2] - clean[1, 0, shoulders, :2], axis=-1).min() > 50.0
    fixed = resolve_left_right(j2d, cams)[0]
    seen = clean[..., 2] > 0
    assert np.abs(fixed[..., :2] - clean[..., :2])[seen].max() < 12.0


def test_bone_outliers_blame_the_less_supported_end():
    from humanrecon.bodyfit import bone_outliers
    from humanrecon.bodymodel.skeleton import PARENTS

    rng = np.random.default_rng(0)
    rest = rng.normal(0, 0.3, (24, 3))
    tri = np.stack([rest + np.array([0.0, 0.0, 1.0])] * 3)  # rest pose, moved: every bone length exact
    support = np.ones((3, 24))
    tri[1, 18] += 3.0 * (rest[18] - rest[PARENTS[18]])  # frame 1: left elbow 4x as far from its shoulder
    tri[2, 20] += 0.6 * np.linalg.norm(rest[20] - rest[18]) * np.array([1.0, 0.0, 0.0]) + 3.0 * (rest[20] - rest[18])
    support[2, 20] = 0.5  # frame 2: a wrist far from its elbow, seen by fewer views than the elbow
    tri[0, 5] = np.nan  # missing joints are not judged
    out = bone_outliers(tri, support, rest)
    assert np.argwhere(out).tolist() == [[1, 18], [2, 20]]
    support[2, 18] = 0.2  # now the elbow is the less supported end: it is blamed, and the wrist then by its hand
    assert np.argwhere(bone_outliers(tri, support, rest)).tolist() == [[1, 18], [2, 18], [2, 20]]
    assert not bone_outliers(tri, support, rest, (0.0, np.inf)).any()


def test_fit_drops_a_limb_joint_no_bone_can_reach(body_model, scene):
    """The left wrist detected, consistently in every view, 45 cm away from the real one (on another
    limb or the background) and with less confidence: triangulated there, it drags the forearm; the
    bone-length check drops it and the hand, elbow and silhouettes place the forearm."""
    torch.set_num_threads(1)
    full = [f for f in range(4) if f != MISSING_FRAME]
    cams = scene["cameras"]
    X = scene["joints"][full].copy()
    X[:, 20] += np.array([0.0, 0.45, 0.0])  # the left wrist moved 45 cm
    uv = np.stack([[c.project(X[i]) for c in cams] for i in range(len(full))])
    conf = np.ones(uv.shape[:3])
    conf[:, :, 20] = 0.4
    sil = scene["sil"][full]
    err = {}
    for name, ratio in (("checked", (0.4, 1.6)), ("unchecked", (0.0, np.inf))):
        r = fit_smpl(body_model, cams, uv, conf, sil, config=FitConfig(bone_ratio=ratio), device="cpu")
        err[name] = float(np.linalg.norm(r.joints[:, 20] - scene["joints"][full][:, 20], axis=-1).mean() * 1000)
    assert err["checked"] < 40.0 and err["unchecked"] > 2 * err["checked"], err


def test_limb_hypotheses_uncross_legs_labelled_the_wrong_way_round_in_every_view(body_model, scene):
    """Knees, ankles and feet labelled left for right in every view and frame (what a detector does for a
    hidden knee; the rays agree, so nothing is left for resolve_left_right to see across views): one fit
    crosses the legs; fit_limb_hypotheses finds the mirrored legs explain the silhouettes, parts and
    joints better and uncrosses them. With the labels right it keeps them."""
    from humanrecon.bodyfit import fit_limb_hypotheses
    from humanrecon.bodymodel.skeleton import MIRROR

    torch.set_num_threads(1)
    full = [f for f in range(4) if f != MISSING_FRAME][:2]
    cams = scene["cameras"]
    labels = body_model.part_labels
    parts = np.stack([[rasterise_parts(c.scaled(0.5), scene["vertices"][f], body_model.faces, labels) for c in cams] for f in full])
    sil = (parts > 0).astype(np.uint8)
    uv, conf = scene["uv"][full], scene["conf"][full]
    crossed = uv.copy()
    for jl in (4, 7, 10):
        crossed[:, :, [jl, MIRROR[jl]]] = uv[:, :, [MIRROR[jl], jl]]
    legs = [4, 5, 7, 8, 10, 11]

    def leg_error(r):
        return float(np.linalg.norm(r.joints[:, legs] - scene["joints"][full][:, legs], axis=-1).mean() * 1000)

    one = fit_smpl(body_model, cams, crossed, conf, sil, parts, device="cpu")
    hyp = fit_limb_hypotheses(body_model, cams, crossed, conf, sil, parts, device="cpu")
    assert leg_error(one) > 100.0
    assert hyp.mirrored_limbs.tolist() == [[True, False]] * len(full)
    assert leg_error(hyp) < 15.0, leg_error(hyp)
    kept = fit_limb_hypotheses(body_model, cams, uv, conf, sil, parts, device="cpu")
    assert not kept.mirrored_limbs.any() and leg_error(kept) < 15.0
    assert fit_limb_hypotheses(body_model, cams, crossed, conf, sil, parts, config=FitConfig(limb_hypotheses=False), device="cpu").mirrored_limbs.sum() == 0


def test_collapsed_pairs_are_dropped_and_the_fit_follows_the_other_views(body_model, scene):
    """Both wrists, elbows and hands detected on the right arm in half of the views (as the shipped
    segmenter does for a raised arm): those detections are dropped, the collars (a few cm apart) are
    kept, and the fit recovers the left arm from the other views."""
    from humanrecon.bodyfit import COLLAPSIBLE_JOINTS, drop_collapsed_pairs

    cams = scene["cameras"]
    clean = np.concatenate([scene["uv"][..., :2], scene["conf"][..., None]], axis=-1).copy()
    full = [f for f in range(4) if f != MISSING_FRAME]
    clean = clean[full]
    j2d = clean.copy()
    views = [0, 2, 4]
    for jl, jr in ((18, 19), (20, 21), (22, 23)):
        j2d[:, views, jl, :2] = clean[:, views, jr, :2] + 1.0  # the left joint on the right limb
    dropped, collapsed = drop_collapsed_pairs(j2d)
    arm = [COLLAPSIBLE_JOINTS.index(j) for j in (18, 20, 22)]
    assert collapsed[:, views][..., arm].all()
    assert collapsed.sum() == len(full) * len(views) * len(arm), np.argwhere(collapsed)
    assert (dropped[:, views][..., [18, 19, 20, 21, 22, 23], 2] == 0).all()
    assert (dropped[..., [13, 14], 2] == clean[..., [13, 14], 2]).all()  # collars stay
    torch.set_num_threads(1)
    sil = scene["sil"][full]
    r = fit_smpl(body_model, cams, dropped[..., :2], dropped[..., 2], sil, device="cpu")
    left_arm = [18, 20, 22]
    err = np.linalg.norm(r.joints[:, left_arm] - scene["joints"][full][:, left_arm], axis=-1).max() * 1000
    assert err < 15.0, err
    bad = fit_smpl(body_model, cams, j2d[..., :2], j2d[..., 2], sil, device="cpu")
    err_bad = np.linalg.norm(bad.joints[:, left_arm] - scene["joints"][full][:, left_arm], axis=-1).max() * 1000
    assert err_bad > 1.5 * err, (err, err_bad)  # measured 7.7 vs 14.5 mm
