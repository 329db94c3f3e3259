"""Synthetic rigs: cameras aim at the capture volume, rings/domes, valid calibrations, determinism."""

import cv2
import numpy as np
import pytest

from humanrecon.calibration import validate_camera
from humanrecon.synth.rig import RigConfig, look_at, make_rig


def test_look_at_puts_target_on_optical_axis_with_y_down():
    R, t = look_at(np.array([3.0, 1.5, 0.0]), np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)
    pc = R @ np.array([0.0, 1.0, 0.0]) + t
    np.testing.assert_allclose(pc[:2], 0.0, atol=1e-12)
    assert pc[2] > 0
    above = R @ np.array([0.0, 2.0, 0.0]) + t  # a point above the target is up in the image (y < 0)
    assert above[1] < 0


@pytest.mark.parametrize("layout", ["ring", "dome"])
def test_rig_cameras_see_the_subject_and_validate(layout):
    rig = make_rig(np.random.default_rng(0), RigConfig(num_cameras=8, layout=layout, image_size=(320, 240)))
    assert rig.names == tuple(f"cam{i:02d}" for i in range(8))
    for cam in rig:
        validate_camera(cam)
        r = np.hypot(cam.center[0], cam.center[2])
        assert 2.5 <= r <= 4.0 and 0.3 <= cam.center[1] <= 3.5
        # a 1.8 m person standing at the origin is fully inside every image
        body = np.array([[0, 0.0, 0], [0, 1.8, 0], [0.4, 1.4, 0], [-0.4, 1.4, 0]])
        uv = cam.project(body)
        assert (uv[:, 0] > 0).all() and (uv[:, 0] < cam.width).all()
        assert (uv[:, 1] > 0).all() and (uv[:, 1] < cam.height).all()
        # projection agrees with OpenCV, distortion included
        ref, _ = cv2.projectPoints(body, cv2.Rodrigues(cam.R)[0], cam.t, cam.K, cam.dist)
        np.testing.assert_allclose(uv, ref[:, 0], atol=1e-6)
    azimuths = np.sort(np.arctan2([c.center[0] for c in rig], [c.center[2] for c in rig]))
    assert np.diff(azimuths).min() > 0.3  # spread around the subject


def test_rig_is_deterministic_and_validates_config():
    a = make_rig(np.random.default_rng(5))
    b = make_rig(np.random.default_rng(5))
    assert all(x == y for x, y in zip(a, b, strict=True))
    assert not np.allclose(make_rig(np.random.default_rng(6)).cameras[0].K, a.cameras[0].K)
    with pytest.raises(ValueError, match="num_cameras"):
        RigConfig(num_cameras=0)
    with pytest.raises(ValueError, match="layout"):
        RigConfig(layout="sphere")
    assert (make_rig(np.random.default_rng(1), RigConfig(distortion=False)).dists() == 0).all()
