"""Pinhole cameras with OpenCV lens distortion, and ordered rigs of them.

The camera model (world->camera ``X_c = R X_w + t``, ``dist = (k1, k2, p1, p2, k3)``, pixel ``(0, 0)``
at the centre of the top-left pixel, metres) is the one written down in :mod:`humanrecon.conventions`;
this module implements it, vectorised over points.

A :class:`Camera` may be constructed with ``width = height = 0`` when the calibration file does not
carry the image size (EasyMocap's ``H_``/``W_`` keys are optional); fill the size from the images
(``dataclasses.replace(cam, width=W, height=H)``) and only then call :func:`validate_camera`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from humanrecon.conventions import TOL

logger = logging.getLogger(__name__)

#: Newton iterations used by :meth:`Camera.undistort_pixels` (quadratic convergence: 6-8 are typical).
UNDISTORT_MAX_ITERS = 50
#: Residual (normalised image units) below which an undistorted point is considered converged.
UNDISTORT_RESIDUAL_TOL = 1e-14
#: Residual above which a point is reported as not invertible (NaN) after the iterations.
UNDISTORT_FAIL_TOL = 1e-10


class CalibrationError(ValueError):
    """A camera or calibration file is malformed; the message names the file/camera and the field."""


def _as_float_array(value: object, name: str, field: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)  # copy: the camera owns its arrays
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"camera {name!r}: {field} is not numeric ({exc})") from None
    arr.setflags(write=False)
    return arr


def _as_size(value: object, name: str, field: str) -> int:
    if isinstance(value, bool):
        raise CalibrationError(f"camera {name!r}: {field} must be an integer, got {value!r}")
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise CalibrationError(f"camera {name!r}: {field} must be an integer, got {value!r}") from None


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera (OpenCV model, see :mod:`humanrecon.conventions`).

    Attributes
    ----------
    name : str
        Camera identifier (as in the calibration file and the image folder names).
    K : numpy.ndarray
        (3, 3) float64 intrinsic matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``, pixels.
    dist : numpy.ndarray
        (5,) float64 distortion ``(k1, k2, p1, p2, k3)``. A (1, 5) or (5, 1) input is flattened.
    R : numpy.ndarray
        (3, 3) float64 world->camera rotation.
    t : numpy.ndarray
        (3,) float64 world->camera translation, metres (``X_c = R @ X_w + t``).
    width, height : int
        Image size in pixels; 0 means "not known yet" (fill it, then run :func:`validate_camera`).

    Notes
    -----
    Arrays are copied to float64 and made read-only. Construction only checks types and the shapes
    of ``K``, ``R`` and ``t``; value checks (finite, rotation, focal lengths, ``dist`` length, size)
    are :func:`validate_camera`'s job. Two cameras are equal when all fields are exactly equal.
    """

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise CalibrationError(f"camera name must be a non-empty string, got {self.name!r}")
        name = self.name
        K = _as_float_array(self.K, name, "K")
        R = _as_float_array(self.R, name, "R")
        t = _as_float_array(self.t, name, "t").reshape(-1)
        dist = _as_float_array(self.dist, name, "dist").reshape(-1)
        if K.shape != (3, 3):
            raise CalibrationError(f"camera {name!r}: K must be 3x3, got shape {K.shape}")
        if R.shape != (3, 3):
            raise CalibrationError(f"camera {name!r}: R must be 3x3, got shape {R.shape}")
        if t.shape != (3,):
            raise CalibrationError(f"camera {name!r}: t must have 3 entries, got {t.size}")
        for arr in (t, dist):
            arr.setflags(write=False)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "width", _as_size(self.width, name, "width"))
        object.__setattr__(self, "height", _as_size(self.height, name, "height"))

    # -- identity -------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Camera):
            return NotImplemented
        return (
            self.name == other.name
            and self.width == other.width
            and self.height == other.height
            and all(
                np.array_equal(getattr(self, f), getattr(other, f)) for f in ("K", "dist", "R", "t")
            )
        )

    def __hash__(self) -> int:
        return hash(
            (self.name, self.width, self.height, self.K.tobytes(), self.dist.tobytes(), self.R.tobytes(),
             self.t.tobytes())
        )

    # -- geometry -------------------------------------------------------------------------------
    @property
    def center(self) -> np.ndarray:
        """(3,) float64 camera centre in world coordinates, metres: ``C = -R.T @ t``."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) float64 projection matrix ``K [R | t]`` (no distortion), pixels per metre."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels (0 when not known yet)."""
        return (self.width, self.height)

    def _check_points(self, points: np.ndarray, last: int, what: str) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != last:
            raise ValueError(f"camera {self.name!r}: {what} must have shape (N, {last}), got {pts.shape}")
        return pts

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Transform world points into this camera's frame.

        Parameters
        ----------
        points : array_like
            (N, 3) world coordinates, metres.

        Returns
        -------
        numpy.ndarray
            (N, 3) float64 camera coordinates ``R @ X + t``, metres (x right, y down, z forward).
        """
        pts = self._check_points(points, 3, "points")
        return pts @ self.R.T + self.t

    def distort_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Apply the lens distortion to normalised (undistorted) image coordinates.

        Parameters
        ----------
        xy : array_like
            (N, 2) normalised coordinates ``(X_c / Z_c, Y_c / Z_c)``.

        Returns
        -------
        numpy.ndarray
            (N, 2) float64 distorted normalised coordinates ``(x_d, y_d)``.
        """
        xy = self._check_points(xy, 2, "normalised coordinates")
        xd, yd = lens_distort(xy[:, 0], xy[:, 1], self.dist)
        return np.stack([xd, yd], axis=1)

    def project_with_depth(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points to distorted pixel coordinates and return their depth.

        Parameters
        ----------
        points : array_like
            (N, 3) world coordinates, metres.

        Returns
        -------
        uv : numpy.ndarray
            (N, 2) float64 pixel coordinates (``(0, 0)`` = centre of the top-left pixel). Points with
            ``z <= 0`` (behind the camera) get the formula's value, which is meaningless (inf/NaN at
            ``z == 0``): mask them with ``z``.
        z : numpy.ndarray
            (N,) float64 depth along the optical axis (camera ``Z``), metres.
        """
        pc = self.world_to_camera(points)
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = pc[:, 0] / z
            y = pc[:, 1] / z
            xd, yd = lens_distort(x, y, self.dist)
            K = self.K
            u = K[0, 0] * xd + K[0, 1] * yd + K[0, 2]
            v = K[1, 1] * yd + K[1, 2]
        return np.stack([u, v], axis=1), z

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project world points to distorted pixel coordinates (same as ``cv2.projectPoints``).

        Parameters
        ----------
        points : array_like
            (N, 3) world coordinates, metres.

        Returns
        -------
        numpy.ndarray
            (N, 2) float64 pixels. See :meth:`project_with_depth` for points behind the camera.
        """
        return self.project_with_depth(points)[0]

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Invert the intrinsics and the lens distortion: pixels -> normalised undistorted coordinates.

        Newton's method on the 2-D distortion map with its analytic Jacobian, vectorised over points;
        converges to ~1e-15 (normalised units) in a few iterations for realistic distortion.

        Parameters
        ----------
        uv : array_like
            (N, 2) pixel coordinates (``(0, 0)`` = centre of the top-left pixel).

        Returns
        -------
        numpy.ndarray
            (N, 2) float64 ``(x, y)`` with ``X_c ∝ (x, y, 1)``. A pixel that has no preimage under the
            distortion model (beyond the fold of a strong barrel distortion, or where Newton does not
            converge) gets NaN and a warning is logged.
        """
        uv = self._check_points(uv, 2, "pixels")
        K = self.K
        yd = (uv[:, 1] - K[1, 2]) / K[1, 1]
        xd = (uv[:, 0] - K[0, 2] - K[0, 1] * yd) / K[0, 0]
        if not np.any(self.dist):
            return np.stack([xd, yd], axis=1)
        x, y, ok = lens_undistort(xd, yd, self.dist)
        if not np.all(ok):
            logger.warning(
                "camera %r: %d of %d pixels cannot be undistorted (outside the distortion model's valid "
                "region); returning NaN for them",
                self.name, int(np.count_nonzero(~ok)), ok.size,
            )
            x = np.where(ok, x, np.nan)
            y = np.where(ok, y, np.nan)
        return np.stack([x, y], axis=1)

    def pixel_rays(self, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """World-frame viewing rays through pixel centres, lens distortion included.

        Parameters
        ----------
        stride : int
            Sample every ``stride``-th pixel: ``u = 0, stride, ... < width``, same for ``v``.

        Returns
        -------
        origin : numpy.ndarray
            (3,) float64 camera centre in world coordinates, metres.
        directions : numpy.ndarray
            (H', W', 3) float64 unit directions in the world frame with ``H' = ceil(height / stride)``,
            ``W' = ceil(width / stride)``; ``directions[i, j]`` passes through pixel
            ``(u, v) = (j * stride, i * stride)``, i.e. ``project(origin + s * d)`` gives that pixel back.
            Pixels outside the distortion model's valid region get NaN (see :meth:`undistort_pixels`).
        """
        stride = operator.index(stride)
        if stride < 1:
            raise ValueError(f"camera {self.name!r}: stride must be >= 1, got {stride}")
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(
                f"camera {self.name!r}: image size unknown ({self.width}x{self.height}); fill width/height first"
            )
        us = np.arange(0, self.width, stride, dtype=np.float64)
        vs = np.arange(0, self.height, stride, dtype=np.float64)
        uu, vv = np.meshgrid(us, vs)  # (H', W')
        xy = self.undistort_pixels(np.stack([uu.ravel(), vv.ravel()], axis=1))
        d_cam = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
        d_world = d_cam @ self.R  # R.T @ d for each row
        d_world /= np.linalg.norm(d_world, axis=1, keepdims=True)
        return self.center, d_world.reshape(vs.size, us.size, 3)

    def scaled(self, factor: float) -> Camera:
        """The camera for this image resized by ``factor`` (as ``cv2.resize`` to the rounded size).

        The new size is ``round(width * factor) x round(height * factor)``. Intrinsics follow the
        pixel-centre convention: a pixel ``u`` maps to ``(u + 0.5) * s_x - 0.5`` with the exact per-axis
        ratio ``s_x = new_width / width`` (``s_y`` likewise), so ``fx' = s_x fx``, ``cx' = s_x (cx + 0.5)
        - 0.5``, skew scales with ``s_x``. Distortion and extrinsics are unchanged.

        Parameters
        ----------
        factor : float
            Positive finite scale (0.5 halves the resolution).

        Returns
        -------
        Camera
        """
        factor = float(factor)
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"camera {self.name!r}: scale factor must be positive and finite, got {factor}")
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(
                f"camera {self.name!r}: image size unknown ({self.width}x{self.height}); cannot scale"
            )
        new_w = max(1, int(round(self.width * factor)))
        new_h = max(1, int(round(self.height * factor)))
        sx = new_w / self.width
        sy = new_h / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 1] *= sy
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return dataclasses.replace(self, K=K, width=new_w, height=new_h)


def lens_distort(x: np.ndarray, y: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV distortion of normalised coordinates ``(x, y)`` (any equal shapes) -> ``(x_d, y_d)``."""
    k1, k2, p1, p2, k3 = (float(c) for c in dist[:5])
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xy2 = 2.0 * x * y
    xd = x * radial + p1 * xy2 + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + p2 * xy2
    return xd, yd


