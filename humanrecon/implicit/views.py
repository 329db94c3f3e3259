"""Calibrated views as the implicit network sees them: person crops, full-resolution silhouettes, cameras.

Per view (camera) of one frame, :func:`prepare_views` builds

* ``image`` (4, S, S) float32: the person crop (square, ``crops.BOX_SCALE`` x the silhouette box,
  resampled to ``S`` pixels) of RGB in [0, 1] and of the silhouette;
* ``crop`` (2, 3): the affine map image pixels -> crop pixels (:func:`humanrecon.segmenter.crops.crop_matrix`);
* ``rgb`` (3, H, W) float32 full-resolution image in [0, 1] (the colour at a point's exact pixel: views
  that see the same surface point agree, the network's photo-consistency cue);
* ``mask`` (1, H, W) float32 silhouette and ``sdf`` (1, H, W) float32 signed distance to its outline
  (pixels, positive inside) divided by the crop side in image pixels, so it does not depend on the
  image resolution;
* the camera (K, dist, R, t, image size, the squared normalised radius of the distortion fold) and
  ``z_ref``, the depth of the person's centre (:func:`person_center`) in this camera, metres.

:func:`project` is the camera model of :meth:`humanrecon.calibration.camera.Camera.project` in torch,
batched over views (tested equal). Pixel centres at integers (:mod:`humanrecon.conventions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from humanrecon.calibration.camera import Camera, lens_monotone_radius2
from humanrecon.segmenter import crops


class ImplicitInputError(ValueError):
    """Inputs to the implicit reconstruction are inconsistent; the message names the camera."""


@dataclass
class Views:
    """Tensors of V views of one frame (see the module docstring). Batched as (B, V, ...) by :func:`stack`."""

    image: torch.Tensor  # (V, 4, S, S)
    crop: torch.Tensor  # (V, 2, 3)
    rgb: torch.Tensor  # (V, 3, H, W)
    mask: torch.Tensor  # (V, 1, H, W)
    sdf: torch.Tensor  # (V, 1, H, W)
    K: torch.Tensor  # (V, 3, 3)
    dist: torch.Tensor  # (V, 5)
    R: torch.Tensor  # (V, 3, 3)
    t: torch.Tensor  # (V, 3)
    size: torch.Tensor  # (V, 2) width, height
    r2max: torch.Tensor  # (V,)
    z_ref: torch.Tensor  # (V,)

    FIELDS = ("image", "crop", "rgb", "mask", "sdf", "K", "dist", "R", "t", "size", "r2max", "z_ref")

    def select(self, index) -> Views:
        """The views ``index`` (along the view axis, which is the first axis of unbatched views)."""
        return Views(*(getattr(self, k)[index] for k in self.FIELDS))

    def to(self, device) -> Views:
        return Views(*(getattr(self, k).to(device) for k in self.FIELDS))

    @property
    def num_views(self) -> int:
        return int(self.image.shape[-4])


def stack(views: list[Views]) -> Views:
    """B frames with the same number of views and image sizes -> batched (B, V, ...) views."""
    return Views(*(torch.stack([getattr(v, k) for v in views]) for k in Views.FIELDS))


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) {0,1} -> (H, W) float32 signed distance (pixels) to the silhouette outline, + inside."""
    m = (np.asarray(mask) > 0).astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    return (inside - outside).astype(np.float32)


def person_center(cameras: list[Camera], masks: np.ndarray) -> np.ndarray:
    """World point (3,) metres closest (least squares) to the rays through the silhouette-box centres.

    Views with an empty silhouette are skipped; at least two views must see the person.
    """
    A = np.zeros((3, 3))
    b = np.zeros(3)
    used = 0
    for cam, m in zip(cameras, masks, strict=True):
        if not np.any(m):
            continue
        cx, cy, _ = crops.person_box(m)
        ray = cam.undistort_pixels(np.array([[cx, cy]]))[0]
        d = cam.R.T @ np.array([ray[0], ray[1], 1.0])
        d /= np.linalg.norm(d)
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ cam.center
        used += 1
    if used < 2:
        raise ImplicitInputError(f"the person is visible in {used} view(s); the implicit reconstruction needs at least 2")
    return np.linalg.solve(A, b)


