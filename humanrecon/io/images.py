"""Image and mask I/O at the OpenCV edge: RGB uint8 in memory, PNG on disk.

In memory (see :mod:`humanrecon.conventions`): images are ``(H, W, 3)`` uint8 RGB, masks ``(H, W)``
uint8 in {0, 1}. OpenCV's BGR order is converted here and nowhere else. Files are decoded from their
bytes (``cv2.imdecode``), never rotated by EXIF orientation (the calibration is for the sensor's
pixel grid). Writers encode PNG in memory (``cv2.imencode``, so the temporary name needs no
extension) and write it with :func:`humanrecon.io.atomic.atomic_write_bytes` (temporary sibling +
rename), so a killed process never leaves a partial image; PNG bytes are a deterministic function of
the pixels (fixed compression settings, no timestamps).
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import cv2
import numpy as np

from humanrecon.io.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

#: zlib level of written PNGs (fixed: part of the byte-identical-output promise).
PNG_COMPRESSION = 3

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...) carrying the size
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageError(ValueError):
    """An image or mask file is missing, unreadable, corrupt or of the wrong size; names the file."""


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, expected an {what} file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read {what} file ({exc.strerror})") from None
    if not data:
        raise ImageError(f"{path}: {what} file is empty (0 bytes)")
    return data


def _decode(path: Path, what: str) -> np.ndarray:
    data = _read_bytes(path, what)
    if data.startswith(_JPEG_SOI) and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise ImageError(f"{path}: JPEG file is truncated (no end-of-image marker)")
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None:
        raise ImageError(f"{path}: cannot decode {what} file (corrupt, truncated or not an image)")
    if img.dtype != np.uint8:
        raise ImageError(f"{path}: {what} has {img.dtype} pixels; only 8-bit images are supported")
    return img


def _check_size(path: Path, img: np.ndarray, expect_size: tuple[int, int] | None) -> None:
    if expect_size is None:
        return
    w, h = (int(v) for v in expect_size)
    if img.shape[1] != w or img.shape[0] != h:
        raise ImageError(f"{path}: image is {img.shape[1]}x{img.shape[0]} pixels, expected {w}x{h} (WxH)")


def read_image(path: str | os.PathLike, expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image file as RGB.

    Parameters
    ----------
    path : path-like
        PNG, JPEG or any 8-bit format OpenCV decodes.
    expect_size : (int, int), optional
        Required ``(width, height)`` in pixels (e.g. the camera's calibrated size).

    Returns
    -------
    numpy.ndarray
        (H, W, 3) uint8 RGB, C-contiguous. Grayscale files are expanded to 3 equal channels and an
        alpha channel is dropped.

    Raises
    ------
    ImageError
        Missing, unreadable, empty, truncated or corrupt file; not 8-bit; size other than
        ``expect_size`` (the message names the file, the expected and the actual WxH).
    """
    path = Path(path)
    img = _decode(path, "image")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        raise ImageError(f"{path}: image has {img.shape[2]} channels; expected 1, 3 or 4")
    _check_size(path, img, expect_size)
    return np.ascontiguousarray(img)


