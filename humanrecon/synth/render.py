"""Ray-casting renderer of the synthetic studio (trimesh + embree).

For each camera pixel a ray is cast from the camera centre through the pixel's *undistorted* normalised
coordinates (:meth:`humanrecon.calibration.Camera.pixel_rays`), so images follow the OpenCV lens model
exactly. The person (any number of :class:`Surface` objects: clothed body, skirt...) is intersected with
embree; the static studio environment (:mod:`humanrecon.synth.scene`) is intersected once per camera
and cached. The first hit decides each pixel:

* ``rgb`` — Lambertian shading in linear light (ambient + directional lights, two-sided normals),
  exposure, signal-dependent sensor noise (shot + read noise), sRGB encoding, uint8;
* ``mask`` — 1 where a person surface is the first hit;
* ``parts`` — the 12-part label of the person face hit (0 background);
* ``depth`` — camera-frame z (metres) of the person hit, 0 elsewhere.

Only rays inside the person's projected bounding box (plus a margin) are tested against the person,
which keeps a frame of 8 cameras at 512x512 within a few seconds on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import trimesh

from humanrecon.synth.scene import Studio, linear_to_srgb, srgb_to_linear, studio_albedo

#: Bounding-box margin (pixels) around the projected person when selecting rays to test.
BBOX_MARGIN_PX = 4
#: Sensor model: read-noise std and shot-noise gain, in linear [0, 1] units.
READ_NOISE = 0.004
SHOT_GAIN = 0.0009


@dataclass
class Surface:
    """A person surface to render (all in world metres).

    Attributes
    ----------
    vertices : (V, 3) float
    faces : (T, 3) int
    part_labels : (T,) uint8
        12-part id (1..12) of each face.
    albedo : (V, 3) float in [0, 1]
        sRGB-encoded display colours per vertex (linearised for shading).
    is_body : bool
        Part of the person (counts in ``mask``).
    """

    vertices: np.ndarray
    faces: np.ndarray
    part_labels: np.ndarray
    albedo: np.ndarray
    is_body: bool = True

    def __post_init__(self):
        v = np.asarray(self.vertices, dtype=np.float64)
        f = np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
            raise ValueError(f"Surface.vertices must be finite (V, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or (f.size and (f.min() < 0 or f.max() >= len(v))):
            raise ValueError(f"Surface.faces must be (T, 3) indices into {len(v)} vertices")
        if np.shape(self.albedo) != v.shape:
            raise ValueError(f"Surface.albedo must have shape {v.shape}, got {np.shape(self.albedo)}")
        if np.shape(self.part_labels) != (len(f),):
            raise ValueError(f"Surface.part_labels must have shape ({len(f)},), got {np.shape(self.part_labels)}")


@dataclass(frozen=True)
class Lighting:
    """Directional lights plus ambient, linear RGB.

    Attributes
    ----------
    directions : (L, 3) unit vectors from the surface towards each light, world frame.
    colors : (L, 3) linear intensities.
    ambient : (3,) linear ambient intensity.
    exposure : float
        Multiplier applied before encoding.
    """

    directions: np.ndarray
    colors: np.ndarray
    ambient: np.ndarray
    exposure: float = 1.0


@dataclass
class CameraRender:
    """One camera's images (see the module docstring)."""

    rgb: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8
    parts: np.ndarray  # (H, W) uint8
    depth: np.ndarray  # (H, W) float32


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


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
# rays and the static studio (cached per camera)
# ----------------------------------------------------------------------------------------------------


def _camera_key(cam) -> tuple:
    return (cam.name, cam.width, cam.height, cam.K.tobytes(), cam.dist.tobytes(), cam.R.tobytes(), cam.t.tobytes())


