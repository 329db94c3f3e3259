"""Clothing, hair and appearance for the synthetic capture studio.

The studio renders posed, clothed people whose ground-truth surface is *not* an SMPL-format mesh, so the
implicit-reconstruction stage has detail outside the body model's shape space to learn. A subject's
:class:`Outfit` lives in the subject's *rest* frame (T-pose, shaped; :mod:`humanrecon.conventions`:
metres, ``+y`` up, the body faces ``+z``, the subject's left is ``+x``) and is posed with the body model's
own skinning (:mod:`humanrecon.bodymodel.skinning`), so clothes and their patterns move with the body.

An outfit has three layers:

* ``body_offsets`` (Vs, 3): a smooth outward displacement of the skin vertices along smoothed rest normals,
  for garments that hug the body -- a top or jacket (torso and arms), trousers or shorts (legs) and hair
  volume (head; never the face below the hairline). Offsets are smoothed over the mesh (Laplacian
  iterations) and capped by a per-vertex *clearance* (0.4 x the free distance along the normal, ray cast
  against the body, and to facing walls of narrow grooves nearby; half the concave radius of curvature),
  and tapered to zero at the armpits and the crotch, so the offset surface does not intersect itself.
  Hands, the face below the hairline and the feet stay exactly at zero.
* ``albedo`` (Vs, 3) in [0, 1] (sRGB-like display values): skin tone (Monk skin-tone scale), garment
  colours with procedural patterns evaluated at rest-space coordinates (solid, stripes, checks, dots,
  gradient, low-frequency noise), hair colour, shoe colour (feet below the ankles, darker soles).
* ``extra``: separate closed meshes bridging the legs -- the skirt (also the lower half of a dress), a
  watertight thick shell (outer and inner walls ~6 mm apart joined at the waist and the hem). Its rings
  hug the body's exact cross-sections (with a small margin) from the waist down to the hips, then a
  truncated cone flares to an elliptic hem (above the knee to mid-calf) that clears the legs. Its
  skinning weights are Gaussian-averaged body weights (wider towards the hem) restricted to the
  pelvis/spine/hip/knee joints and smoothed over the skirt, so legs moving apart stretch the skirt
  instead of tearing it; the inner wall at the waist sits 3 mm inside the body so the union fuses them.

:func:`clothed_surfaces` poses an outfit for one body (a list of :class:`Surface`, what the renderer
consumes); :func:`clothed_mesh` makes the watertight ground-truth outer surface (manifold boolean union).

Everything random is drawn from the ``numpy.random.Generator`` passed in: an outfit is deterministic for a
generator state.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import trimesh
from scipy.spatial import cKDTree

from humanrecon.bodymodel import skeleton
from humanrecon.bodymodel.parts import face_part_labels

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PROBABILITIES",
    "ExtraSurface",
    "Outfit",
    "Surface",
    "clothed_mesh",
    "clothed_surfaces",
    "no_clothes_outfit",
    "rest_body_inputs",
    "sample_outfit",
]

# SMPL joint indices used below (skeleton.JOINT_NAMES order).
_PELVIS, _L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2 = 0, 1, 2, 3, 4, 5, 6
_L_ANKLE, _R_ANKLE, _NECK, _HEAD = 7, 8, 12, 15
_L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW, _L_WRIST, _R_WRIST = 16, 17, 18, 19, 20, 21

#: Joints a skirt may follow (everything else is zeroed and the weights renormalised).
SKIRT_JOINTS = (_PELVIS, _L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2)

# Part ids (skeleton.PART_NAMES, 1-based).
_HEAD_P, _TORSO_P = 1, 2
_ARM_PARTS = (3, 4, 5, 6)
_LEG_PARTS = (7, 8, 9, 10)
_FOOT_PARTS = (11, 12)

#: Default sampling probabilities. ``sample_outfit(probabilities=...)`` overrides any of these keys;
#: scalar entries are probabilities, dict entries are relative weights of categorical choices.
DEFAULT_PROBABILITIES: dict = {
    "dress": 0.12,  # a dress (skirt + matching top) instead of separate top and bottom
    "skirt": 0.15,  # without a dress: a skirt instead of trousers
    "jacket": 0.3,  # the top is a jacket (thicker, long sleeves, may be open over a shirt)
    "open_jacket": 0.5,
    "tucked": 0.3,  # the top is tucked into the trousers (trousers colour wins where they overlap)
    "hair": 0.85,  # otherwise bald / shaved
    "shorts": 0.12,  # the trousers are shorts
    "top_styles": {"t-shirt": 0.35, "long-sleeve": 0.25, "tank-top": 0.1, "sweater": 0.3},
    "necklines": {"crew": 0.5, "v": 0.2, "scoop": 0.2, "turtleneck": 0.1},
    "hair_styles": {"short": 0.35, "bob": 0.25, "bun": 0.15, "long": 0.25},
    "patterns": {"solid": 0.4, "stripes": 0.15, "checks": 0.1, "dots": 0.1, "gradient": 0.1, "noise": 0.15},
}

# Monk skin-tone scale (10 tones, sRGB), interpolated for a continuous range of human skin tones.
_SKIN_TONES = np.array(
    [
        [0xF6, 0xED, 0xE4],
        [0xF3, 0xE7, 0xDB],
        [0xF7, 0xEA, 0xD0],
        [0xEA, 0xDA, 0xBA],
        [0xD7, 0xBD, 0x96],
        [0xA0, 0x7E, 0x56],
        [0x82, 0x5C, 0x43],
        [0x60, 0x41, 0x34],
        [0x3A, 0x31, 0x2A],
        [0x29, 0x24, 0x20],
    ],
    dtype=np.float64,
) / 255.0

_GARMENT_COLORS: dict[str, tuple[float, float, float]] = {
    "black": (0.08, 0.08, 0.09),
    "white": (0.92, 0.92, 0.90),
    "grey": (0.50, 0.50, 0.52),
    "charcoal": (0.25, 0.25, 0.27),
    "navy": (0.10, 0.14, 0.32),
    "denim": (0.25, 0.36, 0.55),
    "light_blue": (0.60, 0.75, 0.90),
    "red": (0.75, 0.12, 0.12),
    "burgundy": (0.45, 0.08, 0.15),
    "orange": (0.95, 0.50, 0.10),
    "yellow": (0.95, 0.85, 0.25),
    "olive": (0.42, 0.45, 0.20),
    "green": (0.15, 0.50, 0.25),
    "teal": (0.10, 0.50, 0.50),
    "khaki": (0.76, 0.69, 0.50),
    "beige": (0.85, 0.78, 0.65),
    "brown": (0.40, 0.26, 0.15),
    "pink": (0.95, 0.60, 0.70),
    "purple": (0.45, 0.25, 0.60),
}
_HAIR_COLORS: dict[str, tuple[tuple[float, float, float], float]] = {  # colour, relative weight
    "black": ((0.05, 0.04, 0.04), 0.3),
    "dark_brown": ((0.20, 0.12, 0.07), 0.25),
    "brown": ((0.35, 0.22, 0.12), 0.15),
    "light_brown": ((0.55, 0.40, 0.25), 0.08),
    "blonde": ((0.85, 0.72, 0.45), 0.08),
    "auburn": ((0.55, 0.22, 0.10), 0.05),
    "grey": ((0.60, 0.60, 0.60), 0.05),
    "white": ((0.85, 0.85, 0.83), 0.02),
    "dyed": ((0.0, 0.0, 0.0), 0.02),  # random saturated colour
}
_SHOE_COLORS: dict[str, tuple[tuple[float, float, float], float]] = {
    "black": ((0.06, 0.06, 0.06), 0.35),
    "white": ((0.90, 0.90, 0.88), 0.25),
    "brown": ((0.35, 0.20, 0.10), 0.15),
    "grey": ((0.45, 0.45, 0.47), 0.1),
    "navy": ((0.10, 0.13, 0.30), 0.08),
    "red": ((0.70, 0.10, 0.10), 0.07),
}

_SKIRT_THICKNESS = 0.006  # m between the skirt's outer and inner walls
_SKIRT_SEGMENTS = 96  # vertices around a skirt ring
_SKIRT_ROW_SPACING = 0.012  # m between skirt rings
_SKIRT_SIGMA = (0.04, 0.1)  # m, Gaussian radius of the weight averaging at the waist and its growth to the hem
_SKIRT_KNEE = 0.5  # share of the knees' weight kept (the rest goes to the hips): fewer folds
_SKIRT_SMOOTH = 8  # weight smoothing passes over the skirt grid
_SKIRT_K = 128  # body vertices averaged per skirt vertex


# --------------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------------


@dataclass
class ExtraSurface:
    """A separate closed garment mesh in the rest frame (skirt), posed with its own skinning weights.

    Attributes
    ----------
    vertices : (N, 3) float64
        Rest (T-pose, shaped) positions, model frame, metres.
    faces : (T, 3) int64
        Outward-oriented triangles of a closed (watertight) surface.
    weights : (N, 24) float64
        Skinning weights (rows sum to 1).
    albedo : (N, 3) float64 in [0, 1]
    part_labels : (T,) uint8
        12-part id (1..12) of the body part underneath each face.
    name : str
    """

    vertices: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    albedo: np.ndarray
    part_labels: np.ndarray
    name: str


@dataclass
class Outfit:
    """Clothing, hair and appearance of one subject, in the subject's rest (T-pose, shaped) frame.

    Attributes
    ----------
    body_offsets : (Vs, 3) float64
        Outward displacement of each skin vertex (metres) for garments and hair that hug the body.
    albedo : (Vs, 3) float64 in [0, 1]
        Per skin-vertex colour (skin, garments, hair, shoes).
    extra : list[ExtraSurface]
        Separate closed garment meshes (the skirt of a skirt or dress).
    description : dict
        JSON-serialisable ground-truth metadata (garment types, colours, patterns, parameters).
    """

    body_offsets: np.ndarray
    albedo: np.ndarray
    extra: list[ExtraSurface] = field(default_factory=list)
    description: dict = field(default_factory=dict)


class Surface(NamedTuple):
    """One posed surface for the renderer: ``(vertices, faces, part_labels, albedo, name)``.

    ``vertices`` (N, 3) world metres, ``faces`` (T, 3) int64, ``part_labels`` (T,) uint8 in 1..12,
    ``albedo`` (N, 3) float64 in [0, 1].
    """

    vertices: np.ndarray
    faces: np.ndarray
    part_labels: np.ndarray
    albedo: np.ndarray
    name: str


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _smoothstep(e0: float, e1, x):
    """0 below ``e0``, 1 above ``e1``, C1 cubic in between (``e0 < e1``; arrays broadcast)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (np.asarray(e1) - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _jsonable(obj):
    """Convert numpy scalars/arrays inside dicts/lists to plain Python (JSON-serialisable)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return round(float(obj), 6)
    return obj


def _choice(rng: np.random.Generator, weights: dict):
    """A key of ``weights`` drawn with probability proportional to its (non-negative) value."""
    keys = list(weights)
    w = np.array([float(weights[k]) for k in keys])
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"categorical weights must be >= 0 with a positive sum, got {weights}")
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.04) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float64) + rng.uniform(-amount, amount, 3), 0.0, 1.0)


def _merge_probabilities(probabilities: dict | None) -> dict:
    probs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULT_PROBABILITIES.items()}
    for key, val in (probabilities or {}).items():
        if key not in DEFAULT_PROBABILITIES:
            raise ValueError(f"unknown outfit probability {key!r}; known: {sorted(DEFAULT_PROBABILITIES)}")
        if isinstance(DEFAULT_PROBABILITIES[key], dict):
            if not isinstance(val, dict):
                raise ValueError(f"probabilities[{key!r}] must be a dict of relative weights")
            unknown = set(val) - set(DEFAULT_PROBABILITIES[key])
            if unknown:
                raise ValueError(f"probabilities[{key!r}]: unknown choices {sorted(unknown)}")
            probs[key] = {k: float(val.get(k, 0.0)) for k in DEFAULT_PROBABILITIES[key]}
        else:
            if not 0.0 <= float(val) <= 1.0:
                raise ValueError(f"probabilities[{key!r}] must be in [0, 1], got {val}")
            probs[key] = float(val)
    return probs


# --------------------------------------------------------------------------------------------------
# Rest-body geometry: adjacency, smoothing, normals, clearance, landmarks
# --------------------------------------------------------------------------------------------------


class _RestBody:
    """Rest-mesh quantities shared by all garments of one subject."""

    def __init__(self, vertices, faces, weights, part_labels, joints):
        self.v = np.asarray(vertices, dtype=np.float64)
        self.f = np.asarray(faces, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.parts = np.asarray(part_labels).astype(np.uint8)
        self.J = np.asarray(joints, dtype=np.float64)
        n = len(self.v)
        if self.v.ndim != 2 or self.v.shape[1] != 3:
            raise ValueError(f"rest_vertices must be (Vs, 3), got {self.v.shape}")
        if self.f.ndim != 2 or self.f.shape[1] != 3 or self.f.max() >= n:
            raise ValueError(f"faces must be (T, 3) indexing the {n} rest vertices")
        if self.weights.shape != (n, skeleton.NUM_JOINTS):
            raise ValueError(f"weights must be ({n}, 24), got {self.weights.shape}")
        if self.parts.shape != (n,):
            raise ValueError(f"part_labels must be ({n},), got {self.parts.shape}")
        if self.J.shape != (skeleton.NUM_JOINTS, 3):
            raise ValueError(f"joints_rest must be (24, 3), got {self.J.shape}")

        # Uniform-weight adjacency (row-normalised) for Laplacian smoothing; unreferenced vertices keep
        # their value (self loop).
        e = np.concatenate([self.f[:, [0, 1]], self.f[:, [1, 2]], self.f[:, [2, 0]]])
        e = np.unique(np.sort(e, axis=1), axis=0)
        self.edges = e
        A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        A = (A + A.T).tocsr()
        deg = np.asarray(A.sum(axis=1)).ravel()
        A = A + sp.diags((deg == 0).astype(np.float64))
        deg = np.maximum(deg, 1.0)
        self.P = sp.diags(1.0 / deg) @ A
        self.P = self.P.tocsr()
        self.A = A.tocsr()

        self.mesh = trimesh.Trimesh(self.v, self.f, process=False)
        self.raw_normals = np.asarray(self.mesh.vertex_normals, dtype=np.float64)
        self.normals = self._normalise(self.smooth(self.raw_normals, 4))

        J = self.J
        sym = lambda a, b: 0.5 * (abs(J[a, 0]) + abs(J[b, 0]))  # noqa: E731
        self.pelvis_y = J[_PELVIS, 1]
        self.spine1_y = J[_SPINE1, 1]
        self.hip_y = 0.5 * (J[_L_HIP, 1] + J[_R_HIP, 1])
        self.knee_y = 0.5 * (J[_L_KNEE, 1] + J[_R_KNEE, 1])
        self.ankle_y = 0.5 * (J[_L_ANKLE, 1] + J[_R_ANKLE, 1])
        self.neck_y = J[_NECK, 1]
        self.head_z = J[_HEAD, 2]
        self.shoulder_x = sym(_L_SHOULDER, _R_SHOULDER)
        self.elbow_x = sym(_L_ELBOW, _R_ELBOW)
        self.wrist_x = sym(_L_WRIST, _R_WRIST)
        self.spine_z = J[_SPINE2, 2]
        head = self.parts == _HEAD_P
        self.head_top = float(self.v[head, 1].max()) if head.any() else J[_HEAD, 1] + 0.15
        self.head_h = max(self.head_top - self.neck_y, 0.1)
        self.foot_min_y = float(self.v[:, 1].min())
        torso = self.parts == _TORSO_P
        mid = torso & (np.abs(self.v[:, 0]) < 0.02)
        self.crotch_y = float(self.v[mid, 1].min()) if mid.any() else self.hip_y - 0.08
        self.armpits = self._armpits()
        if mid.any():
            self.crotch = self.v[np.flatnonzero(mid)[np.argmin(self.v[mid, 1])]].copy()
        else:
            self.crotch = np.array([0.0, self.crotch_y, J[_PELVIS, 2]])

        self.cap = self._clearance_cap()

    # -- mesh operators ---------------------------------------------------------------------------

    @staticmethod
    def _normalise(n):
        return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)

    def smooth(self, x, iters: int, lam: float = 0.5):
        """``iters`` Laplacian (umbrella) smoothing steps ``x <- (1 - lam) x + lam mean(neighbours)``."""
        x = np.asarray(x, dtype=np.float64)
        for _ in range(iters):
            x = (1.0 - lam) * x + lam * (self.P @ x)
        return x

    def min_filter(self, x):
        """Per-vertex minimum over the 1-ring (and the vertex itself)."""
        A = self.A
        vals = x[A.indices]
        out = x.copy()
        rows = np.flatnonzero(np.diff(A.indptr) > 0)
        out[rows] = np.minimum(out[rows], np.minimum.reduceat(vals, A.indptr[rows]))
        return out

    # -- landmarks --------------------------------------------------------------------------------

    def _armpits(self) -> np.ndarray:
        """Lowest vertex of each torso/upper-arm boundary (joint-based fallback)."""
        out = []
        for arm, shoulder in ((3, _L_SHOULDER), (4, _R_SHOULDER)):
            a, b = self.parts[self.edges[:, 0]], self.parts[self.edges[:, 1]]
            s = ((a == _TORSO_P) & (b == arm)) | ((a == arm) & (b == _TORSO_P))
            idx = np.unique(self.edges[s])
            if len(idx):
                out.append(self.v[idx[np.argmin(self.v[idx, 1])]])
            else:
                out.append(self.J[shoulder] - np.array([0.0, 0.07, 0.0]))
        return np.array(out)

    # -- clearance --------------------------------------------------------------------------------

    def _clearance_cap(self) -> np.ndarray:
        """Largest safe outward offset per vertex (metres), smooth over the mesh.

        min(0.4 x free distance along the smoothed normal (ray cast; the opposite surface may move
        towards it by as much), 0.4 x distance to the nearest vertex inside a 60-degree cone around the
        normal (facing walls of narrow grooves), 0.5 x concave radius of curvature of the raw and the
        smoothed normal fields); caps under 2 mm (crumpled spots) become 0; then eroded and smoothed so
        it has no steps and stays below the raw cap.
        """
        v, n = self.v, self.normals
        # Hands and feet never get offsets (protect()): skip them.
        active = np.flatnonzero((np.abs(v[:, 0]) < self.wrist_x + 0.005) & (v[:, 1] > self.ankle_y - 0.005))
        origins = v[active] + 2e-4 * n[active]
        hit = np.full(len(v), 1.0)
        try:
            locs, ray_idx, _ = self.mesh.ray.intersects_location(origins, n[active], multiple_hits=False)
            if len(ray_idx):
                d = np.linalg.norm(locs - origins[ray_idx], axis=1)
                np.minimum.at(hit, active[ray_idx], d)
        except Exception as exc:  # ray backend trouble: fall back to curvature only (logged)
            log.warning("garments: clearance ray casting failed (%s); using curvature caps only", exc)
        # Concavity of the normal field along edges: k = (n_j - n_i).(v_j - v_i) / |v_j - v_i|^2 < 0.
        # Both the raw normals (sharp creases: buttock cleft, spine groove) and the smoothed ones
        # (the displacement direction) count.
        e = self.edges
        dv = v[e[:, 1]] - v[e[:, 0]]
        dv2 = np.maximum(np.einsum("ij,ij->i", dv, dv), 1e-12)
        k = np.minimum(
            np.einsum("ij,ij->i", n[e[:, 1]] - n[e[:, 0]], dv),
            np.einsum("ij,ij->i", self.raw_normals[e[:, 1]] - self.raw_normals[e[:, 0]], dv),
        ) / dv2
        kmin = np.zeros(len(v))
        np.minimum.at(kmin, e[:, 0], k)
        np.minimum.at(kmin, e[:, 1], k)
        concave_r = 1.0 / np.maximum(-kmin, 1e-6)
        # Nearby surface in front of the vertex (a 60-degree cone around its normal) that a ray misses:
        # narrow grooves whose walls face each other (between the thighs, the buttock cleft).
        k = min(64, len(v))
        dist, idx = cKDTree(v).query(v[active], k=k)
        rel = v[idx] - v[active][:, None, :]
        front = np.einsum("nkj,nj->nk", rel, n[active]) > 0.5 * dist
        near = np.zeros(len(v))
        near[active] = np.where(front, dist, np.inf).min(axis=1)
        cap = np.minimum(np.minimum(0.4 * hit, 0.4 * near), 0.5 * concave_r)
        cap = np.where(cap < 0.002, 0.0, np.minimum(cap, 0.1))  # crumpled spots: no offset at all
        for _ in range(3):
            cap = self.min_filter(cap)
        cap = self.smooth(cap, 4)
        for _ in range(2):
            cap = self.min_filter(cap)
        return cap

    # -- taper / protection masks -----------------------------------------------------------------

    def taper(self) -> np.ndarray:
        """1 away from the armpits and the crotch, smoothly 0 at them."""
        t = np.ones(len(self.v))
        for p, r0, w in ((self.armpits[0], 0.01, 0.05), (self.armpits[1], 0.01, 0.05), (self.crotch, 0.015, 0.06)):
            t *= _smoothstep(r0, r0 + w, np.linalg.norm(self.v - p, axis=1))
        return t

    def head_angle_deg(self) -> np.ndarray:
        """Angle around the vertical head axis (0 = straight ahead, +-180 = back), degrees."""
        return np.degrees(np.arctan2(self.v[:, 0], self.v[:, 2] - self.head_z))

    def face_zone(self, y_hairline: float) -> np.ndarray:
        """1 on the front of the face below the hairline (exactly), smooth ramp to 0 around it."""
        y = self.v[:, 1]
        ang = np.abs(self.head_angle_deg())
        lo = self.neck_y + 0.02
        s_y = _smoothstep(lo - 0.015, lo, y) * (1.0 - _smoothstep(y_hairline, y_hairline + 0.012, y))
        s_a = 1.0 - _smoothstep(72.0, 88.0, ang)
        s_x = 1.0 - _smoothstep(0.13, 0.16, np.abs(self.v[:, 0]))
        return s_y * s_a * s_x

    def protect(self, y_hairline: float) -> np.ndarray:
        """Multiplier keeping the face below the hairline, the hands and the feet exactly at zero."""
        x, y = np.abs(self.v[:, 0]), self.v[:, 1]
        hands = _smoothstep(self.wrist_x - 0.01, self.wrist_x + 0.005, x)
        feet = 1.0 - _smoothstep(self.ankle_y - 0.005, self.ankle_y + 0.015, y)
        return (1.0 - self.face_zone(y_hairline)) * (1.0 - hands) * (1.0 - feet)

    def hairline(self, ratio: float = 0.74) -> float:
        return self.neck_y + ratio * self.head_h


# --------------------------------------------------------------------------------------------------
# Colours and patterns
# --------------------------------------------------------------------------------------------------


def _sample_skin(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    t = rng.uniform(0.0, len(_SKIN_TONES) - 1)
    i = min(int(t), len(_SKIN_TONES) - 2)
    rgb = (1 - (t - i)) * _SKIN_TONES[i] + (t - i) * _SKIN_TONES[i + 1]
    return _jitter(rng, rgb, 0.015), float(t)


def _sample_from(rng, table: dict) -> tuple[str, np.ndarray]:
    name = _choice(rng, {k: w for k, (_, w) in table.items()})
    rgb = np.array(table[name][0])
    if name == "dyed":
        h = rng.uniform(0, 1)
        rgb = np.array([0.5 + 0.45 * math.cos(2 * math.pi * (h + k / 3)) for k in range(3)])
    return name, _jitter(rng, rgb, 0.03)


def _garment_color(rng, exclude: tuple[str, ...] = ()) -> tuple[str, np.ndarray]:
    names = [k for k in _GARMENT_COLORS if k not in exclude]
    name = names[int(rng.integers(len(names)))]
    return name, _jitter(rng, _GARMENT_COLORS[name])


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _sample_pattern(rng: np.random.Generator, probs: dict, base: tuple[str, np.ndarray] | None = None) -> dict:
    """A pattern spec: name, two colours and the parameters :func:`_eval_pattern` needs (JSON-able)."""
    name = _choice(rng, probs["patterns"])
    c1_name, c1 = base if base is not None else _garment_color(rng)
    c2_name, c2 = _garment_color(rng, exclude=(c1_name,))
    spec: dict = {"name": name, "colors": [c1, c2], "color_names": [c1_name, c2_name]}
    if name == "solid":
        spec["colors"] = [c1]
        spec["color_names"] = [c1_name]
    elif name == "stripes":
        if rng.random() < 0.6:  # horizontal stripes
            d = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.08, 3)
        else:
            d = rng.standard_normal(3)
        spec.update(
            direction=d / np.linalg.norm(d),
            period=rng.uniform(0.03, 0.12),
            duty=rng.uniform(0.3, 0.7),
            phase=rng.uniform(0, 1),
        )
    elif name == "checks":
        spec.update(rotation=_random_rotation(rng) if rng.random() < 0.3 else np.eye(3), period=rng.uniform(0.04, 0.12))
    elif name == "dots":
        period = rng.uniform(0.03, 0.08)
        spec.update(rotation=_random_rotation(rng), period=period, radius=rng.uniform(0.15, 0.35) * period)
    elif name == "gradient":
        d = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.3, 3)
        spec.update(direction=d / np.linalg.norm(d), length=rng.uniform(0.6, 1.5), phase=rng.uniform(0, 2 * np.pi))
    elif name == "noise":
        k = 5
        dirs = rng.standard_normal((k, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        spec.update(
            directions=dirs,
            wavelengths=rng.uniform(0.06, 0.3, k),
            phases=rng.uniform(0, 2 * np.pi, k),
            threshold=bool(rng.random() < 0.5),  # camouflage-like blobs instead of a smooth blend
        )
    return spec


def _eval_pattern(spec: dict, points: np.ndarray) -> np.ndarray:
    """Colours (N, 3) of a pattern at rest-space points (N, 3)."""
    p = np.asarray(points, dtype=np.float64)
    cols = [np.asarray(c, dtype=np.float64) for c in spec["colors"]]
    name = spec["name"]
    if name == "solid":
        return np.broadcast_to(cols[0], p.shape).copy()
    if name == "stripes":
        u = (p @ np.asarray(spec["direction"])) / spec["period"] + spec["phase"]
        fr = u - np.floor(u)
        w = 0.06  # soft edge (fraction of a period)
        duty = spec["duty"]
        t = _smoothstep(0.0, w, fr) * (1.0 - _smoothstep(duty, duty + w, fr))
    elif name == "checks":
        q = np.floor(p @ np.asarray(spec["rotation"]) / spec["period"]).astype(np.int64)
        t = (q.sum(axis=1) % 2).astype(np.float64)
    elif name == "dots":
        q = p @ np.asarray(spec["rotation"]) / spec["period"]
        d = np.linalg.norm(q - np.round(q), axis=1) * spec["period"]
        t = 1.0 - _smoothstep(0.8 * spec["radius"], spec["radius"], d)
    elif name == "gradient":
        u = p @ np.asarray(spec["direction"])
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / spec["length"] + spec["phase"])
    elif name == "noise":
        dirs, wl, ph = (np.asarray(spec[k]) for k in ("directions", "wavelengths", "phases"))
        amp = 1.0 / np.arange(1, len(wl) + 1)
        s = (np.sin(2 * np.pi * (p @ dirs.T) / wl + ph) * amp).sum(axis=1) / amp.sum()
        t = _smoothstep(-0.08, 0.08, s) if spec["threshold"] else 0.5 + 0.5 * s / max(np.abs(s).max(), 1e-9)
    else:
        raise ValueError(f"unknown pattern {name!r}")
    t = np.clip(t, 0.0, 1.0)[:, None]
    return (1.0 - t) * cols[0] + t * cols[1]


# --------------------------------------------------------------------------------------------------
# Garments on the body (offset fields)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Layer:
    name: str
    coverage: np.ndarray  # (Vs,) in [0, 1]
    thickness: np.ndarray  # (Vs,) metres
    colors: np.ndarray  # (Vs, 3)
    priority: float  # added to the thickness when choosing the outermost layer's colour


def _sample_top(rng, body: _RestBody, probs: dict, *, dress: dict | None, pattern: dict) -> tuple[_Layer, dict]:
    """Top / jacket / dress bodice: torso + arms coverage and thickness."""
    v, n, parts = body.v, body.normals, body.parts
    x, y, z = np.abs(v[:, 0]), v[:, 1], v[:, 2]
    jacket = dress is None and rng.random() < probs["jacket"]
    if jacket:
        style = "jacket"
        sleeve = "long"
    elif dress is not None:
        style = "dress"
        sleeve = _choice(rng, {"none": 0.35, "short": 0.45, "long": 0.2})
    else:
        style = _choice(rng, probs["top_styles"])
        sleeve = {"t-shirt": "short", "long-sleeve": "long", "tank-top": "none", "sweater": "long"}[style]
    neck = "crew" if jacket else _choice(rng, probs["necklines"])
    if style == "tank-top" and neck == "turtleneck":
        neck = "scoop"

    arm_len = body.elbow_x - body.shoulder_x
    fore_len = body.wrist_x - body.elbow_x
    if sleeve == "none":
        s_end = body.shoulder_x + rng.uniform(-0.01, 0.02)
    elif sleeve == "short":
        s_end = body.shoulder_x + rng.uniform(0.3, 0.65) * arm_len
    else:
        s_end = body.wrist_x - rng.uniform(0.01, 0.04) if rng.random() < 0.8 else body.elbow_x + rng.uniform(0.3, 0.6) * fore_len

    if dress is not None:
        hem = dress["waist_y"] - rng.uniform(0.03, 0.05)  # hidden under the skirt's waistband
    elif jacket:
        hem = body.hip_y + rng.uniform(-0.1, 0.02)
    else:
        hem = body.hip_y + rng.uniform(-0.07, 0.06)
    hem = max(hem, body.crotch_y + 0.03)

    if jacket:
        t_side, t_front, t_arm = rng.uniform(0.012, 0.018), rng.uniform(0.02, 0.03), rng.uniform(0.012, 0.02)
    elif style == "sweater":
        t_side, t_front, t_arm = rng.uniform(0.01, 0.014), rng.uniform(0.014, 0.022), rng.uniform(0.01, 0.014)
    else:
        t_side, t_front, t_arm = rng.uniform(0.008, 0.01), rng.uniform(0.01, 0.016), rng.uniform(0.008, 0.011)

    # Coverage: torso and arms (not head/hands/feet), below the neckline, above the hem, inside the sleeve.
    region = np.isin(parts, (_TORSO_P, *_ARM_PARTS, *_LEG_PARTS)).astype(np.float64)
    if neck == "turtleneck":
        region = np.maximum(region, (parts == _HEAD_P) * (1.0 - _smoothstep(body.neck_y + 0.01, body.neck_y + 0.03, y)))
    cov = region * _smoothstep(hem - 0.012, hem + 0.012, y)
    cov *= 1.0 - _smoothstep(s_end - 0.012, s_end + 0.012, x)
    front = _smoothstep(body.spine_z, body.spine_z + 0.04, z)
    neck_depth = 0.0
    if neck in ("v", "scoop"):
        neck_depth = rng.uniform(0.06, 0.14) if neck == "v" else rng.uniform(0.04, 0.1)
        width = rng.uniform(0.07, 0.1)
        if neck == "v":
            bottom = body.neck_y - 0.03 - neck_depth * np.clip(1.0 - x / width, 0.0, 1.0)
        else:
            bottom = body.neck_y - 0.03 - neck_depth * np.sqrt(np.clip(1.0 - (x / width) ** 2, 0.0, 1.0))
        cov *= 1.0 - front * _smoothstep(bottom - 0.01, bottom + 0.01, y)
    if neck != "turtleneck":
        cov *= 1.0 - (parts == _HEAD_P)
    cov = np.clip(cov, 0.0, 1.0)

    torso_w = _smoothstep(body.shoulder_x + 0.03, body.shoulder_x - 0.02, x)  # 1 on the torso, 0 on the arms
    t_torso = t_side + (t_front - t_side) * np.abs(n[:, 2])
    thick = torso_w * t_torso + (1.0 - torso_w) * t_arm

    colors = _eval_pattern(pattern, v)
    open_front = None
    if jacket and rng.random() < probs["open_jacket"]:
        inner = _sample_pattern(rng, {"patterns": {"solid": 0.7, "stripes": 0.15, "checks": 0.15}})
        half_w = rng.uniform(0.035, 0.07)
        band = front * (1.0 - _smoothstep(half_w - 0.005, half_w + 0.005, x))
        colors = (1.0 - band[:, None]) * colors + band[:, None] * _eval_pattern(inner, v)
        open_front = {"half_width": half_w, "shirt": inner}
    desc = {
        "type": style,
        "sleeves": sleeve,
        "sleeve_end_x": s_end,
        "neckline": neck,
        "neckline_depth": neck_depth,
        "hem_y": hem,
        "thickness_side": t_side,
        "thickness_front_back": t_front,
        "thickness_arm": t_arm,
        "pattern": pattern,
        "open_front": open_front,
    }
    return _Layer("top", cov, thick, colors, 0.0), desc


def _sample_trousers(rng, body: _RestBody, probs: dict, pattern: dict) -> tuple[_Layer, dict]:
    v, parts = body.v, body.parts
    y = v[:, 1]
    shorts = rng.random() < probs["shorts"]
    waist = body.hip_y + rng.uniform(-0.01, 0.07)
    if shorts:
        end = body.knee_y + rng.uniform(0.04, 0.16)
        t_top, t_bot = rng.uniform(0.012, 0.018), rng.uniform(0.018, 0.03)
    else:
        end = body.ankle_y + rng.uniform(0.04, 0.08)  # above the shoes
        t_top = rng.uniform(0.015, 0.022)
        t_bot = rng.uniform(0.02, 0.05) if rng.random() < 0.5 else rng.uniform(0.018, 0.028)
    t_belt = rng.uniform(0.006, 0.01)
    region = (~np.isin(parts, (_HEAD_P, *_ARM_PARTS))).astype(np.float64)
    cov = region * (1.0 - _smoothstep(waist - 0.012, waist + 0.012, y)) * _smoothstep(end - 0.012, end + 0.012, y)
    u = np.clip((body.crotch_y - y) / max(body.crotch_y - end, 1e-3), 0.0, 1.0)
    flare = t_top + (t_bot - t_top) * u**1.5
    belt = _smoothstep(waist - 0.08, waist - 0.02, y)
    thick = belt * t_belt + (1.0 - belt) * flare
    desc = {
        "type": "shorts" if shorts else "trousers",
        "waist_y": waist,
        "end_y": end,
        "thickness_top": t_top,
        "thickness_bottom": t_bot,
        "pattern": pattern,
    }
    return _Layer(desc["type"], cov, thick, _eval_pattern(pattern, v), 0.0), desc


def _sample_hair(rng, body: _RestBody, probs: dict) -> tuple[_Layer, dict, float]:
    """Hair volume on the head (never the face below the hairline); returns the layer, description and
    the hairline height."""
    v, parts = body.v, body.parts
    x, y = v[:, 0], v[:, 1]
    H, ny = body.head_h, body.neck_y
    style = _choice(rng, probs["hair_styles"])
    hl_ratio = rng.uniform(0.74, 0.8)
    y_hl = body.hairline(hl_ratio)
    ang = np.abs(body.head_angle_deg())
    if style == "short":
        y_side, y_back, t_top, t_low = ny + 0.62 * H, ny + rng.uniform(0.2, 0.3) * H, rng.uniform(0.01, 0.02), 0.008
    elif style == "bob":
        y_side, y_back = ny + rng.uniform(0.1, 0.2) * H, ny + rng.uniform(0.03, 0.1) * H
        t_top, t_low = rng.uniform(0.02, 0.03), rng.uniform(0.03, 0.04)
    elif style == "bun":
        y_side, y_back, t_top, t_low = ny + 0.55 * H, ny + 0.3 * H, rng.uniform(0.01, 0.015), 0.008
    else:  # long: down the back of the neck to the upper back
        y_side, y_back = ny + rng.uniform(0.05, 0.15) * H, ny - rng.uniform(0.08, 0.16)
        t_top, t_low = rng.uniform(0.015, 0.03), rng.uniform(0.02, 0.04)
    # Lower boundary of the hair as a function of the angle around the head.
    side = _smoothstep(70.0, 105.0, ang)
    back = _smoothstep(105.0, 160.0, ang)
    bound = (1.0 - side) * y_hl + side * ((1.0 - back) * y_side + back * y_back)
    cov = _smoothstep(bound - 0.005, bound + 0.02, y)
    region = (parts == _HEAD_P).astype(np.float64)
    if style == "long":
        behind = 1.0 - _smoothstep(body.spine_z - 0.02, body.spine_z + 0.04, v[:, 2])
        narrow = 1.0 - _smoothstep(0.08, 0.12, np.abs(x))
        region = np.maximum(region, (parts == _TORSO_P) * behind * narrow)
    cov *= region * (1.0 - body.face_zone(y_hl))
    low = 1.0 - _smoothstep(bound + 0.02, bound + 0.08, y)
    thick = t_top + (t_low - t_top) * low
    bun = None
    if style == "bun":
        elev = math.radians(rng.uniform(15.0, 60.0))
        d = np.array([0.0, math.sin(elev), -math.cos(elev)])
        c = np.array([0.0, ny + 0.6 * H, body.head_z])
        head = np.flatnonzero(parts == _HEAD_P)
        apex = v[head[np.argmax((v[head] - c) @ d)]]
        amp, sig = rng.uniform(0.04, 0.05), rng.uniform(0.022, 0.03)
        thick = thick + amp * np.exp(-np.sum((v - apex) ** 2, axis=1) / (2 * sig**2))
        bun = {"apex": apex, "height": amp, "sigma": sig}
    thick = np.minimum(thick, 0.06)
    color_name, color = _sample_from(rng, _HAIR_COLORS)
    colors = np.broadcast_to(color, v.shape).copy()
    # Slight strand-like shading: darker towards the roots/underside, low-frequency variation.
    shade = 1.0 + 0.06 * np.sin(2 * np.pi * (x / 0.03 + y / 0.2))
    colors = np.clip(colors * shade[:, None], 0.0, 1.0)
    desc = {
        "style": style,
        "color_name": color_name,
        "color": color,
        "hairline_y": y_hl,
        "side_y": y_side,
        "back_y": y_back,
        "thickness_top": t_top,
        "thickness_low": t_low,
        "bun": bun,
    }
    return _Layer("hair", cov, thick, colors, 1.0), desc, y_hl


# --------------------------------------------------------------------------------------------------
# Skirt (separate closed shell)
# --------------------------------------------------------------------------------------------------


def _ring_profile(points_xz: np.ndarray, center: np.ndarray, nseg: int) -> np.ndarray:
    """Smooth polar envelope r(phi) (phi = atan2(dx, dz), ``nseg`` bins) containing ``points_xz``."""
    d = points_xz - center
    phi = np.arctan2(d[:, 0], d[:, 1])
    r = np.hypot(d[:, 0], d[:, 1])
    b = np.floor((phi + np.pi) / (2 * np.pi) * nseg).astype(np.int64) % nseg
    env = np.full(nseg, np.nan)
    for i in range(nseg):
        s = b == i
        if s.any():
            env[i] = r[s].max()
    good = ~np.isnan(env)
    if not good.any():
        raise ValueError("no body points at the skirt's waist")
    idx = np.arange(nseg)
    env = np.interp(idx, idx[good], env[good], period=nseg)
    sm = env.copy()
    for _ in range(3):  # smooth upper envelope: smoothing that never dips below the points
        sm = np.maximum(sm, env)
        sm = 0.25 * np.roll(sm, 1) + 0.5 * sm + 0.25 * np.roll(sm, -1)
    return np.maximum(sm, env)


def _sample_skirt(
    rng, body: _RestBody, offsets: np.ndarray, pattern: dict, *, waist_y: float, dress: bool
) -> tuple[ExtraSurface, dict]:
    """A watertight thick shell: rings fitted to the (clothed) body's cross-sections from the waist to the
    hips, then a cone flaring to an elliptic hem (above the knee to mid-calf) that clears the legs."""
    th = _SKIRT_THICKNESS
    nseg = _SKIRT_SEGMENTS
    pts = body.v + offsets  # fit over whatever is already on the body (top tucked in)
    below_arms = ~np.isin(body.parts, (*_ARM_PARTS, _HEAD_P))
    hem_y = rng.uniform(0.5 * (body.knee_y + body.ankle_y), body.knee_y + 0.12)
    length = waist_y - hem_y

    # Exact cross-sections of the (offset) body surface: the torso mesh is too coarse for vertex slabs.
    e = body.edges[below_arms[body.edges[:, 0]] & below_arms[body.edges[:, 1]]]
    pa, pb = pts[e[:, 0]], pts[e[:, 1]]

    def section(heights) -> np.ndarray:
        out = []
        for h in np.atleast_1d(heights):
            ya, yb = pa[:, 1] - h, pb[:, 1] - h
            m = ya * yb < 0
            t = ya[m] / (ya[m] - yb[m])
            out.append(pa[m] + (pb[m] - pa[m]) * t[:, None])
        return np.concatenate(out) if out else np.zeros((0, 3))

    ws = section(waist_y + np.array([-0.008, -0.004, 0.0, 0.004, 0.008]))
    if len(ws) < 8:
        raise ValueError(f"the body has no cross-section at the skirt's waist height {waist_y:.3f}")
    c_w = np.array([0.5 * (ws[:, 0].min() + ws[:, 0].max()), 0.5 * (ws[:, 2].min() + ws[:, 2].max())])
    inset = 0.003  # the inner wall sits this far inside the body at the waist, so the union fuses them
    clear = 0.005  # inner wall clearance once 4 cm below the waist

    nrow = max(8, int(math.ceil(length / _SKIRT_ROW_SPACING)) + 1)
    t = np.linspace(0.0, 1.0, nrow)
    yy = waist_y - t * length
    phi = np.arange(nseg) / nseg * 2 * np.pi - np.pi + np.pi / nseg  # bin centres

    def gap(y):
        return -inset + (inset + clear) * _smoothstep(0.0, 0.04, waist_y - np.asarray(y))

    # Fitted part: each ring hugs the body's cross-section from the waist down to the widest section
    # above the crotch (the hips), never getting narrower going down.
    fitted = [_ring_profile(ws[:, [0, 2]], c_w, nseg) + th - inset]
    for i in range(1, nrow):
        if yy[i] < body.crotch_y + 0.02:
            break
        sec = section(yy[i] + np.array([-0.004, 0.0, 0.004]))
        if len(sec) < 8:
            break
        ring = _ring_profile(sec[:, [0, 2]], c_w, nseg) + th + gap(yy[i])
        fitted.append(np.maximum(ring, fitted[-1] + 0.0005))  # a slight flare at least
    fitted = np.array(fitted)
    i_hip = int(np.argmax(fitted.mean(axis=1)))
    fitted = fitted[: i_hip + 1]
    env = fitted.copy()
    for _ in range(3):  # smooth between rows, never inside the body's sections
        up = np.concatenate([fitted[:1], fitted[:-1]])
        down = np.concatenate([fitted[1:], fitted[-1:]])
        fitted = np.maximum(0.25 * up + 0.5 * fitted + 0.25 * down, env)
        fitted[0] = env[0]
    r_hip = fitted[-1]

    # Cone from the hip ring to an elliptic hem around the legs.
    hs = section(hem_y)
    c_h = np.array([0.0, 0.5 * (hs[:, 2].min() + hs[:, 2].max())]) if len(hs) else c_w.copy()
    flare = rng.uniform(1.0, 1.35)
    ease = rng.uniform(1.0, 1.5)  # > 1: flares faster just below the hips

    def ellipse(a, b):
        return a * b / np.sqrt((b * np.sin(phi)) ** 2 + (a * np.cos(phi)) ** 2)

    a0 = flare * r_hip[np.abs(np.sin(phi)) > 0.9].max()
    b0 = max(flare * r_hip[np.abs(np.cos(phi)) > 0.9].max(), 0.75 * a0)  # room for a stride
    t_hip = t[i_hip]

    def tau(tt):
        return np.clip((tt - t_hip) / max(1.0 - t_hip, 1e-9), 0.0, 1.0)

    def s_of(tt):
        return 1.0 - (1.0 - tau(tt)) ** ease

    def centre(tt):
        u = tau(np.asarray(tt))[..., None]
        return (1.0 - u) * c_w + u * c_h

    # Grow the hem ellipse until the inner wall clears the (offset) body between hips and hem
    # (cross-sections every 6 mm plus the vertices in that range).
    y_top = yy[i_hip] - 0.003
    q = section(np.arange(y_top, hem_y, -0.006))
    inside = below_arms & (pts[:, 1] < y_top) & (pts[:, 1] > hem_y)
    q = np.concatenate([q, pts[inside]])
    k = 1.0
    if len(q):
        tq = (waist_y - q[:, 1]) / length
        dq = q[:, [0, 2]] - centre(tq)
        rq = np.hypot(dq[:, 0], dq[:, 1])
        bq = np.floor((np.arctan2(dq[:, 0], dq[:, 1]) + np.pi) / (2 * np.pi) * nseg).astype(np.int64) % nseg
        sq = s_of(tq)
        ok = sq > 1e-3
        need = (rq + gap(q[:, 1]) + th - (1.0 - sq) * r_hip[bq]) / np.maximum(sq * ellipse(a0, b0)[bq], 1e-9)
        k = max(1.0, float(need[ok].max()) * 1.01) if ok.any() else 1.0
    a_h, b_h = k * a0, k * b0
    r_h = ellipse(a_h, b_h)

    s = s_of(t)
    R_out = (1.0 - s)[:, None] * r_hip[None] + s[:, None] * r_h[None]  # (nrow, nseg)
    R_out[: i_hip + 1] = fitted
    ctr = centre(t)  # (nrow, 2)

    def wall(R, y):
        X = ctr[:, 0:1] + R * np.sin(phi)[None]
        Z = ctr[:, 1:2] + R * np.cos(phi)[None]
        return np.stack([X, np.broadcast_to(y[:, None], X.shape), Z], axis=-1).reshape(-1, 3)

    # The inner wall is 2 mm shorter at both ends so the rims are shallow cones, not flat annuli
    # (no coplanar neighbouring triangles).
    yy_in = yy.copy()
    yy_in[0] -= 0.002
    yy_in[-1] += 0.002
    outer, inner = wall(R_out, yy), wall(R_out - th, yy_in)
    mid = wall(R_out - 0.5 * th, yy)
    verts = np.concatenate([outer, inner])
    N = nrow * nseg

    def vid(i, j, w=0):
        return w * N + i * nseg + (j % nseg)

    ri, ci = np.meshgrid(np.arange(nrow - 1), np.arange(nseg), indexing="ij")
    ri, ci = ri.ravel(), ci.ravel()
    a, b, c, d = vid(ri, ci), vid(ri, ci + 1), vid(ri + 1, ci + 1), vid(ri + 1, ci)
    # phi increases from -pi (back) through -pi/2 (-x) to 0 (front): counter-clockwise seen from below,
    # so (a, b, c) with rows going down is outward on the outer wall.
    faces = [np.stack([a, c, b], 1), np.stack([a, d, c], 1)]
    faces += [np.stack([a + N, b + N, c + N], 1), np.stack([a + N, c + N, d + N], 1)]  # inner wall, reversed
    j = np.arange(nseg)
    for i, sign in ((0, 1), (nrow - 1, -1)):  # waist rim, hem rim
        o0, o1, i0, i1 = vid(i, j), vid(i, j + 1), vid(i, j, 1), vid(i, j + 1, 1)
        if sign > 0:
            faces += [np.stack([o0, o1, i1], 1), np.stack([o0, i1, i0], 1)]
        else:
            faces += [np.stack([o0, i1, o1], 1), np.stack([o0, i0, i1], 1)]
    faces = np.concatenate(faces).astype(np.int64)

    weights_mid = _skirt_weights(body, mid, t, nrow, nseg)
    weights = np.concatenate([weights_mid, weights_mid])

    albedo = _eval_pattern(pattern, verts)
    albedo[N:] *= 0.8  # lining / inside is darker
    cen = verts[faces].mean(axis=1)
    left = cen[:, 0] >= 0
    labels = np.where(
        cen[:, 1] > body.crotch_y,
        _TORSO_P,
        np.where(cen[:, 1] > body.knee_y, np.where(left, 7, 8), np.where(left, 9, 10)),
    ).astype(np.uint8)
    desc = {
        "type": "dress" if dress else "skirt",
        "waist_y": waist_y,
        "hem_y": hem_y,
        "hip_y": yy[i_hip],
        "hem_semi_axes": [a_h, b_h],
        "flare": flare * k,
        "ease": ease,
        "thickness": th,
        "pattern": pattern,
    }
    return ExtraSurface(verts, faces, weights, np.clip(albedo, 0, 1), labels, "dress" if dress else "skirt"), desc


def _skirt_weights(body: _RestBody, mid: np.ndarray, t: np.ndarray, nrow: int, nseg: int) -> np.ndarray:
    """Gaussian average of nearby body weights (sigma grows towards the hem), restricted to the
    pelvis/spine/hip/knee joints, smoothed over the skirt grid and renormalised."""
    cand = np.flatnonzero(np.isin(body.parts, (_TORSO_P, *_LEG_PARTS)))
    tree = cKDTree(body.v[cand])
    k = min(_SKIRT_K, len(cand))
    dist, idx = tree.query(mid, k=k)
    sigma = np.repeat(_SKIRT_SIGMA[0] + _SKIRT_SIGMA[1] * t, nseg)[:, None]
    g = np.exp(-0.5 * (dist / sigma) ** 2) + 1e-12
    W = np.einsum("nk,nkj->nj", g, body.weights[cand][idx]) / g.sum(axis=1, keepdims=True)
    mask = np.zeros(skeleton.NUM_JOINTS)
    mask[list(SKIRT_JOINTS)] = 1.0
    W = W * mask
    for knee, hip in ((_L_KNEE, _L_HIP), (_R_KNEE, _R_HIP)):
        W[:, hip] += (1.0 - _SKIRT_KNEE) * W[:, knee]
        W[:, knee] *= _SKIRT_KNEE
    grid = W.reshape(nrow, nseg, -1)
    for _ in range(_SKIRT_SMOOTH):
        up = np.concatenate([grid[:1], grid[:-1]])
        down = np.concatenate([grid[1:], grid[-1:]])
        grid = 0.4 * grid + 0.15 * (np.roll(grid, 1, axis=1) + np.roll(grid, -1, axis=1) + up + down)
    W = grid.reshape(-1, skeleton.NUM_JOINTS)
    tot = W.sum(axis=1, keepdims=True)
    bad = tot[:, 0] < 1e-9
    W[bad] = 0.0
    W[bad, _PELVIS] = 1.0
    tot[bad] = 1.0
    return W / tot


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def rest_body_inputs(body_model, betas=None) -> dict:
    """The rest-space arguments of :func:`sample_outfit` for a body model and shape.

    Returns a dict with ``rest_vertices`` (Vs, 3), ``faces`` (T, 3), ``weights`` (Vs, 24), ``part_labels``
    (Vs,) and ``joints_rest`` (24, 3) -- pass it as ``sample_outfit(rng, **rest_body_inputs(bm, betas))``.
    """
    from humanrecon.bodymodel.skinning import posed_transforms

    betas = np.zeros((1, skeleton.NUM_BETAS)) if betas is None else np.atleast_2d(betas)
    tr = posed_transforms(body_model, betas, np.zeros((1, 3)), np.zeros((1, 3 * skeleton.NUM_BODY_JOINTS)))
    Vs = body_model.num_surface_vertices
    return {
        "rest_vertices": tr.v_shaped[0, :Vs],
        "faces": np.asarray(body_model.faces),
        "weights": body_model.smpl.lbs_weights.detach().cpu().numpy().astype(np.float64)[:Vs],
        "part_labels": np.asarray(body_model.part_labels)[:Vs],
        "joints_rest": tr.joints[0] - tr.transl[0],
    }


def _skin_albedo(rng, body_v: np.ndarray) -> tuple[np.ndarray, dict]:
    tone, t = _sample_skin(rng)
    dirs = rng.standard_normal((3, 3))
    ph = rng.uniform(0, 2 * np.pi, 3)
    var = np.sin(body_v @ dirs.T / 0.08 + ph).mean(axis=1)  # subtle low-frequency variation
    albedo = np.clip(tone[None] * (1.0 + 0.03 * var[:, None]), 0.0, 1.0)
    return albedo, {"tone": tone, "monk_scale": 1.0 + t}


def no_clothes_outfit(
    rng: np.random.Generator | None, rest_vertices, part_labels=None, *, skin_tone=None
) -> Outfit:
    """Zero offsets, skin-coloured albedo, no extra surfaces (tests and ablations).

    Same leading arguments as :func:`sample_outfit` (``part_labels`` (Vs,) is only checked for its
    length). The skin tone is ``skin_tone`` (3,) in [0, 1] if given, else drawn from ``rng`` like
    :func:`sample_outfit` does, else a mid tone.
    """
    Vs = len(np.asarray(rest_vertices))
    if part_labels is not None and len(part_labels) != Vs:
        raise ValueError(f"part_labels has {len(part_labels)} entries for {Vs} rest vertices")
    if skin_tone is not None:
        tone = np.clip(np.asarray(skin_tone, dtype=np.float64), 0.0, 1.0)
    elif rng is not None:
        tone, _ = _sample_skin(rng)
    else:
        tone = _SKIN_TONES[4].copy()
    return Outfit(
        body_offsets=np.zeros((Vs, 3)),
        albedo=np.broadcast_to(tone, (Vs, 3)).copy(),
        extra=[],
        description=_jsonable(
            {
                "skin": {"tone": tone},
                "top": None,
                "bottom": None,
                "hair": None,
                "shoes": None,
                "garments": [],
                "dress": False,
            }
        ),
    )


def sample_outfit(
    rng: np.random.Generator,
    rest_vertices,
    faces,
    weights,
    part_labels,
    joints_rest,
    probabilities: dict | None = None,
) -> Outfit:
    """Draw a random outfit for one subject (deterministic for the generator state).

    Every subject gets a top/jacket or a dress; trousers (or shorts) unless wearing a dress or a skirt;
    hair most of the time; shoes always.

    Parameters
    ----------
    rng : numpy.random.Generator
    rest_vertices : (Vs, 3)
        Shaped rest (T-pose) skin vertices, model frame (``posed_transforms(...).v_shaped[0, :Vs]``).
    faces : (T, 3) int
        Body faces (skin vertices only).
    weights : (Vs, 24)
        Skinning weights of the skin vertices.
    part_labels : (Vs,)
        12-part id (1..12) per vertex.
    joints_rest : (24, 3)
        Rest joints of the same shape (model frame, no translation).
    probabilities : dict, optional
        Overrides of :data:`DEFAULT_PROBABILITIES` (unknown keys raise ``ValueError``).
    """
    probs = _merge_probabilities(probabilities)
    body = _RestBody(rest_vertices, faces, weights, part_labels, joints_rest)
    v = body.v
    Vs = len(v)

    skin_albedo, skin_desc = _skin_albedo(rng, v)

    # -- what to wear -------------------------------------------------------------------------------
    dress = rng.random() < probs["dress"]
    skirt = (not dress) and rng.random() < probs["skirt"]
    wear_hair = rng.random() < probs["hair"]
    tucked = rng.random() < probs["tucked"]
    layers: list[_Layer] = []
    desc: dict = {"skin": skin_desc}

    skirt_waist = None
    if dress or skirt:
        skirt_waist = rng.uniform(body.pelvis_y, body.spine1_y + (0.03 if dress else 0.0))
    top_pattern = _sample_pattern(rng, probs)
    top_layer, desc["top"] = _sample_top(
        rng, body, probs, dress={"waist_y": skirt_waist} if dress else None, pattern=top_pattern
    )
    layers.append(top_layer)
    bottom_pattern = top_pattern if dress else _sample_pattern(rng, probs)
    if not (dress or skirt):
        tr_layer, desc["bottom"] = _sample_trousers(rng, body, probs, bottom_pattern)
        tr_layer.priority = 0.05 if tucked else -0.05
        layers.append(tr_layer)
    y_hl = body.hairline(0.74)
    if wear_hair:
        hair_layer, desc["hair"], y_hl = _sample_hair(rng, body, probs)
        layers.append(hair_layer)
    else:
        desc["hair"] = None
    shoe_name, shoe_col = _sample_from(rng, _SHOE_COLORS)
    sole_col = np.clip(shoe_col * 0.6 + 0.05, 0.0, 1.0) if rng.random() < 0.7 else np.array([0.9, 0.9, 0.88])
    desc["shoes"] = {"color_name": shoe_name, "color": shoe_col, "sole_color": sole_col}
    desc["top"]["tucked"] = bool(tucked) if not (dress or skirt) else True

    # -- offsets ------------------------------------------------------------------------------------
    raw = np.zeros((len(layers), Vs))
    for i, layer in enumerate(layers):
        cov = body.smooth(layer.coverage, 3)
        raw[i] = cov * layer.thickness
    d = raw.max(axis=0) * body.taper()
    d = body.smooth(d, 6)
    d = np.minimum(d, body.cap)
    d = body.smooth(d, 2)
    protect = body.protect(y_hl)
    d = np.clip(np.minimum(d, body.cap) * protect, 0.0, None)
    offsets = d[:, None] * body.normals

    # -- albedo -------------------------------------------------------------------------------------
    albedo = skin_albedo.copy()
    score = np.full(Vs, -np.inf)
    for layer in layers:
        s = np.where(layer.coverage > 0.5, layer.thickness + layer.priority, -np.inf)
        win = s > score
        albedo[win] = layer.colors[win]
        score = np.maximum(score, s)
    y = v[:, 1]
    shoe = np.isin(body.parts, _FOOT_PARTS) & (y < body.ankle_y + 0.015)
    albedo[shoe] = shoe_col
    albedo[shoe & (y < body.foot_min_y + 0.012)] = sole_col

    # -- skirt / dress ----------------------------------------------------------------------------
    extra: list[ExtraSurface] = []
    if dress or skirt:
        surf, desc["bottom"] = _sample_skirt(
            rng, body, offsets, bottom_pattern, waist_y=float(skirt_waist), dress=dress
        )
        extra.append(surf)
    desc["garments"] = [layer.name for layer in layers] + [e.name for e in extra] + ["shoes"]
    desc["dress"] = bool(dress)
    return Outfit(
        body_offsets=offsets,
        albedo=np.clip(albedo, 0.0, 1.0),
        extra=extra,
        description=_jsonable(desc),
    )


def clothed_surfaces(body_model, outfit: Outfit, transforms) -> list[Surface]:
    """Pose an outfit for body 0 of ``transforms`` (from :func:`~humanrecon.bodymodel.skinning.posed_transforms`).

    Returns
    -------
    list[Surface]
        ``(vertices (N, 3) world, faces (T, 3), part_labels (T,) uint8, albedo (N, 3), name)``: the clothed
        body (``"body"``) followed by the outfit's extra surfaces. ``transforms`` must be for the shape the
        outfit was sampled for.
    """
    from humanrecon.bodymodel.skinning import skin_points

    Vs = body_model.num_surface_vertices
    if outfit.body_offsets.shape != (Vs, 3):
        raise ValueError(f"outfit offsets {outfit.body_offsets.shape} do not match the model's {Vs} skin vertices")
    weights = body_model.smpl.lbs_weights.detach().cpu().numpy().astype(np.float64)[:Vs]
    rest = transforms.v_shaped[0, :Vs] + outfit.body_offsets
    tr0 = _first(transforms)
    faces = np.asarray(body_model.faces, dtype=np.int64)
    out = [
        Surface(
            skin_points(tr0, rest, weights)[0],
            faces,
            face_part_labels(faces, np.asarray(body_model.part_labels)[:Vs]),
            np.asarray(outfit.albedo, dtype=np.float64),
            "body",
        )
    ]
    for e in outfit.extra:
        out.append(Surface(skin_points(tr0, e.vertices, e.weights)[0], e.faces, e.part_labels, e.albedo, e.name))
    return out


def _first(transforms):
    """Batch element 0 of a PosedTransforms (skin_points poses every batch element otherwise)."""
    from humanrecon.bodymodel.skinning import PosedTransforms

    if transforms.A.shape[0] == 1:
        return transforms
    return PosedTransforms(
        A=transforms.A[:1], joints=transforms.joints[:1], v_shaped=transforms.v_shaped[:1], transl=transforms.transl[:1]
    )


def clothed_mesh(surfaces) -> trimesh.Trimesh:
    """The ground-truth outer surface: manifold boolean union of the surfaces, watertight.

    Falls back to a plain concatenation (logged warning) if the union fails or is not watertight.
    """
    meshes = [trimesh.Trimesh(np.asarray(s[0]), np.asarray(s[1]), process=False) for s in surfaces]
    try:
        out = trimesh.boolean.union(meshes, engine="manifold")
        if out is not None and len(out.faces) and out.is_watertight:
            return out
        log.warning("garments: manifold union is empty or not watertight; concatenating %d surfaces", len(meshes))
    except Exception as exc:
        log.warning("garments: manifold union failed (%s); concatenating %d surfaces", exc, len(meshes))
    return trimesh.util.concatenate(meshes)
