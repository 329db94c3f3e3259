"""Synthetic camera rigs: N calibrated cameras on a ring or dome around the capture volume.

World frame of the studio: +y up, floor at y = 0, the subject stands near the origin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from humanrecon.calibration import Camera, CameraRig


@dataclass(frozen=True)
class RigConfig:
    """Parameters of a synthetic rig.

    Attributes
    ----------
    num_cameras : int
    layout : {"ring", "dome"}
        Ring: every camera at a height in ``height_range``; dome: alternating cameras on a low tier
        (``dome_low``) and a high tier (``dome_high``) looking down, like a capture dome.
    radius_range : (float, float)
        Camera distance from the vertical axis through the origin, metres (2.5-4 m in studios).
    height_range : (float, float)
        Camera height above the floor (ring layout), metres.
    dome_low, dome_high : (float, float)
        Height ranges (metres) of the dome's low and high tiers.
    image_size : (int, int)
        (width, height) in pixels.
    framing_range : (float, float)
        Focal length is set so that a capture volume of half-height ``volume_half_height`` at the
        camera's distance spans this fraction of the shorter image side (jittered in the range).
    volume_half_height : float
        Half the height (m) of the volume every camera must see: a standing person moving around.
    distortion : bool
        Draw OpenCV (k1, k2, p1, p2, k3) lens distortion; zeros otherwise.
    target_height : float
        Height (m) of the point the cameras aim at, jittered by +-0.15 m.
    """

    num_cameras: int = 8
    layout: str = "ring"
    radius_range: tuple[float, float] = (2.5, 4.0)
    height_range: tuple[float, float] = (0.9, 2.2)
    dome_low: tuple[float, float] = (0.3, 1.0)
    dome_high: tuple[float, float] = (2.8, 3.5)
    image_size: tuple[int, int] = (512, 512)
    framing_range: tuple[float, float] = (0.85, 1.0)
    volume_half_height: float = 1.15
    distortion: bool = True
    target_height: float = 0.95

    def __post_init__(self):
        if self.num_cameras < 1:
            raise ValueError(f"num_cameras must be >= 1, got {self.num_cameras}")
        if self.layout not in ("ring", "dome"):
            raise ValueError(f"layout must be 'ring' or 'dome', got {self.layout!r}")
        if min(self.image_size) < 16:
            raise ValueError(f"image_size {self.image_size} is too small")


def look_at(center: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """World->camera ``(R, t)`` for an OpenCV camera at ``center`` looking at ``target`` (y down in image).

    Parameters
    ----------
    center, target : (3,) world metres
    up : (3,) world up direction

    Returns
    -------
    R : (3, 3) rotation (rows: camera x, y, z axes in world); t : (3,) with ``X_c = R X_w + t``.
    """
    z = np.asarray(target, float) - np.asarray(center, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))  # right = forward x up  (y down)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ np.asarray(center, float)


def _quiet_undistort(cam: Camera, uv: np.ndarray) -> np.ndarray:
    logger = logging.getLogger("humanrecon.calibration.camera")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return cam.undistort_pixels(uv)
    finally:
        logger.setLevel(level)


def make_rig(rng: np.random.Generator, config: RigConfig = RigConfig()) -> CameraRig:
    """Sample a rig: cameras evenly spread in azimuth (with jitter) at random radius/height/intrinsics.

    Cameras are named ``cam00``, ``cam01``... in azimuth order.
    """
    W, H = config.image_size
    n = config.num_cameras
    az0 = rng.uniform(0, 2 * np.pi)
    cams = []
    for i in range(n):
        az = az0 + 2 * np.pi * i / n + rng.uniform(-0.25, 0.25) * (2 * np.pi / n)
        r = rng.uniform(*config.radius_range)
        if config.layout == "dome":
            h = rng.uniform(*(config.dome_low if i % 2 == 0 else config.dome_high))
        else:
            h = rng.uniform(*config.height_range)
        center = np.array([r * np.sin(az), h, r * np.cos(az)])
        target = np.array([rng.uniform(-0.1, 0.1), config.target_height + rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1)])
        R, t = look_at(center, target)
        # the volume's half-height seen from distance (r - 0.6 m, its near side) fills the short side
        half_angle = np.arctan(config.volume_half_height / (np.linalg.norm(center - target) - 0.6))
        fx = rng.uniform(*config.framing_range) * 0.5 * min(W, H) / np.tan(half_angle)
        fy = fx * rng.uniform(0.995, 1.005)
        cx = (W - 1) / 2 + rng.uniform(-0.02, 0.02) * W
        cy = (H - 1) / 2 + rng.uniform(-0.02, 0.02) * H
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        if config.distortion:
            dist = np.array(
                [rng.uniform(-0.15, 0.05), rng.uniform(-0.05, 0.08), rng.uniform(-1e-3, 1e-3), rng.uniform(-1e-3, 1e-3), rng.uniform(-0.01, 0.01)]
            )
        else:
            dist = np.zeros(5)
        cam = Camera(name=f"cam{i:02d}", K=K, dist=dist, R=R, t=t, width=W, height=H)
        # a physical lens maps the whole image: halve the distortion until every border pixel undistorts
        border = np.array([[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1], [(W - 1) / 2, 0], [0, (H - 1) / 2]], float)
        while not np.isfinite(_quiet_undistort(cam, border)).all():
            cam = Camera(name=cam.name, K=K, dist=cam.dist * 0.5, R=R, t=t, width=W, height=H)
        cams.append(cam)
    return CameraRig(tuple(cams))
