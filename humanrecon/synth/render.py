"""Ray-casting renderer of the synthetic studio (trimesh + embree).

Cameras are duck-typed: any object with ``name``, ``K`` (3, 3), ``dist`` (5,) ``(k1, k2, p1, p2, k3)``,
``R`` (3, 3), ``t`` (3,), ``width`` and ``height`` in the OpenCV model of :mod:`humanrecon.conventions`
(``X_c = R X_w + t``; pixel ``(0, 0)`` is the centre of the top-left pixel), e.g.
:class:`humanrecon.calibration.camera.Camera`. For each pixel a ray is cast from the camera centre
through the pixel's *undistorted* normalised coordinates (Newton inversion of the distortion model,
residual < 1e-10, cached per camera), so images follow the lens model exactly. The person (any number of
:class:`Surface` objects: body, garments, hair) is merged into one mesh per frame and intersected with
embree (only rays meeting the person's bounding box are cast); hit depths and barycentrics are recomputed
in float64 from the hit triangle. The static studio environment (:mod:`humanrecon.synth.scene`) is
intersected once per camera, and shaded once per (camera, lighting); both are memoised in the studio.
The first hit decides each pixel:

* ``rgb`` — Lambertian shading in linear light (ambient + directional lights, two-sided smooth
  normals), exposure, signal-dependent sensor noise (shot + read noise), sRGB encoding, uint8;
* ``mask`` — 1 where a person surface (any :class:`Surface`) is the first hit;
* ``parts`` — the 12-part label of the person face hit (0 background);
* ``depth`` — camera-frame z (metres) of the person hit, 0 elsewhere.

Background plates (:func:`render_background`) show the same studio without the person under the lighting
given (usually :func:`perturb_lighting` of the capture lighting) with independent noise. Everything
random comes from the ``numpy.random.Generator`` passed in: the same seed gives byte-identical images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import trimesh
from trimesh.ray.ray_pyembree import RayMeshIntersector

from humanrecon.bodymodel.skeleton import NUM_PARTS
from humanrecon.calibration.camera import lens_undistort
from humanrecon.synth.scene import Studio, linear_to_srgb, srgb_to_linear, studio_albedo

__all__ = [
    "READ_NOISE",
    "SHOT_GAIN",
    "CameraRender",
    "Lighting",
    "Surface",
    "default_lighting",
    "make_lighting",
    "perturb_lighting",
    "pixel_rays",
    "render_background",
    "render_frame",
]

#: Sensor model: read-noise std and shot-noise gain (variance per unit signal), linear [0, 1] units.
READ_NOISE = 0.004
SHOT_GAIN = 0.0009
#: Convergence of the lens-distortion inversion (max residual, normalised image units).
UNDISTORT_TOL = 1e-10
#: Studio radiance images kept per camera (one per lighting: capture and plate).
_RADIANCE_CACHE_PER_CAMERA = 2
#: Padding (metres) of the person's bounding box when selecting the rays to cast.
_BOX_PAD = 1e-3


# ----------------------------------------------------------------------------------------------------
# data containers
# ----------------------------------------------------------------------------------------------------


@dataclass
class Surface:
    """A person surface to render (all in world metres).

    Attributes
    ----------
    vertices : (V, 3) float64
        World positions, metres; finite.
    faces : (T, 3) int64
        Triangles indexing ``vertices``.
    part_labels : (T,) uint8
        Part id 0..12 of each face (garment and hair faces carry the label of the body part they cover).
    albedo : (V, 3) float64 in [0, 1]
        sRGB-encoded display colours per vertex (linearised for shading); garment patterns baked in.
    is_body : bool
        Skin surface (True) or garment/hair (False). Informational: every surface counts in ``mask``.

    Raises
    ------
    ValueError
        Naming the field: wrong shape, NaN/inf vertices, non-integer or out-of-range face indices,
        labels outside 0..12, albedo not one colour per vertex or outside [0, 1].
    """

    vertices: np.ndarray
    faces: np.ndarray
    part_labels: np.ndarray
    albedo: np.ndarray
    is_body: bool = True

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices)
        if v.ndim != 2 or v.shape[1] != 3 or not np.issubdtype(v.dtype, np.number):
            raise ValueError(f"Surface.vertices must be a numeric (V, 3) array, got shape {v.shape} dtype {v.dtype}")
        v = v.astype(np.float64)
        if not np.isfinite(v).all():
            bad = int((~np.isfinite(v)).any(axis=1).sum())
            raise ValueError(f"Surface.vertices contain NaN or inf ({bad} of {len(v)} vertices)")
        f = np.asarray(self.faces)
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"Surface.faces must have shape (T, 3), got {f.shape}")
        if f.size and not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"Surface.faces must be integer vertex indices, got dtype {f.dtype}")
        f = f.astype(np.int64)
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            bad = f[(f < 0) | (f >= len(v))]
            raise ValueError(f"Surface.faces index {int(bad[0])} out of range for {len(v)} vertices ({bad.size} bad)")
        lab = np.asarray(self.part_labels)
        if lab.shape != (len(f),):
            raise ValueError(f"Surface.part_labels must have shape ({len(f)},) (one per face), got {lab.shape}")
        if lab.size and (not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0 or lab.max() > NUM_PARTS):
            raise ValueError(f"Surface.part_labels must be integers in 0..{NUM_PARTS}")
        alb = np.asarray(self.albedo)
        if alb.shape != v.shape:
            raise ValueError(f"Surface.albedo must have shape {v.shape} (one RGB per vertex), got {alb.shape}")
        alb = alb.astype(np.float64)
        if not np.isfinite(alb).all() or alb.min(initial=0.0) < -1e-6 or alb.max(initial=0.0) > 1.0 + 1e-6:
            raise ValueError("Surface.albedo must be finite and within [0, 1]")
        self.vertices, self.faces, self.part_labels = v, f, lab.astype(np.uint8)
        self.albedo, self.is_body = np.clip(alb, 0.0, 1.0), bool(self.is_body)


@dataclass(frozen=True)
class Lighting:
    """Directional lights plus ambient, linear RGB, world frame.

    Attributes
    ----------
    directions : (L, 3) float64
        Unit vectors from the surface towards each light.
    colors : (L, 3) float64
        Linear intensities (irradiance on a surface facing the light).
    ambient : (3,) float64
        Linear ambient intensity.
    exposure : float
        Multiplier applied to the radiance before the sensor.
    """

    directions: np.ndarray
    colors: np.ndarray
    ambient: np.ndarray
    exposure: float = 1.0

    def __post_init__(self) -> None:
        d = np.asarray(self.directions, np.float64)
        c = np.asarray(self.colors, np.float64)
        a = np.asarray(self.ambient, np.float64)
        if d.ndim != 2 or d.shape[1] != 3 or c.shape != d.shape:
            raise ValueError(f"Lighting.directions and colors must both be (L, 3), got {d.shape} and {c.shape}")
        if not np.isfinite(d).all() or (np.linalg.norm(d, axis=1) < 1e-12).any():
            raise ValueError("Lighting.directions must be finite non-zero vectors")
        if not np.isfinite(c).all() or (c < 0).any() or a.shape != (3,) or not np.isfinite(a).all() or (a < 0).any():
            raise ValueError("Lighting.colors (L, 3) and ambient (3,) must be finite and >= 0")
        if not (np.isfinite(self.exposure) and self.exposure > 0):
            raise ValueError(f"Lighting.exposure must be finite and > 0, got {self.exposure}")
        object.__setattr__(self, "directions", d / np.linalg.norm(d, axis=1, keepdims=True))
        object.__setattr__(self, "colors", c)
        object.__setattr__(self, "ambient", a)

    def _key(self) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        for arr in (self.directions, self.colors, self.ambient, np.array([self.exposure])):
            h.update(np.ascontiguousarray(arr, np.float64).tobytes())
        return h.digest()


@dataclass
class CameraRender:
    """One camera's images.

    Attributes
    ----------
    rgb : (H, W, 3) uint8
        sRGB image with sensor noise.
    mask : (H, W) uint8
        1 where a person surface is the first hit, else 0.
    parts : (H, W) uint8
        Part label 0..12 of the first-hit person face, 0 on the background.
    depth : (H, W) float32
        Camera ``z`` (metres) of the first person hit, 0 on the background.
    """

    rgb: np.ndarray
    mask: np.ndarray
    parts: np.ndarray
    depth: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def default_lighting() -> Lighting:
    """Fixed neutral lighting (key, fill, top light, ambient) used when none is given."""
    key = _unit(np.array([0.5, 1.2, 0.7]))
    fill = _unit(np.array([-0.5, 0.4, -0.7]))
    colors = np.array([[0.68, 0.66, 0.62], [0.28, 0.28, 0.28], [0.15, 0.15, 0.15]])
    return Lighting(np.stack([key, fill, [0.0, 1.0, 0.0]]), colors, np.full(3, 0.27), 1.0)


def make_lighting(rng: np.random.Generator) -> Lighting:
    """Key light (high, random azimuth), fill light (opposite side, weaker), top light and ambient."""
    az = rng.uniform(0, 2 * np.pi)
    key = _unit(np.array([np.sin(az), rng.uniform(0.8, 1.6), np.cos(az)]))
    fill = _unit(np.array([-np.sin(az), rng.uniform(0.2, 0.6), -np.cos(az)]))
    top = np.array([0.0, 1.0, 0.0])
    warm = np.array([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.85, 0.97)])
    colors = np.stack([warm * rng.uniform(0.55, 0.75), np.full(3, rng.uniform(0.2, 0.35)), np.full(3, rng.uniform(0.1, 0.2))])
    ambient = np.full(3, rng.uniform(0.22, 0.32))
    return Lighting(np.stack([key, fill, top]), colors, ambient, float(rng.uniform(0.95, 1.1)))


def perturb_lighting(lighting: Lighting, rng: np.random.Generator) -> Lighting:
    """The same studio lit slightly differently (for background plates shot at another time).

    Global gain ~U(0.95, 1.05), per-channel colour shift up to 3 %, light directions moved by up to ~6 deg.
    """
    gain = rng.uniform(0.95, 1.05)
    shift = 1.0 + rng.uniform(-0.03, 0.03, 3)
    dirs = _unit(lighting.directions + rng.normal(0.0, 0.06, lighting.directions.shape))
    return replace(lighting, directions=dirs, colors=lighting.colors * gain * shift, ambient=lighting.ambient * gain * shift)


# ----------------------------------------------------------------------------------------------------
# cameras and rays (duck-typed cameras, own distortion inversion)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Cam:
    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def key(self) -> bytes:
        h = hashlib.blake2b(self.name.encode(), digest_size=16)
        for a in (self.K, self.dist, self.R, self.t, np.array([self.width, self.height], np.float64)):
            h.update(np.ascontiguousarray(a, np.float64).tobytes())
        return h.digest()


def _as_cam(camera: object, index: int | None = None) -> _Cam:
    """Validate a duck-typed camera; float64 copies of its parameters."""
    where = f"cameras[{index}]" if index is not None else "camera"
    try:
        name, K, dist, R, t = camera.name, camera.K, camera.dist, camera.R, camera.t  # type: ignore[attr-defined]
        width, height = camera.width, camera.height  # type: ignore[attr-defined]
    except AttributeError as exc:
        raise ValueError(f"{where} is not a camera (needs name, K, dist, R, t, width, height): {exc}") from None
    K = np.asarray(K, np.float64)
    dist = np.asarray(dist, np.float64).ravel()
    R = np.asarray(R, np.float64)
    t = np.asarray(t, np.float64).ravel()
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"{where}.K must be a finite (3, 3) matrix with fx, fy > 0")
    if K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
        raise ValueError(f"{where}.K must be upper triangular with K[2, 2] == 1")
    if dist.shape != (5,) or not np.isfinite(dist).all():
        raise ValueError(f"{where}.dist must be 5 finite coefficients (k1, k2, p1, p2, k3), got shape {dist.shape}")
    if R.shape != (3, 3) or not np.isfinite(R).all() or not np.allclose(R @ R.T, np.eye(3), atol=1e-6):
        raise ValueError(f"{where}.R must be a (3, 3) rotation matrix")
    if np.linalg.det(R) < 0:
        raise ValueError(f"{where}.R has determinant -1 (a reflection, not a rotation)")
    if t.shape != (3,) or not np.isfinite(t).all():
        raise ValueError(f"{where}.t must be a finite (3,) vector")
    if isinstance(width, bool) or isinstance(height, bool) or int(width) != width or int(height) != height:
        raise ValueError(f"{where}.width/height must be integers, got {width!r}x{height!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"{where}.width/height must be positive, got {width}x{height}")
    return _Cam(str(name), K, dist, R, t, int(width), int(height))


def _unit_rays(cam: _Cam) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera centre (3,), unit world directions (H*W, 3) (row-major pixels) and validity (H*W,)."""
    u = np.arange(cam.width, dtype=np.float64)
    v = np.arange(cam.height, dtype=np.float64)
    uu, vv = np.meshgrid(u, v)
    yd = (vv.ravel() - cam.K[1, 2]) / cam.K[1, 1]
    xd = (uu.ravel() - cam.K[0, 2] - cam.K[0, 1] * yd) / cam.K[0, 0]
    x, y, ok = lens_undistort(xd, yd, cam.dist)
    d_cam = np.stack([np.where(ok, x, 0.0), np.where(ok, y, 0.0), np.ones_like(x)], axis=1)
    d = np.einsum("nk,kj->nj", d_cam, cam.R)  # R.T @ d for each row (einsum: no BLAS threads, see _shade)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return -cam.R.T @ cam.t, d, ok


