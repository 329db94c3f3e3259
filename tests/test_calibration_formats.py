"""COLMAP text models, projection matrices and the JSON calibration format: round trips against
cv2.projectPoints, COLMAP's pixel-centre convention, RQ decomposition, hand-written files, and errors
that name the file and the camera or line."""

from __future__ import annotations

import dataclasses
import json
import re

import cv2
import numpy as np
import pytest

from humanrecon.calibration import (
    CALIBRATION_FORMATS,
    CalibrationError,
    Camera,
    CameraRig,
    decompose_projection_matrix,
    load_calibration,
    read_colmap_text,
    read_json_calibration,
    read_projection_matrices,
    write_colmap_text,
    write_json_calibration,
    write_projection_matrices,
)

# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def random_camera(rng: np.random.Generator, name: str, *, k3: bool = True, skew: bool = False,
                  distortion: bool = True, size: bool = True) -> Camera:
    """A camera ~3 m from the origin looking at it, with random realistic intrinsics and distortion."""
    width, height = (int(rng.choice([640, 1280, 1920])), int(rng.choice([480, 720, 1080])))
    f = rng.uniform(0.8, 1.6) * width
    K = np.array([
        [f, rng.uniform(-2, 2) if skew else 0.0, width / 2 + rng.uniform(-20, 20)],
        [0.0, f * rng.uniform(0.98, 1.02), height / 2 + rng.uniform(-20, 20)],
        [0.0, 0.0, 1.0],
    ])
    dist = np.zeros(5)
    if distortion:
        dist = np.array([rng.uniform(-0.3, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(-1e-3, 1e-3),
                         rng.uniform(-1e-3, 1e-3), rng.uniform(-0.01, 0.01) if k3 else 0.0])
    centre = rng.normal(size=3)
    centre *= 3.0 / np.linalg.norm(centre)
    z = -centre / np.linalg.norm(centre)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    R = cv2.Rodrigues(rng.normal(scale=0.05, size=3))[0] @ np.stack([x, np.cross(z, x), z])
    t = -R @ centre
    w, h = (width, height) if size else (0, 0)
    return Camera(name=name, K=K, dist=dist, R=R, t=t, width=w, height=h)


def random_rig(seed: int, n: int = 4, **kwargs) -> CameraRig:
    rng = np.random.default_rng(seed)
    return CameraRig(tuple(random_camera(rng, f"cam{i:02d}", **kwargs) for i in range(n)))


def points_in_view(cam: Camera, rng: np.random.Generator, n: int = 300) -> np.ndarray:
    """(n, 3) world points in front of the camera whose normalised coordinates lie within +-0.4."""
    xy = rng.uniform(-0.4, 0.4, size=(n, 2))
    z = rng.uniform(1.0, 6.0, size=n)
    pc = np.column_stack([xy * z[:, None], z])
    return (pc - cam.t) @ cam.R  # R.T @ (pc - t)


def cv2_project(cam: Camera, points: np.ndarray) -> np.ndarray:
    """cv2.projectPoints; it ignores skew, so a camera with skew is projected with K = I and then K."""
    rvec = cv2.Rodrigues(np.ascontiguousarray(cam.R))[0]
    K = cam.K if cam.K[0, 1] == 0 else np.eye(3)
    uv, _ = cv2.projectPoints(points.reshape(-1, 1, 3), rvec, cam.t.reshape(3, 1), K, cam.dist)
    uv = uv.reshape(-1, 2)
    if cam.K[0, 1] != 0:
        uv = np.column_stack([uv, np.ones(len(uv))]) @ cam.K.T
        uv = uv[:, :2]
    return uv


def assert_same_projection(original: CameraRig, loaded: CameraRig, seed: int = 0, tol: float = 1e-6) -> None:
    """Every loaded camera projects random points like cv2.projectPoints on the original (<= tol px)."""
    rng = np.random.default_rng(seed)
    assert loaded.names == original.names
    for a, b in zip(original, loaded, strict=True):
        pts = points_in_view(a, rng)
        err = np.abs(b.project(pts) - cv2_project(a, pts)).max()
        assert err <= tol, (a.name, err)


def assert_close_rig(a: CameraRig, b: CameraRig, atol: float = 1e-9) -> None:
    assert a.names == b.names
    for ca, cb in zip(a, b, strict=True):
        assert (ca.width, ca.height) == (cb.width, cb.height)
        np.testing.assert_allclose(cb.K, ca.K, rtol=1e-12, atol=atol)
        np.testing.assert_allclose(cb.dist, ca.dist, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(cb.R, ca.R, atol=1e-12)
        np.testing.assert_allclose(cb.t, ca.t, atol=1e-12)


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_registry_has_all_formats():
    assert set(CALIBRATION_FORMATS) >= {"easymocap", "colmap", "projection", "json"}
    with pytest.raises(CalibrationError, match="known formats: colmap, easymocap, json, projection"):
        load_calibration("bundler", "x")


# --------------------------------------------------------------------------------------------------
# COLMAP
# --------------------------------------------------------------------------------------------------
def test_colmap_round_trip_matches_cv2(tmp_path):
    rig = random_rig(1, k3=False)
    rig = CameraRig((*rig.cameras, random_camera(np.random.default_rng(9), "plain", distortion=False)))
    write_colmap_text(rig, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cameras.txt", "images.txt", "points3D.txt"]
    cams = (tmp_path / "cameras.txt").read_text().splitlines()
    assert cams[0] == "# Camera list with one line of data per camera:"
    assert [line.split()[1] for line in cams[3:]] == ["OPENCV"] * 4 + ["PINHOLE"]
    back = read_colmap_text(tmp_path)
    assert_close_rig(rig, back)
    assert_same_projection(rig, back)
    assert load_calibration("colmap", tmp_path, image_sizes={"cam01": rig["cam01"].size}).names == rig.names
    write_colmap_text(CameraRig(tuple(rig)), tmp_path / "again")  # identical rigs give identical bytes
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / name).read_bytes()


def test_colmap_writer_principal_point_is_shifted(tmp_path):
    cam = Camera("c", [[1000.0, 0, 319.5], [0, 1000.0, 239.5], [0, 0, 1]], np.zeros(5), np.eye(3), [0, 0, 2.0], 640, 480)
    write_colmap_text(CameraRig((cam,)), tmp_path)
    line = (tmp_path / "cameras.txt").read_text().splitlines()[3]
    assert line == "1 PINHOLE 640 480 1000.0 1000.0 320.0 240.0"  # image centre in COLMAP's convention
    img = (tmp_path / "images.txt").read_text().splitlines()[4]
    assert img == "1 1.0 0.0 0.0 0.0 0.0 0.0 2.0 1 c/000000.png"


def test_colmap_writer_refuses_k3_skew_and_unknown_size(tmp_path):
    with pytest.raises(CalibrationError, match=r"camera 'cam00'.*no k3.*k3 = "):
        write_colmap_text(random_rig(2, k3=True), tmp_path / "a")
    with pytest.raises(CalibrationError, match=r"camera 'cam00'.*no skew"):
        write_colmap_text(random_rig(2, k3=False, skew=True), tmp_path / "b")
    with pytest.raises(CalibrationError, match=r"camera 'cam00'.*image size"):
        write_colmap_text(random_rig(2, k3=False, size=False), tmp_path / "c")
    with pytest.raises(CalibrationError, match="recover the camera names"):
        write_colmap_text(random_rig(2, k3=False), tmp_path / "d", image_name="images/{camera}.png")
    with pytest.raises(CalibrationError, match="not a valid template"):
        write_colmap_text(random_rig(2, k3=False), tmp_path / "d", image_name="{camera}/{frame:06d}.png")
    assert not any((tmp_path / d).exists() for d in "abcd")
    write_colmap_text(random_rig(2, k3=False), tmp_path / "e", image_name="{camera}.jpg")  # stem naming
    assert read_colmap_text(tmp_path / "e").names == random_rig(2).names


def _colmap_project(model: str, params: list[float], q: np.ndarray, T: np.ndarray, X: np.ndarray) -> np.ndarray:
    """COLMAP's own projection (ImgFromCam of src/colmap/sensor/models.h), COLMAP pixel convention."""
    w, x, y, z = q / np.linalg.norm(q)
    R = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    pc = X @ R.T + T
    u, v = pc[:, 0] / pc[:, 2], pc[:, 1] / pc[:, 2]
    if model == "OPENCV":
        fx, fy, cx, cy, k1, k2, p1, p2 = params
    elif model == "SIMPLE_RADIAL":
        f, cx, cy, k1 = params
        fx = fy = f
        k2 = p1 = p2 = 0.0
    else:
        raise NotImplementedError(model)
    u2, uv, v2 = u * u, u * v, v * v
    r2 = u2 + v2
    radial = k1 * r2 + k2 * r2 * r2
    du = u * radial + 2 * p1 * uv + p2 * (r2 + 2 * u2)
    dv = v * radial + 2 * p2 * uv + p1 * (r2 + 2 * v2)
    return np.column_stack([fx * (u + du) + cx, fy * (v + dv) + cy])


def test_colmap_pixel_centre_convention(tmp_path):
    """A point lands on the same physical spot: COLMAP pixel - 0.5 == humanrecon pixel."""
    q = np.array([0.9, 0.1, -0.2, 0.05])
    T = np.array([0.1, -0.2, 3.0])
    cams = {1: ("OPENCV", [1000.0, 1010.0, 640.0, 360.0, -0.1, 0.02, 1e-4, -2e-4]),
            2: ("SIMPLE_RADIAL", [800.0, 320.0, 240.0, -0.05])}
    write(tmp_path / "cameras.txt", "".join(
        f"{cid} {m} 1280 720 " + " ".join(map(repr, p)) + "\n" for cid, (m, p) in cams.items()))
    pose = " ".join(repr(float(v)) for v in (*q, *T))
    write(tmp_path / "images.txt", f"1 {pose} 1 a/0.png\n\n2 {pose} 2 b/0.png\n\n")
    rig = read_colmap_text(tmp_path)
    rng = np.random.default_rng(3)
    X = rng.uniform(-0.5, 0.5, size=(200, 3))
    for name, cid in (("a", 1), ("b", 2)):
        model, params = cams[cid]
        uv_colmap = _colmap_project(model, params, q, T, X)
        np.testing.assert_allclose(rig[name].project(X), uv_colmap - 0.5, atol=1e-9)
        np.testing.assert_allclose(cv2_project(rig[name], X), uv_colmap - 0.5, atol=1e-6)
    assert rig["a"].K[0, 2] == 639.5 and rig["a"].K[1, 2] == 359.5


# As COLMAP writes them (comment headers, 2-D points lines, shared CAMERA_IDs, several frames per camera).
COLMAP_CAMERAS = """# Camera list with one line of data per camera:
#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]
# Number of cameras: 5
1 SIMPLE_PINHOLE 3072 2304 2559.81 1536 1152
2 PINHOLE 3072 2304 2560.56 2560.56 1536 1152
3 SIMPLE_RADIAL 3072 2304 2559.69 1536 1152 -0.0218531
4 RADIAL 1920 1080 1401.2 960.3 540.7 -0.11 0.023
5 OPENCV 1920 1080 1400.5 1401.25 959.5 539.5 -0.1053 0.0211 0.00012 -0.00031
"""
COLMAP_IMAGES = """# Image list with two lines of data per image:
#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME
#   POINTS2D[] as (X, Y, POINT3D_ID)
# Number of images: 7, mean observations per image: 1.4
1 0.851773 0.0165051 0.503764 -0.142941 -0.737434 1.02973 3.74354 1 cam00/000000.png
2362.39 248.498 58396 1784.7 268.254 59027 1784.7 268.254 -1
7 0.851773 0.0165051 0.503764 -0.142941 -0.737434 1.02973 3.74354 1 cam00/000001.png

2 0.99 0.1 0.05 0.02 0.3 -0.1 2.9 2 cam01/000000.png
1190.83 663.957 23056
3 0.7 0.0 0.7 0.1 -1.0 0.2 3.1 3 cam02/000000.png

4 0.5 0.5 0.5 0.5 0.0 0.0 3.0 4 cam03/000000.png

5 0.9 -0.1 0.3 0.2 0.5 0.5 2.5 5 cam04/000000.png

6 0.9 -0.1 0.3 0.2 0.5 0.5 2.5 5 cam04/000001.png
"""


def test_colmap_handwritten_model_parses(tmp_path, caplog):
    write(tmp_path / "cameras.txt", COLMAP_CAMERAS)
    write(tmp_path / "images.txt", COLMAP_IMAGES)
    write(tmp_path / "points3D.txt", "# 3D point list\n63390 1.67 0.29 0.60 115 121 122 1.33 16 6542\n")
    rig = load_calibration("colmap", tmp_path)
    assert rig.names == ("cam00", "cam01", "cam02", "cam03", "cam04")
    np.testing.assert_array_equal(rig["cam00"].K, [[2559.81, 0, 1535.5], [0, 2559.81, 1151.5], [0, 0, 1]])
    np.testing.assert_array_equal(rig["cam01"].K, [[2560.56, 0, 1535.5], [0, 2560.56, 1151.5], [0, 0, 1]])
    np.testing.assert_array_equal(rig["cam02"].dist, [-0.0218531, 0, 0, 0, 0])
    np.testing.assert_array_equal(rig["cam03"].dist, [-0.11, 0.023, 0, 0, 0])
    np.testing.assert_array_equal(rig["cam04"].dist, [-0.1053, 0.0211, 0.00012, -0.00031, 0])
    assert rig["cam04"].K[0, 2] == 959.0 and rig["cam04"].size == (1920, 1080)
    for cam in rig:
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(rig["cam03"].R, [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-15)  # q = (.5,.5,.5,.5)
    np.testing.assert_array_equal(rig["cam00"].t, [-0.737434, 1.02973, 3.74354])
    # q of cam00 has norm 1 +- 1e-6 (6 digits), q of cam01 is far from unit: normalised, and logged
    assert any("normalising" in r.message and "line 9" in r.message for r in caplog.records)
    with pytest.raises(CalibrationError, match=r"cameras.txt: line 5 \(CAMERA_ID 2\): camera 'cam01' is 3072x2304 but its images are 2560x2560"):
        read_colmap_text(tmp_path, image_sizes={"cam01": (2560, 2560)})


def test_colmap_stem_names_and_explicit_naming(tmp_path):
    write(tmp_path / "cameras.txt", COLMAP_CAMERAS)
    write(tmp_path / "images.txt", "1 1 0 0 0 0 0 3 1 P1180141.JPG\n\n2 0.851773 0.0165051 0.503764 -0.142941 -0.737434 1.02973 3.74354 2 P1180142.JPG\n")
    assert read_colmap_text(tmp_path).names == ("P1180141", "P1180142")
    write(tmp_path / "images.txt", "1 1 0 0 0 0 0 3 1 frames/left.png\n\n2 1 0 0 0 1 0 3 1 frames/right.png\n\n")
    with pytest.raises(CalibrationError, match=r"images.txt: line 3: image 'frames/right.png' belongs to camera 'frames'.*different pose"):
        read_colmap_text(tmp_path)
    assert read_colmap_text(tmp_path, camera_names="stem").names == ("left", "right")


COLMAP_BAD = [
    # (cameras.txt, images.txt, expected message pattern)
    ("1 OPENCV_FISHEYE 640 480 500 500 320 240 0.1 0.01 0 0\n", "",
     r"cameras.txt: line 1 \(CAMERA_ID 1\): camera model 'OPENCV_FISHEYE' is not supported"),
    ("# c\n1 PINHOLE 640 480 500 500 320\n", "",
     r"cameras.txt: line 2 \(CAMERA_ID 1\): model PINHOLE takes 4 parameters \(fx fy cx cy\), got 3"),
    ("1 PINHOLE 640 480 500 nan 320 240\n", "",
     r"cameras.txt: line 1 \(CAMERA_ID 1\): fy is 'nan'; all values must be finite"),
    ("1 PINHOLE 640 480 -500 500 320 240\n", "",
     r"cameras.txt: line 1 \(CAMERA_ID 1\): focal length fx must be positive, got -500"),
    ("1 SIMPLE_PINHOLE 640 0 500 320 240\n", "", r"cameras.txt: line 1 \(CAMERA_ID 1\): image size must be positive"),
    ("1 PINHOLE 640 480 500 500 320 240\n1 PINHOLE 640 480 500 500 320 240\n", "",
     r"cameras.txt: line 2 \(CAMERA_ID 1\): CAMERA_ID 1 already defined on line 1"),
    ("1 PINHOLE", "", r"cameras.txt: line 1: a camera line needs CAMERA_ID MODEL WIDTH HEIGHT PARAMS"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "# header\n1 1 0 0 0 0 0 3 1\n",
     r"images.txt: line 2: an image line needs 10 fields .* got 9.*truncated"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 0 0 0 0 NaN 1 c/0.png\n",
     r"images.txt: line 1: TZ is 'NaN'; all values must be finite"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 0 0 0 0 3 2 c/0.png\n",
     r"images.txt: line 1: image 'c/0.png' uses CAMERA_ID 2, which .*cameras.txt does not define \(it defines 1\)"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "1 0 0 0 0 0 0 3 1 c/0.png\n",
     r"images.txt: line 1: quaternion \(QW, QX, QY, QZ\) is zero"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 0 0 0 0 3 1 c/0.png\n\n1 1 0 0 0 0 0 3 1 c/1.png\n",
     r"images.txt: line 3: IMAGE_ID 1 already used on line 1"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 0 0 0 0 3 1 c/0.png\n2 1 0 0 0 0 0 3 1 d/0.png\n",
     r"images.txt: line 2: expected the POINTS2D line of image 'c/0.png'"),
    ("1 PINHOLE 640 480 500 500 320 240\n",
     "1 1 0 0 0 0 0 3 1 cam03/0.png\n\n2 0.9 0.1 0 0 0 0 3 1 cam03/1.png\n\n",
     r"images.txt: line 3: image 'cam03/1.png' belongs to camera 'cam03' like image 'cam03/0.png' \(line 1\) but has a different pose"),
    ("1 PINHOLE 640 480 500 500 320 240\n2 PINHOLE 640 480 510 500 320 240\n",
     "1 1 0 0 0 0 0 3 1 cam03/0.png\n\n2 1 0 0 0 0 0 3 2 cam03/1.png\n\n",
     r"images.txt: line 3: image 'cam03/1.png' of camera 'cam03' uses CAMERA_ID 2 .* different intrinsics"),
    ("1 PINHOLE 640 480 500 500 320 240\n", "# nothing\n", r"images.txt: no images"),
]


@pytest.mark.parametrize(("cameras", "images", "pattern"), COLMAP_BAD)
def test_colmap_bad_input_names_file_and_line(tmp_path, cameras, images, pattern):
    write(tmp_path / "cameras.txt", cameras)
    write(tmp_path / "images.txt", images)
    with pytest.raises(CalibrationError, match=pattern) as info:
        read_colmap_text(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_colmap_missing_files(tmp_path):
    with pytest.raises(CalibrationError, match="COLMAP model folder does not exist"):
        read_colmap_text(tmp_path / "nope")
    write(tmp_path / "cameras.bin", "x")
    write(tmp_path / "images.bin", "x")
    with pytest.raises(CalibrationError, match=r"cameras.txt: COLMAP model file not found.*model_converter"):
        load_calibration("colmap", tmp_path)


# --------------------------------------------------------------------------------------------------
# projection matrices
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1.0, 3.7e-4, -1.0, -250.0])
def test_rq_decomposition_recovers_random_cameras(scale):
    rng = np.random.default_rng(5)
    for i in range(50):
        cam = random_camera(rng, "c", skew=bool(i % 2), distortion=False)
        K, R, t = decompose_projection_matrix(scale * cam.P)
        np.testing.assert_allclose(K, cam.K, rtol=1e-11, atol=1e-9)
        np.testing.assert_allclose(R, cam.R, atol=1e-12)
        np.testing.assert_allclose(t, cam.t, atol=1e-11)
        assert K[2, 2] == 1.0 and K[1, 0] == K[2, 0] == K[2, 1] == 0.0
        assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
        if not i % 2:
            assert K[0, 1] == 0.0  # decomposition round-off snapped to zero skew


def test_rq_decomposition_refuses_degenerate_matrices():
    P = random_camera(np.random.default_rng(0), "c", distortion=False).P
    with pytest.raises(CalibrationError, match="rank-deficient"):
        decompose_projection_matrix(np.vstack([P[:2], P[0] + P[1]]))
    with pytest.raises(CalibrationError, match="left 3x3 block .* singular"):
        decompose_projection_matrix(np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]))  # affine camera
    with pytest.raises(CalibrationError, match="non-finite"):
        decompose_projection_matrix(np.where(np.eye(3, 4) > 0, np.nan, P))
    with pytest.raises(CalibrationError, match="3x4"):
        decompose_projection_matrix(P[:, :3])