def _rays(cam, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin (3,), unit directions (H*W, 3) and validity (H*W,) of every pixel (cached)."""
    key = ("rays", _camera_key(cam))
    if key not in cache:
        origin, dirs = cam.pixel_rays()
        d = dirs.reshape(-1, 3)
        ok = np.isfinite(d).all(1)
        d = np.where(ok[:, None], d, cam.R[2])  # pixels beyond the lens model: look straight ahead
        cache[key] = (np.asarray(origin, np.float64), np.ascontiguousarray(d), ok)
    return cache[key]


def _studio_intersector(studio: Studio):
    if "intersector" not in studio._cache:
        mesh = trimesh.Trimesh(studio.vertices, studio.faces, process=False)
        studio._cache["intersector"] = (mesh, trimesh.ray.ray_pyembree.RayMeshIntersector(mesh))
    return studio._cache["intersector"]


def _barycentric_hits(tri_xyz: np.ndarray, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter t (N,) and barycentrics (N, 3) of rays hitting known triangles (N, 3, 3)."""
    a, b, c = tri_xyz[:, 0], tri_xyz[:, 1], tri_xyz[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(dirs, e2)
    det = (e1 * p).sum(1)
    det = np.where(np.abs(det) < 1e-18, 1e-18, det)
    s = origins - a
    u = (s * p).sum(1) / det
    q = np.cross(s, e1)
    v = (dirs * q).sum(1) / det
    t = (e2 * q).sum(1) / det
    return t, np.stack([1 - u - v, u, v], 1)


def _studio_hits(studio: Studio, cam, cache: dict) -> dict:
    """Per-pixel studio hit distance, albedo (linear) and normal for a camera (cached; static scene)."""
    key = ("studio", id(studio), _camera_key(cam))
    if key not in cache:
        origin, d, _ = _rays(cam, cache)
        mesh, inter = _studio_intersector(studio)
        n = len(d)
        tri = inter.intersects_first(np.broadcast_to(origin, (n, 3)), d)
        hit = tri >= 0
        t = np.full(n, np.inf)
        albedo = np.zeros((n, 3), np.float32)
        normal = np.zeros((n, 3))
        if hit.any():
            idx = np.flatnonzero(hit)
            th, bary = _barycentric_hits(studio.vertices[studio.faces[tri[idx]]], np.broadcast_to(origin, (len(idx), 3)), d[idx])
            t[idx] = th
            pts = origin + th[:, None] * d[idx]
            nrm = _unit((studio.vertex_normals[studio.faces[tri[idx]]] * bary[..., None]).sum(1))
            normal[idx] = nrm
            albedo[idx] = studio_albedo(studio, pts, nrm, tri[idx])
        cache[key] = {"t": t, "albedo": albedo, "normal": normal}
    return cache[key]


def _shade(albedo_lin: np.ndarray, normal: np.ndarray, view_dirs: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Linear radiance (N, 3): albedo * (ambient + sum_l color_l * max(0, n . l)), two-sided normals."""
    n = np.where(((normal * view_dirs).sum(1) > 0)[:, None], -normal, normal)  # face the camera
    cos = np.clip(n @ lighting.directions.T, 0.0, None)  # (N, L)
    irradiance = lighting.ambient + cos @ lighting.colors  # (N, 3)
    return albedo_lin * irradiance * lighting.exposure


def _encode(linear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise (shot + read, linear domain), clipping, sRGB encoding, uint8."""
    lin = np.clip(linear, 0.0, 1.0)
    sigma = np.sqrt(READ_NOISE**2 + SHOT_GAIN * lin)
    noisy = np.clip(lin + sigma * rng.standard_normal(lin.shape), 0.0, 1.0)
    return np.round(linear_to_srgb(noisy) * 255.0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# frames
# ----------------------------------------------------------------------------------------------------


def _person_mesh(surfaces: list[Surface]):
    """Concatenated person geometry with per-vertex normals, linear albedo and per-face labels."""
    verts, faces, labels, albedo, normals, body = [], [], [], [], [], []
    off = 0
    for s in surfaces:
        v = np.asarray(s.vertices, np.float64)
        f = np.asarray(s.faces, np.int64)
        m = trimesh.Trimesh(v, f, process=False)
        verts.append(v)
        faces.append(f + off)
        labels.append(np.asarray(s.part_labels, np.uint8))
        albedo.append(srgb_to_linear(np.clip(np.asarray(s.albedo, np.float64), 0.0, 1.0)))
        normals.append(np.asarray(m.vertex_normals, np.float64))
        body.append(np.full(len(f), bool(s.is_body)))
        off += len(v)
    V = np.concatenate(verts)
    F = np.concatenate(faces)
    mesh = trimesh.Trimesh(V, F, process=False)
    return mesh, np.concatenate(labels), np.concatenate(albedo), np.concatenate(normals), np.concatenate(body)


def render_frame(
    surfaces: list[Surface],
    studio: Studio,
    cameras: list,
    rng: np.random.Generator,
    lighting: Lighting,
) -> list[CameraRender]:
    """Render the person in the studio from every camera (see the module docstring).

    Parameters
    ----------
    surfaces : list of Surface
        The posed person (world metres).
    studio : Studio
    cameras : list of Camera
    rng : numpy.random.Generator
        Sensor-noise stream (consumed in camera order).
    lighting : Lighting
    """
    if not surfaces:
        raise ValueError("render_frame needs at least one person surface")
    mesh, labels, albedo, vnormals, is_body = _person_mesh(surfaces)
    inter = trimesh.ray.ray_pyembree.RayMeshIntersector(mesh)
    cache = studio._cache
    out = []
    for cam in cameras:
        H, W = cam.height, cam.width
        origin, d, ok = _rays(cam, cache)
        bg = _studio_hits(studio, cam, cache)
        # rays inside the person's projected bounding box
        uv, z = cam.project_with_depth(mesh.vertices)
        front = z > 0
        sel = np.zeros(H * W, bool)
        if front.any():
            u0, v0 = np.floor(uv[front].min(0)).astype(int) - BBOX_MARGIN_PX
            u1, v1 = np.ceil(uv[front].max(0)).astype(int) + BBOX_MARGIN_PX
            u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, W - 1), min(v1, H - 1)
            if u1 >= u0 and v1 >= v0:
                rows = np.arange(v0, v1 + 1)
                cols = np.arange(u0, u1 + 1)
                sel[(rows[:, None] * W + cols[None, :]).ravel()] = True
        if not front.all():  # part of the person behind the camera: test every ray
            sel[:] = True
        sel &= ok
        idx = np.flatnonzero(sel)
        tri = inter.intersects_first(np.broadcast_to(origin, (len(idx), 3)), d[idx]) if len(idx) else np.zeros(0, int)
        hit_local = tri >= 0
        idx_hit, tri_hit = idx[hit_local], tri[hit_local]
        t, bary = _barycentric_hits(mesh.vertices[mesh.faces[tri_hit]], np.broadcast_to(origin, (len(idx_hit), 3)), d[idx_hit])
        in_front = t < bg["t"][idx_hit]
        idx_hit, tri_hit, t, bary = idx_hit[in_front], tri_hit[in_front], t[in_front], bary[in_front]

        linear = _shade(bg["albedo"], bg["normal"], d, lighting)  # (H*W, 3) studio everywhere first
        linear[~ok] = 0.0
        fverts = mesh.faces[tri_hit]
        n = _unit((vnormals[fverts] * bary[..., None]).sum(1))
        alb = (albedo[fverts] * bary[..., None]).sum(1)
        linear[idx_hit] = _shade(alb, n, d[idx_hit], lighting)
        mask = np.zeros(H * W, np.uint8)
        mask[idx_hit] = is_body[tri_hit]
        parts = np.zeros(H * W, np.uint8)
        parts[idx_hit] = labels[tri_hit]
        depth = np.zeros(H * W, np.float32)
        depth[idx_hit] = (t * (d[idx_hit] @ cam.R[2])).astype(np.float32)
        out.append(
            CameraRender(
                rgb=_encode(linear, rng).reshape(H, W, 3),
                mask=mask.reshape(H, W),
                parts=parts.reshape(H, W),
                depth=depth.reshape(H, W),
            )
        )
    return out


def render_background(studio: Studio, cameras: list, rng: np.random.Generator, lighting: Lighting) -> list[np.ndarray]:
    """Empty-studio plates (H, W, 3) uint8 of every camera under ``lighting`` with fresh sensor noise."""
    out = []
    for cam in cameras:
        origin, d, ok = _rays(cam, studio._cache)
        bg = _studio_hits(studio, cam, studio._cache)
        linear = _shade(bg["albedo"], bg["normal"], d, lighting)
        linear[~ok] = 0.0
        out.append(_encode(linear, rng).reshape(cam.height, cam.width, 3))
    return out
