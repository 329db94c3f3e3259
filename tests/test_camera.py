"""Camera model: projection against OpenCV, undistortion, pixel rays, validation, rigs."""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import pytest

from humanrecon.calibration import CalibrationError, Camera, CameraRig, validate_camera


def random_camera(rng: np.random.Generator, name: str = "cam00") -> Camera:
    """A realistic camera ~3 m from the origin looking at it, with random realistic distortion."""
    width, height = (int(rng.choice([640, 1280, 1920])), int(rng.choice([480, 720, 1080])))
    f = rng.uniform(0.8, 1.6) * width
    cx, cy = width / 2 + rng.uniform(-20, 20), height / 2 + rng.uniform(-20, 20)
    K = np.array([[f, 0.0, cx], [0.0, f * rng.uniform(0.98, 1.02), cy], [0.0, 0.0, 1.0]])
    dist = np.array([
        rng.uniform(-0.3, 0.1),
        rng.uniform(-0.1, 0.1),
        rng.uniform(-1e-3, 1e-3),
        rng.uniform(-1e-3, 1e-3),
        rng.uniform(-0.01, 0.01),
    ])
    centre = rng.normal(size=3)
    centre *= 3.0 / np.linalg.norm(centre)
    z = -centre / np.linalg.norm(centre)  # optical axis towards the origin, then a small jitter
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = cv2.Rodrigues(rng.normal(scale=0.05, size=3))[0] @ np.stack([x, y, z])
    t = -R @ centre
    return Camera(name=name, K=K, dist=dist, R=R, t=t, width=width, height=height)


def points_in_view(cam: Camera, rng: np.random.Generator, n: int = 500) -> np.ndarray:
    """World points whose projections fall (roughly) inside the image, 1-6 m deep."""
    uv = rng.uniform([0, 0], [cam.width - 1, cam.height - 1], size=(n, 2))
    xy = cam.undistort_pixels(uv)
    z = rng.uniform(1.0, 6.0, size=n)
    pc = np.concatenate([xy * z[:, None], z[:, None]], axis=1)
    return (pc - cam.t) @ cam.R  # R.T @ (pc - t)


def test_project_matches_opencv_with_distortion():
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(40):
        cam = random_camera(rng, f"cam{i:02d}")
        pts = np.concatenate([points_in_view(cam, rng, 300), rng.uniform(-1, 1, size=(200, 3))])
        pts = pts[cam.world_to_camera(pts)[:, 2] > 0.1]
        ref, _ = cv2.projectPoints(pts, cv2.Rodrigues(cam.R)[0], cam.t, cam.K, cam.dist)
        worst = max(worst, float(np.abs(cam.project(pts) - ref[:, 0]).max()))
    assert worst <= 1e-6


def test_project_with_depth_and_world_to_camera():
    rng = np.random.default_rng(1)
    cam = random_camera(rng)
    pts = points_in_view(cam, rng, 50)
    uv, z = cam.project_with_depth(pts)
    pc = cam.world_to_camera(pts)
    np.testing.assert_allclose(pc, (cam.R @ pts.T).T + cam.t, atol=1e-12)
    np.testing.assert_allclose(z, pc[:, 2], atol=1e-12)
    np.testing.assert_array_equal(uv, cam.project(pts))
    with pytest.raises(ValueError, match="cam00.*shape"):
        cam.project(np.zeros((4, 2)))


def test_center_and_projection_matrix():
    rng = np.random.default_rng(2)
    cam = random_camera(rng)
    np.testing.assert_allclose(cam.center, -cam.R.T @ cam.t, atol=1e-12)
    np.testing.assert_allclose(cam.world_to_camera(cam.center[None])[0], 0.0, atol=1e-12)
    nodist = dataclasses.replace(cam, dist=np.zeros(5))
    pts = points_in_view(nodist, rng, 20)
    hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ cam.P.T
    np.testing.assert_allclose(hom[:, :2] / hom[:, 2:], nodist.project(pts), atol=1e-9)


def test_undistort_round_trip():
    rng = np.random.default_rng(3)
    for i in range(20):
        cam = random_camera(rng, f"cam{i}")
        uv = rng.uniform([0, 0], [cam.width - 1, cam.height - 1], size=(1000, 2))
        xy = cam.undistort_pixels(uv)
        assert np.all(np.isfinite(xy))
        xd = cam.distort_normalized(xy)
        u = cam.K[0, 0] * xd[:, 0] + cam.K[0, 1] * xd[:, 1] + cam.K[0, 2]
        v = cam.K[1, 1] * xd[:, 1] + cam.K[1, 2]
        assert np.abs(np.stack([u, v], 1) - uv).max() <= 1e-6
        # and in normalised coordinates, from the undistorted side
        xy0 = rng.uniform(-0.4, 0.4, size=(500, 2))
        xd0 = cam.distort_normalized(xy0)
        uv0 = np.stack([cam.K[0, 0] * xd0[:, 0] + cam.K[0, 1] * xd0[:, 1] + cam.K[0, 2], cam.K[1, 1] * xd0[:, 1] + cam.K[1, 2]], 1)
        assert np.abs(cam.undistort_pixels(uv0) - xy0).max() <= 1e-9


def test_undistort_beyond_fold_is_nan(caplog):
    cam = Camera("fisheyeish", np.array([[300.0, 0, 320], [0, 300, 240], [0, 0, 1]]), np.array([-0.5, 0, 0, 0, 0]), np.eye(3), np.zeros(3), 640, 480)
    with caplog.at_level(logging.WARNING):
        xy = cam.undistort_pixels(np.array([[320.0, 240.0], [0.0, 0.0]]))
    np.testing.assert_allclose(xy[0], 0.0, atol=1e-15)
    assert np.all(np.isnan(xy[1]))
    assert "fisheyeish" in caplog.text