def test_projection_round_trip(tmp_path):
    rig = random_rig(3, distortion=False, skew=True)
    rig = CameraRig((*rig.cameras[:3], dataclasses.replace(rig.cameras[3], width=0, height=0)))
    write_projection_matrices(rig, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam00.txt", "cam01.txt", "cam02.txt", "cam03.txt", "sizes.yaml"]
    back = read_projection_matrices(tmp_path)
    assert_close_rig(rig, back, atol=1e-8)
    assert_same_projection(rig, back)
    assert back["cam03"].size == (0, 0)
    filled = load_calibration("projection", tmp_path, image_sizes={"cam03": (640, 480)})
    assert filled["cam03"].size == (640, 480) and filled["cam00"].size == rig["cam00"].size
    with pytest.raises(CalibrationError, match=r"sizes.yaml: camera 'cam00' is \d+x\d+ but its images are 1x1"):
        read_projection_matrices(tmp_path, image_sizes={"cam00": (1, 1)})
    # a rig without sizes removes the stale sizes.yaml
    write_projection_matrices(CameraRig(tuple(dataclasses.replace(c, width=0, height=0) for c in rig)), tmp_path)
    assert not (tmp_path / "sizes.yaml").exists()


def test_projection_handwritten_files(tmp_path):
    cam = random_camera(np.random.default_rng(4), "c", distortion=False)
    P = -0.001 * cam.P  # any scale, negative included
    rows = [" ".join(f"{v:.17g}" for v in r) for r in P]
    write(tmp_path / "left.txt", "# camera 'left'\n\n" + rows[0] + "  # first row\n" + "\n".join(rows[1:]) + "\n")
    write(tmp_path / "00000001.txt", "CONTOUR\n" + "\n".join(rows) + "\n")  # PMVS layout
    write(tmp_path / "sizes.yaml", f'left: {{width: {cam.width}, height: {cam.height}}}\n"00000001": {{width: 2, height: 1}}\n')
    rig = load_calibration("projection", tmp_path)
    assert rig.names == ("00000001", "left")
    assert rig["00000001"].size == (2, 1)
    assert_same_projection(CameraRig((dataclasses.replace(cam, name="left"),)), rig.subset(["left"]))


PROJECTION_BAD = [
    ("1 0 0 0\n0 1 0 0 5\n0 0 1 0\n", r"c.txt: line 2: expected 4 numbers \(a row of the 3x4 matrix\), got 5"),
    ("1 0 0 0\n0 1 0 0\n", r"c.txt: expected 3 rows of 4 numbers .* got 2 row"),
    ("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", r"c.txt: line 4: more than 3 rows"),
    ("1 0 0 0\n0 nan 0 0\n0 0 1 0\n", r"c.txt: line 2: non-finite value 'nan'"),
    ("1 0 0 0\n0 one 0 0\n0 0 1 0\n", r"c.txt: line 2: 'one' is not a number"),
    ("1 0 0 0\n0 1 0 0\n1 1 0 0\n", r"c.txt: camera 'c': projection matrix is rank-deficient \(rank 2"),
    ("1 0 0 0\n0 1 0 0\n0 0 0 1\n", r"c.txt: camera 'c': the left 3x3 block .* singular"),
]


@pytest.mark.parametrize(("text", "pattern"), PROJECTION_BAD)
def test_projection_bad_input_names_file_and_line(tmp_path, text, pattern):
    write(tmp_path / "c.txt", text)
    with pytest.raises(CalibrationError, match=pattern) as info:
        read_projection_matrices(tmp_path)
    assert str(tmp_path / "c.txt") in str(info.value)


def test_projection_bad_sizes_and_writer_errors(tmp_path):
    write(tmp_path / "c.txt", "1 0 0 0\n0 1 0 0\n0 0 1 1\n")
    for text, pattern in [
        ("c: {width: 0, height: 3}\n", r"sizes.yaml: camera 'c': width and height must be positive integers"),
        ("c: [640, 480]\n", r"sizes.yaml: camera 'c': expected \{width: W, height: H\}"),
        ("d: {width: 1, height: 1}\n", r"sizes.yaml: camera\(s\) \['d'\] have no projection matrix"),
        ("c: {width: 1, height: 1}\nc: {width: 1, height: 1}\n", r"sizes.yaml: not valid YAML \(line 2: duplicate key 'c'"),
        ("01: {width: 1, height: 1}\n", r"sizes.yaml: camera name 1 must be a string"),
    ]:
        write(tmp_path / "sizes.yaml", text)
        with pytest.raises(CalibrationError, match=pattern):
            read_projection_matrices(tmp_path)
    (tmp_path / "sizes.yaml").unlink()
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="empty: no <camera>.txt"):
        read_projection_matrices(tmp_path / "empty")
    with pytest.raises(CalibrationError, match=r"camera 'cam00': a projection matrix cannot hold lens distortion"):
        write_projection_matrices(random_rig(0), tmp_path / "out")
    with pytest.raises(CalibrationError, match=r"holds other .txt files \(c.txt\)"):
        write_projection_matrices(random_rig(0, distortion=False), tmp_path)