def pixel_rays(camera: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World viewing rays through every pixel centre of a camera, lens distortion inverted.

    Parameters
    ----------
    camera : camera-like
        Object with ``name, K, dist, R, t, width, height`` (OpenCV model).

    Returns
    -------
    origin : (3,) float64
        Camera centre ``-R^T t``, world metres.
    directions : (H, W, 3) float64
        Unit world directions; ``directions[v, u]`` passes through pixel ``(u, v)``. Pixels whose
        distortion cannot be inverted (beyond the model's fold) hold the optical axis ``R[2]``.
    valid : (H, W) bool
        False for those pixels (rendered black, never hit).
    """
    cam = _as_cam(camera)
    origin, d, ok = _unit_rays(cam)
    d = np.where(ok[:, None], d, cam.R[2])
    return origin, d.reshape(cam.height, cam.width, 3), ok.reshape(cam.height, cam.width)


def _rays(cam: _Cam, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin (3,), unit directions (H*W, 3) and validity (H*W,) of every pixel (memoised in ``cache``)."""
    key = ("rays", cam.key())
    if key not in cache:
        origin, d, ok = _unit_rays(cam)
        d = np.where(ok[:, None], d, cam.R[2])  # pixels beyond the lens model: look straight ahead
        cache[key] = (origin, np.ascontiguousarray(d), ok)
    return cache[key]


# ----------------------------------------------------------------------------------------------------
# the static studio (hits cached per camera, radiance per camera and lighting)
# ----------------------------------------------------------------------------------------------------


def _studio_intersector(studio: Studio):
    if "intersector" not in studio._cache:
        mesh = trimesh.Trimesh(studio.vertices, studio.faces, process=False)
        studio._cache["intersector"] = (mesh, RayMeshIntersector(mesh))
    return studio._cache["intersector"]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (N, 3) arrays (cheaper than ``np.cross`` for large N)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    np.subtract(a[:, 1] * b[:, 2], a[:, 2] * b[:, 1], out=out[:, 0])
    np.subtract(a[:, 2] * b[:, 0], a[:, 0] * b[:, 2], out=out[:, 1])
    np.subtract(a[:, 0] * b[:, 1], a[:, 1] * b[:, 0], out=out[:, 2])
    return out


def _barycentric_hits(tri_xyz: np.ndarray, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter t (N,) and barycentrics (N, 3) of rays from ``origin`` (3,) along ``dirs`` (N, 3)
    hitting known triangles ``tri_xyz`` (N, 3, 3) (Moeller-Trumbore in float64)."""
    a, b, c = tri_xyz[:, 0], tri_xyz[:, 1], tri_xyz[:, 2]
    e1, e2 = b - a, c - a
    p = _cross(dirs, e2)
    det = np.einsum("ij,ij->i", e1, p)
    det = np.where(np.abs(det) < 1e-18, 1e-18, det)
    s = origin - a
    u = np.einsum("ij,ij->i", s, p) / det
    q = _cross(s, e1)
    v = np.einsum("ij,ij->i", dirs, q) / det
    t = np.einsum("ij,ij->i", e2, q) / det
    return t, np.stack([1 - u - v, u, v], 1)


def _studio_hits(studio: Studio, cam: _Cam) -> dict:
    """Per-pixel studio hit distance, albedo (linear) and normal of a camera (memoised; static scene)."""
    cache = studio._cache
    key = ("studio", cam.key())
    if key not in cache:
        origin, d, ok = _rays(cam, cache)
        _, inter = _studio_intersector(studio)
        n = len(d)
        tri = np.asarray(inter.intersects_first(np.broadcast_to(origin, (n, 3)), d), np.int64)
        hit = (tri >= 0) & ok
        t = np.full(n, np.inf)
        albedo = np.zeros((n, 3), np.float32)
        normal = np.zeros((n, 3))
        if hit.any():
            idx = np.flatnonzero(hit)
            fv = studio.faces[tri[idx]]
            th, bary = _barycentric_hits(studio.vertices[fv], origin, d[idx])
            t[idx] = th
            pts = origin + th[:, None] * d[idx]
            nrm = _unit(np.einsum("nk,nkj->nj", bary, studio.vertex_normals[fv]))
            normal[idx] = nrm
            albedo[idx] = studio_albedo(studio, pts, nrm, tri[idx])
        cache[key] = {"t": t, "albedo": albedo, "normal": normal, "radiance": {}}
    return cache[key]


def _shade(albedo_lin: np.ndarray, normal: np.ndarray, view_dirs: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Linear radiance (N, 3): albedo * (ambient + sum_l color_l * max(0, n . l)) * exposure, two-sided."""
    facing_away = np.einsum("ij,ij->i", normal, view_dirs) > 0
    n = np.where(facing_away[:, None], -normal, normal)  # face the camera
    # einsum instead of matmul: OpenBLAS threads contend with embree's worker threads on small
    # machines and slow (N, 3) x (3, L) products down by an order of magnitude
    cos = np.clip(np.einsum("nk,lk->nl", n, lighting.directions), 0.0, None)  # (N, L)
    irradiance = lighting.ambient + np.einsum("nl,lk->nk", cos, lighting.colors)  # (N, 3)
    return albedo_lin * irradiance * lighting.exposure


def _studio_radiance(studio: Studio, cam: _Cam, lighting: Lighting) -> np.ndarray:
    """Linear radiance (H*W, 3) of the empty studio in a camera under ``lighting`` (memoised, read-only)."""
    hits = _studio_hits(studio, cam)
    per_light = hits["radiance"]
    lkey = lighting._key()
    if lkey not in per_light:
        _, d, ok = _rays(cam, studio._cache)
        linear = _shade(hits["albedo"], hits["normal"], d, lighting)
        linear[~ok] = 0.0
        linear.setflags(write=False)
        if len(per_light) >= _RADIANCE_CACHE_PER_CAMERA:
            del per_light[next(iter(per_light))]
        per_light[lkey] = linear
    return per_light[lkey]


def _encode(linear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise (shot + read, linear domain), clipping, sRGB encoding, uint8."""
    lin = np.clip(linear, 0.0, 1.0)
    sigma = np.sqrt(READ_NOISE**2 + SHOT_GAIN * lin)
    noisy = np.clip(lin + sigma * rng.standard_normal(lin.shape), 0.0, 1.0)
    return np.round(linear_to_srgb(noisy) * 255.0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# frames
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Person:
    mesh: trimesh.Trimesh
    intersector: RayMeshIntersector
    labels: np.ndarray  # (T,) uint8
    albedo: np.ndarray  # (V, 3) float64, linear
    normals: np.ndarray  # (V, 3) float64, per surface
    lo: np.ndarray  # (3,) bounding box of the referenced vertices
    hi: np.ndarray


def _person_mesh(surfaces: Sequence[Surface]) -> _Person | None:
    """All person surfaces merged into one mesh (None when there are no faces)."""
    verts, faces, labels, albedo, normals = [], [], [], [], []
    off = 0
    for i, s in enumerate(surfaces):
        if not isinstance(s, Surface):
            raise ValueError(f"surfaces[{i}] must be a Surface, got {type(s).__name__}")
        try:
            s.__post_init__()  # re-validate: fields may have been reassigned since construction
        except ValueError as exc:
            raise ValueError(f"surfaces[{i}]: {exc}") from None
        m = trimesh.Trimesh(s.vertices, s.faces, process=False)
        verts.append(s.vertices)
        faces.append(s.faces + off)
        labels.append(s.part_labels)
        albedo.append(srgb_to_linear(s.albedo))
        normals.append(np.asarray(m.vertex_normals, np.float64))
        off += len(s.vertices)
    if not faces or sum(len(f) for f in faces) == 0:
        return None
    V = np.concatenate(verts)
    F = np.concatenate(faces)
    mesh = trimesh.Trimesh(V, F, process=False)
    used = V[np.unique(F)]
    return _Person(
        mesh=mesh,
        intersector=RayMeshIntersector(mesh),
        labels=np.concatenate(labels),
        albedo=np.concatenate(albedo),
        normals=np.concatenate(normals),
        lo=used.min(axis=0) - _BOX_PAD,
        hi=used.max(axis=0) + _BOX_PAD,
    )


def _rays_meeting_box(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Boolean (N,): rays ``origin + s dirs, s >= 0`` that meet the axis-aligned box [lo, hi] (slab test)."""
    tmin = np.zeros(len(dirs))
    tmax = np.full(len(dirs), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(3):
            inv = 1.0 / dirs[:, k]
            t1 = (lo[k] - origin[k]) * inv
            t2 = (hi[k] - origin[k]) * inv
            if lo[k] <= origin[k] <= hi[k]:  # parallel rays inside the slab: no constraint
                t1 = np.where(np.isnan(t1), -np.inf, t1)
                t2 = np.where(np.isnan(t2), np.inf, t2)
            np.maximum(tmin, np.fmin(t1, t2), out=tmin)
            np.minimum(tmax, np.fmax(t1, t2), out=tmax)
    return tmax >= tmin


def _check_inputs(studio: Studio, cameras: Sequence[object], rng: np.random.Generator, lighting: Lighting | None):
    if not isinstance(studio, Studio):
        raise ValueError(f"studio must be a humanrecon.synth.scene.Studio, got {type(studio).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    cams = [_as_cam(c, i) for i, c in enumerate(cameras)]
    if not cams:
        raise ValueError("cameras is empty")
    lighting = default_lighting() if lighting is None else lighting
    if not isinstance(lighting, Lighting):
        raise ValueError(f"lighting must be a Lighting, got {type(lighting).__name__}")
    return cams, lighting


def render_frame(
    surfaces: Sequence[Surface],
    studio: Studio,
    cameras: Sequence[object],
    rng: np.random.Generator,
    lighting: Lighting | None = None,
) -> list[CameraRender]:
    """Render the person in the studio from every camera (see the module docstring).

    Parameters
    ----------
    surfaces : sequence of Surface
        The posed person (world metres); may be empty (studio only).
    studio : Studio
        Environment from :func:`humanrecon.synth.scene.make_studio`. Per-camera rays, studio hits and
        studio shading are memoised inside it: reuse the same object for every frame of a session.
    cameras : sequence of camera-like
        Objects with ``name, K, dist, R, t, width, height`` (OpenCV model).
    rng : numpy.random.Generator
        Sensor-noise stream (consumed in camera order).
    lighting : Lighting, optional
        Defaults to :func:`default_lighting`.

    Returns
    -------
    list of CameraRender
        One per camera, in order: ``rgb`` (H, W, 3) uint8, ``mask`` (H, W) uint8 {0, 1}, ``parts``
        (H, W) uint8 0..12, ``depth`` (H, W) float32 metres (0 on the background).

    Raises
    ------
    ValueError
        Naming the offending surface field, camera attribute, studio, lighting or rng.
    """
    cams, lighting = _check_inputs(studio, cameras, rng, lighting)
    person = _person_mesh(list(surfaces))
    out = []
    for cam in cams:
        H, W = cam.height, cam.width
        origin, d, ok = _rays(cam, studio._cache)
        bg = _studio_hits(studio, cam)
        linear = _studio_radiance(studio, cam, lighting).copy()  # studio everywhere first
        mask = np.zeros(H * W, np.uint8)
        parts = np.zeros(H * W, np.uint8)
        depth = np.zeros(H * W, np.float32)
        if person is not None:
            idx = np.flatnonzero(ok)
            idx = idx[_rays_meeting_box(origin, d[idx], person.lo, person.hi)]
            tri = np.asarray(person.intersector.intersects_first(np.broadcast_to(origin, (len(idx), 3)), d[idx]), np.int64)
            hit = tri >= 0
            idx_hit, tri_hit = idx[hit], tri[hit]
            fverts = person.mesh.faces[tri_hit]
            t, bary = _barycentric_hits(person.mesh.vertices[fverts], origin, d[idx_hit])
            in_front = (t > 0) & (t < bg["t"][idx_hit])
            idx_hit, tri_hit, fverts, t, bary = idx_hit[in_front], tri_hit[in_front], fverts[in_front], t[in_front], bary[in_front]
            n = _unit(np.einsum("nk,nkj->nj", bary, person.normals[fverts]))
            alb = np.einsum("nk,nkj->nj", bary, person.albedo[fverts])
            linear[idx_hit] = _shade(alb, n, d[idx_hit], lighting)
            mask[idx_hit] = 1
            parts[idx_hit] = person.labels[tri_hit]
            depth[idx_hit] = (t * np.einsum("nk,k->n", d[idx_hit], cam.R[2])).astype(np.float32)
        out.append(
            CameraRender(
                rgb=_encode(linear, rng).reshape(H, W, 3),
                mask=mask.reshape(H, W),
                parts=parts.reshape(H, W),
                depth=depth.reshape(H, W),
            )
        )
    return out


def render_background(
    studio: Studio, cameras: Sequence[object], rng: np.random.Generator, lighting: Lighting | None = None
) -> list[np.ndarray]:
    """Empty-studio plates of every camera under ``lighting`` with fresh sensor noise.

    Parameters
    ----------
    studio : Studio
    cameras : sequence of camera-like
    rng : numpy.random.Generator
        Sensor-noise stream (consumed in camera order).
    lighting : Lighting, optional
        The plate's lighting; pass ``perturb_lighting(capture_lighting, rng)`` for a plate shot at
        another moment (slightly different gain, colour, light directions). Defaults to
        :func:`default_lighting`. With the capture lighting and the same rng state the plate is
        byte-identical to ``render_frame([], ...)``.

    Returns
    -------
    list of (H, W, 3) uint8
        sRGB plates, one per camera.
    """
    cams, lighting = _check_inputs(studio, cameras, rng, lighting)
    return [
        _encode(_studio_radiance(studio, cam, lighting), rng).reshape(cam.height, cam.width, 3) for cam in cams
    ]
