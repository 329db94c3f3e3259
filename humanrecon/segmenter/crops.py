"""Person crops: the square box around a silhouette and the affine map between image and crop pixels.

Pixel centres are at integer coordinates in both frames (:mod:`humanrecon.conventions`). A crop of side
``size`` pixels covers a square of ``side`` image pixels centred on ``(cx, cy)``:

    u_crop = s * (u_image - cx) + (size - 1) / 2,   s = size / side   (same for v)

``box_scale`` (1.2 by default) is the crop side relative to the longer side of the silhouette's
bounding box, so the person fills about 83 % of the crop.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Crop side relative to the silhouette box's longer side.
BOX_SCALE = 1.2


class CropError(ValueError):
    """No person box can be found (empty silhouette); the message names the image."""


def person_box(mask: np.ndarray, box_scale: float = BOX_SCALE, name: str = "image") -> tuple[float, float, float]:
    """``(cx, cy, side)`` in image pixels of the square crop around the nonzero pixels of ``mask`` (H, W)."""
    rows = np.flatnonzero(np.asarray(mask).any(axis=1))
    cols = np.flatnonzero(np.asarray(mask).any(axis=0))
    if rows.size == 0:
        raise CropError(f"{name}: empty silhouette, no person to crop")
    cx = 0.5 * (cols[0] + cols[-1])
    cy = 0.5 * (rows[0] + rows[-1])
    side = box_scale * max(cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
    return float(cx), float(cy), float(max(side, 8.0))


def crop_matrix(cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """(2, 3) affine matrix image pixels -> crop pixels (for ``cv2.warpAffine``)."""
    s = size / side
    c = (size - 1) / 2.0
    return np.array([[s, 0.0, c - s * cx], [0.0, s, c - s * cy]])


def to_crop(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(..., 2) image pixels -> crop pixels."""
    return points @ M[:, :2].T + M[:, 2]


def to_image(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(..., 2) crop pixels -> image pixels (inverse of :func:`to_crop`)."""
    A = M[:, :2]
    return (points - M[:, 2]) @ np.linalg.inv(A).T


def warp(image: np.ndarray, M: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Crop ``image`` (H, W[, ch]) with ``M``; outside the image is 0. Linear (area-weighted when
    shrinking a lot) or nearest-neighbour (labels)."""
    if nearest:
        flags = cv2.INTER_NEAREST
    else:
        flags = cv2.INTER_AREA if M[0, 0] < 0.5 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, M, (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def unwarp(crop: np.ndarray, M: np.ndarray, width: int, height: int, nearest: bool = False) -> np.ndarray:
    """Map a crop (size, size[, ch]) back to the image frame (height, width[, ch]); outside the crop is 0."""
    flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(crop, M, (width, height), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