# --------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------
def test_json_round_trip_is_exact_and_deterministic(tmp_path):
    rig = random_rig(7)
    rig = CameraRig((*rig.cameras, random_camera(np.random.default_rng(1), "nosize", size=False, skew=True)))
    write_json_calibration(rig, tmp_path / "a" / "rig.json")
    back = read_json_calibration(tmp_path / "a" / "rig.json")
    assert back == rig  # bit-exact
    assert_same_projection(rig, back)
    write_json_calibration(rig, tmp_path / "b.json")
    data = (tmp_path / "b.json").read_bytes()
    assert data == (tmp_path / "a" / "rig.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["rig.json"]  # no temporary files
    parsed = json.loads(data)
    assert parsed["version"] == 1 and parsed["units"] == "m"
    assert list(parsed["cameras"][0]) == ["name", "width", "height", "K", "dist", "R", "t"]
    assert "width" not in parsed["cameras"][-1]
    loaded = load_calibration("json", tmp_path / "b.json", image_sizes={"nosize": (640, 480)})
    assert loaded["nosize"].size == (640, 480)


def _json_doc(**camera_overrides) -> dict:
    cam = {"name": "cam00", "width": 640, "height": 480,
           "K": [[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]],
           "dist": [0.1, -0.01, 0.0, 0.0, 0.0], "R": np.eye(3).tolist(), "t": [0.0, 0.0, 3.0]}
    for key, value in camera_overrides.items():
        if value is None:
            cam.pop(key)
        else:
            cam[key] = value
    return {"version": 1, "units": "m", "cameras": [cam]}


def test_json_rvec_and_handwritten(tmp_path):
    rvec = [0.1, -0.2, 0.3]
    path = write(tmp_path / "rig.json", json.dumps(_json_doc(R=None, rvec=rvec), indent=4))
    cam = read_json_calibration(path)["cam00"]
    np.testing.assert_allclose(cam.R, cv2.Rodrigues(np.array(rvec))[0], atol=1e-15)


R_BAD = [[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
JSON_BAD = [
    (dict(version=2), r"key 'version': unsupported format version 2"),
    (dict(version=True), r"key 'version': unsupported format version true"),
    (dict(units="mm"), r"key 'units': \"mm\" is not supported"),
    (dict(extra=1), r"unknown top-level key\(s\) 'extra'"),
    (dict(cameras=[]), r"key 'cameras' must be a non-empty array"),
    (dict(cam=dict(focal=1.0)), r"camera 'cam00' \(cameras\[0\]\): unknown key\(s\) 'focal'"),
    (dict(cam=dict(t=None)), r"camera 'cam00' \(cameras\[0\]\): missing key\(s\) 't'"),
    (dict(cam=dict(name=None)), r"cameras\[0\]: missing key 'name'"),
    (dict(cam=dict(K=[[500.0, 0.0], [0.0, 500.0]])), r"camera 'cam00' \(cameras\[0\]\): key 'K' must be an array of 3 arrays of 3 numbers"),
    (dict(cam=dict(dist=[0.1, 0.0, 0.0, 0.0])), r"camera 'cam00' \(cameras\[0\]\): key 'dist' must be an array of 5 numbers"),
    (dict(cam=dict(t=[0, "0", 3])), r"camera 'cam00' \(cameras\[0\]\): key 't' must be an array of 3 numbers"),
    (dict(cam=dict(R=R_BAD)), r"camera 'cam00' \(cameras\[0\]\): key 'R': R is not orthonormal"),
    (dict(cam=dict(R=(-np.eye(3)).tolist())), r"camera 'cam00' \(cameras\[0\]\): key 'R': R is not a proper rotation"),
    (dict(cam=dict(rvec=[0.0, 0.0, 0.0])), r"camera 'cam00' \(cameras\[0\]\): give exactly one of the keys 'R'.* got both"),
    (dict(cam=dict(K=[[-500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])),
     r"camera 'cam00' \(cameras\[0\]\): key 'K': focal lengths must be positive, got fx=-500"),
    (dict(cam=dict(width=None)), r"camera 'cam00' \(cameras\[0\]\): key 'height' is given but 'width' is missing"),
    (dict(cam=dict(width=640.5)), r"camera 'cam00' \(cameras\[0\]\): key 'width' must be a positive integer"),
    (dict(raw='"t": [0.0, 0.0, NaN]'), r"camera 'cam00' \(cameras\[0\]\): key 't' has non-finite entries"),
    (dict(raw='"t": [0.0, 0.0, 3.0], "t": [0.0, 0.0, 3.0]'), r"duplicate key 't'"),
    (dict(raw='"t": [0.0, 0.0, 3.0],'), r"not valid JSON \(line \d+, column \d+"),
    (dict(dup=True), r"camera 'cam00' \(cameras\[1\]\): duplicate camera name \(also cameras\[0\]\)"),
]


@pytest.mark.parametrize(("change", "pattern"), JSON_BAD)
def test_json_bad_input_names_file_camera_and_key(tmp_path, change, pattern):
    change = dict(change)
    doc = _json_doc(**change.pop("cam", {}))
    if change.pop("dup", False):
        doc["cameras"].append(dict(doc["cameras"][0]))
    raw = change.pop("raw", None)
    doc.update(change)
    text = json.dumps(doc)
    if raw is not None:
        text = re.sub(r'"t": \[[^\]]*\]', raw, text)
    path = write(tmp_path / "rig.json", text)
    with pytest.raises(CalibrationError, match=pattern) as info:
        read_json_calibration(path)
    assert str(info.value).startswith(f"{path}: ")


def test_json_file_errors(tmp_path):
    with pytest.raises(CalibrationError, match="calibration file not found"):
        load_calibration("json", tmp_path / "missing.json")
    with pytest.raises(CalibrationError, match="is a folder"):
        load_calibration("json", tmp_path)
    write(tmp_path / "rig.json", json.dumps(_json_doc()))
    with pytest.raises(CalibrationError, match=r"'width'/'height' say 640x480 but the camera's images are 1x1"):
        read_json_calibration(tmp_path / "rig.json", image_sizes={"cam00": (1, 1)})
    with pytest.raises(CalibrationError, match=r"image_sizes names camera\(s\) \['zz'\]"):
        read_json_calibration(tmp_path / "rig.json", image_sizes={"zz": (1, 1)})
    bad = CameraRig((Camera("c", np.eye(3), np.zeros(5), 2 * np.eye(3), np.zeros(3), 1, 1),))
    with pytest.raises(CalibrationError, match="camera 'c': R is not orthonormal"):
        write_json_calibration(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


# --------------------------------------------------------------------------------------------------
# conversions between formats
# --------------------------------------------------------------------------------------------------
def test_convert_between_formats(tmp_path):
    rig = random_rig(11, k3=False)
    write_colmap_text(rig, tmp_path / "colmap")
    write_json_calibration(load_calibration("colmap", tmp_path / "colmap"), tmp_path / "rig.json")
    back = load_calibration("json", tmp_path / "rig.json")
    assert_same_projection(rig, back)
    undistorted = CameraRig(tuple(dataclasses.replace(c, dist=np.zeros(5)) for c in back))
    write_projection_matrices(undistorted, tmp_path / "P")
    write_colmap_text(load_calibration("projection", tmp_path / "P"), tmp_path / "colmap2")
    assert_same_projection(undistorted, load_calibration("colmap", tmp_path / "colmap2"))
