"""Multi-view implicit reconstruction (humanrecon.implicit): projection, toy-rig learning, view counts,
points no camera sees, inference inside the hull, bad input; body conditioning (humanrecon.implicit.body):
features of known bodies, a conditioned network learns what the views cannot show, mismatches refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from humanrecon.bodymodel import skeleton
from humanrecon.bodymodel.model import load_body_model
from humanrecon.calibration.camera import Camera
from humanrecon.implicit.body import (
    BODY_CLAMP_M,
    BODY_FEATURES,
    BODY_PARAMS,
    BODY_SCALE_M,
    BodyConditioningError,
    BodyNoise,
    BodyPoser,
    BodySurface,
)
from humanrecon.implicit.data import make_sample, sample_views
from humanrecon.implicit.infer import ImplicitWeightsError, implicit_occupancy, load_implicit
from humanrecon.implicit.network import ImplicitNet, NetConfig
from humanrecon.implicit.train import TrainConfig, evaluate, train
from humanrecon.implicit.views import ImplicitInputError, prepare_views, project, stack
from humanrecon.occupancy import bounding_box, carve
from humanrecon.synth.rig import look_at

RADIUS = 0.35
SIZE = 96
TINY = NetConfig(widths=(8, 16, 16, 24), view_hidden=48, view_dim=32, hidden=64, crop_size=64)


def ring(n: int, distortion: bool = False, height: float = 0.4) -> list[Camera]:
    """n cameras on a 3 m ring around the origin, some above and some below it, looking at it."""
    cams = []
    for i in range(n):
        az = 2 * np.pi * i / n + 0.3
        c = np.array([3.0 * np.sin(az), height * (1 if i % 2 else -1), 3.0 * np.cos(az)])
        R, t = look_at(c, np.zeros(3))
        K = np.array([[150.0, 0, (SIZE - 1) / 2], [0, 150.0, (SIZE - 1) / 2], [0, 0, 1]])
        dist = np.array([-0.05, 0.01, 0.001, -0.001, 0.0]) if distortion else np.zeros(5)
        cams.append(Camera(f"cam{i:02d}", K, dist, R, t, SIZE, SIZE))
    return cams


def render_sphere(cams: list[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """Images (V, S, S, 3) uint8 and masks (V, S, S) of a sphere (colour = its normal) on grey."""
    imgs, masks = [], []
    for cam in cams:
        o, d = cam.pixel_rays()
        b = d @ o
        disc = b * b - (o @ o - RADIUS**2)
        hit = disc > 0
        s = -b - np.sqrt(np.where(hit, disc, 0))
        p = o + s[..., None] * d
        col = np.where(hit[..., None], 0.5 + 0.5 * p / RADIUS, 0.45)
        imgs.append(np.round(col * 255).astype(np.uint8))
        masks.append(hit.astype(np.uint8))
    return np.stack(imgs), np.stack(masks)


def sphere_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    r = RADIUS * (1 + rng.normal(scale=0.25, size=(n, 1)))
    pts = np.concatenate([d * r, rng.uniform(-0.6, 0.6, size=(n // 8, 3))])
    return pts, (np.linalg.norm(pts, axis=1) < RADIUS).astype(np.uint8)


def test_project_matches_camera_with_distortion():
    cams = ring(3, distortion=True)
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, size=(200, 3))
    K, dist, R, t = (torch.from_numpy(np.stack([getattr(c, k) for c in cams])) for k in ("K", "dist", "R", "t"))
    u, v, z, valid = project(torch.from_numpy(pts), K, dist, R, t, torch.full((3,), 1e6, dtype=torch.float64))
    assert bool(valid.all())
    for i, cam in enumerate(cams):
        uv, depth = cam.project_with_depth(pts)
        np.testing.assert_allclose(u[i].numpy(), uv[:, 0], atol=1e-9)
        np.testing.assert_allclose(v[i].numpy(), uv[:, 1], atol=1e-9)
        np.testing.assert_allclose(z[i].numpy(), depth, atol=1e-12)


@pytest.fixture(scope="module")
def toy():
    """A sphere seen by 4 ring cameras and a tiny network trained on it for a short while."""
    torch.manual_seed(0)
    cams = ring(4)
    imgs, masks = render_sphere(cams)
    pts, inside = sphere_points(6000, 0)
    sample = make_sample(imgs, masks, cams, pts, inside, TINY.crop_size)
    return cams, imgs, masks, sample


def test_short_training_classifies_a_sphere(toy, tmp_path):
    cams, imgs, masks, sample = toy
    cfg = TrainConfig(steps=120, batch_size=1, points_per_sample=1024, min_views=4, max_views=4, lr=3e-3,
                      checkpoint_every=60, threads=2, jitter=0.0, net=TINY)  # fmt: skip
    ckpt = train(None, tmp_path / "work", cfg, progress=False, samples=[sample])
    state = torch.load(ckpt, weights_only=False)
    model = ImplicitNet(TINY)
    model.load_state_dict(state["model"])
    test_pts, test_in = sphere_points(3000, 1)
    held_out = make_sample(imgs, masks, cams, test_pts, test_in, TINY.crop_size)
    m = evaluate(model, [held_out], points=len(test_pts))
    assert m["point_accuracy"] >= 0.95, m
    # the points the silhouettes cannot decide (inside the 4-view hull, outside the sphere) are learned
    hull = carve(test_pts, masks, cams)
    model.eval()
    with torch.inference_mode():
        logits, _ = model(stack([sample_views(held_out, np.arange(4))]), torch.from_numpy(test_pts)[None])
    phantom = (hull >= 0.5) & (test_in == 0)
    assert phantom.sum() > 50
    hull_acc = float(((hull >= 0.5) == test_in.astype(bool)).mean())
    net_acc = float((((logits[0].numpy() > 0) & (hull >= 0.5)) == test_in.astype(bool)).mean())
    assert net_acc > hull_acc, (net_acc, hull_acc)
    # resuming a finished run is a no-op that returns the same checkpoint
    assert train(None, tmp_path / "work", cfg, progress=False, samples=[sample]) == ckpt


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_any_camera_count_is_accepted(n):
    cams = ring(8)
    imgs, masks = render_sphere(cams)
    views = prepare_views(imgs[:n], masks[:n], cams[:n], TINY.crop_size, center=np.zeros(3))
    model = ImplicitNet(TINY).eval()
    pts = torch.from_numpy(sphere_points(100, 2)[0])[None]
    with torch.inference_mode():
        logits, hull = model(stack([views]), pts)
    assert logits.shape == (1, pts.shape[1]) and bool(torch.isfinite(logits).all())
    # the network's hull value is the visual hull's carve (same bilinear sampling, carve policy)
    np.testing.assert_allclose(hull[0].numpy(), carve(pts[0].numpy(), masks[:n], cams[:n]), atol=1e-5)


def test_points_behind_every_camera_or_outside_every_image():
    cams = ring(4)
    imgs, masks = render_sphere(cams)
    views = prepare_views(imgs, masks, cams, TINY.crop_size)
    model = ImplicitNet(TINY).eval()
    far = np.array([[0.0, 50.0, 0.0], [40.0, 0.0, 0.0], [0.0, 0.0, -40.0]])  # outside every image / behind some
    with torch.inference_mode():
        logits, hull = model(stack([views]), torch.from_numpy(far)[None])
    assert bool(torch.isfinite(logits).all())
    assert np.all(hull.numpy() == 0.0)
    # at inference such points are outside: the hull bounds the network
    grid = implicit_occupancy(imgs, masks, cams, model, (np.array([-0.6] * 3), np.array([0.6] * 3)), resolution=17,
                              coarse_resolution=9)  # fmt: skip
    corner = grid.values[0, 0, 0]
    assert corner == 0.0


def test_inference_stays_inside_the_visual_hull():
    cams = ring(4, distortion=True)
    imgs, masks = render_sphere(cams)
    model = ImplicitNet(TINY).eval()
    bbox = bounding_box(masks, cams, margin=0.05)
    # coarse level = full grid: every sample evaluated, so the values are exactly min(hull, p)
    grid = implicit_occupancy(imgs, masks, cams, model, bbox, resolution=33, coarse_resolution=33)
    assert grid.num_queries == 33**3
    R = grid.resolution
    ijk = np.stack(np.meshgrid(*(np.arange(R),) * 3, indexing="ij"), -1).reshape(-1, 3)
    hull = carve(grid.points(ijk), masks, cams).reshape(R, R, R)
    assert np.all(grid.values <= hull + 1e-6)
    assert grid.values.min() >= 0.0 and grid.values.max() <= 1.0


def test_bad_inputs_name_the_culprit(tmp_path):
    cams = ring(3)
    imgs, masks = render_sphere(cams)
    with pytest.raises(ImplicitInputError, match="cam01"):
        bad = [cams[0], Camera("cam01", cams[1].K, cams[1].dist, cams[1].R, cams[1].t, SIZE + 2, SIZE), cams[2]]
        prepare_views(imgs, masks, bad, 64)
    with pytest.raises(ImplicitInputError, match="uint8"):
        prepare_views(imgs.astype(np.float32), masks, cams, 64)
    empty = masks.copy()
    empty[1:] = 0
    with pytest.raises(ImplicitInputError, match="at least 2"):
        prepare_views(imgs, empty, cams, 64)
    views = prepare_views(imgs, masks, cams, 64)
    with pytest.raises(ImplicitInputError, match="crops must be"):
        ImplicitNet(NetConfig(crop_size=128)).encode(views)
    with pytest.raises(ImplicitWeightsError, match="not found"):
        load_implicit(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ImplicitWeightsError, match="junk.pt"):
        load_implicit(junk)


ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "implicit" / "implicit.pt"
CACHE_ANNY = ROOT / ".cache" / "anny"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["implicit", "implicit_body"])
def test_shipped_weights_reproduce_their_model_card(body_model_dir, tmp_path, name):
    """Re-render the card's check sample of the held-out set and evaluate: the figures match the card
    (for the body-conditioned weights, with the card's seeded body noise)."""
    from humanrecon.implicit.body import BodyNoise, BodyPoser
    from humanrecon.implicit.data import load_samples, shard_files
    from humanrecon.implicit.shards import ImplicitSetConfig, write_implicit_set

    weights = SHIPPED.with_name(f"{name}.pt")
    if not weights.exists():
        pytest.skip(f"no shipped {weights.name}")
    card = json.loads(Path(str(weights) + ".json").read_text())
    check = card["reproduce_check"]
    out = write_implicit_set(tmp_path / "check", ImplicitSetConfig.from_dict({"kind": "implicit", **check["set_config"]}),
                             body_model_dir, CACHE_ANNY)  # fmt: skip
    model, _ = load_implicit(weights)
    body = {}
    if model.config.body_features:
        body = {"poser": BodyPoser(load_body_model(body_model_dir)), "noise": BodyNoise(**card["train_config"]["body_noise"])}
    got = evaluate(model, load_samples(shard_files(out), model.config.crop_size), **body)
    want = check["metrics"]
    assert got["samples"] == want["samples"]
    assert got["point_accuracy"] == pytest.approx(want["point_accuracy"], abs=0.002)
    assert got["point_iou"] == pytest.approx(want["point_iou"], abs=0.003)
    # and the card's held-out figures are better than chance on inside points
    assert card["held_out_point_metrics"]["8_views"]["point_iou"] > 0.5


# ----------------------------------------------------------------------------------------------------
# Body conditioning
# ----------------------------------------------------------------------------------------------------

BODY_R = 0.2


def ball(center, radius=BODY_R) -> BodySurface:
    """An icosphere 'body': upper half part 1 (head), lower half part 2 (torso)."""
    m = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    v = np.asarray(m.vertices) + np.asarray(center)
    parts = np.where(m.vertices[:, 1] > 0, 1, 2)
    return BodySurface.from_mesh(v, m.faces, parts)


def test_features_of_a_ball_have_known_values():
    body = ball([0.1, 0.0, 0.0])
    d = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    pts = np.concatenate([[0.1, 0, 0] + d * BODY_R * 1.1, [0.1, 0, 0] + d * BODY_R * 0.9, [[0.1, 0.0, 0.0], [2.0, 0, 0]]])
    f = body.features(pts)
    assert f.shape == (8, BODY_FEATURES) and f.dtype == np.float32
    # plane distance: +-2 cm outside/inside (the icosphere's vertices lie on the sphere: within 1 mm)
    np.testing.assert_allclose(f[:3, 0], 0.1 * BODY_R / BODY_SCALE_M, atol=0.03)
    np.testing.assert_allclose(f[3:6, 0], -0.1 * BODY_R / BODY_SCALE_M, atol=0.03)
    # far points are clipped: the centre is 20 cm inside (clip 15 cm), (2, 0, 0) far outside
    assert f[6, 0] == pytest.approx(-BODY_CLAMP_M / BODY_SCALE_M) and f[7, 0] == pytest.approx(BODY_CLAMP_M / BODY_SCALE_M)
    assert f[7, 1] == pytest.approx(BODY_CLAMP_M / BODY_SCALE_M)
    # one-hot parts of the nearest vertex: up -> 1, down -> 2
    assert f[0, 2] == 1 and f[1, 3] == 1 and f[3, 2] == 1 and f[4, 3] == 1
    np.testing.assert_array_equal(f[:, 2:].sum(axis=1), 1)


def test_the_posed_body_model_gives_inside_outside_and_parts(body_model_dir):
    bm = load_body_model(body_model_dir)
    poser = BodyPoser(bm)
    params = {k: np.zeros(n) for k, n in zip(BODY_PARAMS, (10, 69, 3, 3), strict=True)}
    params["transl"] = np.array([0.5, 0.0, -0.2])
    surf = poser.surface(params)
    joints = bm.forward_numpy(**{k: v[None] for k, v in params.items()})["joints"][0]
    f = surf.features(np.stack([joints[0], joints[0] + [0, 0, 1.0], joints[15]]))
    assert f[0, 0] < -0.03 / BODY_SCALE_M  # the pelvis joint is inside the body, centimetres from the skin
    assert f[1, 0] == pytest.approx(BODY_CLAMP_M / BODY_SCALE_M)  # a metre in front: outside
    assert f[2, 1 + skeleton.PART_NAMES.index("head") + 1] == 1  # the head joint's nearest skin is the head


class BallPoser:
    """A toy poser: a ball 'body' centred at the parameters' ``transl``."""

    def surface(self, params):
        return ball(params["transl"])


def _hidden_ball_samples(n: int, seed: int, cams, imgs, masks):
    """Samples whose images all show the same big sphere but whose GT is a small ball at a random place
    inside it: only the body can tell where."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = rng.uniform(-0.08, 0.08, 3)
        pts = c + rng.normal(size=(3000, 3)) * 0.12
        inside = (np.linalg.norm(pts - c, axis=1) < BODY_R).astype(np.uint8)
        body = {"betas": np.zeros(10), "body_pose": np.zeros(69), "global_orient": np.zeros(3), "transl": c}
        out.append(make_sample(imgs, masks, cams, pts, inside, TINY.crop_size, body))
    return out


def test_a_body_conditioned_network_learns_what_the_views_cannot_show(tmp_path):
    cams = ring(4)
    imgs, masks = render_sphere(cams)
    train_set = _hidden_ball_samples(6, 0, cams, imgs, masks)
    held_out = _hidden_ball_samples(3, 1, cams, imgs, masks)
    noise = BodyNoise(transl_m=0.005, global_orient_rad=0, body_pose_rad=0, betas=0)
    results = {}
    for body in (False, True):
        torch.manual_seed(0)
        net = TINY if not body else type(TINY)(**{**TINY.__dict__, "body_features": True})
        cfg = TrainConfig(steps=120, batch_size=2, points_per_sample=512, min_views=4, max_views=4, lr=3e-3,
                          checkpoint_every=120, threads=2, jitter=0.0, net=net, body_noise=noise)  # fmt: skip
        ckpt = train(None, tmp_path / f"work{body}", cfg, progress=False, samples=train_set, poser=BallPoser())
        model = ImplicitNet(net)
        model.load_state_dict(torch.load(ckpt, weights_only=False)["model"])
        poser = BallPoser() if body else None
        results[body] = evaluate(model, held_out, points=3000, poser=poser, noise=noise if body else None)
    assert results[True]["point_accuracy"] >= 0.9, results
    assert results[True]["point_accuracy"] > results[False]["point_accuracy"] + 0.08, results


def test_mismatched_weights_and_bodies_are_refused():
    cams = ring(4)
    imgs, masks = render_sphere(cams)
    views = stack([prepare_views(imgs, masks, cams, TINY.crop_size, center=np.zeros(3))])
    pts = torch.zeros(1, 5, 3, dtype=torch.float64)
    plain = ImplicitNet(TINY).eval()
    conditioned = ImplicitNet(type(TINY)(**{**TINY.__dict__, "body_features": True})).eval()
    with torch.inference_mode():
        logits, _ = conditioned(views, pts, torch.zeros(1, 5, BODY_FEATURES))
        assert logits.shape == (1, 5)
        with pytest.raises(BodyConditioningError, match="conditioned on the fitted body"):
            conditioned(views, pts)
        with pytest.raises(BodyConditioningError, match="trained without the body"):
            plain(views, pts, torch.zeros(1, 5, BODY_FEATURES))
        with pytest.raises(BodyConditioningError, match=r"\(B, N, 14\)"):
            conditioned(views, pts, torch.zeros(1, 4, BODY_FEATURES))
    bbox = bounding_box(masks, cams)
    with pytest.raises(BodyConditioningError, match="conditioned on the fitted body"):
        implicit_occupancy(imgs, masks, cams, conditioned, bbox, 32, coarse_resolution=8)
    grid = implicit_occupancy(imgs, masks, cams, conditioned, bbox, 32, coarse_resolution=8, body=ball([0, 0, 0]))
    assert grid.values.shape == (32, 32, 32) and np.isfinite(grid.values).all()
    with pytest.raises(BodyConditioningError, match="NaN"):
        ball([np.nan, 0, 0])


def _export(model: ImplicitNet, path: Path) -> Path:
    from dataclasses import asdict

    torch.save({"model": model.state_dict(), "net": asdict(model.config)}, path)
    return path


def test_a_conditioned_run_starts_from_unconditioned_weights_unchanged(tmp_path):
    from humanrecon.implicit.train import init_from_weights

    cams = ring(4)
    imgs, masks = render_sphere(cams)
    views = stack([prepare_views(imgs, masks, cams, TINY.crop_size, center=np.zeros(3))])
    pts = torch.from_numpy(sphere_points(200, 3)[0])[None]
    torch.manual_seed(1)
    plain = ImplicitNet(TINY).eval()
    weights = _export(plain, tmp_path / "plain.pt")
    conditioned = ImplicitNet(type(TINY)(**{**TINY.__dict__, "body_features": True})).eval()
    sha = init_from_weights(conditioned, weights)
    assert len(sha) == 64
    body = torch.from_numpy(ball([0.02, 0, 0]).features(pts[0].numpy()))[None]
    with torch.inference_mode():
        want, _ = plain(views, pts)
        got, _ = conditioned(views, pts, body)
    torch.testing.assert_close(got, want)  # zero weights on the body inputs: the same function to start with
    # the body inputs do train: a few steps from there move them off zero and keep the rest finite
    train_set = _hidden_ball_samples(2, 0, cams, imgs, masks)
    cfg = TrainConfig(steps=3, batch_size=1, points_per_sample=256, min_views=4, max_views=4, checkpoint_every=3, threads=1,
                      jitter=0.0, net=conditioned.config, init_weights=str(weights))  # fmt: skip
    state = torch.load(train(None, tmp_path / "work", cfg, progress=False, samples=train_set, poser=BallPoser()), weights_only=False)
    w = state["model"]["head.0.weight"]
    assert float(w[:, -BODY_FEATURES:].abs().sum()) > 0 and bool(torch.isfinite(w).all())
    assert state["config"]["init_weights_sha256"] == sha
    # other architectures are refused, naming the file and what differs
    wide = ImplicitNet(type(TINY)(**{**TINY.__dict__, "view_dim": TINY.view_dim * 2}))
    with pytest.raises(ValueError, match="plain.pt: architecture"):
        init_from_weights(wide, weights)
    with pytest.raises(ValueError, match="cannot start an unconditioned"):
        init_from_weights(ImplicitNet(TINY), _export(conditioned, tmp_path / "cond.pt"))


def test_points_per_step_take_the_asked_share_of_uniform_points():
    from humanrecon.implicit.data import Sample
    from humanrecon.implicit.train import choose_points

    n_near, n_uni = 900, 100
    s = Sample(image=None, crop=None, rgb=None, mask=None, sdf=None, cams={}, points=np.zeros((n_near + n_uni, 3), np.float32),
               inside=np.zeros(n_near + n_uni, np.uint8), near=np.r_[np.ones(n_near), np.zeros(n_uni)].astype(np.uint8))  # fmt: skip
    pick = choose_points(s, 200, torch.Generator().manual_seed(0), uniform_share=0.25)
    assert len(pick) == 200 and len(np.unique(pick)) == 200
    assert int((s.near[pick] == 0).sum()) == 50
    # a sample with fewer uniform points than asked gives all of them, the rest near the surface
    pick = choose_points(s, 800, torch.Generator().manual_seed(0), uniform_share=0.25)
    assert int((s.near[pick] == 0).sum()) == n_uni and len(np.unique(pick)) == 800
    # the same generator state gives the same points; without a share, a plain random draw
    again = choose_points(s, 800, torch.Generator().manual_seed(0), uniform_share=0.25)
    np.testing.assert_array_equal(pick, again)
    plain = choose_points(s, 200, torch.Generator().manual_seed(0))
    assert len(np.unique(plain)) == 200 and int((s.near[plain] == 0).sum()) < 50
