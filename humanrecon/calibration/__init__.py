"""Camera calibration: the camera model, rigs, and calibration file formats.

:func:`load_calibration` dispatches on a format name through :data:`CALIBRATION_FORMATS`:

==============  ===========================================================================
 format          ``path``
==============  ===========================================================================
 ``easymocap``   folder holding ``intri.yml`` and ``extri.yml``
 ``colmap``      folder holding a COLMAP text model, ``cameras.txt`` and ``images.txt``
 ``projection``  folder of ``<camera>.txt`` 3x4 projection matrices (+ optional ``sizes.yaml``)
 ``json``        a ``.json`` file in humanrecon's JSON calibration format (version 1)
==============  ===========================================================================

All formats are described in ``docs/calibration-formats.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from humanrecon.calibration.camera import CalibrationError, Camera, CameraRig, validate_camera
from humanrecon.calibration.colmap import read_colmap_text, write_colmap_text
from humanrecon.calibration.easymocap import read_easymocap, write_easymocap
from humanrecon.calibration.json_format import read_json_calibration, write_json_calibration
from humanrecon.calibration.projection import (
    decompose_projection_matrix,
    read_projection_matrices,
    write_projection_matrices,
)


def _load_easymocap(path: Path, image_sizes: Mapping[str, tuple[int, int]] | None = None) -> CameraRig:
    """``path`` is a folder holding ``intri.yml`` and ``extri.yml``."""
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a folder"
        raise CalibrationError(f"{path}: EasyMocap calibration folder {what} (expected intri.yml and extri.yml)")
    return read_easymocap(path / "intri.yml", path / "extri.yml", image_sizes=image_sizes)


#: Calibration format name -> loader ``(path, image_sizes=None) -> CameraRig``.
CALIBRATION_FORMATS: dict[str, Callable[..., CameraRig]] = {
    "easymocap": _load_easymocap,
    "colmap": read_colmap_text,  # folder with cameras.txt and images.txt
    "projection": read_projection_matrices,  # folder of <camera>.txt (+ sizes.yaml)
    "json": read_json_calibration,  # a .json file
}


def load_calibration(
    fmt: str,
    path: str | os.PathLike,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> CameraRig:
    """Load a calibration in format ``fmt``.

    Parameters
    ----------
    fmt : str
        A key of :data:`CALIBRATION_FORMATS`: ``"easymocap"`` (``path`` is a folder with ``intri.yml``
        and ``extri.yml``), ``"colmap"`` (a folder with ``cameras.txt`` and ``images.txt``),
        ``"projection"`` (a folder of ``<camera>.txt`` projection matrices) or ``"json"`` (a ``.json``
        file).
    path : path-like
        Where the calibration lives (meaning depends on the format).
    image_sizes : mapping of str to (int, int), optional
        ``{camera: (width, height)}`` pixels for cameras whose file lacks the image size.

    Returns
    -------
    CameraRig
        Cameras in the file's order; sizes missing from the file and from ``image_sizes`` are 0 (fill
        them, then :func:`validate_camera`).

    Raises
    ------
    CalibrationError
        Unknown format (the message lists the known ones) or any problem of the files.
    """
    loader = CALIBRATION_FORMATS.get(fmt)
    if loader is None:
        raise CalibrationError(
            f"unknown calibration format {fmt!r}; known formats: {', '.join(sorted(CALIBRATION_FORMATS))}"
        )
    return loader(Path(path), image_sizes=image_sizes)


__all__ = [
    "CALIBRATION_FORMATS",
    "CalibrationError",
    "Camera",
    "CameraRig",
    "decompose_projection_matrix",
    "load_calibration",
    "read_colmap_text",
    "read_easymocap",
    "read_json_calibration",
    "read_projection_matrices",
    "validate_camera",
    "write_colmap_text",
    "write_easymocap",
    "write_json_calibration",
    "write_projection_matrices",
]