def read_mask(path: str | os.PathLike, expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask.

    Parameters
    ----------
    path : path-like
        8-bit mask image: values {0, 1} are taken as they are; otherwise (e.g. {0, 255}, or JPEG
        noise) a pixel is foreground when its value is >= 128. A colour file uses the maximum of its
        colour channels.
    expect_size : (int, int), optional
        Required ``(width, height)`` in pixels.

    Returns
    -------
    numpy.ndarray
        (H, W) uint8 in {0, 1}, 1 = foreground.

    Raises
    ------
    ImageError
        As :func:`read_image`.
    """
    path = Path(path)
    m = _decode(path, "mask")
    if m.ndim == 3:
        m = m[:, :, : min(3, m.shape[2])].max(axis=2)
    _check_size(path, m, expect_size)
    if m.size and m.max() > 1:
        m = m >= 128
    return np.ascontiguousarray(m, dtype=np.uint8)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file, read from the PNG/JPEG header without decoding.

    Other formats are decoded in full. Raises :class:`ImageError` for a missing or unreadable file or
    a header that cannot be parsed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(_PNG_SIGNATURE):
                if len(head) < 24 or head[12:16] != b"IHDR":
                    raise ImageError(f"{path}: corrupt PNG header")
                w, h = struct.unpack(">II", head[16:24])
                return int(w), int(h)
            if head.startswith(_JPEG_SOI):
                return _jpeg_size(path, f)
    except FileNotFoundError:
        raise ImageError(f"{path}: image file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, expected an image file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read image file ({exc.strerror})") from None
    img = read_image(path)
    return img.shape[1], img.shape[0]


def _jpeg_size(path: Path, f) -> tuple[int, int]:
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":  # tolerate garbage between segments
            byte = f.read(1)
        while byte == b"\xff":  # fill bytes
            byte = f.read(1)
        if not byte:
            raise ImageError(f"{path}: corrupt JPEG header (no frame size found)")
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # standalone markers
            continue
        if marker == 0xD9:
            raise ImageError(f"{path}: corrupt JPEG header (no frame size found)")
        seg = f.read(2)
        if len(seg) < 2:
            raise ImageError(f"{path}: truncated JPEG header")
        (length,) = struct.unpack(">H", seg)
        if marker in _JPEG_SOF:
            sof = f.read(5)
            if len(sof) < 5:
                raise ImageError(f"{path}: truncated JPEG header")
            h, w = struct.unpack(">HH", sof[1:5])
            return int(w), int(h)
        if length < 2:
            raise ImageError(f"{path}: corrupt JPEG header (segment length {length})")
        f.seek(length - 2, os.SEEK_CUR)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) RGB or (H, W) gray uint8 array (deterministic)."""
    arr = np.ascontiguousarray(img)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:  # pragma: no cover - OpenCV failure
        raise ImageError("PNG encoding failed")
    return buf.tobytes()


def _check_png_path(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise ImageError(f"{path}: images are written as PNG; use a .png file name")


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB image as PNG, atomically (temporary sibling + rename).

    Parameters
    ----------
    path : path-like
        Output file; must end in ``.png``. Parent folders are created.
    rgb : numpy.ndarray
        (H, W, 3) uint8 RGB.

    Raises
    ------
    ImageError
        Wrong file extension, shape or dtype (the message names the file).
    """
    path = Path(path)
    _check_png_path(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"{path}: write_image needs an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    atomic_write_bytes(path, encode_png(rgb))


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a binary mask as a single-channel PNG with values {0, 255}, atomically.

    Parameters
    ----------
    path : path-like
        Output file; must end in ``.png``.
    mask : numpy.ndarray
        (H, W) bool, or integer with values in {0, 1}. :func:`read_mask` gives it back as {0, 1}.

    Raises
    ------
    ImageError
        Wrong extension, shape, dtype or values other than 0 and 1.
    """
    path = Path(path)
    _check_png_path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0 or not (mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer)):
        raise ImageError(f"{path}: write_mask needs an (H, W) bool or integer array, got {mask.shape} {mask.dtype}")
    if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
        bad = np.unique(mask[~np.isin(mask, (0, 1))])[:5].tolist()
        raise ImageError(f"{path}: mask values must be 0 or 1, found {bad}")
    atomic_write_bytes(path, encode_png(mask.astype(np.uint8) * np.uint8(255)))


def write_label_map(path: str | os.PathLike, labels: np.ndarray, max_label: int = 12) -> None:
    """Write an integer label map (e.g. 12-part map, 0 background) as a single-channel PNG, atomically.

    Parameters
    ----------
    path : path-like
        Output file; must end in ``.png``.
    labels : (H, W) integer array with values in ``0..max_label``.
    """
    path = Path(path)
    _check_png_path(path)
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ImageError(f"{path}: write_label_map needs an (H, W) integer array, got {labels.shape} {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > max_label):
        raise ImageError(f"{path}: labels must lie in 0..{max_label}, found {labels.min()}..{labels.max()}")
    atomic_write_bytes(path, encode_png(labels.astype(np.uint8)))


def read_label_map(path: str | os.PathLike, expect_size: tuple[int, int] | None = None, max_label: int = 12) -> np.ndarray:
    """Read a label map written by :func:`write_label_map`: (H, W) uint8 in ``0..max_label``."""
    path = Path(path)
    img = _decode(path, "label map")
    if img.ndim == 3:
        if not (img == img[..., :1]).all():
            raise ImageError(f"{path}: label map has differing colour channels; expected a single-channel PNG")
        img = img[..., 0]
    _check_size(path, img, expect_size)
    if img.dtype != np.uint8:
        raise ImageError(f"{path}: label map must be 8-bit, got {img.dtype}")
    if img.size and img.max() > max_label:
        raise ImageError(f"{path}: label {int(img.max())} exceeds the largest part id {max_label}")
    return img
