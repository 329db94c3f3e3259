"""EasyMocap calibration files: ``intri.yml`` + ``extri.yml`` in OpenCV FileStorage YAML.

Keys (``<cam>`` is each entry of ``names``):

=========  ==========  ====================================================================
 file       key         content
=========  ==========  ====================================================================
 intri      names       sequence of camera names (strings; the camera order of the rig)
 intri      K_<cam>     3x3 ``!!opencv-matrix``, pixels
 intri      dist_<cam>  1x5 (or 5x1) ``(k1, k2, p1, p2, k3)``; ``D_<cam>`` is accepted too, and
                        4 coefficients mean ``k3 = 0``
 intri      H_<cam>     image height, pixels (optional)
 intri      W_<cam>     image width, pixels (optional)
 extri      names       sequence of camera names (optional; must contain the intri cameras)
 extri      R_<cam>     3x1 Rodrigues vector of the world->camera rotation
 extri      Rot_<cam>   3x3 world->camera rotation (used when present; must agree with R_)
 extri      T_<cam>     3x1 world->camera translation, metres
=========  ==========  ====================================================================

Both ``%YAML:1.0`` files (OpenCV <= 4 and EasyMocap's own writer) and ``%YAML 1.2`` files (OpenCV 5)
are read. cv2.FileStorage 5.0 reads both headers too, but the files are parsed here with PyYAML so
that every error names the file, the key and the line; all plain scalars are read as text and
converted here, which also accepts OpenCV's ``.Nan``/``.Inf`` spellings and numbers such as ``1e+20``
that YAML 1.1 would read as strings. Tags ``!!opencv-matrix`` and ``!opencv-matrix`` (and OpenCV's
JSON form ``{"type_id": "opencv-matrix", ...}``) hold ``rows``, ``cols``, ``dt`` and ``data``.

The writer produces ``%YAML:1.0`` files in OpenCV 4's layout with every number written so that it reads
back bit-exactly (shortest round-trip decimal), both ``R_`` and ``Rot_``, and ``H_``/``W_`` when the
size is known. Identical input gives identical bytes.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from humanrecon.calibration.camera import CalibrationError, Camera, CameraRig, camera_problems
from humanrecon.io.atomic import atomic_write_text
from humanrecon.io.yamlutil import UniqueKeyLoader

logger = logging.getLogger(__name__)

#: Max entry-wise difference accepted between ``Rot_<cam>`` and ``Rodrigues(R_<cam>)``.
ROTATION_AGREEMENT_TOL = 1e-6
#: Camera centres farther than this from the origin (metres) trigger a "millimetres?" warning.
SUSPICIOUS_DISTANCE_M = 100.0
#: Camera names the writer accepts (OpenCV FileStorage key characters).
CAMERA_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


# --------------------------------------------------------------------------------------------------
# FileStorage YAML parsing
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Matrix:
    fields: dict
    line: int


class _FSLoader(UniqueKeyLoader):
    """SafeLoader reading every plain scalar as text and rejecting duplicate keys."""

    yaml_implicit_resolvers: dict = {}  # no implicit typing: plain scalars stay strings


def _construct_matrix(loader: yaml.SafeLoader, node: yaml.Node) -> _Matrix:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(
            None, None, "an opencv-matrix must be a mapping with rows, cols, dt, data", node.start_mark
        )
    return _Matrix(loader.construct_mapping(node, deep=True), node.start_mark.line + 1)


for _tag in ("tag:yaml.org,2002:opencv-matrix", "!opencv-matrix"):
    _FSLoader.add_constructor(_tag, _construct_matrix)


def _load_filestorage(path: Path) -> dict[str, Any]:
    """Parse an OpenCV FileStorage YAML file into a dict (scalars as str, matrices as _Matrix)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CalibrationError(f"{path}: calibration file not found") from None
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read calibration file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not a text file (OpenCV FileStorage YAML expected)") from None
    if text.lstrip().startswith("<?xml") or text.lstrip().startswith("<opencv_storage"):
        raise CalibrationError(f"{path}: XML FileStorage is not supported; save the calibration as YAML")
    lines = text.splitlines()
    # OpenCV <= 4 writes "%YAML:1.0", which is not a valid YAML directive; OpenCV 5 writes "%YAML 1.2".
    # Turn the directive into a comment (keeping line numbers) and parse the rest as YAML.
    for i, line in enumerate(lines):
        if line.startswith("%"):
            lines[i] = "#" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            break
    try:
        data = yaml.load("\n".join(lines), Loader=_FSLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise CalibrationError(
            f"{path}: not a valid OpenCV FileStorage YAML file ({where}{exc.problem or exc.context})"
        ) from None
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not a valid OpenCV FileStorage YAML file ({exc})") from None
    if data is None:
        raise CalibrationError(f"{path}: file is empty")
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _parse_float(text: Any, path: Path, key: str) -> float:
    if isinstance(text, str):
        s = text.strip()
        low = s.lower().lstrip("+")
        if low in (".nan", "nan"):
            return math.nan
        if low in (".inf", "inf", "-.inf", "-inf"):
            return -math.inf if low.startswith("-") else math.inf
        try:
            return float(s)
        except ValueError:
            pass
    raise CalibrationError(f"{path}: {key}: {text!r} is not a number")


def _parse_int(text: Any, path: Path, key: str) -> int:
    value = _parse_float(text, path, key)
    if not math.isfinite(value) or not value.is_integer():
        raise CalibrationError(f"{path}: {key}: expected an integer, got {text!r}")
    return int(value)


def _matrix(data: Mapping[str, Any], key: str, path: Path) -> np.ndarray:
    """Decode ``data[key]`` (an opencv-matrix) into a (rows, cols) float64 array with finite entries."""
    node = data[key]
    if isinstance(node, dict) and node.get("type_id") == "opencv-matrix":  # JSON FileStorage
        node = _Matrix(node, 0)
    if not isinstance(node, _Matrix):
        raise CalibrationError(f"{path}: {key} must be an !!opencv-matrix (rows, cols, dt, data)")
    fields = node.fields
    where = f"{key} (line {node.line})" if node.line else key
    missing = [f for f in ("rows", "cols", "data") if f not in fields]
    if missing:
        raise CalibrationError(f"{path}: {where}: opencv-matrix lacks {', '.join(missing)}")
    rows = _parse_int(fields["rows"], path, f"{key}.rows")
    cols = _parse_int(fields["cols"], path, f"{key}.cols")
    dt = str(fields.get("dt", "d")).strip()
    if not re.fullmatch(r"1?[udwsifh]", dt):
        raise CalibrationError(f"{path}: {where}: unsupported matrix type dt: {dt!r} (single-channel expected)")
    values = fields["data"]
    if not isinstance(values, list):
        raise CalibrationError(f"{path}: {where}: data must be a [ ... ] sequence of numbers")
    if len(values) != rows * cols:
        raise CalibrationError(
            f"{path}: {where}: data has {len(values)} numbers but rows x cols = {rows} x {cols}"
        )
    arr = np.array([_parse_float(v, path, key) for v in values], dtype=np.float64).reshape(rows, cols)
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{path}: {where}: non-finite value(s) (NaN or inf) in {arr.ravel().tolist()}")
    return arr


def _vector(data: Mapping[str, Any], key: str, path: Path, sizes: tuple[int, ...]) -> np.ndarray:
    arr = _matrix(data, key, path)
    if min(arr.shape) != 1 or arr.size not in sizes:
        want = " or ".join(f"1x{n} / {n}x1" for n in sizes)
        raise CalibrationError(f"{path}: {key} must be a {want} matrix, got {arr.shape[0]}x{arr.shape[1]}")
    return arr.ravel()


def _names(data: Mapping[str, Any], path: Path, required: bool) -> list[str] | None:
    if "names" not in data:
        if required:
            raise CalibrationError(f"{path}: missing key 'names' (the list of camera names)")
        return None
    names = data["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise CalibrationError(f"{path}: names must be a sequence of camera names, e.g.\nnames:\n   - \"cam00\"")
    if not names:
        raise CalibrationError(f"{path}: names is empty")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CalibrationError(f"{path}: names lists camera(s) {', '.join(map(repr, dup))} more than once")
    return names


def _need(data: Mapping[str, Any], path: Path, *keys: str, name: str) -> str:
    """The first of ``keys`` present in ``data``; else an error naming the file, camera and key."""
    for key in keys:
        if key in data:
            return key
    alt = " (nor " + ", ".join(keys[1:]) + ")" if len(keys) > 1 else ""
    raise CalibrationError(f"{path}: camera {name!r} listed in names has no {keys[0]}{alt}")


def _rodrigues(rvec: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))[0]