def test_pixel_rays_reproject_to_their_pixels():
    rng = np.random.default_rng(4)
    for i in range(6):
        cam = random_camera(rng, f"cam{i}")
        stride = 7
        origin, dirs = cam.pixel_rays(stride=stride)
        hs, ws = -(-cam.height // stride), -(-cam.width // stride)
        assert dirs.shape == (hs, ws, 3)
        np.testing.assert_allclose(origin, cam.center, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(dirs, axis=-1), 1.0, atol=1e-12)
        vv, uu = np.meshgrid(np.arange(0, cam.height, stride), np.arange(0, cam.width, stride), indexing="ij")
        for depth in (0.5, 4.0):
            uv = cam.project(origin + depth * dirs.reshape(-1, 3))
            err = np.abs(uv - np.stack([uu.ravel(), vv.ravel()], 1)).max()
            assert err <= 1e-6
    small = dataclasses.replace(cam, width=5, height=4)
    assert small.pixel_rays()[1].shape == (4, 5, 3)


def test_scaled_follows_pixel_centre_convention():
    rng = np.random.default_rng(5)
    cam = random_camera(rng)
    half = cam.scaled(0.5)
    assert (half.width, half.height) == (round(cam.width * 0.5), round(cam.height * 0.5))
    pts = points_in_view(cam, rng, 50)
    sx, sy = half.width / cam.width, half.height / cam.height
    uv = cam.project(pts)
    expected = np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], 1)
    np.testing.assert_allclose(half.project(pts), expected, atol=1e-9)
    assert cam.scaled(1.0) == cam
    with pytest.raises(ValueError, match="cam00"):
        cam.scaled(0.0)


def good_camera(name: str = "cam07") -> Camera:
    return Camera(name, np.array([[1000.0, 0, 640], [0, 1000, 360], [0, 0, 1]]), np.zeros(5), np.eye(3), np.array([0, 0, 3.0]), 1280, 720)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (dict(K=np.array([[np.nan, 0, 640], [0, 1000, 360], [0, 0, 1]])), "K has non-finite"),
        (dict(t=np.array([0, np.inf, 3.0])), "t has non-finite"),
        (dict(R=np.array([[1.0, 0.1, 0], [0, 1, 0], [0, 0, 1]])), "not orthonormal"),
        (dict(R=np.diag([1.0, 1.0, -1.0])), "det"),
        (dict(K=np.array([[-1000.0, 0, 640], [0, 1000, 360], [0, 0, 1]])), "focal"),
        (dict(K=np.array([[1000.0, 0, 640], [0, 0.0, 360], [0, 0, 1]])), "focal"),
        (dict(K=np.array([[1000.0, 0, 640], [0, 1000, 360], [0, 0.1, 1]])), "[0, 0, 1]"),
        (dict(width=0, height=0), "image size"),
        (dict(height=-5), "image size"),
        (dict(dist=np.zeros(4)), "5 entries"),
        (dict(dist=np.array([0, np.nan, 0, 0, 0])), "dist has non-finite"),
    ],
)
def test_validate_camera_catches_each_defect(change, words):
    validate_camera(good_camera())
    cam = dataclasses.replace(good_camera(), **change)
    with pytest.raises(CalibrationError) as info:
        validate_camera(cam)
    assert "cam07" in str(info.value)
    assert words in str(info.value)


def test_camera_construction_checks_shapes_and_copies():
    with pytest.raises(CalibrationError, match="cam07.*K must be 3x3"):
        dataclasses.replace(good_camera(), K=np.eye(2))
    with pytest.raises(CalibrationError, match="width"):
        dataclasses.replace(good_camera(), width=12.5)
    K = np.array([[1000.0, 0, 640], [0, 1000, 360], [0, 0, 1]])
    cam = Camera("c", K, [[0, 0, 0, 0, 0]], np.eye(3), [0, 0, 1], 10, 10)
    K[0, 0] = 1.0
    assert cam.K[0, 0] == 1000.0 and cam.dist.shape == (5,)
    with pytest.raises(ValueError):
        cam.K[0, 0] = 5.0
    assert cam == Camera("c", cam.K, np.zeros(5), np.eye(3), np.array([0, 0, 1.0]), 10, 10)
    assert len({cam, Camera("c", cam.K, np.zeros(5), np.eye(3), np.array([0, 0, 1.0]), 10, 10)}) == 1


def test_rig():
    rng = np.random.default_rng(6)
    cams = tuple(random_camera(rng, f"cam{i:02d}") for i in range(3))
    rig = CameraRig(cams)
    assert rig.names == ("cam00", "cam01", "cam02") and len(rig) == 3
    assert [c.name for c in rig] == list(rig.names)
    assert rig["cam01"] is cams[1]
    with pytest.raises(KeyError, match="cam00, cam01, cam02"):
        rig["cam09"]
    sub = rig.subset(["cam02", "cam00"])
    assert sub.names == ("cam02", "cam00")
    with pytest.raises(CalibrationError, match="'cam05'"):
        rig.subset(["cam00", "cam05"])
    with pytest.raises(CalibrationError, match="duplicate"):
        CameraRig((cams[0], cams[0]))
    assert rig.Ks().shape == (3, 3, 3) and rig.Rs().shape == (3, 3, 3)
    assert rig.ts().shape == (3, 3) and rig.centers().shape == (3, 3)
    np.testing.assert_allclose(rig.centers()[1], cams[1].center)
    assert CameraRig(()).Ks().shape == (0, 3, 3)
