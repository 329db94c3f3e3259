"""Calibration as one 3x4 projection matrix per camera: ``<folder>/<camera>.txt`` (+ ``sizes.yaml``).

Files
-----
``<folder>/<camera>.txt``
    The camera's ``P`` (world -> pixels, ``[u, v, 1]^T ~ P [X, Y, Z, 1]^T``): three lines of four
    whitespace-separated numbers. ``#`` starts a comment (whole line or end of line); blank lines are
    ignored; a first line ``CONTOUR`` (PMVS/CMVS's ``txt/`` files) is accepted. The file stem is the
    camera name; cameras are ordered by name. Every ``.txt`` file in the folder is a camera.
``<folder>/sizes.yaml`` (optional)
    Image sizes in pixels, one mapping per camera::

        cam00: {width: 1280, height: 720}
        cam01: {width: 1280, height: 720}

    Sizes may also be passed to the reader (``image_sizes``); both must agree. Cameras without a size
    get ``width = height = 0`` (fill them from the images).

Conventions
-----------
``P = K [R | t]`` with humanrecon's camera model (:mod:`humanrecon.conventions`): world->camera ``R``,
``t`` (metres), pixel ``(0, 0)`` at the centre of the top-left pixel. A projection matrix has no lens
distortion: ``dist`` is zero (write matrices only for undistorted images). ``P`` is defined up to a
non-zero scale, sign included; the file's scale does not matter.

Decomposition (:func:`decompose_projection_matrix`)
--------------------------------------------------
With ``M = P[:, :3]``: if ``det(M) < 0`` the whole ``P`` is negated (for ``P = s K [R | t]`` with
``diag(K) > 0`` and ``det(R) = +1``, ``det(M) = s^3 det(K)`` has the sign of ``s``). ``M = K0 R`` by RQ
decomposition (:func:`scipy.linalg.rq`); ``D = diag(sign(diag(K0)))`` makes ``K0 D`` have a positive
diagonal and ``D R`` stays a rotation because ``D D = I`` and ``det(M) > 0``. Finally ``K = K0 / K0[2, 2]``
and ``t = K0^-1 P[:, 3]``. A skew below :data:`SKEW_ZERO_RTOL` ``* fx`` is decomposition round-off and
is set to 0.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import yaml

from humanrecon.calibration._text import TokenError, finite_float
from humanrecon.calibration.camera import CalibrationError, Camera, CameraRig, camera_problems
from humanrecon.io.atomic import atomic_write_text
from humanrecon.io.yamlutil import UniqueKeyLoader

#: ``|K[0, 1]| <= SKEW_ZERO_RTOL * K[0, 0]`` after decomposition is treated as zero skew.
SKEW_ZERO_RTOL = 1e-9
#: ``P`` whose smallest/largest singular value ratio (of ``P``, or of its left 3x3 block) is below this
#: is refused as rank-deficient.
RANK_RTOL = 1e-12
#: Name of the optional image-size file in a projection-matrix folder.
SIZES_FILE = "sizes.yaml"


def decompose_projection_matrix(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a projection matrix into ``K``, ``R``, ``t`` with ``P ~ K [R | t]``.

    Parameters
    ----------
    P : array_like
        (3, 4) finite projection matrix, world -> pixels, any non-zero scale (negative too).

    Returns
    -------
    K : numpy.ndarray
        (3, 3) float64 upper triangular, ``fx, fy > 0``, ``K[2, 2] = 1``; skew set to 0 when it is below
        :data:`SKEW_ZERO_RTOL` ``* fx``.
    R : numpy.ndarray
        (3, 3) float64 world->camera rotation, ``det(R) = +1``.
    t : numpy.ndarray
        (3,) float64 world->camera translation (the units of ``P``'s world, metres in humanrecon).

    Raises
    ------
    CalibrationError
        ``P`` is not 3x4, has non-finite entries, is rank-deficient or its left 3x3 block is singular
        (a camera at infinity). The message does not name a file; callers add it.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.shape != (3, 4):
        raise CalibrationError(f"projection matrix must be 3x4, got shape {P.shape}")
    if not np.all(np.isfinite(P)):
        raise CalibrationError("projection matrix has non-finite entries (NaN or inf)")
    sv = np.linalg.svd(P, compute_uv=False)
    if not sv[0] > 0 or sv[2] <= RANK_RTOL * sv[0]:
        rank = int(np.sum(sv > RANK_RTOL * sv[0])) if sv[0] > 0 else 0
        raise CalibrationError(f"projection matrix is rank-deficient (rank {rank}, singular values {sv.tolist()})")
    M = P[:, :3]
    svm = np.linalg.svd(M, compute_uv=False)
    if svm[2] <= RANK_RTOL * svm[0]:
        raise CalibrationError(
            f"the left 3x3 block of the projection matrix is singular (singular values {svm.tolist()}): not a "
            "finite perspective camera"
        )
    if np.linalg.det(M) < 0:
        P = -P
        M = P[:, :3]
    K0, R = scipy.linalg.rq(M)
    D = np.diag(np.where(np.diag(K0) < 0, -1.0, 1.0))
    K0 = K0 @ D
    R = D @ R
    t = np.linalg.solve(K0, P[:, 3])
    K = K0 / K0[2, 2]
    K[1, 0] = K[2, 0] = K[2, 1] = 0.0
    K[2, 2] = 1.0
    if abs(K[0, 1]) <= SKEW_ZERO_RTOL * K[0, 0]:
        K[0, 1] = 0.0
    return K + 0.0, R + 0.0, t + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------------------
def _parse_matrix_file(path: Path) -> np.ndarray:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read projection matrix file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not a text file (3 lines of 4 numbers expected)") from None
    rows: list[list[float]] = []
    first = True
    for i, raw in enumerate(text.splitlines()):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if first and line == "CONTOUR":
            first = False
            continue
        first = False
        where = f"{path}: line {i + 1}"
        if len(rows) == 3:
            raise CalibrationError(f"{where}: more than 3 rows of numbers (a projection matrix is 3x4)")
        tokens = line.split()
        if len(tokens) != 4:
            raise CalibrationError(f"{where}: expected 4 numbers (a row of the 3x4 matrix), got {len(tokens)}: {line!r}")
        row = []
        for tok in tokens:
            try:
                row.append(finite_float(tok))
            except TokenError as exc:
                if exc.parsed:
                    raise CalibrationError(f"{where}: non-finite value {tok!r}; all entries must be finite") from None
                raise CalibrationError(f"{where}: {tok!r} is not a number") from None
        rows.append(row)
    if len(rows) != 3:
        raise CalibrationError(f"{path}: expected 3 rows of 4 numbers (a 3x4 projection matrix), got {len(rows)} row(s)")
    return np.array(rows)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def read_sizes_yaml(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Read a ``sizes.yaml`` (``camera: {width: W, height: H}``) into ``{camera: (width, height)}``.

    Raises
    ------
    CalibrationError
        Unreadable or invalid YAML, duplicate cameras, missing/unknown keys or non-positive integers;
        the message names the file and the camera.
    """
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=UniqueKeyLoader)  # SafeLoader subclass
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read image sizes ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not a text file") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise CalibrationError(f"{path}: not valid YAML ({where}{exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: expected a mapping 'camera: {{width: W, height: H}}', got {type(data).__name__}")
    sizes = {}
    for name, entry in data.items():
        if not isinstance(name, str):
            raise CalibrationError(
                f"{path}: camera name {name!r} must be a string (quote it, e.g. \"{name}\": ...)"
            )
        if not isinstance(entry, dict) or set(entry) != {"width", "height"}:
            raise CalibrationError(
                f"{path}: camera {name!r}: expected {{width: W, height: H}} (pixels), got {entry!r}"
            )
        w, h = _positive_int(entry["width"]), _positive_int(entry["height"])
        if w is None or h is None:
            raise CalibrationError(
                f"{path}: camera {name!r}: width and height must be positive integers, got "
                f"{entry['width']!r}x{entry['height']!r}"
            )
        sizes[name] = (w, h)
    return sizes


def read_projection_matrices(
    folder: str | os.PathLike, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> CameraRig:
    """Read a folder of projection matrices (``<camera>.txt``) and the optional ``sizes.yaml``.

    Parameters
    ----------
    folder : path-like
        Folder holding one ``<camera>.txt`` per camera (3 lines of 4 numbers, ``#`` comments allowed).
    image_sizes : mapping of str to (int, int), optional
        ``{camera: (width, height)}`` pixels; must agree with ``sizes.yaml`` where both give a size.

    Returns
    -------
    CameraRig
        Cameras ordered by name, ``K``, ``R``, ``t`` from :func:`decompose_projection_matrix`, zero
        distortion; size from ``sizes.yaml`` or ``image_sizes``, else 0 (fill it, then validate).

    Raises
    ------
    CalibrationError
        Missing folder, no ``.txt`` file, a wrong number of values on a line or of lines, a non-number,
        NaN/inf, a rank-deficient ``P``, an invalid or contradicting size; the message names the file
        (and the line or camera).
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise CalibrationError(f"{folder}: projection-matrix folder {what} (expected <camera>.txt files)")
    files = sorted(p for p in folder.glob("*.txt") if p.is_file())
    if not files:
        raise CalibrationError(f"{folder}: no <camera>.txt projection matrix files")
    names = [p.stem for p in files]
    sizes_path = folder / SIZES_FILE
    file_sizes = read_sizes_yaml(sizes_path) if sizes_path.is_file() else {}
    unknown = sorted(set(file_sizes) - set(names))
    if unknown:
        raise CalibrationError(f"{sizes_path}: camera(s) {unknown} have no projection matrix in {folder}")
    given = {str(k): tuple(int(v) for v in s) for k, s in (image_sizes or {}).items()}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise CalibrationError(f"image_sizes names camera(s) {unknown} that {folder} does not have")

    cameras = []
    for path, name in zip(files, names, strict=True):
        P = _parse_matrix_file(path)
        try:
            K, R, t = decompose_projection_matrix(P)
        except CalibrationError as exc:
            raise CalibrationError(f"{path}: camera {name!r}: {exc}") from None
        width, height = file_sizes.get(name, (0, 0))
        if name in given:
            if name in file_sizes and given[name] != file_sizes[name]:
                raise CalibrationError(
                    f"{sizes_path}: camera {name!r} is {width}x{height} but its images are "
                    f"{given[name][0]}x{given[name][1]}"
                )
            width, height = given[name]
        cam = Camera(name, K, np.zeros(5), R, t, width, height)
        problems = camera_problems(cam, check_size=False)
        if problems:
            raise CalibrationError(f"{path}: camera {name!r}: " + "; ".join(m for _, m in problems))
        cameras.append(cam)
    return CameraRig(tuple(cameras))


# --------------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------------
_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")


def projection_matrix_text(cam: Camera) -> str:
    """The ``<camera>.txt`` text of one camera: a comment line, then ``P = K [R | t]`` in 3 rows."""
    rows = [" ".join(repr(float(v)) for v in row) for row in cam.P]
    return f"# {cam.name}: 3x4 projection matrix P = K [R | t], world (m) -> pixels, pixel (0, 0) = centre of the top-left pixel\n" + "\n".join(rows) + "\n"


def write_projection_matrices(rig: CameraRig, folder: str | os.PathLike) -> None:
    """Write one ``<camera>.txt`` projection matrix per camera, and ``sizes.yaml`` for known sizes.

    Each file is written atomically; nothing is written if a camera cannot be represented. Numbers are
    the shortest decimals that read back exactly, but ``P = K [R | t]`` is a product, so reading back
    recovers ``K``, ``R``, ``t`` to round-off (~1e-12 relative), not bit-exactly. An existing
    ``sizes.yaml`` is replaced (removed when no camera has a known size).

    Parameters
    ----------
    rig : CameraRig
        Valid cameras without lens distortion; names usable as file names (letters, digits, ``._+-``).
    folder : path-like
        Output folder (created). It must not hold other ``.txt`` files, which would read back as cameras.

    Raises
    ------
    CalibrationError
        Empty rig, invalid camera, lens distortion (a projection matrix cannot hold it: undistort the
        images first), an unusable name, or foreign ``.txt`` files in ``folder``.
    """
    if not len(rig):
        raise CalibrationError("cannot write an empty camera rig")
    texts = {}
    for cam in rig:
        if not _NAME_RE.match(cam.name) or cam.name in (".", ".."):
            raise CalibrationError(
                f"camera {cam.name!r}: name cannot be a projection-matrix file name (letters, digits, '._+-')"
            )
        problems = camera_problems(cam, check_size=False)
        if problems:
            raise CalibrationError(f"camera {cam.name!r}: " + "; ".join(m for _, m in problems))
        if np.any(cam.dist):
            raise CalibrationError(
                f"camera {cam.name!r}: a projection matrix cannot hold lens distortion (dist = "
                f"{cam.dist.tolist()}); undistort the images and write the undistorted cameras"
            )
        if (cam.width > 0) != (cam.height > 0) or cam.width < 0 or cam.height < 0:
            raise CalibrationError(f"camera {cam.name!r}: invalid image size {cam.width}x{cam.height}")
        texts[f"{cam.name}.txt"] = projection_matrix_text(cam)
    folder = Path(folder)
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.glob("*.txt") if p.name not in texts)
        if foreign:
            raise CalibrationError(
                f"{folder}: holds other .txt files ({', '.join(foreign[:5])}) that would be read back as "
                "cameras; write to an empty folder"
            )
    for fname, text in texts.items():
        atomic_write_text(folder / fname, text)
    known = [cam for cam in rig if cam.width > 0]
    if known:
        lines = ["# image sizes in pixels: camera: {width: W, height: H}"] + [
            f"{json.dumps(cam.name)}: {{width: {cam.width}, height: {cam.height}}}" for cam in known
        ]
        atomic_write_text(folder / SIZES_FILE, "\n".join(lines) + "\n")
    else:
        (folder / SIZES_FILE).unlink(missing_ok=True)