def prepare_views(images: np.ndarray, masks: np.ndarray, cameras: list[Camera], size: int,
                  center: np.ndarray | None = None) -> Views:
    """Views of one frame.

    Parameters
    ----------
    images : (V, H, W, 3) uint8 RGB
    masks : (V, H, W) uint8 {0, 1} silhouettes (a view with an empty silhouette gets a crop of the
        whole image and carves everything, as in the visual hull)
    cameras : V :class:`Camera`
    size : int
        Crop side ``S`` (pixels) the network was trained with.
    center : (3,) world point, optional
        Reference for the relative depth feature (default :func:`person_center`).
    """
    images = np.asarray(images)
    masks = np.asarray(masks)
    V = len(cameras)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or images.shape[0] != V:
        raise ImplicitInputError(f"images must be ({V}, H, W, 3) uint8 for {V} cameras, got {images.shape} {images.dtype}")
    if masks.shape != images.shape[:3]:
        raise ImplicitInputError(f"masks {masks.shape} do not match images {images.shape[:3]}")
    for cam, img in zip(cameras, images, strict=True):
        if (cam.width, cam.height) != (img.shape[1], img.shape[0]):
            raise ImplicitInputError(
                f"camera {cam.name!r}: image is {img.shape[1]}x{img.shape[0]} but the calibration says {cam.width}x{cam.height}"
            )
    if center is None:
        center = person_center(cameras, masks)
    out = {k: [] for k in Views.FIELDS}
    for cam, img, m in zip(cameras, images, masks, strict=True):
        m = (m > 0).astype(np.uint8)
        H, W = m.shape
        if m.any():
            cx, cy, side = crops.person_box(m, name=cam.name)
        else:
            cx, cy, side = (W - 1) / 2.0, (H - 1) / 2.0, float(max(W, H))
        M = crops.crop_matrix(cx, cy, side, size)
        rgb = crops.warp(img, M, size).astype(np.float32) / 255.0
        mc = crops.warp(m * 255, M, size).astype(np.float32) / 255.0
        out["image"].append(np.concatenate([rgb.transpose(2, 0, 1), mc[None]], axis=0))
        out["crop"].append(M)
        out["rgb"].append(img.transpose(2, 0, 1).astype(np.float32) / 255.0)
        out["mask"].append(m[None].astype(np.float32))
        out["sdf"].append(signed_distance(m)[None] / side)
        out["K"].append(cam.K)
        out["dist"].append(cam.dist)
        out["R"].append(cam.R)
        out["t"].append(cam.t)
        out["size"].append(np.array([W, H], np.float64))
        out["r2max"].append(min(lens_monotone_radius2(cam.dist), 1e6))
        out["z_ref"].append((cam.R @ center + cam.t)[2])
    f32 = {"image", "rgb", "mask", "sdf"}
    return Views(*(torch.as_tensor(np.stack(out[k]), dtype=torch.float32 if k in f32 else torch.float64) for k in Views.FIELDS))


def project(points: torch.Tensor, K: torch.Tensor, dist: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
            r2max: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distorted pixels of world points in V cameras (OpenCV model, as :meth:`Camera.project`).

    points (..., N, 3) metres world; K (..., V, 3, 3), dist (..., V, 5), R (..., V, 3, 3), t (..., V, 3),
    r2max (..., V) -> u, v, z (..., V, N) (pixels, pixels, metres depth) and ``valid`` (..., V, N):
    in front of the camera and inside the distortion model's valid radius. Invalid points get finite
    garbage.
    """
    pc = torch.einsum("...vij,...nj->...vni", R, points) + t[..., None, :]
    z = pc[..., 2]
    front = z > 1e-6
    zs = torch.where(front, z, torch.ones_like(z))
    x, y = pc[..., 0] / zs, pc[..., 1] / zs
    r2 = x * x + y * y
    valid = front & (r2 < r2max[..., None])
    x = torch.where(valid, x, torch.zeros_like(x))
    y = torch.where(valid, y, torch.zeros_like(y))
    r2 = x * x + y * y
    k1, k2, p1, p2, k3 = (dist[..., i, None] for i in range(5))
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    u = K[..., 0, 0, None] * xd + K[..., 0, 1, None] * yd + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * yd + K[..., 1, 2, None]
    return u, v, z, valid