# --------------------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------------------
def read_easymocap(
    intri_path: str | os.PathLike,
    extri_path: str | os.PathLike,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> CameraRig:
    """Read an EasyMocap ``intri.yml`` / ``extri.yml`` pair.

    Parameters
    ----------
    intri_path, extri_path : path-like
        The two OpenCV FileStorage YAML files (``%YAML:1.0`` or ``%YAML 1.2``).
    image_sizes : mapping of str to (int, int), optional
        ``{camera: (width, height)}`` in pixels for cameras whose files lack ``W_``/``H_`` (a size that
        contradicts ``W_``/``H_`` is an error).

    Returns
    -------
    CameraRig
        Cameras in the order of intri's ``names``. A camera with no ``W_``/``H_`` and no entry in
        ``image_sizes`` has ``width = height = 0``: fill it from the images, then run
        :func:`~humanrecon.calibration.camera.validate_camera`. Every other value has been validated.

    Raises
    ------
    CalibrationError
        Missing or unreadable file, missing key, malformed matrix, non-finite value, ``Rot_`` and
        ``R_`` disagreeing, invalid camera; the message names the file and the key, e.g.
        ``calibration/intri.yml: camera 'cam03' listed in names has no K_cam03``.
    """
    intri_path, extri_path = Path(intri_path), Path(extri_path)
    intri = _load_filestorage(intri_path)
    extri = _load_filestorage(extri_path)
    names = _names(intri, intri_path, required=True) or []
    extri_names = _names(extri, extri_path, required=False)
    if extri_names is not None:
        missing = [n for n in names if n not in extri_names]
        if missing:
            raise CalibrationError(
                f"{extri_path}: names lacks camera(s) {', '.join(map(repr, missing))} listed in {intri_path}"
            )
        extra = [n for n in extri_names if n not in names]
        if extra:
            logger.warning("%s: cameras %s are not in %s and are ignored", extri_path, extra, intri_path)
    sizes = dict(image_sizes or {})
    unknown = sorted(set(sizes) - set(names))
    if unknown:
        raise CalibrationError(f"image_sizes names camera(s) {unknown} that {intri_path} does not list")

    cameras = []
    for name in names:
        need = functools.partial(_need, name=name)
        K = _matrix(intri, need(intri, intri_path, f"K_{name}"), intri_path)
        if K.shape != (3, 3):
            raise CalibrationError(f"{intri_path}: K_{name} must be 3x3, got {K.shape[0]}x{K.shape[1]}")
        dist_key = need(intri, intri_path, f"dist_{name}", f"D_{name}")
        dist = _vector(intri, dist_key, intri_path, (4, 5))
        if dist.size == 4:
            dist = np.append(dist, 0.0)

        width = height = 0
        has_w, has_h = f"W_{name}" in intri, f"H_{name}" in intri
        if has_w != has_h:
            present, absent = (f"W_{name}", f"H_{name}") if has_w else (f"H_{name}", f"W_{name}")
            raise CalibrationError(f"{intri_path}: {present} is given but {absent} is missing")
        if has_w:
            width = _parse_int(intri[f"W_{name}"], intri_path, f"W_{name}")
            height = _parse_int(intri[f"H_{name}"], intri_path, f"H_{name}")
            if width <= 0 or height <= 0:
                raise CalibrationError(
                    f"{intri_path}: W_{name}/H_{name} must be positive, got {width}x{height}"
                )
        if name in sizes:
            w_img, h_img = (int(v) for v in sizes[name])
            if has_w and (w_img, h_img) != (width, height):
                raise CalibrationError(
                    f"{intri_path}: W_{name}/H_{name} say {width}x{height} but the images of camera "
                    f"{name!r} are {w_img}x{h_img}"
                )
            width, height = w_img, h_img

        rot_key = f"Rot_{name}" if f"Rot_{name}" in extri else None
        rvec_key = f"R_{name}" if f"R_{name}" in extri else None
        if rot_key is None and rvec_key is None:
            need(extri, extri_path, f"Rot_{name}", f"R_{name}")
        if rot_key is not None:
            R = _matrix(extri, rot_key, extri_path)
            if R.shape != (3, 3):
                raise CalibrationError(f"{extri_path}: {rot_key} must be 3x3, got {R.shape[0]}x{R.shape[1]}")
            if rvec_key is not None:
                R_from_vec = _rodrigues(_vector(extri, rvec_key, extri_path, (3,)))
                diff = float(np.max(np.abs(R_from_vec - R)))
                if diff > ROTATION_AGREEMENT_TOL:
                    raise CalibrationError(
                        f"{extri_path}: camera {name!r}: {rot_key} and Rodrigues({rvec_key}) disagree "
                        f"(max difference {diff:.3g} > {ROTATION_AGREEMENT_TOL:g})"
                    )
        else:
            R = _rodrigues(_vector(extri, rvec_key, extri_path, (3,)))  # type: ignore[arg-type]
        t = _vector(extri, need(extri, extri_path, f"T_{name}"), extri_path, (3,))

        cam = Camera(name=name, K=K, dist=dist, R=R, t=t, width=width, height=height)
        problems = camera_problems(cam, check_size=False)
        if problems:
            keys = {"K": (intri_path, f"K_{name}"), "dist": (intri_path, dist_key),
                    "R": (extri_path, rot_key or rvec_key), "t": (extri_path, f"T_{name}")}
            field, msg = problems[0]
            path, key = keys[field]
            more = "; ".join(m for _, m in problems[1:])
            raise CalibrationError(f"{path}: {key}: camera {name!r}: {msg}" + (f"; also {more}" if more else ""))
        if float(np.linalg.norm(cam.center)) > SUSPICIOUS_DISTANCE_M:
            logger.warning(
                "%s: camera %r is %.0f m from the origin; T_%s must be in metres (millimetres?)",
                extri_path, name, float(np.linalg.norm(cam.center)), name,
            )
        cameras.append(cam)
    return CameraRig(tuple(cameras))


# --------------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------------
def _num(value: float) -> str:
    """Shortest decimal that reads back to the same float64, always with a '.' (OpenCV/YAML float)."""
    text = repr(float(value))
    mantissa, sep, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + sep + exponent


def _mat_lines(key: str, arr: np.ndarray) -> list[str]:
    arr = np.asarray(arr, dtype=np.float64)
    return [
        f"{key}: !!opencv-matrix",
        f"   rows: {arr.shape[0]}",
        f"   cols: {arr.shape[1]}",
        "   dt: d",
        "   data: [ " + ", ".join(_num(v) for v in arr.ravel()) + " ]",
    ]


def _header(names: tuple[str, ...]) -> list[str]:
    return ["%YAML:1.0", "---", "names:", *(f'   - "{n}"' for n in names)]


def easymocap_texts(rig: CameraRig) -> tuple[str, str]:
    """The ``(intri.yml, extri.yml)`` texts :func:`write_easymocap` writes (validated first)."""
    for cam in rig:
        if not CAMERA_NAME_RE.match(cam.name):
            raise CalibrationError(
                f"camera {cam.name!r}: name cannot be written as EasyMocap keys (letters, digits, '_' "
                "and '-' only)"
            )
        problems = camera_problems(cam, check_size=False)
        if problems:
            raise CalibrationError(f"camera {cam.name!r}: " + "; ".join(m for _, m in problems))
        if (cam.width > 0) != (cam.height > 0) or cam.width < 0 or cam.height < 0:
            raise CalibrationError(f"camera {cam.name!r}: invalid image size {cam.width}x{cam.height}")
    if not len(rig):
        raise CalibrationError("cannot write an empty camera rig")
    intri = _header(rig.names)
    extri = _header(rig.names)
    for cam in rig:
        intri += _mat_lines(f"K_{cam.name}", cam.K)
        intri += _mat_lines(f"dist_{cam.name}", cam.dist.reshape(1, 5))
        if cam.width > 0:
            intri += [f"H_{cam.name}: {cam.height}", f"W_{cam.name}: {cam.width}"]
        rvec = cv2.Rodrigues(np.ascontiguousarray(cam.R))[0]
        extri += _mat_lines(f"R_{cam.name}", rvec.reshape(3, 1))
        extri += _mat_lines(f"Rot_{cam.name}", cam.R)
        extri += _mat_lines(f"T_{cam.name}", cam.t.reshape(3, 1))
    return "\n".join(intri) + "\n", "\n".join(extri) + "\n"


def write_easymocap(rig: CameraRig, intri_path: str | os.PathLike, extri_path: str | os.PathLike) -> None:
    """Write a rig as EasyMocap ``intri.yml`` and ``extri.yml`` (``%YAML:1.0``, OpenCV 4 layout).

    Each file is written atomically (temporary sibling + rename); nothing is written if a camera is
    invalid. Numbers are written with the shortest decimal that reads back bit-exactly, so
    ``read_easymocap(write_easymocap(rig))`` equals ``rig`` and identical rigs give identical bytes.
    ``H_``/``W_`` are written for cameras whose size is known (non-zero).

    Parameters
    ----------
    rig : CameraRig
        Camera names must consist of letters, digits, ``_`` and ``-`` (OpenCV key characters).
    intri_path, extri_path : path-like
        Output files; parent folders are created.

    Raises
    ------
    CalibrationError
        An invalid camera (non-finite values, not a rotation, ...) or an unwritable camera name.
    """
    intri_text, extri_text = easymocap_texts(rig)
    atomic_write_text(intri_path, intri_text)
    atomic_write_text(extri_path, extri_text)
