"""humanrecon's JSON calibration format (version 1): one ``.json`` file for a whole rig.

Specification (also in ``docs/calibration-formats.md``)
------------------------------------------------------
A UTF-8 JSON object::

    {
      "version": 1,
      "units": "m",
      "cameras": [
        {
          "name": "cam00",
          "width": 1280,
          "height": 720,
          "K": [[1100.0, 0.0, 639.5], [0.0, 1100.0, 359.5], [0.0, 0.0, 1.0]],
          "dist": [-0.12, 0.03, 0.0001, -0.0002, 0.0],
          "R": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
          "t": [0.0, 0.0, 3.0]
        }
      ]
    }

=================  ========  ====================================================================
 key                 required  value
=================  ========  ====================================================================
 ``version``         yes       the integer ``1``
 ``units``           yes       ``"m"``: world lengths (``t``) are metres (the only unit supported)
 ``cameras``         yes       non-empty array of camera objects; the rig's camera order
 ``name``            yes       non-empty string, unique in the file
 ``width``,          no        image size in pixels, positive integers; both or neither (without
 ``height``                    them the size is taken from the images)
 ``K``               yes       3x3 array of arrays ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``, pixels,
                               ``fx, fy > 0``; pixel ``(0, 0)`` is the centre of the top-left pixel
 ``dist``            yes       5 numbers ``[k1, k2, p1, p2, k3]`` (OpenCV's model)
 ``R``               one of    3x3 world->camera rotation matrix (orthonormal, ``det = +1``)
 ``rvec``            the two   3 numbers: world->camera rotation as a Rodrigues (axis-angle) vector
 ``t``               yes       3 numbers: world->camera translation, metres (``X_c = R X_w + t``)
=================  ========  ====================================================================

The camera model is :mod:`humanrecon.conventions`' (OpenCV). Numbers are JSON numbers (``NaN``/
``Infinity`` are refused as non-finite); any other key, a missing key, a wrong shape or another
``version``/``units`` is an error naming the file, the camera and the key.

The writer writes ``R`` (exact; ``rvec`` is read only), every number as the shortest decimal that
reads back to the same float64 (so a round trip is bit-exact), keys in the order above, one matrix row
per line, and ``width``/``height`` only for cameras whose size is known. Identical rigs give identical
bytes; the file is replaced atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from humanrecon.calibration.camera import CalibrationError, Camera, CameraRig, camera_problems
from humanrecon.io.atomic import atomic_write_text

#: The format version this module reads and writes.
JSON_FORMAT_VERSION = 1
_TOP_KEYS = ("version", "units", "cameras")
_CAMERA_KEYS = ("name", "width", "height", "K", "dist", "R", "rvec", "t")
_REQUIRED_CAMERA_KEYS = ("name", "K", "dist", "t")


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _array(value: Any, shape: tuple[int, ...], where: str, key: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (nested JSON arrays of numbers), else an error."""
    def fits(v: Any, dims: tuple[int, ...]) -> bool:
        if not dims:
            return _is_number(v)
        return isinstance(v, list) and len(v) == dims[0] and all(fits(x, dims[1:]) for x in v)

    if not fits(value, shape):
        want = "x".join(map(str, shape))
        form = "an array of 3 arrays of 3 numbers" if len(shape) == 2 else f"an array of {shape[0]} numbers"
        raise CalibrationError(f"{where}: key {key!r} must be {form} ({want}), got {json.dumps(value)[:120]}")
    arr = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{where}: key {key!r} has non-finite entries (NaN or inf): {arr.tolist()}")
    return arr


