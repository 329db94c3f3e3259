"""COLMAP sparse models in text form: ``cameras.txt`` + ``images.txt`` (``points3D.txt`` is ignored).

Files (COLMAP's "Output Format" documentation; ``#`` starts a comment line)
---------------------------------------------------------------------------
``cameras.txt``, one line per camera::

    CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]

``images.txt``, two lines per image: the pose line and the 2-D points line (which may be empty)::

    IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME
    X Y POINT3D_ID X Y POINT3D_ID ...

``(QW, QX, QY, QZ)`` is the world->camera rotation as a unit quaternion (Hamilton convention, scalar
first, as in Eigen) and ``(TX, TY, TZ)`` the world->camera translation, so ``X_c = R(q) X_w + T``: the
same direction as humanrecon's ``R``, ``t``. Camera axes are x right, y down, z forward, as in OpenCV.
World units are whatever the reconstruction used; humanrecon assumes metres (scale a COLMAP model
to metres before using it).

Camera models read (anything else is an error naming the model and the line)
----------------------------------------------------------------------------
=================  ============================  ============================================
 model              PARAMS                         humanrecon ``K`` / ``dist``
=================  ============================  ============================================
 SIMPLE_PINHOLE     f cx cy                        ``fx = fy = f``, no distortion
 PINHOLE            fx fy cx cy                    no distortion
 SIMPLE_RADIAL      f cx cy k                      ``dist = (k, 0, 0, 0, 0)``
 RADIAL             f cx cy k1 k2                  ``dist = (k1, k2, 0, 0, 0)``
 OPENCV             fx fy cx cy k1 k2 p1 p2        ``dist = (k1, k2, p1, p2, 0)``
=================  ============================  ============================================

COLMAP's radial and OPENCV distortions are OpenCV's formulas (``x_d = x (1 + k1 r^2 + k2 r^4) + 2 p1 x y
+ p2 (r^2 + 2 x^2)``, ...), so they map coefficient for coefficient; COLMAP has no ``k3`` and no skew.

Pixel centres (the one real difference)
---------------------------------------
COLMAP's camera models put the *upper-left image corner* at ``(0, 0)``: the centre of the upper-left
pixel is ``(0.5, 0.5)`` and that of the lower-right pixel ``(width - 0.5, height - 0.5)`` (stated in
COLMAP's ``src/colmap/sensor/models.h``; its features are detected in that convention). humanrecon
(and OpenCV) put the centre of the upper-left pixel at ``(0, 0)``. A pixel is therefore
``u_opencv = u_colmap - 0.5``, ``v_opencv = v_colmap - 0.5``, and since the focal lengths are
unchanged::

    cx_opencv = cx_colmap - 0.5        cy_opencv = cy_colmap - 0.5

The reader subtracts 0.5 and the writer adds it back, so a 3-D point projects onto the same physical
spot of the image either way.

Images -> humanrecon cameras
----------------------------
COLMAP has one pose per *image*; a humanrecon camera is one physical camera with one pose. The camera
name of an image is, with ``camera_names="auto"`` (the default), the folder holding the image when every
image NAME has a folder (``cam03/000000.png`` -> ``cam03``; the innermost folder), else the image
NAME's stem (``P1180141.JPG`` -> ``P1180141``). Several images with the same camera name (e.g. every
frame of a static rig) collapse to one camera: they must have the same pose (within
:data:`POSE_AGREEMENT_TOL`) and the same intrinsics and size, else the file is refused. Cameras appear
in the order of their first image in ``images.txt``. ``CAMERA_ID``\\ s that no image uses are ignored.

The writer produces exactly this layout with COLMAP's own comment headers, one image per camera named
``<camera>/000000.png`` by default, ``PINHOLE`` for cameras without distortion and ``OPENCV`` otherwise,
and an empty ``points3D.txt`` (so that COLMAP can import the model). Numbers are written with the
shortest decimal that reads back to the same float64.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from humanrecon.calibration._text import TokenError, finite_float
from humanrecon.calibration.camera import CalibrationError, Camera, CameraRig, camera_problems
from humanrecon.io.atomic import atomic_write_text

logger = logging.getLogger(__name__)

#: COLMAP pixel coordinate minus humanrecon (OpenCV) pixel coordinate, pixels.
COLMAP_PIXEL_OFFSET = 0.5
#: Max entry-wise difference (R entries; t in metres) between the poses of images of one camera.
POSE_AGREEMENT_TOL = 1e-6
#: Max relative difference between the intrinsics of images of one camera that use different CAMERA_IDs.
INTRINSICS_AGREEMENT_RTOL = 1e-9
#: A quaternion whose norm differs from 1 by more than this is logged (it is normalised either way).
QUATERNION_NORM_WARN = 1e-6

#: Supported camera models -> parameter names, in COLMAP's order.
COLMAP_MODELS: dict[str, tuple[str, ...]] = {
    "SIMPLE_PINHOLE": ("f", "cx", "cy"),
    "PINHOLE": ("fx", "fy", "cx", "cy"),
    "SIMPLE_RADIAL": ("f", "cx", "cy", "k"),
    "RADIAL": ("f", "cx", "cy", "k1", "k2"),
    "OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2"),
}

CameraNaming = Literal["auto", "folder", "stem"]

_CAMERAS_HEADER = (
    "# Camera list with one line of data per camera:\n"
    "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
    "# Number of cameras: {n}\n"
)
_IMAGES_HEADER = (
    "# Image list with two lines of data per image:\n"
    "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
    "#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
    "# Number of images: {n}, mean observations per image: 0\n"
)
_POINTS_HEADER = (
    "# 3D point list with one line of data per point:\n"
    "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
    "# Number of points: 0, mean track length: 0\n"
)


@dataclass(frozen=True)
class _ColmapCamera:
    camera_id: int
    model: str
    width: int
    height: int
    K: np.ndarray  # humanrecon convention (cx, cy already shifted)
    dist: np.ndarray
    line: int


@dataclass(frozen=True)
class _ColmapImage:
    image_id: int
    R: np.ndarray
    t: np.ndarray
    camera_id: int
    name: str
    line: int


# --------------------------------------------------------------------------------------------------
# parsing helpers
# --------------------------------------------------------------------------------------------------
def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CalibrationError(f"{path}: COLMAP model file not found") from None
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read COLMAP model file ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise CalibrationError(
            f"{path}: not a UTF-8 text file (is it the binary model, cameras.bin/images.bin? convert it with "
            "'colmap model_converter --output_type TXT')"
        ) from None


def _number(token: str, where: str, field: str) -> float:
    try:
        return finite_float(token)
    except TokenError as exc:
        if exc.parsed:
            raise CalibrationError(f"{where}: {field} is {token!r}; all values must be finite") from None
        raise CalibrationError(f"{where}: {field} {token!r} is not a number") from None


def _integer(token: str, where: str, field: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise CalibrationError(f"{where}: {field} {token!r} is not an integer") from None


def _intrinsics(model: str, params: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """COLMAP model parameters -> humanrecon ``(K, dist)`` (principal point shifted by -0.5)."""
    p = dict(zip(COLMAP_MODELS[model], params, strict=True))
    fx = p.get("fx", p.get("f"))
    fy = p.get("fy", p.get("f"))
    cx = p["cx"] - COLMAP_PIXEL_OFFSET
    cy = p["cy"] - COLMAP_PIXEL_OFFSET
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    dist = np.array([p.get("k1", p.get("k", 0.0)), p.get("k2", 0.0), p.get("p1", 0.0), p.get("p2", 0.0), 0.0])
    return K, dist


def _parse_cameras(path: Path) -> dict[int, _ColmapCamera]:
    cameras: dict[int, _ColmapCamera] = {}
    for i, raw in enumerate(_read_lines(path)):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}: line {i + 1}"
        tokens = line.split()
        if len(tokens) < 4:
            raise CalibrationError(
                f"{where}: a camera line needs CAMERA_ID MODEL WIDTH HEIGHT PARAMS[], got {len(tokens)} "
                f"field(s): {line!r}"
            )
        camera_id = _integer(tokens[0], where, "CAMERA_ID")
        model = tokens[1]
        where = f"{where} (CAMERA_ID {camera_id})"
        if model not in COLMAP_MODELS:
            raise CalibrationError(
                f"{where}: camera model {model!r} is not supported; supported models: "
                f"{', '.join(COLMAP_MODELS)} (undistort the images with 'colmap image_undistorter' to get "
                "PINHOLE cameras)"
            )
        if camera_id in cameras:
            raise CalibrationError(f"{where}: CAMERA_ID {camera_id} already defined on line {cameras[camera_id].line}")
        width = _integer(tokens[2], where, "WIDTH")
        height = _integer(tokens[3], where, "HEIGHT")
        if width <= 0 or height <= 0:
            raise CalibrationError(f"{where}: image size must be positive, got {width}x{height}")
        names = COLMAP_MODELS[model]
        if len(tokens) - 4 != len(names):
            raise CalibrationError(
                f"{where}: model {model} takes {len(names)} parameters ({' '.join(names)}), got "
                f"{len(tokens) - 4}"
            )
        params = [_number(tok, where, name) for tok, name in zip(tokens[4:], names, strict=True)]
        for name, value in zip(names, params, strict=True):
            if name in ("f", "fx", "fy") and not value > 0:
                raise CalibrationError(f"{where}: focal length {name} must be positive, got {value:g}")
        K, dist = _intrinsics(model, params)
        cameras[camera_id] = _ColmapCamera(camera_id, model, width, height, K, dist, i + 1)
    return cameras


def _quaternion_to_matrix(q: np.ndarray, where: str) -> np.ndarray:
    norm = float(np.linalg.norm(q))
    if not norm > 0:
        raise CalibrationError(f"{where}: quaternion (QW, QX, QY, QZ) is zero")
    if abs(norm - 1.0) > QUATERNION_NORM_WARN:
        logger.warning("%s: quaternion has norm %.9g; normalising it", where, norm)
    return Rotation.from_quat(q / norm, scalar_first=True).as_matrix()


def _is_points_line(tokens: list[str]) -> bool:
    """Whether ``tokens`` can be a POINTS2D line (X Y POINT3D_ID triples); cheap, not a full parse."""
    if len(tokens) % 3:
        return False
    if not tokens:
        return True
    try:
        float(tokens[0]), float(tokens[1]), int(tokens[2])
    except ValueError:
        return False
    return True


def _parse_images(path: Path, cameras: Mapping[int, _ColmapCamera]) -> list[_ColmapImage]:
    lines = _read_lines(path)
    images: list[_ColmapImage] = []
    seen_ids: dict[int, int] = {}
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        where = f"{path}: line {i}"
        tokens = line.split(maxsplit=9)
        if len(tokens) < 10:
            raise CalibrationError(
                f"{where}: an image line needs 10 fields (IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME), got "
                f"{len(tokens)}: {line!r} (truncated line?)"
            )
        image_id = _integer(tokens[0], where, "IMAGE_ID")
        if image_id in seen_ids:
            raise CalibrationError(f"{where}: IMAGE_ID {image_id} already used on line {seen_ids[image_id]}")
        seen_ids[image_id] = i
        fields = ("QW", "QX", "QY", "QZ", "TX", "TY", "TZ")
        values = np.array([_number(tok, where, f) for tok, f in zip(tokens[1:8], fields, strict=True)])
        camera_id = _integer(tokens[8], where, "CAMERA_ID")
        name = tokens[9].strip()
        if camera_id not in cameras:
            known = ", ".join(str(c) for c in sorted(cameras)) or "(none)"
            raise CalibrationError(
                f"{where}: image {name!r} uses CAMERA_ID {camera_id}, which {path.parent / 'cameras.txt'} does "
                f"not define (it defines {known})"
            )
        R = _quaternion_to_matrix(values[:4], where)
        images.append(_ColmapImage(image_id, R, values[4:], camera_id, name, i))
        # the next line holds the image's 2-D points (possibly empty); COLMAP always writes it
        if i < len(lines) and not lines[i].lstrip().startswith("#"):
            if not _is_points_line(lines[i].split()):
                raise CalibrationError(
                    f"{path}: line {i + 1}: expected the POINTS2D line of image {name!r} (X Y POINT3D_ID "
                    f"triples, possibly empty) after its pose line {i}, got {lines[i].strip()[:80]!r}"
                )
            i += 1
    return images


def _image_camera_names(names: list[str], camera_names: CameraNaming) -> list[str]:
    paths = [PurePosixPath(n.replace("\\", "/")) for n in names]
    if camera_names == "auto":
        camera_names = "folder" if all(p.parent.name for p in paths) else "stem"
    if camera_names == "folder":
        return [p.parent.name for p in paths]
    if camera_names == "stem":
        return [p.stem or p.name for p in paths]
    raise ValueError(f"camera_names must be 'auto', 'folder' or 'stem', got {camera_names!r}")


# --------------------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------------------
def read_colmap_text(
    folder: str | os.PathLike,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    camera_names: CameraNaming = "auto",
) -> CameraRig:
    """Read a COLMAP text model (``cameras.txt`` and ``images.txt``) as a rig.

    Parameters
    ----------
    folder : path-like
        Folder holding ``cameras.txt`` and ``images.txt`` (a COLMAP ``sparse/0`` exported as text).
    image_sizes : mapping of str to (int, int), optional
        ``{camera: (width, height)}`` pixels of the actual images; each must equal the size in
        ``cameras.txt`` (COLMAP always stores it).
    camera_names : {"auto", "folder", "stem"}
        How an image NAME becomes a camera name: ``"folder"`` the innermost folder
        (``cam03/000000.png`` -> ``cam03``), ``"stem"`` the file stem (``cam03.png`` -> ``cam03``),
        ``"auto"`` folder when every NAME has a folder, else stem.

    Returns
    -------
    CameraRig
        One camera per camera name, in order of first appearance in ``images.txt``: ``K`` with the
        principal point moved to humanrecon's pixel-centre convention (``cx = cx_colmap - 0.5``,
        ``cy = cy_colmap - 0.5``), ``dist`` ``(k1, k2, p1, p2, 0)``, world->camera ``R`` from the
        quaternion and ``t = T`` (the model's units, assumed metres), width and height from
        ``cameras.txt``. Every camera has been validated.

    Raises
    ------
    CalibrationError
        Missing folder or file, unsupported camera model, wrong number of parameters, a truncated line,
        non-numbers, NaN/inf, non-positive focal length or size, unknown or duplicate ids, or images of
        one camera that disagree on pose or intrinsics; the message names the file and the line, e.g.
        ``sparse/cameras.txt: line 4 (CAMERA_ID 2): camera model 'OPENCV_FISHEYE' is not supported; ...``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise CalibrationError(f"{folder}: COLMAP model folder {what} (expected cameras.txt and images.txt)")
    cameras_path, images_path = folder / "cameras.txt", folder / "images.txt"
    for p in (cameras_path, images_path):
        if not p.is_file():
            hint = ""
            if (folder / (p.stem + ".bin")).is_file():
                hint = " (only the binary model is there: convert it with 'colmap model_converter --output_type TXT')"
            raise CalibrationError(f"{p}: COLMAP model file not found{hint}")
    col_cameras = _parse_cameras(cameras_path)
    images = _parse_images(images_path, col_cameras)
    if not images:
        raise CalibrationError(f"{images_path}: no images (a camera's pose comes from its images)")

    cam_names = _image_camera_names([img.name for img in images], camera_names)
    first: dict[str, _ColmapImage] = {}
    for img, cam_name in zip(images, cam_names, strict=True):
        where = f"{images_path}: line {img.line}"
        if not cam_name:
            raise CalibrationError(f"{where}: image name {img.name!r} gives an empty camera name")
        ref = first.setdefault(cam_name, img)
        if ref is img:
            continue
        dR = float(np.max(np.abs(img.R - ref.R)))
        dt = float(np.max(np.abs(img.t - ref.t)))
        if dR > POSE_AGREEMENT_TOL or dt > POSE_AGREEMENT_TOL:
            raise CalibrationError(
                f"{where}: image {img.name!r} belongs to camera {cam_name!r} like image {ref.name!r} (line "
                f"{ref.line}) but has a different pose (max |dR| = {dR:.3g}, max |dt| = {dt:.3g}; tolerance "
                f"{POSE_AGREEMENT_TOL:g}); all images of one camera must share its pose (camera_names="
                f"{camera_names!r}; use 'stem' if every image is a camera of its own)"
            )
        if img.camera_id != ref.camera_id:
            a, b = col_cameras[ref.camera_id], col_cameras[img.camera_id]
            same = (a.width, a.height) == (b.width, b.height) and all(
                np.allclose(getattr(a, f), getattr(b, f), rtol=INTRINSICS_AGREEMENT_RTOL, atol=1e-12)
                for f in ("K", "dist")
            )
            if not same:
                raise CalibrationError(
                    f"{where}: image {img.name!r} of camera {cam_name!r} uses CAMERA_ID {img.camera_id} "
                    f"(line {b.line} of {cameras_path.name}) but image {ref.name!r} uses CAMERA_ID "
                    f"{ref.camera_id} (line {a.line}) with different intrinsics or size"
                )

    sizes = dict(image_sizes or {})
    unknown = sorted(set(sizes) - set(first))
    if unknown:
        raise CalibrationError(f"image_sizes names camera(s) {unknown} that {images_path} does not have")
    rig = []
    for cam_name, img in first.items():
        col = col_cameras[img.camera_id]
        if cam_name in sizes and tuple(int(v) for v in sizes[cam_name]) != (col.width, col.height):
            w, h = (int(v) for v in sizes[cam_name])
            raise CalibrationError(
                f"{cameras_path}: line {col.line} (CAMERA_ID {col.camera_id}): camera {cam_name!r} is "
                f"{col.width}x{col.height} but its images are {w}x{h}"
            )
        cam = Camera(cam_name, col.K, col.dist, img.R, img.t, col.width, col.height)
        problems = camera_problems(cam)
        if problems:
            raise CalibrationError(
                f"{images_path}: line {img.line}: camera {cam_name!r}: " + "; ".join(m for _, m in problems)
            )
        rig.append(cam)
    return CameraRig(tuple(rig))


# --------------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------------
def _num(value: float) -> str:
    """Shortest decimal that reads back to the same float64."""
    return repr(float(value))


def colmap_texts(rig: CameraRig, image_name: str = "{camera}/000000.png") -> tuple[str, str, str]:
    """The ``(cameras.txt, images.txt, points3D.txt)`` texts :func:`write_colmap_text` writes."""
    if not len(rig):
        raise CalibrationError("cannot write an empty camera rig")
    if "{camera}" not in image_name:
        raise CalibrationError(f"image_name {image_name!r} must contain the placeholder {{camera}}")
    try:
        names = [image_name.format(camera=cam.name) for cam in rig]
    except (KeyError, IndexError, ValueError) as exc:
        raise CalibrationError(
            f"image_name {image_name!r} is not a valid template with the only placeholder {{camera}} ({exc!r})"
        ) from None
    for cam, name in zip(rig, names, strict=True):
        if name != name.strip() or "\n" in name or not name:
            raise CalibrationError(f"camera {cam.name!r}: image name {name!r} cannot be written to images.txt")
    back = _image_camera_names(names, "auto")
    if back != list(rig.names):
        bad = [(n, b) for n, b in zip(rig.names, back, strict=True) if n != b]
        raise CalibrationError(
            f"image_name {image_name!r} does not let read_colmap_text recover the camera names: "
            + ", ".join(f"camera {n!r} would read back as {b!r}" for n, b in bad[:3])
        )
    cam_lines, img_lines = [], []
    for idx, cam in enumerate(rig, start=1):
        problems = camera_problems(cam, check_size=False)
        if problems:
            raise CalibrationError(f"camera {cam.name!r}: " + "; ".join(m for _, m in problems))
        if cam.width <= 0 or cam.height <= 0:
            raise CalibrationError(
                f"camera {cam.name!r}: COLMAP needs the image size, but it is unknown ({cam.width}x{cam.height})"
            )
        K, d = cam.K, cam.dist
        if K[0, 1] != 0.0:
            raise CalibrationError(f"camera {cam.name!r}: COLMAP cameras have no skew, but K[0, 1] = {K[0, 1]:g}")
        if d[4] != 0.0:
            raise CalibrationError(
                f"camera {cam.name!r}: COLMAP's OPENCV model has no k3 (k1, k2, p1, p2 only), but k3 = {d[4]:g}; "
                "refit the distortion with k3 = 0 or undistort the images first"
            )
        cx, cy = K[0, 2] + COLMAP_PIXEL_OFFSET, K[1, 2] + COLMAP_PIXEL_OFFSET
        if np.any(d):
            model, params = "OPENCV", [K[0, 0], K[1, 1], cx, cy, d[0], d[1], d[2], d[3]]
        else:
            model, params = "PINHOLE", [K[0, 0], K[1, 1], cx, cy]
        cam_lines.append(f"{idx} {model} {cam.width} {cam.height} " + " ".join(_num(p) for p in params))
        q = Rotation.from_matrix(cam.R).as_quat(canonical=True, scalar_first=True)
        pose = " ".join(_num(v) for v in (*q, *cam.t))
        img_lines += [f"{idx} {pose} {idx} {names[idx - 1]}", ""]
    cameras_txt = _CAMERAS_HEADER.format(n=len(rig)) + "\n".join(cam_lines) + "\n"
    images_txt = _IMAGES_HEADER.format(n=len(rig)) + "\n".join(img_lines) + "\n"
    return cameras_txt, images_txt, _POINTS_HEADER


def write_colmap_text(
    rig: CameraRig, folder: str | os.PathLike, image_name: str = "{camera}/000000.png"
) -> None:
    """Write a rig as a COLMAP text model: ``cameras.txt``, ``images.txt`` and an empty ``points3D.txt``.

    Camera ``i`` (1-based, rig order) gets ``CAMERA_ID = IMAGE_ID = i``, model ``PINHOLE`` when it has no
    distortion and ``OPENCV`` otherwise, the principal point in COLMAP's convention
    (``cx_colmap = cx + 0.5``, ``cy_colmap = cy + 0.5``) and one image whose pose is the camera's
    (unit quaternion with ``QW >= 0``, ``T = t``). Each file is written atomically; nothing is written
    if a camera cannot be represented. Identical rigs give identical bytes.

    Parameters
    ----------
    rig : CameraRig
        Cameras with known image size, no skew and ``k3 = 0``.
    folder : path-like
        Output folder (created).
    image_name : str
        Image NAME template with the placeholder ``{camera}``; the default ``"{camera}/000000.png"`` (one
        folder per camera) reads back to the same camera names. Use the names of the real images if
        COLMAP is to work on them.

    Raises
    ------
    CalibrationError
        A camera is invalid, has unknown size, skew or ``k3 != 0`` (COLMAP's ``OPENCV`` model has
        ``k1, k2, p1, p2`` only), or ``image_name`` would not read back to the camera names.
    """
    cameras_txt, images_txt, points_txt = colmap_texts(rig, image_name)
    folder = Path(folder)
    atomic_write_text(folder / "cameras.txt", cameras_txt)
    atomic_write_text(folder / "images.txt", images_txt)
    atomic_write_text(folder / "points3D.txt", points_txt)
