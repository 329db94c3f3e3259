"""Body conditioning of the implicit reconstruction: per-point features from a posed (fitted) SMPL body.

Pixel-aligned features alone cannot tell the phantom volume between few cameras from the person; the
fitted body can (PaMIR/ICON-style body priors; the seed paper's "optionally conditioned on the body"). For
a query point ``p`` (world metres) and the posed body's skin mesh, :meth:`BodySurface.features` returns
:data:`BODY_FEATURES` view-independent numbers:

* the distance from ``p`` to the tangent plane of the nearest skin vertex ``v`` along its outward normal
  ``n`` (``(p - v) . n``: negative inside the body, exact near the surface), clipped to
  ``+-BODY_CLAMP_M`` and divided by :data:`BODY_SCALE_M`;
* the distance ``|p - v|`` (clipped, scaled the same way): with the first, how far and which way;
* the one-hot part (1..12, :mod:`humanrecon.bodymodel.skeleton`) of ``v``: clothing and hair differ by
  body part (a skirt below the hips, hair around the head).

The network (:class:`humanrecon.implicit.network.ImplicitNet` with ``NetConfig.body_features``) appends
them to the fused view features before its occupancy head. In training the body is the sample's GT SMPL
body with parameter noise (:class:`BodyNoise`), so the network learns to trust it as much as a fit
deserves; at inference it is the SMPL stage's fitted body (``results/<session>/smpl/<chunk>.h5``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humanrecon.bodymodel import skeleton

#: Features per query point: plane distance, vertex distance, 12 part indicators.
BODY_FEATURES = 2 + skeleton.NUM_PARTS
#: Distances are clipped to this (metres): beyond it the body says nothing a hull does not.
BODY_CLAMP_M = 0.15
#: ... and divided by this (metres) before entering the network.
BODY_SCALE_M = 0.05


class BodyConditioningError(ValueError):
    """A body-conditioned reconstruction got no body, or an unconditioned one got one; names the culprit."""


@dataclass
class BodySurface:
    """A posed skin mesh prepared for nearest-vertex queries.

    Attributes
    ----------
    vertices : (V, 3) float64, world metres; normals : (V, 3) unit outward vertex normals;
    parts : (V,) uint8 part id 1..12 of each vertex.
    """

    vertices: np.ndarray
    normals: np.ndarray
    parts: np.ndarray
    _tree: object = None

    @staticmethod
    def from_mesh(vertices: np.ndarray, faces: np.ndarray, parts: np.ndarray) -> BodySurface:
        """From skin vertices (V, 3) metres, faces (T, 3) and per-vertex part ids (V,) 1..12."""
        import trimesh
        from scipy.spatial import cKDTree

        vertices = np.asarray(vertices, np.float64)
        parts = np.asarray(parts)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or parts.shape != (len(vertices),):
            raise BodyConditioningError(f"body vertices must be (V, 3) with (V,) part ids, got {vertices.shape} and {parts.shape}")
        if not np.isfinite(vertices).all():
            raise BodyConditioningError("body vertices contain NaN or inf (a failed fit?)")
        if parts.min() < 1 or parts.max() > skeleton.NUM_PARTS:
            raise BodyConditioningError(f"body part ids must be in 1..{skeleton.NUM_PARTS}, got {parts.min()}..{parts.max()}")
        mesh = trimesh.Trimesh(vertices, np.asarray(faces), process=False)
        normals = np.asarray(mesh.vertex_normals, np.float64)
        return BodySurface(vertices, normals, parts.astype(np.uint8), cKDTree(vertices))

    def features(self, points: np.ndarray) -> np.ndarray:
        """Body features (N, :data:`BODY_FEATURES`) float32 of world points (N, 3) metres (module docstring)."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        dist, idx = self._tree.query(p)
        plane = np.einsum("ij,ij->i", p - self.vertices[idx], self.normals[idx])
        out = np.zeros((len(p), BODY_FEATURES), np.float32)
        out[:, 0] = np.clip(plane, -BODY_CLAMP_M, BODY_CLAMP_M) / BODY_SCALE_M
        out[:, 1] = np.minimum(dist, BODY_CLAMP_M) / BODY_SCALE_M
        out[np.arange(len(p)), 1 + self.parts[idx].astype(np.int64)] = 1.0
        return out


@dataclass(frozen=True)
class BodyNoise:
    """Gaussian noise on SMPL parameters in training, standing for the errors of a fitted body.

    Defaults give about 3 cm mean vertex error, the refined fit's error on predicted segmentations of
    well-segmented frames (docs/regressor.md). Radians and metres.
    """

    transl_m: float = 0.015
    global_orient_rad: float = 0.03
    body_pose_rad: float = 0.06
    betas: float = 0.3

    def perturb(self, params: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A noisy copy of ``params`` (``betas`` (10,), ``body_pose`` (69,), ``global_orient`` (3,), ``transl`` (3,))."""
        scale = {"betas": self.betas, "body_pose": self.body_pose_rad, "global_orient": self.global_orient_rad, "transl": self.transl_m}
        return {k: np.asarray(v, np.float64) + rng.normal(size=np.shape(v)) * scale[k] for k, v in params.items()}


BODY_PARAMS = ("betas", "body_pose", "global_orient", "transl")


class BodyPoser:
    """Poses a body model's skin mesh and prepares it for queries (training and evaluation)."""

    def __init__(self, body_model):
        self.body_model = body_model

    def surface(self, params: dict[str, np.ndarray]) -> BodySurface:
        """The :class:`BodySurface` of one set of SMPL parameters (see :data:`BODY_PARAMS`)."""
        bm = self.body_model
        out = bm.forward_numpy(**{k: np.asarray(params[k], np.float64)[None] for k in BODY_PARAMS})
        return BodySurface.from_mesh(out["vertices"][0], bm.surface_faces, bm.part_labels[: bm.num_surface_vertices])