def _size_value(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or not float(value).is_integer():
        raise CalibrationError(f"{where}: key {key!r} must be a positive integer (pixels), got {json.dumps(value)}")
    return int(value)


def _read_camera(entry: Any, index: int, path: Path) -> tuple[Camera, str]:
    where = f"{path}: cameras[{index}]"
    if not isinstance(entry, dict):
        raise CalibrationError(f"{where}: must be an object with keys {', '.join(_CAMERA_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        if "name" not in entry:
            raise CalibrationError(f"{where}: missing key 'name'")
        raise CalibrationError(f"{where}: key 'name' must be a non-empty string, got {json.dumps(name)}")
    where = f"{path}: camera {name!r} (cameras[{index}])"
    unknown = [k for k in entry if k not in _CAMERA_KEYS]
    if unknown:
        raise CalibrationError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: {', '.join(_CAMERA_KEYS)}"
        )
    missing = [k for k in _REQUIRED_CAMERA_KEYS if k not in entry]
    if missing:
        raise CalibrationError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
    if ("R" in entry) == ("rvec" in entry):
        raise CalibrationError(
            f"{where}: give exactly one of the keys 'R' (3x3 matrix) and 'rvec' (Rodrigues vector), got "
            + ("both" if "R" in entry else "neither")
        )
    K = _array(entry["K"], (3, 3), where, "K")
    dist = _array(entry["dist"], (5,), where, "dist")
    t = _array(entry["t"], (3,), where, "t")
    rot_key = "R" if "R" in entry else "rvec"
    if rot_key == "R":
        R = _array(entry["R"], (3, 3), where, "R")
    else:
        R = cv2.Rodrigues(_array(entry["rvec"], (3,), where, "rvec").reshape(3, 1))[0]
    if ("width" in entry) != ("height" in entry):
        present, absent = ("width", "height") if "width" in entry else ("height", "width")
        raise CalibrationError(f"{where}: key {present!r} is given but {absent!r} is missing (both or neither)")
    width = _size_value(entry["width"], where, "width") if "width" in entry else 0
    height = _size_value(entry["height"], where, "height") if "height" in entry else 0
    cam = Camera(name, K, dist, R, t, width, height)
    problems = camera_problems(cam, check_size=False)
    if problems:
        keys = {"K": "K", "dist": "dist", "R": rot_key, "t": "t"}
        raise CalibrationError(
            f"{where}: " + "; ".join(f"key {keys.get(field, field)!r}: {msg}" for field, msg in problems)
        )
    return cam, where


def read_json_calibration(
    path: str | os.PathLike, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> CameraRig:
    """Read a humanrecon JSON calibration file (format version 1, see the module docstring).

    Parameters
    ----------
    path : path-like
        The ``.json`` file.
    image_sizes : mapping of str to (int, int), optional
        ``{camera: (width, height)}`` pixels for cameras without ``width``/``height`` (a size that
        contradicts the file's is an error).

    Returns
    -------
    CameraRig
        Cameras in file order; a camera without a size in the file or ``image_sizes`` has
        ``width = height = 0`` (fill it, then validate). Every other value has been validated.

    Raises
    ------
    CalibrationError
        Unreadable file, invalid JSON (with line and column), duplicate key, unknown or missing key,
        wrong shape or type, non-finite number, another ``version`` or ``units``, an invalid camera
        (non-orthonormal ``R``, non-positive focal length, ...), duplicate camera names; the message
        names the file, the camera and the key, e.g. ``rig.json: camera 'cam01' (cameras[1]): key 'R':
        R is not orthonormal (...)``.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise CalibrationError(f"{path}: calibration file not found") from None
    except IsADirectoryError:
        raise CalibrationError(f"{path}: is a folder; the JSON calibration is a .json file") from None
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read calibration file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not a UTF-8 text file (JSON expected)") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except _DuplicateKey as exc:
        raise CalibrationError(f"{path}: duplicate key {exc.args[0]!r} in a JSON object") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: top level must be an object with keys {', '.join(_TOP_KEYS)}")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise CalibrationError(
            f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))}; allowed keys: {', '.join(_TOP_KEYS)}"
        )
    missing = [k for k in _TOP_KEYS if k not in data]
    if missing:
        raise CalibrationError(f"{path}: missing top-level key(s) {', '.join(map(repr, missing))}")
    version = data["version"]
    if isinstance(version, bool) or version != JSON_FORMAT_VERSION:
        raise CalibrationError(
            f"{path}: key 'version': unsupported format version {json.dumps(version)}; this reader knows "
            f"version {JSON_FORMAT_VERSION}"
        )
    if data["units"] != "m":
        raise CalibrationError(
            f"{path}: key 'units': {json.dumps(data['units'])} is not supported; only metres (\"m\") are"
        )
    entries = data["cameras"]
    if not isinstance(entries, list) or not entries:
        raise CalibrationError(f"{path}: key 'cameras' must be a non-empty array of camera objects")

    sizes = {str(k): tuple(int(v) for v in s) for k, s in (image_sizes or {}).items()}
    cameras: list[Camera] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        cam, where = _read_camera(entry, index, path)
        if cam.name in seen:
            raise CalibrationError(f"{where}: duplicate camera name (also cameras[{seen[cam.name]}])")
        seen[cam.name] = index
        if cam.name in sizes:
            w, h = sizes[cam.name]
            if cam.width > 0 and (cam.width, cam.height) != (w, h):
                raise CalibrationError(
                    f"{where}: keys 'width'/'height' say {cam.width}x{cam.height} but the camera's images are {w}x{h}"
                )
            cam = Camera(cam.name, cam.K, cam.dist, cam.R, cam.t, w, h)
        cameras.append(cam)
    unknown = sorted(set(sizes) - set(seen))
    if unknown:
        raise CalibrationError(f"image_sizes names camera(s) {unknown} that {path} does not have")
    return CameraRig(tuple(cameras))


# --------------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------------
def _vec(values: np.ndarray) -> str:
    return "[" + ", ".join(json.dumps(float(v)) for v in values) + "]"


def _mat(rows: np.ndarray) -> str:
    return "[" + ", ".join(_vec(r) for r in rows) + "]"


def json_calibration_text(rig: CameraRig) -> str:
    """The text :func:`write_json_calibration` writes (cameras validated first)."""
    if not len(rig):
        raise CalibrationError("cannot write an empty camera rig")
    blocks = []
    for cam in rig:
        problems = camera_problems(cam, check_size=False)
        if problems:
            raise CalibrationError(f"camera {cam.name!r}: " + "; ".join(m for _, m in problems))
        if (cam.width > 0) != (cam.height > 0) or cam.width < 0 or cam.height < 0:
            raise CalibrationError(f"camera {cam.name!r}: invalid image size {cam.width}x{cam.height}")
        fields = [f'"name": {json.dumps(cam.name)}']
        if cam.width > 0:
            fields += [f'"width": {cam.width}', f'"height": {cam.height}']
        fields += [
            f'"K": {_mat(cam.K)}',
            f'"dist": {_vec(cam.dist)}',
            f'"R": {_mat(cam.R)}',
            f'"t": {_vec(cam.t)}',
        ]
        blocks.append("    {\n" + ",\n".join("      " + f for f in fields) + "\n    }")
    return (
        "{\n"
        f'  "version": {JSON_FORMAT_VERSION},\n'
        '  "units": "m",\n'
        '  "cameras": [\n' + ",\n".join(blocks) + "\n  ]\n"
        "}\n"
    )


def write_json_calibration(rig: CameraRig, path: str | os.PathLike) -> None:
    """Write a rig as a humanrecon JSON calibration file (version 1), atomically.

    Parameters
    ----------
    rig : CameraRig
        Valid cameras (size may be unknown: then ``width``/``height`` are omitted).
    path : path-like
        Output ``.json`` file; parent folders are created.

    Raises
    ------
    CalibrationError
        Empty rig or an invalid camera; nothing is written then.

    Notes
    -----
    ``read_json_calibration(path)`` returns a rig equal to ``rig`` (bit-exact numbers), and identical
    rigs give identical bytes.
    """
    atomic_write_text(path, json_calibration_text(rig))