def lens_undistort(
    xd: np.ndarray, yd: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invert :func:`lens_distort` by Newton's method (1-D arrays of distorted normalised coordinates).

    Returns ``x, y`` and a validity mask: False where there is no physical preimage (beyond the radial
    model's fold, see :func:`lens_monotone_radius2`) or Newton did not converge.
    """
    k1, k2, p1, p2, k3 = (float(c) for c in dist[:5])
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r2 = xd * xd + yd * yd  # start from one fixed-point step of the radial part
        radial0 = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        x = xd / radial0
        y = yd / radial0
    bad = ~(np.isfinite(x) & np.isfinite(y))
    x[bad], y[bad] = xd[bad], yd[bad]
    active = np.isfinite(x) & np.isfinite(y)
    for _ in range(UNDISTORT_MAX_ITERS):
        if not np.any(active):
            break
        xa, ya = x[active], y[active]
        fx, fy = lens_distort(xa, ya, dist)
        rx = fx - xd[active]
        ry = fy - yd[active]
        r2 = xa * xa + ya * ya
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        g = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)  # d radial / d r2
        j11 = radial + 2.0 * xa * xa * g + 2.0 * p1 * ya + 6.0 * p2 * xa
        j12 = 2.0 * xa * ya * g + 2.0 * p1 * xa + 2.0 * p2 * ya
        j22 = radial + 2.0 * ya * ya * g + 6.0 * p1 * ya + 2.0 * p2 * xa
        det = j11 * j22 - j12 * j12  # the Jacobian is symmetric (j21 == j12)
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = (j22 * rx - j12 * ry) / det
            dy = (j11 * ry - j12 * rx) / det
        x[active] = xa - dx
        y[active] = ya - dy
        idx = np.flatnonzero(active)
        done = (np.abs(rx) < UNDISTORT_RESIDUAL_TOL) & (np.abs(ry) < UNDISTORT_RESIDUAL_TOL)
        done |= ~np.isfinite(dx) | ~np.isfinite(dy)
        active[idx[done]] = False
    # validity: residual small and the distortion map locally orientation-preserving (not beyond a fold)
    fx, fy = lens_distort(x, y, dist)
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    g = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)
    j11 = radial + 2.0 * x * x * g + 2.0 * p1 * y + 6.0 * p2 * x
    j12 = 2.0 * x * y * g + 2.0 * p1 * x + 2.0 * p2 * y
    j22 = radial + 2.0 * y * y * g + 6.0 * p1 * y + 2.0 * p2 * x
    with np.errstate(invalid="ignore"):
        ok = (
            np.isfinite(x)
            & np.isfinite(y)
            & (np.hypot(fx - xd, fy - yd) <= UNDISTORT_FAIL_TOL * np.maximum(1.0, np.hypot(xd, yd)))
            & (j11 * j22 - j12 * j12 > 0)
            & (j11 > 0)
            & (r2 < lens_monotone_radius2(dist))
        )
    return x, y, ok


def lens_monotone_radius2(dist: np.ndarray) -> float:
    """Squared normalised radius up to which the radial distortion ``r (1 + k1 r^2 + k2 r^4 + k3 r^6)``
    is increasing (``inf`` when it always is): beyond it, pixels fold back and have no physical preimage."""
    k1, k2, _, _, k3 = (float(c) for c in dist[:5])
    # d/dr [r radial(r^2)] = 1 + 3 k1 s + 5 k2 s^2 + 7 k3 s^3 with s = r^2
    coeffs = np.trim_zeros(np.array([7.0 * k3, 5.0 * k2, 3.0 * k1, 1.0]), trim="f")
    if coeffs.size <= 1:
        return math.inf
    roots = np.roots(coeffs)
    real = roots[(np.abs(roots.imag) <= 1e-12 * np.maximum(1.0, np.abs(roots.real))) & (roots.real > 0)].real
    return float(real.min()) if real.size else math.inf


def camera_problems(cam: Camera, *, check_size: bool = True) -> list[tuple[str, str]]:
    """Every defect :func:`validate_camera` looks for, as ``(field, message)`` pairs (empty if none).

    ``field`` is one of ``"K"``, ``"dist"``, ``"R"``, ``"t"``, ``"size"`` so that file readers can say
    which key of which file is wrong. ``check_size=False`` skips the width/height check (size not
    known yet).
    """
    problems: list[tuple[str, str]] = []
    for field in ("K", "R", "t"):
        arr = getattr(cam, field)
        if not np.all(np.isfinite(arr)):
            problems.append((field, f"{field} has non-finite entries ({_fmt(arr)})"))
    if cam.dist.shape != (5,):
        problems.append(("dist", f"dist must have 5 entries (k1, k2, p1, p2, k3), got {cam.dist.size}"))
    elif not np.all(np.isfinite(cam.dist)):
        problems.append(("dist", f"dist has non-finite entries ({_fmt(cam.dist)})"))
    K = cam.K
    if np.all(np.isfinite(K)):
        if not K[0, 0] > 0 or not K[1, 1] > 0:
            problems.append(("K", f"focal lengths must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}"))
        if not np.array_equal(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
            problems.append(
                ("K", f"K must have the form [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {_fmt(K)}")
            )
    R = cam.R
    if np.all(np.isfinite(R)):
        ortho = float(np.max(np.abs(R @ R.T - np.eye(3))))
        det = float(np.linalg.det(R))
        if ortho > TOL.rotation_orthonormal:
            problems.append(
                ("R", f"R is not orthonormal (max |R R^T - I| = {ortho:.3g} > {TOL.rotation_orthonormal:g})")
            )
        if abs(det - 1.0) > TOL.rotation_det:
            problems.append(("R", f"R is not a proper rotation (det(R) = {det:.6g}, expected +1)"))
    if check_size and (cam.width <= 0 or cam.height <= 0):
        problems.append(
            ("size", f"image size must be positive, got {cam.width}x{cam.height} (fill width/height from "
             "the images before validating)")
        )
    return problems


def validate_camera(cam: Camera) -> None:
    """Check a camera's values; raise :class:`CalibrationError` naming the camera and every defect.

    Checks: all entries finite; ``R`` orthonormal with ``det(R) = +1`` (tolerances
    :data:`humanrecon.conventions.TOL`); ``fx > 0``, ``fy > 0``; ``K[2] == [0, 0, 1]`` (and
    ``K[1, 0] == 0``); ``dist`` has 5 finite entries; ``width > 0`` and ``height > 0`` (a camera read
    without ``W_``/``H_`` has 0 there until filled from the images). A principal point outside the image
    only logs a warning.

    Parameters
    ----------
    cam : Camera

    Raises
    ------
    CalibrationError
        Listing all problems found, e.g. ``camera 'cam03': R is not a proper rotation (det(R) = -1, ...)``.
    """
    problems = camera_problems(cam)
    if problems:
        raise CalibrationError(f"camera {cam.name!r}: " + "; ".join(msg for _, msg in problems))
    K = cam.K
    if not (-0.5 <= K[0, 2] <= cam.width - 0.5 and -0.5 <= K[1, 2] <= cam.height - 0.5):
        logger.warning(
            "camera %r: principal point (%.1f, %.1f) lies outside the %dx%d image; is the calibration "
            "for a different resolution?", cam.name, K[0, 2], K[1, 2], cam.width, cam.height,
        )


def _fmt(arr: np.ndarray) -> str:
    return np.array2string(np.asarray(arr), precision=6, separator=", ").replace("\n", "")


@dataclass(frozen=True)
class CameraRig:
    """An ordered set of uniquely named cameras.

    Attributes
    ----------
    cameras : tuple of Camera
        In the calibration's (or the session's) camera order; stacked arrays follow this order.
    """

    cameras: tuple[Camera, ...]

    def __post_init__(self) -> None:
        cams = tuple(self.cameras)
        for cam in cams:
            if not isinstance(cam, Camera):
                raise CalibrationError(f"CameraRig takes Camera objects, got {type(cam).__name__}")
        seen: set[str] = set()
        for cam in cams:
            if cam.name in seen:
                raise CalibrationError(f"camera rig: duplicate camera name {cam.name!r}")
            seen.add(cam.name)
        object.__setattr__(self, "cameras", cams)

    @property
    def names(self) -> tuple[str, ...]:
        """Camera names in rig order."""
        return tuple(cam.name for cam in self.cameras)

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[Camera]:
        return iter(self.cameras)

    def __contains__(self, name: object) -> bool:
        return any(cam.name == name for cam in self.cameras)

    def __getitem__(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no camera {name!r} in the rig; known cameras: {', '.join(self.names) or '(none)'}")

    def index(self, name: str) -> int:
        """Position of camera ``name`` in the rig (KeyError listing the known cameras if absent)."""
        for i, cam in enumerate(self.cameras):
            if cam.name == name:
                return i
        raise KeyError(f"no camera {name!r} in the rig; known cameras: {', '.join(self.names) or '(none)'}")

    def subset(self, names: Iterable[str]) -> CameraRig:
        """A rig with the cameras ``names``, in that order.

        Raises
        ------
        CalibrationError
            A name is not in this rig (the message names it and lists the known cameras), or repeats.
        """
        names = list(names)
        by_name = {cam.name: cam for cam in self.cameras}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise CalibrationError(
                f"unknown camera(s) {', '.join(repr(n) for n in unknown)}; known cameras: "
                f"{', '.join(self.names) or '(none)'}"
            )
        return CameraRig(tuple(by_name[n] for n in names))

    def Ks(self) -> np.ndarray:
        """(C, 3, 3) float64 intrinsic matrices."""
        return np.stack([c.K for c in self.cameras]) if self.cameras else np.zeros((0, 3, 3))

    def dists(self) -> np.ndarray:
        """(C, 5) float64 distortion coefficients."""
        return np.stack([c.dist for c in self.cameras]) if self.cameras else np.zeros((0, 5))

    def Rs(self) -> np.ndarray:
        """(C, 3, 3) float64 world->camera rotations."""
        return np.stack([c.R for c in self.cameras]) if self.cameras else np.zeros((0, 3, 3))

    def ts(self) -> np.ndarray:
        """(C, 3) float64 world->camera translations, metres."""
        return np.stack([c.t for c in self.cameras]) if self.cameras else np.zeros((0, 3))

    def centers(self) -> np.ndarray:
        """(C, 3) float64 camera centres in world coordinates, metres."""
        return np.stack([c.center for c in self.cameras]) if self.cameras else np.zeros((0, 3))

    def Ps(self) -> np.ndarray:
        """(C, 3, 4) float64 projection matrices ``K [R | t]``."""
        return np.stack([c.P for c in self.cameras]) if self.cameras else np.zeros((0, 3, 4))
