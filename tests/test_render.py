"""Tests of the synthetic studio renderer (humanrecon.synth.render) and its environment (scene)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import trimesh

from humanrecon.calibration.camera import lens_undistort
from humanrecon.synth import render, scene


@dataclass
class Cam:
    """Minimal duck-typed camera (the renderer needs only these attributes)."""

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int


def look_at(name: str, center, target, size: int, f: float, cx: float, cy: float, dist=None) -> Cam:
    """Camera at ``center`` looking at ``target`` (world +y up -> image y down)."""
    center, target = np.asarray(center, float), np.asarray(target, float)
    z = (target - center) / np.linalg.norm(target - center)
    x = np.cross([0.0, -1.0, 0.0], z)
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    return Cam(name, K, np.zeros(5) if dist is None else np.asarray(dist, float), R, -R @ center, size, size)


def sphere_surface(center, radius: float, label: int = 5, color=(0.9, 0.1, 0.1), subdivisions: int = 4,
                   toward=None) -> render.Surface:  # fmt: skip
    """Icosphere Surface; with ``toward`` (unit vector) one vertex points exactly that way."""
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    v = m.vertices
    if toward is not None:
        top = v[np.argmax(v @ toward)] / radius
        v = v @ trimesh.geometry.align_vectors(top, toward)[:3, :3].T
    v = v + np.asarray(center, float)
    return render.Surface(v, m.faces, np.full(len(m.faces), label, np.uint8), np.tile(color, (len(v), 1)))


@pytest.fixture(scope="module")
def studio() -> scene.Studio:
    return scene.make_studio(np.random.default_rng(42), radius=3.0)


def ring(n: int = 3, size: int = 64) -> list[Cam]:
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n + 0.3
        c = [3.0 * np.sin(a), 1.2, 3.0 * np.cos(a)]
        cams.append(look_at(f"c{i}", c, [0.0, 0.9, 0.0], size, 0.9 * size, size / 2 - 0.5, size / 2 - 0.5))
    return cams


# ----------------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------------


def test_sphere_mask_area_depth_and_parts(studio):
    d, r, f = 2.5, 0.3, 120.0
    cam = look_at("front", [0.0, 1.0, -d], [0.0, 1.0, 0.0], 96, f, 47.0, 47.0)
    srf = sphere_surface([0.0, 1.0, 0.0], r, label=7, toward=np.array([0.0, 0.0, -1.0]))
    (out,) = render.render_frame([srf], studio, [cam], np.random.default_rng(0))
    assert out.rgb.shape == (96, 96, 3) and out.rgb.dtype == np.uint8
    assert out.mask.dtype == np.uint8 and out.parts.dtype == np.uint8 and out.depth.dtype == np.float32
    area = np.pi * f**2 * r**2 / (d**2 - r**2)  # projected disc of a sphere on the optical axis
    assert abs(out.mask.sum() / area - 1.0) < 0.03
    assert out.mask[47, 47] == 1
    assert abs(out.depth[47, 47] - (d - r)) < 1e-4
    assert np.all(out.parts[out.mask == 1] == 7) and np.all(out.parts[out.mask == 0] == 0)
    assert np.all(out.depth[out.mask == 0] == 0)
    inside = out.depth[out.mask == 1]
    assert inside.min() >= d - r - 1e-4 and inside.max() <= d


def test_distorted_sphere_centroid_matches_projectpoints(studio):
    dist = np.array([-0.25, 0.07, 0.002, -0.0015, 0.0])
    cam = look_at("wide", [0.0, 1.0, -2.5], [0.0, 1.0, 0.0], 96, 70.0, 48.3, 46.6, dist)
    p_cam = np.array([-0.9, 0.7, 2.0])
    X = cam.R.T @ (p_cam - cam.t)  # world point
    (out,) = render.render_frame([sphere_surface(X, 0.12, subdivisions=4)], studio, [cam], np.random.default_rng(0))
    vs, us = np.nonzero(out.mask)
    centroid = np.array([us.mean(), vs.mean()])
    rvec = cv2.Rodrigues(cam.R)[0]
    expect = cv2.projectPoints(X[None], rvec, cam.t, cam.K, dist)[0].reshape(2)
    pinhole = cv2.projectPoints(X[None], rvec, cam.t, cam.K, np.zeros(5))[0].reshape(2)
    assert np.linalg.norm(expect - pinhole) > 2.0  # the distortion matters here
    assert np.linalg.norm(centroid - expect) < 0.5


def test_pixel_rays_reproject_to_pixel_centres():
    dist = np.array([-0.3, 0.1, 0.001, -0.002, -0.02])
    cam = look_at("c", [0.5, 1.3, -2.0], [0.0, 0.9, 0.0], 40, 40.0, 20.2, 18.7, dist)
    origin, dirs, valid = render.pixel_rays(cam)
    assert dirs.shape == (40, 40, 3) and valid.all()
    np.testing.assert_allclose(origin, -cam.R.T @ cam.t)
    pts = origin + 2.0 * dirs.reshape(-1, 3)
    uv = cv2.projectPoints(pts, cv2.Rodrigues(cam.R)[0], cam.t, cam.K, dist)[0].reshape(40, 40, 2)
    uu, vv = np.meshgrid(np.arange(40), np.arange(40))
    np.testing.assert_allclose(uv, np.stack([uu, vv], -1), atol=1e-6)


def test_undistort_marks_pixels_beyond_the_fold():
    dist = np.array([-0.5, 0.0, 0.0, 0.0, 0.0])  # r (1 - 0.5 r^2) folds at r^2 = 2/3
    x, y, ok = lens_undistort(np.array([0.1, 0.7]), np.array([0.0, 0.0]), dist)
    assert ok[0] and not ok[1]
    xd = x[0] * (1 - 0.5 * x[0] ** 2)
    assert abs(xd - 0.1) < 1e-10 and y[0] == 0


# ----------------------------------------------------------------------------------------------------
# background plates, noise, determinism
# ----------------------------------------------------------------------------------------------------


def test_background_plate_differs_only_by_lighting_and_noise(studio):
    cams = ring(3, 64)
    lighting = render.make_lighting(np.random.default_rng(1))
    person = sphere_surface([0.0, 0.9, 0.0], 0.35, color=(0.95, 0.05, 0.05), subdivisions=3)
    frames = render.render_frame([person], studio, cams, np.random.default_rng(2), lighting)
    rng = np.random.default_rng(3)
    plates = render.render_background(studio, cams, rng, render.perturb_lighting(lighting, rng))
    for fr, plate in zip(frames, plates, strict=True):
        assert plate.shape == fr.rgb.shape and plate.dtype == np.uint8
        m = fr.mask.astype(bool)
        assert 50 < m.sum() < m.size / 2
        diff = np.abs(fr.rgb.astype(int) - plate.astype(int))
        assert 0.3 < diff[~m].mean() < 12.0  # relit + fresh noise: small but non-zero
        assert diff[m].mean() > 3 * diff[~m].mean()  # the person is visible, and absent from the plate
    # with the capture lighting and the same noise stream, a plate is exactly an empty frame
    empty = render.render_frame([], studio, cams, np.random.default_rng(4), lighting)
    same = render.render_background(studio, cams, np.random.default_rng(4), lighting)
    for e, p in zip(empty, same, strict=True):
        assert not e.mask.any() and not e.parts.any() and not e.depth.any()
        assert np.array_equal(e.rgb, p)


def test_same_seed_byte_identical_different_seed_different_noise(studio):
    cams = ring(2, 48)
    person = [sphere_surface([0.1, 0.9, 0.0], 0.3, subdivisions=3)]
    a = render.render_frame(person, studio, cams, np.random.default_rng(7))
    b = render.render_frame(person, studio, cams, np.random.default_rng(7))
    c = render.render_frame(person, studio, cams, np.random.default_rng(8))
    for x, y, z in zip(a, b, c, strict=True):
        assert x.rgb.tobytes() == y.rgb.tobytes()
        assert not np.array_equal(x.rgb, z.rgb)
        assert np.array_equal(x.mask, z.mask) and np.array_equal(x.depth, z.depth)
        assert np.abs(x.rgb.astype(int) - z.rgb.astype(int)).mean() < 6.0  # noise only


def test_garment_over_body_is_first_hit(studio):
    cam = look_at("front", [0.0, 1.0, -2.5], [0.0, 1.0, 0.0], 64, 80.0, 31.5, 31.5)
    body = sphere_surface([0.0, 1.0, 0.0], 0.3, label=2, color=(0.8, 0.6, 0.5))
    shirt = sphere_surface([0.0, 1.0, 0.0], 0.32, label=2, color=(0.1, 0.2, 0.8))
    shirt.is_body = False
    (both,) = render.render_frame([body, shirt], studio, [cam], np.random.default_rng(0))
    (alone,) = render.render_frame([body], studio, [cam], np.random.default_rng(0))
    assert both.mask.sum() > alone.mask.sum()  # garments count in the person mask
    centre = both.rgb[28:36, 28:36].reshape(-1, 3).mean(0)
    assert centre[2] > centre[0]  # blue shirt in front of the skin
    assert abs(both.depth[32, 32] - (2.5 - 0.32)) < 2e-3


# ----------------------------------------------------------------------------------------------------
# invalid inputs
# ----------------------------------------------------------------------------------------------------


def _tri():
    return np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]])


def test_invalid_surfaces_are_named():
    v, f = _tri()
    lab, alb = np.ones(1, np.uint8), np.full((3, 3), 0.5)
    with pytest.raises(ValueError, match=r"faces index 3 out of range"):
        render.Surface(v, np.array([[0, 1, 3]]), lab, alb)
    with pytest.raises(ValueError, match=r"albedo must have shape"):
        render.Surface(v, f, lab, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"vertices contain NaN"):
        render.Surface(np.where(np.eye(3, dtype=bool), np.nan, v), f, lab, alb)
    with pytest.raises(ValueError, match=r"part_labels"):
        render.Surface(v, f, np.array([13]), alb)
    with pytest.raises(ValueError, match=r"faces must be integer"):
        render.Surface(v, f.astype(float), lab, alb)
    with pytest.raises(ValueError, match=r"albedo must be finite and within"):
        render.Surface(v, f, lab, alb * 3)


def test_invalid_render_arguments_are_named(studio):
    v, f = _tri()
    srf = render.Surface(v, f, np.ones(1, np.uint8), np.full((3, 3), 0.5))
    cam = ring(1, 16)[0]
    rng = np.random.default_rng(0)
    srf.vertices = srf.vertices.copy()
    srf.vertices[0, 0] = np.nan  # modified after construction: caught at render time
    with pytest.raises(ValueError, match=r"surfaces\[0\]: Surface.vertices contain NaN"):
        render.render_frame([srf], studio, [cam], rng)
    with pytest.raises(ValueError, match=r"cameras\[1\] is not a camera"):
        render.render_frame([], studio, [cam, object()], rng)
    bad = Cam(cam.name, cam.K, np.zeros(3), cam.R, cam.t, 16, 16)
    with pytest.raises(ValueError, match=r"cameras\[0\]\.dist"):
        render.render_background(studio, [bad], rng)
    with pytest.raises(ValueError, match=r"rng must be a numpy.random.Generator"):
        render.render_frame([], studio, [cam], 0)
    with pytest.raises(ValueError, match=r"cameras is empty"):
        render.render_frame([], studio, [], rng)


# ----------------------------------------------------------------------------------------------------
# studio environment
# ----------------------------------------------------------------------------------------------------


def test_studio_is_deterministic_and_keeps_the_capture_volume_free(studio):
    again = scene.make_studio(np.random.default_rng(42), radius=3.0)
    assert np.array_equal(again.vertices, studio.vertices) and np.array_equal(again.wall_texture, studio.wall_texture)
    obj = studio.face_object >= 0
    assert obj.any() and len(studio.clutter) >= 5
    v = studio.vertices[np.unique(studio.faces[obj])]
    assert np.hypot(v[:, 0], v[:, 2]).min() > studio.capture_radius + 0.3 - 1e-9
    inner = [c for c in studio.clutter if c["inner"]]
    assert all(c["height"] <= 0.25 + 1e-9 for c in inner)
    assert studio.vertices[:, 1].min() > -0.02  # (tilted tripod legs' end caps dip into the floor)
