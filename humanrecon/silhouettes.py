"""Person silhouettes from background plates (an empty-studio image per camera).

The plate is shot at another time than the capture, so it is lit slightly differently and carries
independent sensor noise. Per camera the method is:

1. Median filter of image and plate (``median_size``; edge-preserving, so no halo around the person)
   and optional Gaussian blur (``blur_sigma``, off by default) to suppress sensor noise.
2. **Lighting compensation**: a per-channel gain field ``g(x)`` with ``image ≈ g * plate`` on the
   background: a global robust gain (median ratio), then a smooth local gain (large box filter of the
   ratio over pixels that look like background), so a brighter plate or a slightly moved light does not
   show up as foreground.
3. **Difference score**: colour distance ``|image - g * plate|`` (RGB, 0-1 scale) divided by the noise
   level, estimated robustly (median absolute deviation) from background pixels.
4. **Threshold** at ``max(threshold_sigma * noise, min_difference)``.
5. **Clean-up**: morphological opening then closing, connected components (keep the largest and any
   component at least ``min_component_fraction`` of its size: drops clutter and speckle), and hole
   filling (no holes inside the body).

All thresholds live in :class:`BackgroundSubtraction`. Everything is vectorised OpenCV/numpy per image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)


class SilhouetteError(ValueError):
    """Silhouette extraction cannot proceed; the message names the camera/frame and what to do."""


@dataclass(frozen=True)
class BackgroundSubtraction:
    """Parameters of background-plate subtraction (config key ``segmentation.plates``).

    Attributes
    ----------
    median_size : int
        Median-filter aperture (odd, pixels; 1 = off) applied to image and plate.
    blur_sigma : float
        Gaussian pre-blur (pixels) of image and plate; 0 = off (it widens the silhouette by ~2 sigma).
    threshold_sigma : float
        Foreground if the colour difference exceeds this many noise standard deviations...
    min_difference : float
        ...and at least this much (RGB distance on a 0-1 scale).
    gain_window : float
        Size of the local gain box filter as a fraction of the image's shorter side.
    open_radius, close_radius : int
        Radii (pixels) of the morphological opening and closing.
    min_component_fraction : float
        Keep connected components at least this fraction of the largest one's area.
    """

    median_size: int = 3
    blur_sigma: float = 0.0
    threshold_sigma: float = 5.0
    min_difference: float = 0.06
    gain_window: float = 0.125
    open_radius: int = 1
    close_radius: int = 2
    min_component_fraction: float = 0.05


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def difference_score(image: np.ndarray, plate: np.ndarray, params: BackgroundSubtraction) -> tuple[np.ndarray, float]:
    """Lighting-compensated colour difference of one image against its plate.

    Parameters
    ----------
    image, plate : (H, W, 3) uint8 RGB

    Returns
    -------
    diff : (H, W) float32
        RGB distance (0-1 scale) after gain compensation.
    noise : float
        Robust standard deviation of ``diff`` over background pixels.
    """
    if params.median_size > 1:
        image = cv2.medianBlur(np.ascontiguousarray(image), params.median_size)
        plate = cv2.medianBlur(np.ascontiguousarray(plate), params.median_size)
    img = image.astype(np.float32) / 255.0
    bg = plate.astype(np.float32) / 255.0
    if params.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), params.blur_sigma)
        bg = cv2.GaussianBlur(bg, (0, 0), params.blur_sigma)
    eps = 1.0 / 255.0
    ratio = (img + eps) / (bg + eps)  # (H, W, 3)
    gain = np.median(ratio.reshape(-1, 3), axis=0)  # global per-channel gain
    d0 = np.linalg.norm(img - gain * bg, axis=2)
    likely_bg = d0 < max(params.min_difference, float(np.percentile(d0, 50)) * 3.0)
    # local gain: box-filter the ratio over likely-background pixels only (normalised convolution)
    k = max(3, int(round(params.gain_window * min(img.shape[:2]))) | 1)
    w = likely_bg.astype(np.float32)
    num = cv2.boxFilter(np.clip(ratio, 0.25, 4.0) * w[..., None], -1, (k, k), normalize=False)
    den = cv2.boxFilter(w, -1, (k, k), normalize=False)[..., None]
    local = np.where(den > 1e-3, num / np.maximum(den, 1e-6), gain)
    diff = np.linalg.norm(img - local * bg, axis=2).astype(np.float32)
    bgv = diff[likely_bg] if likely_bg.any() else diff.ravel()
    med = float(np.median(bgv))
    noise = 1.4826 * float(np.median(np.abs(bgv - med))) + med
    return diff, noise


def clean_mask(mask: np.ndarray, params: BackgroundSubtraction) -> np.ndarray:
    """Opening, closing, largest components, hole filling: (H, W) {0,1} uint8 -> same."""
    m = mask.astype(np.uint8)
    if params.open_radius > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, _disk(params.open_radius))
    if params.close_radius > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, _disk(params.close_radius))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= params.min_component_fraction * areas.max()) + 1
        m = np.isin(lab, keep).astype(np.uint8)
    return ndimage.binary_fill_holes(m).astype(np.uint8)


def subtract_background(
    images: np.ndarray,
    plates: np.ndarray,
    params: BackgroundSubtraction = BackgroundSubtraction(),
    names: list[str] | None = None,
) -> np.ndarray:
    """Silhouettes of a batch of images against their cameras' plates.

    Parameters
    ----------
    images : (B, H, W, 3) uint8 RGB
    plates : (B, H, W, 3) uint8 RGB
        The plate of each image's camera (repeat a camera's plate for its frames).
    names : list of str, optional
        Label of each image (e.g. ``"cam03 frame 12"``) used in error messages.

    Returns
    -------
    (B, H, W) uint8 in {0, 1}
    """
    images = np.asarray(images)
    plates = np.asarray(plates)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise SilhouetteError(f"images must be (B, H, W, 3) uint8, got {images.shape} {images.dtype}")
    if plates.shape != images.shape:
        raise SilhouetteError(f"plates {plates.shape} do not match images {images.shape}")
    out = np.zeros(images.shape[:3], np.uint8)
    for i in range(len(images)):
        diff, noise = difference_score(images[i], plates[i], params)
        thr = max(params.threshold_sigma * noise, params.min_difference)
        out[i] = clean_mask(diff > thr, params)
        if names is not None:
            log.debug("%s: noise %.4f threshold %.4f foreground %.3f", names[i], noise, thr, out[i].mean())
    return out
