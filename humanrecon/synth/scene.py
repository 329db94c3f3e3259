"""The synthetic capture studio's environment: floor, backdrop wall, ceiling and clutter, with textures.

World frame of the studio (see :mod:`humanrecon.conventions`): metres, ``+y`` up, the floor is the
plane ``y = 0``, the person stands inside the *capture volume*, a vertical cylinder of radius
``capture_radius`` around the ``y`` axis, and the cameras stand on a ring of radius ``radius``.

The environment is one static triangle mesh (a few thousand faces) whose albedo is evaluated
procedurally at ray hit points by :func:`studio_albedo`, from texture images generated once by
:func:`make_studio` (a panorama for the cylindrical backdrop wall, a top view for the floor) plus a
periodic fine-grain noise. Everything is deterministic given the ``numpy.random.Generator``.

Albedos are *linear* reflectances in ``[0, 1]`` (the renderer shades in linear light and
gamma-encodes at the end); textures are drawn in sRGB and linearised with :func:`srgb_to_linear`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = [
    "CEILING",
    "FLOOR",
    "OBJECT",
    "WALL",
    "Studio",
    "linear_to_srgb",
    "make_studio",
    "srgb_to_linear",
    "studio_albedo",
]

#: Material codes of :attr:`Studio.face_material`.
FLOOR, WALL, CEILING, OBJECT = 0, 1, 2, 3

_WALL_TEX_WIDTH = 4096  # panorama texels around the backdrop (~8 mm at a 5 m wall radius)
_FLOOR_TEX_SIZE = 1024  # floor texels per side (~1 cm)
_NOISE_SIZE = 256  # periodic fine-grain noise texels per side
_NOISE_PERIOD_M = 0.5  # metres covered by one period of the fine-grain noise


# ----------------------------------------------------------------------------------------------------
# colour helpers
# ----------------------------------------------------------------------------------------------------


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in ``[0, 1]`` -> linear values in ``[0, 1]`` (IEC 61966-2-1), same shape, float."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear values in ``[0, 1]`` -> sRGB-encoded values in ``[0, 1]`` (IEC 61966-2-1), same shape, float."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1.0 / 2.4) - 0.055)


_SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


def _u8_to_linear(img: np.ndarray) -> np.ndarray:
    """uint8 sRGB image (..., 3) -> float32 linear albedo, same shape."""
    return _SRGB8_TO_LINEAR[img]


# ----------------------------------------------------------------------------------------------------
# the Studio container
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Studio:
    """Static studio environment (everything except the person), in the studio world frame.

    Attributes
    ----------
    vertices : (V, 3) float64
        Mesh vertices, world metres (``+y`` up, floor at ``y = 0``).
    faces : (T, 3) int64
        Triangles indexing ``vertices``.
    vertex_normals : (V, 3) float64
        Unit shading normals (flat objects repeat vertices per face; the wall's normals point inwards).
    face_material : (T,) uint8
        :data:`FLOOR`, :data:`WALL`, :data:`CEILING` or :data:`OBJECT` per face.
    face_color : (T, 3) float32
        Linear base albedo per face (used by ``OBJECT`` and ``CEILING`` faces).
    face_object : (T,) int32
        Index into :attr:`clutter` of the clutter item a face belongs to, -1 for floor, wall, ceiling.
    clutter : tuple of dict
        One record per clutter item: ``kind`` (str), ``center`` ((3,) float, metres, on the floor),
        ``extent`` (horizontal radius, metres, of its footprint), ``height`` (metres), ``inner`` (bool,
        inside the camera ring).
    wall_texture : (Hw, Ww, 3) float32
        Linear albedo panorama of the backdrop: column ``j`` is azimuth
        ``theta = 2 pi (j + 0.5) / Ww - pi`` (``theta = atan2(z, x)``), row 0 the top of the wall.
    floor_texture : (Hf, Wf, 3) float32
        Linear albedo of the floor seen from above; texel ``(i, j)`` centres at
        ``x = -floor_half + (j + 0.5) * 2 floor_half / Wf``, ``z = -floor_half + (i + 0.5) * 2 floor_half / Hf``.
    detail_noise : (N, N) float32
        Periodic zero-mean unit-std noise; one period spans :data:`_NOISE_PERIOD_M` metres.
    radius : float
        Camera ring radius the studio was laid out for, metres.
    capture_radius : float
        Radius of the capture volume (vertical cylinder around the ``y`` axis) kept free of clutter.
    wall_radius, wall_height : float
        Backdrop cylinder radius and height (= ceiling height), metres.
    floor_half : float
        Half side of the square floor, metres.

    Notes
    -----
    The renderer memoises per-camera data (pixel rays, studio hits) and the ray intersector in the
    private ``_cache`` dict; the geometry arrays must therefore not be modified after creation.
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_normals: np.ndarray
    face_material: np.ndarray
    face_color: np.ndarray
    face_object: np.ndarray
    clutter: tuple[dict[str, Any], ...]
    wall_texture: np.ndarray
    floor_texture: np.ndarray
    detail_noise: np.ndarray
    radius: float
    capture_radius: float
    wall_radius: float
    wall_height: float
    floor_half: float
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        v, f = np.asarray(self.vertices), np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
            raise ValueError(f"Studio.vertices must be finite (V, 3), got shape {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or f.size == 0 or f.min() < 0 or f.max() >= len(v):
            raise ValueError(f"Studio.faces must be (T, 3) indices into {len(v)} vertices")
        for name, arr, shape in (
            ("vertex_normals", self.vertex_normals, (len(v), 3)),
            ("face_material", self.face_material, (len(f),)),
            ("face_color", self.face_color, (len(f), 3)),
            ("face_object", self.face_object, (len(f),)),
        ):
            if np.shape(arr) != shape:
                raise ValueError(f"Studio.{name} must have shape {shape}, got {np.shape(arr)}")


# ----------------------------------------------------------------------------------------------------
# mesh primitives (vertices, faces, normals); all counter-clockwise seen from outside
# ----------------------------------------------------------------------------------------------------


class _MeshBuilder:
    """Accumulates primitives with per-face material, colour and object id."""

    def __init__(self) -> None:
        self.v: list[np.ndarray] = []
        self.f: list[np.ndarray] = []
        self.n: list[np.ndarray] = []
        self.mat: list[np.ndarray] = []
        self.col: list[np.ndarray] = []
        self.obj: list[np.ndarray] = []
        self.count = 0

    def add(self, v: np.ndarray, f: np.ndarray, n: np.ndarray, material: int, color, obj: int) -> None:
        self.v.append(np.asarray(v, np.float64))
        self.f.append(np.asarray(f, np.int64) + self.count)
        self.n.append(np.asarray(n, np.float64))
        self.mat.append(np.full(len(f), material, np.uint8))
        self.col.append(np.broadcast_to(np.asarray(color, np.float32), (len(f), 3)))
        self.obj.append(np.full(len(f), obj, np.int32))
        self.count += len(v)

    def merge(self, other: _MeshBuilder, offset: np.ndarray) -> None:
        """Append all primitives of ``other``, translated by ``offset`` (3,)."""
        self.v.extend(v + offset for v in other.v)
        self.f.extend(f + self.count for f in other.f)
        self.n.extend(other.n)
        self.mat.extend(other.mat)
        self.col.extend(other.col)
        self.obj.extend(other.obj)
        self.count += other.count

    def arrays(self) -> tuple[np.ndarray, ...]:
        n = np.concatenate(self.n)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        return (
            np.concatenate(self.v),
            np.concatenate(self.f),
            n,
            np.concatenate(self.mat),
            np.concatenate(self.col).astype(np.float32),
            np.concatenate(self.obj),
        )


def _box(center: np.ndarray, size: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axis-aligned box of ``size`` (sx, sy, sz) rotated by ``yaw`` about +y; ``center`` is its centre.

    Returns vertices (24, 3), faces (12, 3), flat normals (24, 3).
    """
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    verts, faces, norms = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            nrm = np.zeros(3)
            nrm[axis] = sign
            a1, a2 = (axis + 1) % 3, (axis + 2) % 3
            quad = []
            for d1, d2 in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis] = sign
                p[a1], p[a2] = d1, d2
                quad.append(p)
            quad = np.array(quad) * 0.5 * size
            base = len(verts) * 4
            tri = np.array([[0, 1, 2], [0, 2, 3]]) if sign > 0 else np.array([[0, 2, 1], [0, 3, 2]])
            verts.append(quad @ rot.T + center)
            faces.append(tri + base)
            norms.append(np.tile(rot @ nrm, (4, 1)))
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(norms)


def _cylinder(
    p0: np.ndarray, p1: np.ndarray, radius: float, sections: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed cylinder from ``p0`` to ``p1`` (world metres) with smooth sides and flat caps.

    Returns vertices (4 s + 2, 3), faces (4 s, 3), normals, with ``s = sections``.
    """
    axis = np.asarray(p1, float) - np.asarray(p0, float)
    length = np.linalg.norm(axis)
    a = axis / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    e1 = np.cross(a, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(a, e1)
    ang = 2.0 * np.pi * np.arange(sections) / sections
    ring = np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2  # (s, 3) unit radial
    bottom, top = p0 + radius * ring, p1 + radius * ring
    i = np.arange(sections)
    j = (i + 1) % sections
    s = sections
    # sides: bottom ring 0..s-1, top ring s..2s-1
    side_f = np.concatenate([np.stack([i, j, s + j], 1), np.stack([i, s + j, s + i], 1)])
    # caps: bottom ring copy 2s..3s-1 + centre 4s, top ring copy 3s..4s-1 + centre 4s+1
    cap_b = np.stack([np.full(s, 4 * s), 2 * s + j, 2 * s + i], 1)
    cap_t = np.stack([np.full(s, 4 * s + 1), 3 * s + i, 3 * s + j], 1)
    verts = np.concatenate([bottom, top, bottom, top, p0[None], p1[None]])
    norms = np.concatenate([ring, ring, np.tile(-a, (s, 1)), np.tile(a, (s, 1)), -a[None], a[None]])
    # orient side faces outward: check the first one
    v0, v1, v2 = verts[side_f[0]]
    if np.dot(np.cross(v1 - v0, v2 - v0), ring[0] + ring[1]) < 0:
        side_f = side_f[:, ::-1]
        cap_b, cap_t = cap_b[:, ::-1], cap_t[:, ::-1]
    return verts, np.concatenate([side_f, cap_b, cap_t]), norms


# ----------------------------------------------------------------------------------------------------
# textures
# ----------------------------------------------------------------------------------------------------


def _periodic_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Periodic 1/f^beta noise (float32, zero mean, unit std) of ``shape`` via the FFT."""
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spec = np.fft.rfft2(white) / f**beta
    spec[0, 0] = 0.0
    out = np.fft.irfft2(spec, s=shape)
    return (out / out.std()).astype(np.float32)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Low-frequency noise (float32, roughly zero mean unit std) upsampled from ``cells`` to ``shape``."""
    small = _periodic_noise(rng, cells, 1.5)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _rand_color(rng: np.random.Generator, palette: np.ndarray, jitter: float = 12.0) -> tuple[int, int, int]:
    """A palette colour (sRGB 0..255) with per-channel jitter, as a cv2-friendly int tuple."""
    c = palette[rng.integers(len(palette))] + rng.normal(0.0, jitter, 3)
    return tuple(int(x) for x in np.clip(c, 0, 255))


_WALL_PALETTE = np.array(
    [[170, 170, 168], [196, 186, 168], [150, 160, 172], [95, 98, 102], [150, 165, 150], [200, 198, 192]],
    float,
)
_VIVID_PALETTE = np.array(
    [
        [200, 40, 40], [40, 90, 190], [230, 190, 40], [40, 150, 80], [240, 240, 235], [25, 25, 28],
        [230, 110, 30], [120, 60, 150], [90, 170, 200], [200, 120, 150], [130, 90, 60], [160, 160, 160],
    ],
    float,
)  # fmt: skip
_OBJECT_PALETTE = np.array(
    [
        [30, 30, 32], [55, 55, 60], [90, 90, 95], [150, 150, 150], [200, 200, 196], [60, 70, 110],
        [150, 40, 35], [190, 150, 60], [60, 100, 70], [120, 85, 55], [40, 80, 140], [215, 110, 40],
    ],
    float,
)  # fmt: skip


def _poster(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One poster image (h, w, 3) uint8 sRGB with a random graphic."""
    bg = _rand_color(rng, _VIVID_PALETTE, 20)
    fg = _rand_color(rng, _VIVID_PALETTE, 20)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    kind = rng.integers(6)
    if kind == 0:  # stripes
        period = int(rng.integers(6, 30))
        horizontal = rng.random() < 0.5
        idx = np.arange(h)[:, None] if horizontal else np.arange(w)[None, :]
        on = np.broadcast_to((idx // period) % 2 == 0, (h, w))
        img[on] = fg
    elif kind == 1:  # checkerboard
        sq = int(rng.integers(6, 24))
        on = ((np.arange(h)[:, None] // sq) + (np.arange(w)[None, :] // sq)) % 2 == 0
        img[on] = fg
    elif kind == 2:  # circles
        for _ in range(int(rng.integers(2, 9))):
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, center, int(rng.integers(3, max(4, min(h, w) // 2))), _rand_color(rng, _VIVID_PALETTE), -1)
    elif kind == 3:  # text lines
        letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "))
        y = int(rng.integers(12, 30))
        scale = float(rng.uniform(0.4, 1.0))
        while y < h - 4:
            text = "".join(rng.choice(letters, int(rng.integers(4, 14))))
            cv2.putText(img, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale, fg, 1 + int(rng.integers(2)), cv2.LINE_AA)
            y += int(30 * scale) + int(rng.integers(4, 12))
    elif kind == 4:  # colour blobs
        field_ = _smooth_field(rng, (h, w), (4, 4))
        t = np.clip(0.5 + 0.35 * field_, 0, 1)[..., None]
        img[:] = np.clip((1 - t) * np.array(bg) + t * np.array(fg), 0, 255).astype(np.uint8)
    else:  # photo-like: gradient + a few rectangles
        t = np.linspace(0, 1, h)[:, None, None]
        img[:] = np.clip((1 - t) * np.array(bg) + t * np.array(fg), 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(5, w // 2 + 6)), y0 + int(rng.integers(5, h // 2 + 6))
            cv2.rectangle(img, (x0, y0), (x1, y1), _rand_color(rng, _VIVID_PALETTE), -1)
    border = _rand_color(rng, np.array([[240, 240, 240], [20, 20, 20], [150, 120, 80]], float), 5)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), border, max(1, min(h, w) // 40))
    return img


def _wall_texture(rng: np.random.Generator, wall_radius: float, wall_height: float) -> np.ndarray:
    """Backdrop panorama, (Hw, Ww, 3) uint8 sRGB; row 0 is the top of the wall."""
    ww = _WALL_TEX_WIDTH
    ppm = ww / (2.0 * np.pi * wall_radius)  # texels per metre (both axes)
    hw = int(round(wall_height * ppm))
    base = np.array(_rand_color(rng, _WALL_PALETTE, 10), float)
    shade = 1.0 + 0.06 * _smooth_field(rng, (hw, ww), (8, 64))
    grad = 1.0 - rng.uniform(0.0, 0.15) * np.linspace(0.0, 1.0, hw)[::-1, None] ** 2  # darker at the top
    img = np.clip(base * (shade * grad)[..., None], 0, 255).astype(np.uint8)

    def row(y_m: float) -> int:  # height above the floor (m) -> texel row
        return int(np.clip(round((wall_height - y_m) * ppm), 0, hw - 1))

    # curtains (vertical folds)
    for _ in range(int(rng.integers(0, 3))):
        x0 = int(rng.integers(0, ww - 1))
        width = int(rng.uniform(1.0, 3.0) * ppm)
        col = np.array(_rand_color(rng, _VIVID_PALETTE, 15), float) * 0.8
        xs = np.arange(x0, x0 + width) % ww
        fold = 0.8 + 0.2 * np.sin(2 * np.pi * np.arange(width) / rng.uniform(0.12, 0.3) / ppm)
        top = row(rng.uniform(2.2, wall_height))
        img[top:, xs] = np.clip(col[None, None, :] * fold[None, :, None], 0, 255).astype(np.uint8)
    # panel seams
    panel = rng.uniform(0.9, 1.6) * ppm
    seam_col = tuple(int(c * 0.7) for c in base)
    for x in np.arange(rng.uniform(0, panel), ww, panel):
        cv2.line(img, (int(x), 0), (int(x), hw - 1), seam_col, 1)
    # horizontal band
    if rng.random() < 0.6:
        y0 = rng.uniform(0.9, 1.6)
        img[row(y0 + rng.uniform(0.05, 0.3)) : row(y0)] = _rand_color(rng, _VIVID_PALETTE, 15)
    # doors
    for _ in range(int(rng.integers(0, 3))):
        x0 = int(rng.integers(0, ww - int(1.0 * ppm)))
        cv2.rectangle(img, (x0, row(2.1)), (x0 + int(0.9 * ppm), hw - 1), _rand_color(rng, _OBJECT_PALETTE), -1)
        cv2.rectangle(img, (x0, row(2.1)), (x0 + int(0.9 * ppm), hw - 1), (40, 40, 40), 2)
    # posters
    for _ in range(int(rng.integers(6, 15))):
        pw, ph = int(rng.uniform(0.4, 1.4) * ppm), int(rng.uniform(0.4, 1.1) * ppm)
        bottom = rng.uniform(0.5, max(0.6, min(2.0, wall_height - 0.3 - ph / ppm)))
        y1 = row(bottom)
        y0 = max(0, y1 - ph)
        x0 = int(rng.integers(0, ww - pw))
        img[y0:y1, x0 : x0 + pw] = _poster(rng, y1 - y0, pw)
    # skirting board
    img[row(rng.uniform(0.08, 0.16)) :] = _rand_color(rng, _OBJECT_PALETTE, 8)
    return img


def _floor_texture(rng: np.random.Generator, half: float, capture_radius: float) -> np.ndarray:
    """Floor seen from above, (S, S, 3) uint8 sRGB covering ``[-half, half]^2`` in (x -> cols, z -> rows)."""
    s = _FLOOR_TEX_SIZE
    ppm = s / (2.0 * half)
    coords = (np.arange(s) + 0.5) / ppm - half  # texel centre, metres
    x, z = coords[None, :], coords[:, None]
    kind = rng.integers(3)
    if kind == 0:  # tiles
        tile = rng.uniform(0.3, 0.6)
        ix, iz = np.floor(x / tile).astype(int), np.floor(z / tile).astype(int)
        tile_rng = rng.normal(0.0, 1.0, (64, 64))
        jitter = tile_rng[iz % 64, ix % 64]
        base = np.array(_rand_color(rng, _WALL_PALETTE, 20), float)
        img = base * (1.0 + 0.06 * jitter)[..., None]
        gw = rng.uniform(0.004, 0.012)
        grout = (np.mod(x, tile) < gw) | (np.mod(z, tile) < gw)
        img = np.where(grout[..., None], base * 0.55, img)
    elif kind == 1:  # wooden planks along x
        width = rng.uniform(0.1, 0.22)
        length = rng.uniform(0.8, 2.0)
        iz = np.floor(z / width).astype(int)
        offset = rng.uniform(0, length, 4096)[iz % 4096]
        ix = np.floor((x + offset) / length).astype(int)
        jitter = rng.normal(0.0, 1.0, (64, 64))[iz % 64, ix % 64]
        base = np.array([150, 105, 65], float) * rng.uniform(0.6, 1.2) + rng.normal(0, 8, 3)
        grain = cv2.resize(_periodic_noise(rng, (256, 16), 1.0), (s, s), interpolation=cv2.INTER_LINEAR)
        img = base * (1.0 + 0.08 * jitter + 0.05 * grain)[..., None]
        seam = (np.mod(z, width) < 0.003) | (np.mod(x + offset, length) < 0.003)
        img = np.where(seam[..., None], base * 0.5, img)
    else:  # concrete / vinyl
        base = np.array(_rand_color(rng, _WALL_PALETTE, 15), float) * rng.uniform(0.6, 1.0)
        img = np.broadcast_to(base, (s, s, 3)).copy()
    img = img * (1.0 + 0.07 * _smooth_field(rng, (s, s), (16, 16)))[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    # tape marks
    tape_cols = np.array([[235, 235, 230], [230, 200, 40], [200, 50, 40], [50, 90, 200], [30, 30, 30]], float)

    def px(p: np.ndarray) -> tuple[int, int]:
        return int((p[0] + half) * ppm), int((p[1] + half) * ppm)

    thick = max(1, int(0.05 * ppm))
    if rng.random() < 0.6:
        cv2.circle(img, px(np.zeros(2)), int(capture_radius * ppm), _rand_color(rng, tape_cols, 5), thick, cv2.LINE_AA)
    for _ in range(int(rng.integers(3, 10))):
        c = rng.uniform(-half * 0.8, half * 0.8, 2)
        d = rng.normal(size=2)
        d *= rng.uniform(0.1, 0.5) / np.linalg.norm(d)
        col = _rand_color(rng, tape_cols, 5)
        cv2.line(img, px(c - d), px(c + d), col, thick, cv2.LINE_AA)
        if rng.random() < 0.6:  # a cross
            cv2.line(img, px(c - d[::-1] * [1, -1]), px(c + d[::-1] * [1, -1]), col, thick, cv2.LINE_AA)
    # stains
    for _ in range(int(rng.integers(0, 6))):
        stain = np.zeros((s, s), np.float32)
        cv2.circle(stain, px(rng.uniform(-half, half, 2)), int(rng.uniform(0.1, 0.5) * ppm), 1.0, -1)
        stain = cv2.GaussianBlur(stain, (0, 0), 0.1 * ppm)
        img = np.clip(img * (1.0 - rng.uniform(0.05, 0.2) * stain[..., None]), 0, 255).astype(np.uint8)
    return img


# ----------------------------------------------------------------------------------------------------
# clutter
# ----------------------------------------------------------------------------------------------------


def _add_clutter(
    mb: _MeshBuilder, rng: np.random.Generator, kind: str, center: np.ndarray, obj: int, low: bool
) -> tuple[float, float]:
    """Add one clutter item standing on the floor at ``center`` (x, 0, z). Returns (extent, height)."""
    yaw = float(rng.uniform(0, 2 * np.pi))
    color = _u8_to_linear(np.array(_rand_color(rng, _OBJECT_PALETTE, 10), np.uint8))
    if kind == "case":
        size = rng.uniform([0.3, 0.08, 0.2], [0.6, 0.25, 0.5]) if low else rng.uniform([0.4, 0.3, 0.3], [1.0, 0.9, 0.6])
        v, f, n = _box(center + [0, size[1] / 2, 0], size, yaw)
        mb.add(v, f, n, OBJECT, color, obj)
        height = size[1]
        if not low and rng.random() < 0.5:  # a second case on top
            size2 = size * rng.uniform(0.6, 0.95, 3)
            v, f, n = _box(center + [0, size[1] + size2[1] / 2, 0], size2, yaw + rng.normal(0, 0.2))
            mb.add(v, f, n, OBJECT, _u8_to_linear(np.array(_rand_color(rng, _OBJECT_PALETTE), np.uint8)), obj)
            height += size2[1]
        return float(np.hypot(size[0], size[2]) / 2), float(height)
    if kind == "drum":  # bins, barrels, cable drums
        r = rng.uniform(0.12, 0.25) if low else rng.uniform(0.15, 0.35)
        h = rng.uniform(0.08, 0.25) if low else rng.uniform(0.35, 0.9)
        v, f, n = _cylinder(center, center + [0, h, 0], r, 24)
        mb.add(v, f, n, OBJECT, color, obj)
        return float(r), float(h)
    if kind == "table":
        size = rng.uniform([0.6, 0.7, 0.4], [1.4, 0.95, 0.8])
        top = 0.04
        v, f, n = _box(center + [0, size[1] - top / 2, 0], [size[0], top, size[2]], yaw)
        mb.add(v, f, n, OBJECT, color, obj)
        c, s = np.cos(yaw), np.sin(yaw)
        leg_col = _u8_to_linear(np.array(_rand_color(rng, _OBJECT_PALETTE[:4]), np.uint8))
        for sx in (-1, 1):
            for sz in (-1, 1):
                lx, lz = sx * (size[0] / 2 - 0.04), sz * (size[2] / 2 - 0.04)
                p = center + [c * lx + s * lz, (size[1] - top) / 2, -s * lx + c * lz]
                v, f, n = _box(p, [0.04, size[1] - top, 0.04], yaw)
                mb.add(v, f, n, OBJECT, leg_col, obj)
        return float(np.hypot(size[0], size[2]) / 2), float(size[1])
    if kind in ("stand", "tripod"):  # light stand with softbox, or camera tripod with a small head
        metal = _u8_to_linear(np.array(_rand_color(rng, _OBJECT_PALETTE[:3], 5), np.uint8))
        spread = rng.uniform(0.25, 0.4)
        hub = rng.uniform(0.5, 0.7)
        top = rng.uniform(1.7, 2.4) if kind == "stand" else rng.uniform(1.2, 1.6)
        for k in range(3):
            a = yaw + 2 * np.pi * k / 3
            foot = center + [spread * np.cos(a), 0.0, spread * np.sin(a)]
            v, f, n = _cylinder(foot, center + [0, hub, 0], 0.012, 8)
            mb.add(v, f, n, OBJECT, metal, obj)
        v, f, n = _cylinder(center + [0, hub - 0.05, 0], center + [0, top, 0], 0.018, 10)
        mb.add(v, f, n, OBJECT, metal, obj)
        if kind == "stand":
            size = rng.uniform([0.4, 0.4, 0.2], [0.7, 0.7, 0.4])
            head_col = _u8_to_linear(np.array(_rand_color(rng, np.array([[235, 235, 230], [30, 30, 30]], float), 5), np.uint8))
        else:
            size = rng.uniform([0.12, 0.1, 0.15], [0.2, 0.15, 0.3])
            head_col = metal
        face_center = -np.arctan2(center[2], center[0]) + np.pi / 2  # roughly face the origin
        v, f, n = _box(center + [0, top + size[1] / 2, 0], size, face_center)
        mb.add(v, f, n, OBJECT, head_col, obj)
        return float(max(spread, np.hypot(size[0], size[2]) / 2)), float(top + size[1])
    if kind == "panel":  # reflector / flag board on the floor
        size = rng.uniform([0.6, 1.2, 0.02], [1.2, 2.0, 0.04])
        col = _u8_to_linear(np.array(_rand_color(rng, np.array([[240, 240, 238], [25, 25, 25], [180, 180, 185]], float), 5), np.uint8))
        v, f, n = _box(center + [0, size[1] / 2, 0], size, yaw)
        mb.add(v, f, n, OBJECT, col, obj)
        return float(size[0] / 2), float(size[1])
    raise ValueError(f"unknown clutter kind {kind!r}")


_OUTER_KINDS = ("case", "drum", "table", "stand", "tripod", "panel")
_INNER_KINDS = ("case", "drum")


# ----------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------


def make_studio(
    rng: np.random.Generator,
    radius: float = 3.0,
    *,
    capture_radius: float = 1.2,
    n_clutter: int = 8,
    n_inner: int = 2,
    wall_segments: int = 128,
) -> Studio:
    """Build a random capture-studio environment, deterministic given ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (layout, colours, textures).
    radius : float
        Radius (metres) of the camera ring around the ``y`` axis. The backdrop wall stands 1.8-2.8 m
        behind it; tall clutter is placed between the ring and the wall.
    capture_radius : float
        Radius (metres) of the capture volume, a vertical cylinder around the ``y`` axis where the
        person stands; no clutter intrudes into it (nor within 0.3 m of it).
    n_clutter : int
        Number of clutter items outside the camera ring (cases, drums, tables, light stands,
        tripods, reflector panels); they appear behind the person in the opposite cameras.
    n_inner : int
        Number of *low* items (at most 0.25 m tall: cases, cable drums) inside the camera ring,
        between the capture volume and the cameras, placed so they do not hide the capture volume
        from cameras on the ring at heights of about 1 m or more.
    wall_segments : int
        Number of facets of the cylindrical backdrop wall.

    Returns
    -------
    Studio
        Geometry (a few thousand triangles) and textures; see :class:`Studio`.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not (np.isfinite(radius) and np.isfinite(capture_radius) and 0 < capture_radius < radius):
        raise ValueError(f"need 0 < capture_radius < radius, got capture_radius={capture_radius}, radius={radius}")
    if n_clutter < 0 or n_inner < 0 or wall_segments < 8:
        raise ValueError("n_clutter and n_inner must be >= 0 and wall_segments >= 8")
    wall_radius = float(radius + rng.uniform(1.8, 2.8))
    wall_height = float(rng.uniform(3.6, 4.4))
    half = wall_radius + 0.2
    mb = _MeshBuilder()
    # floor: 2 triangles facing +y
    fv = np.array([[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]], float)
    mb.add(fv, np.array([[0, 2, 1], [0, 3, 2]]), np.tile([0.0, 1.0, 0.0], (4, 1)), FLOOR, 0.0, -1)
    # backdrop: open cylinder, normals inwards
    s = wall_segments
    ang = 2 * np.pi * np.arange(s) / s
    ring = np.stack([np.cos(ang), np.zeros(s), np.sin(ang)], 1)
    wv = np.concatenate([ring * wall_radius, ring * wall_radius + [0, wall_height, 0]])
    i, j = np.arange(s), (np.arange(s) + 1) % s
    wf = np.concatenate([np.stack([i, s + j, j], 1), np.stack([i, s + i, s + j], 1)])
    mb.add(wv, wf, -np.concatenate([ring, ring]), WALL, 0.0, -1)
    # ceiling: fan facing -y
    cv = np.concatenate([ring * wall_radius + [0, wall_height, 0], [[0, wall_height, 0]]])
    cf = np.stack([np.full(s, s), j, i], 1)
    ceil_col = _u8_to_linear(np.array(_rand_color(rng, np.array([[60, 60, 62], [120, 120, 118]], float), 8), np.uint8))
    mb.add(cv, cf, np.tile([0.0, -1.0, 0.0], (s + 1, 1)), CEILING, ceil_col, -1)

    clutter: list[dict[str, Any]] = []
    for k in range(n_clutter + n_inner):
        inner = k >= n_clutter
        kinds = _INNER_KINDS if inner else _OUTER_KINDS
        kind = str(kinds[rng.integers(len(kinds))])
        a = float(rng.uniform(0, 2 * np.pi))
        sub = _MeshBuilder()
        extent, height = _add_clutter(sub, rng, kind, np.zeros(3), len(clutter), inner)
        if inner:
            r_lo, r_hi = capture_radius + 0.4 + extent, radius - 0.5 - extent
        else:
            r_lo, r_hi = radius + 0.3 + extent, wall_radius - 0.1 - extent
        if r_hi < r_lo:  # no room for it
            continue
        r = float(rng.uniform(r_lo, r_hi))
        offset = np.array([r * np.cos(a), 0.0, r * np.sin(a)])
        mb.merge(sub, offset)
        clutter.append({"kind": kind, "center": offset, "extent": extent, "height": height, "inner": inner})

    vertices, faces, normals, material, color, obj = mb.arrays()
    wall_tex = _u8_to_linear(_wall_texture(rng, wall_radius, wall_height))
    floor_tex = _u8_to_linear(_floor_texture(rng, half, capture_radius))
    noise = _periodic_noise(rng, (_NOISE_SIZE, _NOISE_SIZE), 0.8)
    return Studio(
        vertices=vertices,
        faces=faces,
        vertex_normals=normals,
        face_material=material,
        face_color=color,
        face_object=obj,
        clutter=tuple(clutter),
        wall_texture=wall_tex,
        floor_texture=floor_tex,
        detail_noise=noise,
        radius=float(radius),
        capture_radius=float(capture_radius),
        wall_radius=wall_radius,
        wall_height=wall_height,
        floor_half=half,
    )


def _sample_bilinear(img: np.ndarray, col: np.ndarray, row: np.ndarray, wrap_cols: bool, wrap_rows: bool) -> np.ndarray:
    """Bilinearly sample ``img`` (h, w[, C]) at continuous texel coordinates (texel centres at integers).

    Coordinates wrap around where ``wrap_*`` is set and are clamped to the border otherwise.
    Returns (N[, C]) float32.
    """
    h, w = img.shape[:2]
    flat = img.reshape(h * w, -1)
    c0f, r0f = np.floor(col), np.floor(row)
    fc = (col - c0f).astype(np.float32)[:, None]
    fr = (row - r0f).astype(np.float32)[:, None]
    c0, r0 = c0f.astype(np.int64), r0f.astype(np.int64)
    c1, r1 = c0 + 1, r0 + 1
    if wrap_cols:
        c0, c1 = c0 % w, c1 % w
    else:
        c0, c1 = np.clip(c0, 0, w - 1), np.clip(c1, 0, w - 1)
    if wrap_rows:
        r0, r1 = r0 % h, r1 % h
    else:
        r0, r1 = np.clip(r0, 0, h - 1), np.clip(r1, 0, h - 1)
    top = flat[r0 * w + c0] * (1 - fc) + flat[r0 * w + c1] * fc
    bot = flat[r1 * w + c0] * (1 - fc) + flat[r1 * w + c1] * fc
    out = top * (1 - fr) + bot * fr
    return out if img.ndim == 3 else out[:, 0]


def _noise_at(studio: Studio, a: np.ndarray, b: np.ndarray, period_m: float = _NOISE_PERIOD_M) -> np.ndarray:
    """Fine-grain noise (N,) float32 at planar coordinates ``a, b`` (metres)."""
    n = studio.detail_noise.shape[0]
    return _sample_bilinear(studio.detail_noise, a * (n / period_m), b * (n / period_m), True, True)


def studio_albedo(studio: Studio, points: np.ndarray, normals: np.ndarray, face_ids: np.ndarray) -> np.ndarray:
    """Linear albedo of the studio surfaces at hit points.

    Parameters
    ----------
    studio : Studio
    points : (N, 3) float
        Hit points on the studio mesh, world metres.
    normals : (N, 3) float
        Unit shading normals at the hits (select the planar projection of object textures).
    face_ids : (N,) int
        Studio face hit by each point.

    Returns
    -------
    (N, 3) float32
        Linear albedo in ``[0, 1]``.
    """
    points = np.asarray(points, np.float64)
    face_ids = np.asarray(face_ids, np.int64)
    out = np.zeros((len(points), 3), np.float32)
    mat = studio.face_material[face_ids]
    x, y, z = points[:, 0], points[:, 1], points[:, 2]

    sel = np.flatnonzero(mat == FLOOR)
    if sel.size:
        hf, wf = studio.floor_texture.shape[:2]
        col = (x[sel] + studio.floor_half) * (wf / (2 * studio.floor_half)) - 0.5
        row = (z[sel] + studio.floor_half) * (hf / (2 * studio.floor_half)) - 0.5
        tex = _sample_bilinear(studio.floor_texture, col, row, False, False)
        out[sel] = tex * (1.0 + 0.05 * _noise_at(studio, x[sel], z[sel]))[:, None]

    sel = np.flatnonzero(mat == WALL)
    if sel.size:
        hw, ww = studio.wall_texture.shape[:2]
        theta = np.arctan2(z[sel], x[sel])
        col = (theta + np.pi) * (ww / (2 * np.pi)) - 0.5
        row = (studio.wall_height - y[sel]) * (hw / studio.wall_height) - 0.5
        tex = _sample_bilinear(studio.wall_texture, col, row, True, False)
        out[sel] = tex * (1.0 + 0.03 * _noise_at(studio, theta * studio.wall_radius, y[sel]))[:, None]

    sel = np.flatnonzero((mat == OBJECT) | (mat == CEILING))
    if sel.size:
        n = np.abs(np.asarray(normals, np.float64)[sel])
        ax = np.argmax(n, axis=1)
        p = points[sel]
        a = np.where(ax == 0, p[:, 2], p[:, 0])
        b = np.where(ax == 1, p[:, 2], p[:, 1])
        grain = 1.0 + 0.08 * _noise_at(studio, a, b, 0.3)
        out[sel] = studio.face_color[face_ids[sel]] * grain[:, None]
    return np.clip(out, 0.0, 1.0)
