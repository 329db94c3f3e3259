"""SMPL regressor (humanrecon.regressor): rotations against scipy, the part-map splat, training targets that
give zero loss, input errors, training lowering the loss, robust multi-view fusion with known answers, the
EasyMocap export, and the SMPL stage on a tiny synthetic session."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from humanrecon.regressor import rotations as rt
from humanrecon.regressor.fusion import angle_deg, fuse_views, project_to_so3, robust_rotation_mean
from humanrecon.regressor.network import DEPTH_SPAN, RegressorInputError, SMPLRegressor
from humanrecon.regressor.synthetic import NUM_INPUT_CHANNELS, SynthConfig, ViewSampler, splat_parts


@pytest.fixture(scope="module")
def bm32(body_model_dir):
    from humanrecon.bodymodel.model import load_body_model

    return load_body_model(body_model_dir, dtype="float32")


@pytest.fixture(scope="module")
def bm64(body_model_dir):
    from humanrecon.bodymodel.model import load_body_model

    return load_body_model(body_model_dir)


# ---- rotations ------------------------------------------------------------------------------------------


def test_rotation_conversions_match_scipy():
    rng = np.random.default_rng(0)
    R = Rotation.random(500, random_state=1)
    aa = R.as_rotvec()
    # near-identity and near-pi cases
    aa[:5] *= 1e-9
    aa[5:10] = aa[5:10] / np.linalg.norm(aa[5:10], axis=1, keepdims=True) * (np.pi - rng.uniform(0, 1e-6, (5, 1)))
    M = Rotation.from_rotvec(aa).as_matrix()
    Mt = torch.as_tensor(M)
    assert np.allclose(rt.axis_angle_to_matrix(torch.as_tensor(aa)).numpy(), M, atol=1e-12)
    back = rt.matrix_to_axis_angle(Mt).numpy()
    assert np.allclose(Rotation.from_rotvec(back).as_matrix(), M, atol=1e-9)
    assert np.all(np.linalg.norm(back, axis=1) <= np.pi + 1e-9)
    assert np.allclose(rt.rot6d_to_matrix(rt.matrix_to_rot6d(Mt)).numpy(), M, atol=1e-12)
    # any 6-vector gives a rotation
    G = rt.rot6d_to_matrix(torch.randn(100, 6, dtype=torch.float64)).numpy()
    assert np.allclose(G @ G.transpose(0, 2, 1), np.eye(3), atol=1e-12) and np.allclose(np.linalg.det(G), 1.0)


# ---- rendering and targets ------------------------------------------------------------------------------


def test_splat_keeps_the_nearest_point_per_pixel():
    uv = torch.tensor([[[2.2, 3.1], [1.8, 2.9], [5.0, 5.0], [9.6, 0.0]]])  # the first two fall in pixel (2, 3)
    depth = torch.tensor([[2.0, 1.5, 3.0, 1.0]])
    labels = torch.tensor([4, 7, 2, 9])
    out = splat_parts(uv, depth, labels, 8, fill_holes=False)[0]
    assert out[3, 2] == 7 and out[5, 5] == 2 and int((out > 0).sum()) == 2  # (9.6, 0) lies outside
    depth[0, 1] = -1.0  # behind the camera: dropped
    assert splat_parts(uv, depth, labels, 8, fill_holes=False)[0, 3, 2] == 4


def test_synthetic_targets_are_consistent(bm32):
    """The GT of a batch, fed back as a prediction, costs nothing; the crop holds the person."""
    from humanrecon.regressor.train import LossTerms

    cfg = SynthConfig(size=64, views=3)
    batch = ViewSampler(bm32, cfg).sample(3, np.random.default_rng(3), torch.Generator().manual_seed(3))
    assert batch.inputs.shape == (9, NUM_INPUT_CHANNELS, 64, 64)
    assert torch.allclose(batch.inputs[:, :13].sum(1), torch.ones(1))  # one-hot
    fg = (batch.parts > 0).float().mean((1, 2))
    assert torch.all(fg > 0.05) and torch.all(fg < 0.6)
    uv, z = batch.joints_crop[:, 0], batch.pelvis_cam[:, 2]
    S = cfg.size
    cam = torch.stack([(uv[:, 0] - (S - 1) / 2) / (S / 2), (uv[:, 1] - (S - 1) / 2) / (S / 2), torch.log(z / (batch.K_crop[:, 0, 0] * DEPTH_SPAN / S))], 1)
    terms = LossTerms(bm32)(rt.matrix_to_rot6d(batch.rot), batch.betas, cam, batch)
    for name in ("joints3d", "vertices", "rotations", "betas", "camera", "joints2d", "multiview"):
        assert float(terms[name]) < 1e-5, name
    # the views of a body agree in the world frame
    Rw = batch.R_cam.transpose(1, 2) @ batch.rot[:, 0]
    assert torch.allclose(Rw[0], Rw[1], atol=1e-5) and torch.allclose(Rw[0], Rw[2], atol=1e-5)


# ---- network and training -------------------------------------------------------------------------------


def test_wrong_input_is_a_clear_error():
    net = SMPLRegressor(64, (8, 8, 8, 8, 8), hidden=16).eval()
    with pytest.raises(RegressorInputError, match=r"\(N, 14, 64, 64\)"):
        net(torch.zeros(2, 14, 128, 128))
    with pytest.raises(RegressorInputError, match="13 one-hot part classes"):
        net(torch.zeros(2, 3, 64, 64))
    with pytest.raises(RegressorInputError, match="float tensor"):
        net(torch.zeros(2, 14, 64, 64, dtype=torch.uint8))
    out = net(torch.zeros(2, 14, 64, 64))
    assert len(out.rot6d) == 3 and out.rotmat.shape == (2, 24, 3, 3) and out.betas[-1].shape == (2, 10)


def test_training_steps_lower_the_loss(bm32, tmp_path):
    """A few steps on a fixed batch lower every geometric term; training resumes from its checkpoint."""
    from humanrecon.regressor.train import QUICK, LossTerms, make_model, train

    torch.manual_seed(0)
    cfg = dataclasses.replace(QUICK, steps=6, checkpoint_every=3, workers=0, threads=1)
    model = make_model(cfg)
    losses = LossTerms(bm32)
    batch = ViewSampler(bm32, cfg.synth).sample(4, np.random.default_rng(5), torch.Generator().manual_seed(5))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def total():
        out = model(batch.inputs)
        t = losses(out.rot6d[-1], out.betas[-1], out.cam[-1], batch)
        return sum(cfg.weights[k] * v for k, v in t.items()), t

    model.train()
    first, t0 = total()
    for _ in range(15):
        opt.zero_grad()
        total()[0].backward()
        opt.step()
    last, t1 = total()
    assert float(last.detach()) < 0.7 * float(first.detach())
    assert float(t1["joints3d"].detach()) < float(t0["joints3d"].detach()) and float(t1["joints2d"].detach()) < float(t0["joints2d"].detach())
    # the trainer: checkpoint, log, resume continues the step count
    ck = train(bm32, tmp_path / "run", dataclasses.replace(cfg, steps=3), progress=False)
    ck = train(bm32, tmp_path / "run", cfg, progress=False)
    state = torch.load(ck, weights_only=False)
    assert state["step"] == 6
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]



def test_warm_restart_schedule_and_seeding_from_exported_weights(bm32, tmp_path):
    """``restarts`` adds cosine cycles with fresh optimiser moments; a run seeded from the weights exported
    at the end of its first cycle ends with the same weights as the uninterrupted run."""
    from humanrecon.regressor.train import QUICK, export_with_card, seed_from_weights, train

    base = dataclasses.replace(QUICK, steps=4, checkpoint_every=2, workers=0, threads=1, lr=1e-3)
    cfg = dataclasses.replace(base, restarts=((3, 5e-4),))
    assert cfg.total_steps == 7 and cfg.cycle_starts() == [0, 4]
    # cosine per cycle (100-step warm-up: step k of a cycle is scaled by (k + 1) / 100)
    assert cfg.learning_rate(0) == pytest.approx(1e-3 * 0.01)
    assert cfg.learning_rate(2) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 2 / 4)) * 0.03)
    assert cfg.learning_rate(4) == pytest.approx(5e-4 * 0.01)
    assert cfg.learning_rate(6) == pytest.approx(5e-4 * 0.5 * (1 + np.cos(np.pi * 2 / 3)) * 0.03)
    assert cfg.learning_rate(7) == 0.0

    whole = torch.load(train(bm32, tmp_path / "whole", cfg, progress=False), weights_only=False)
    assert whole["step"] == 7
    first = train(bm32, tmp_path / "first", base, progress=False)
    export_with_card(first, bm32, tmp_path / "first.pt")
    with pytest.raises(ValueError, match="not the first cycles"):
        seed_from_weights(tmp_path / "first.pt", tmp_path / "bad", dataclasses.replace(cfg, lr=2e-3))
    assert seed_from_weights(tmp_path / "first.pt", tmp_path / "second", cfg) == 4
    with pytest.raises(ValueError, match="exists"):
        seed_from_weights(tmp_path / "first.pt", tmp_path / "second", cfg)
    second = torch.load(train(bm32, tmp_path / "second", cfg, progress=False), weights_only=False)
    assert second["step"] == 7
    for k, v in whole["model"].items():
        torch.testing.assert_close(second["model"][k], v, rtol=0, atol=0, msg=k)

# ---- fusion ---------------------------------------------------------------------------------------------


def test_chordal_mean_with_outliers():
    rng = np.random.default_rng(1)
    truth = Rotation.random(50, random_state=2)  # 50 independent means
    noise = Rotation.from_rotvec(rng.normal(0, np.deg2rad(3), (8, 50, 3)).reshape(-1, 3))
    R = (noise * Rotation.concatenate([truth] * 8)).as_matrix().reshape(8, 50, 3, 3)
    R[6:] = Rotation.random(100, random_state=3).as_matrix().reshape(2, 50, 3, 3)  # two wild views
    valid = np.ones((8, 50), bool)
    valid[5, :10] = False
    mean, inl = robust_rotation_mean(R, valid)
    assert not inl[6:].any() and inl[:6][valid[:6]].all() and not inl[5, :10].any()
    # the same as the mean of the good views alone (the oracle), and close to the truth
    oracle = project_to_so3(np.where(valid[:6, :, None, None], R[:6], 0.0).sum(0))
    assert np.allclose(mean, oracle, atol=1e-12)
    assert angle_deg(mean, truth.as_matrix()).max() < 6.0
    # without outliers the chordal mean of the inliers equals the SVD projection of their sum, and is
    # within a hundredth of a degree of scipy's (quaternion) mean for this small spread
    mean6, _ = robust_rotation_mean(R[:6], np.ones((6, 50), bool), outlier_deg=180)
    assert np.allclose(mean6, project_to_so3(R[:6].sum(0)), atol=1e-12)
    scipy_mean = np.stack([Rotation.from_matrix(R[:6, k]).mean().as_matrix() for k in range(50)])
    assert angle_deg(mean6, scipy_mean).max() < 0.01


def _views_of(bm, betas, go, bp, transl, cameras):
    """Exact per-view regressions of a world body: camera-frame roots, local joints, root positions."""
    out = bm.forward_numpy(betas[None], bp[None], go[None], transl[None])
    J0 = out["joints"][0, 0]
    Rw = Rotation.from_rotvec(go).as_matrix()
    local = Rotation.from_rotvec(bp.reshape(23, 3)).as_matrix()
    rot = np.stack([np.concatenate([(c.R @ Rw)[None], local]) for c in cameras])  # (C, 24, 3, 3)
    pel_cam = np.stack([c.R @ J0 + c.t for c in cameras])
    pel_uv = np.stack([c.project(J0[None])[0] for c in cameras])
    return rot, pel_cam, pel_uv, out


def test_fusion_recovers_the_body_and_ignores_a_wrong_view(bm64):
    from humanrecon.pipeline.bodyfit import _rest_root_fn
    from humanrecon.synth.rig import RigConfig, make_rig

    cams = list(make_rig(np.random.default_rng(4), RigConfig(num_cameras=6, image_size=(512, 512))))
    rng = np.random.default_rng(2)
    betas = rng.normal(0, 0.7, 10)
    go = Rotation.random(random_state=5).as_rotvec()
    bp = rng.normal(0, 0.3, 69)
    transl = np.array([0.2, 0.9, -0.1])
    rot, pel_cam, pel_uv, out = _views_of(bm64, betas, go, bp, transl, cams)
    F = 2
    rot_f = np.stack([rot] * F)
    betas_f = np.tile(betas, (F, 6, 1))
    valid = np.ones((F, 6), bool)
    valid[1, 2] = False  # frame 1: camera 2 lost the person
    rot_f[1, 2] = np.nan
    # frame 0, camera 4 is wrong: root flipped, elbows off, depth 30 % short
    rot_f[0, 4, 0] = Rotation.from_euler("y", 170, degrees=True).as_matrix() @ rot_f[0, 4, 0]
    rot_f[0, 4, 18:20] = Rotation.from_euler("x", 80, degrees=True).as_matrix()
    pc = np.stack([pel_cam] * F)
    pc[0, 4] *= 0.7
    fused = fuse_views(rot_f, betas_f, pc, np.stack([pel_uv] * F), valid, cams, _rest_root_fn(bm64))
    for f in range(F):
        assert np.allclose(Rotation.from_rotvec(fused.global_orient[f]).as_matrix(), Rotation.from_rotvec(go).as_matrix(), atol=1e-9)
        assert np.allclose(fused.body_pose[f], bp, atol=1e-6)
    assert np.allclose(fused.betas, betas) and np.allclose(fused.transl, transl, atol=1e-6)
    assert not fused.inliers[0, 4] and fused.inliers[0, [0, 1, 2, 3, 5]].all()
    assert list(fused.pelvis_source) == ["regressor", "regressor"]
    assert np.isnan(fused.view_pelvis[1, 2]).all() and np.allclose(fused.view_pelvis[1, 0], out["joints"][0, 0])
    # segmenter 2D root joints, when good, set the root position
    j2d = np.zeros((F, 6, 24, 3))
    j2d[..., 0, :2] = pel_uv + 0.5
    j2d[..., 0, 2] = 0.9
    fused2 = fuse_views(rot_f, betas_f, pc, np.stack([pel_uv] * F), valid, cams, _rest_root_fn(bm64), joints2d=j2d)
    assert list(fused2.pelvis_source) == ["segmenter", "segmenter"] and np.allclose(fused2.transl, transl, atol=0.01)
    # with the skeleton, the hips and spine1 place the root too: a 2D root joint 12 px off in every view
    # (consistent, so it triangulates cleanly) moves the root a quarter as much
    from humanrecon.pipeline.bodyfit import _skeleton_fn

    j3 = np.zeros((F, 6, 24, 3))
    j3[..., :2] = np.stack([np.stack([c.project(out["joints"][0]) for c in cams])] * F)
    j3[..., 2] = 0.9
    j3[..., 0, 0] += 12.0
    alone = fuse_views(rot_f, betas_f, pc, np.stack([pel_uv] * F), valid, cams, _rest_root_fn(bm64), joints2d=j3)
    four = fuse_views(rot_f, betas_f, pc, np.stack([pel_uv] * F), valid, cams, _rest_root_fn(bm64), joints2d=j3, skeleton=_skeleton_fn(bm64))
    err_alone = np.linalg.norm(alone.transl - transl, axis=1)
    err_four = np.linalg.norm(four.transl - transl, axis=1)
    assert list(four.pelvis_source) == ["segmenter", "segmenter"] and (err_alone > 0.01).all()
    assert np.allclose(err_four, err_alone / 4, rtol=0.1, atol=1e-4), (err_alone, err_four)
    j3[..., 0, 0] -= 12.0  # exact joints: the skeleton path recovers the root exactly
    exact = fuse_views(rot_f, betas_f, pc, np.stack([pel_uv] * F), valid, cams, _rest_root_fn(bm64), joints2d=j3, skeleton=_skeleton_fn(bm64))
    assert np.allclose(exact.transl, transl, atol=1e-6)
    with pytest.raises(ValueError, match=r"frames \(chunk indices\) \[1\]: no view sees the person"):
        fuse_views(rot_f, betas_f, pc, np.stack([pel_uv] * F), valid & np.array([[True], [False]]), cams, _rest_root_fn(bm64))


def test_easymocap_record_poses_the_same_body(bm64):
    """EasyMocap rotates the zero-root body about the origin: R(Rh) v0 + Th equals smplx's posed body."""
    from humanrecon.pipeline.bodyfit import _rest_root_fn, easymocap_record

    rng = np.random.default_rng(7)
    betas, go, bp, tr = rng.normal(0, 1, 10), rng.normal(0, 1, 3), rng.normal(0, 0.2, 69), rng.normal(0, 1, 3)
    rec = easymocap_record(betas, go, bp, tr, _rest_root_fn(bm64)(betas))
    assert set(rec) == {"id", "Rh", "Th", "poses", "shapes"} and len(rec["poses"][0]) == 72 and rec["poses"][0][:3] == [0, 0, 0]
    posed = bm64.forward_numpy(betas[None], bp[None], go[None], tr[None])["vertices"][0]
    v0 = bm64.forward_numpy(betas[None], bp[None], None, None)["vertices"][0]
    em = v0 @ Rotation.from_rotvec(rec["Rh"][0]).as_matrix().T + np.array(rec["Th"][0])
    assert np.abs(em - posed).max() < 1e-7  # metres
