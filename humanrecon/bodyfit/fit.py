"""Multi-view SMPL fitting (SMPLify family), batched over the frames of a chunk.

One person, F frames, C calibrated cameras. The body is the SMPL-format model of
:mod:`humanrecon.bodymodel.model` (24 joints, 10 unit-variance betas). Everything is in the world frame of
the cameras (metres); image quantities are in *full-resolution distorted pixels* of each camera
(``(0, 0)`` = centre of the top-left pixel), whatever resolution the silhouettes come in.

Parameters optimised (axis-angle rotations, the smplx API's parametrisation):

* ``betas`` (10,) — one shape for the whole chunk (same person);
* ``global_orient`` (F, 3), ``body_pose`` (F, 69) — axis-angle radians, per frame;
* ``transl`` (F, 3) — metres, per frame.

Energy, summed over frames (weights in :class:`FitConfig`; ``rho`` the Geman-McClure function
``rho(r) = s^2 r^2 / (s^2 + r^2)``, quadratic below ``s``, bounded by ``s^2``):

* ``joints2d`` — sum over views, mean over the 24 joints, of ``conf * rho(|pi_c(J_j) - u_cj|)``, px^2;
* ``joints3d`` — sum over joints of ``rho(|J_j - X_j|)`` (scale ``joints3d_sigma_m``) to the robustly triangulated joints
  (:func:`humanrecon.bodyfit.triangulate.triangulate_points`), m^2; joints not triangulated are skipped;
* ``sil_out`` — sum over views, mean over a fixed subset of body vertices, of ``rho(d_out)`` where
  ``d_out`` is the distance (px) from the projected vertex to the silhouette (a distance transform of the
  mask's outside, bilinearly sampled with ``grid_sample``: zero inside the mask, differentiable);
* ``sil_in`` — sum over views, mean over points sampled along the silhouette contours (holes included,
  the image border excluded), of ``rho`` of the point-to-line distance (px) ``n . (pi(v) - p)`` from the
  contour point ``p`` (normal ``n``) to its matched projected vertex ``v`` (the nearest one, re-matched
  ``silhouette_rounds`` times, ICP style): pulls the body out to fill the silhouette;
* ``parts`` — sum over views, mean over points sampled inside each observed part region of the 12-part
  map (``part_points`` per part), of ``rho(|pi(v) - p|)`` (px) from the point ``p`` to the nearest projected
  vertex ``v`` *of the same part* (re-matched with the silhouette correspondences). One-sided on purpose:
  a visible pixel of part k says part k's surface is there, while a vertex of part k may be hidden behind
  another part, so parts are not pushed out of occluders; this is what places an upper arm and separates
  a forearm's front from its back when the joints are uncertain. With ``parts_mirror`` (default) a limb's
  pixels may be matched to that limb or its left/right mirror, whichever is nearer: a learned segmenter
  confuses the sides of whole limbs far more often than the limbs themselves;
* ``pose_prior`` — Gaussian (Mahalanobis^2, dimensionless) or L2 (rad^2) on ``body_pose``
  (:mod:`humanrecon.bodyfit.priors`), ``angle_limits`` — squared hinge on hyperextended knees/elbows;
* ``smooth`` — ``|J_{f+1} - 2 J_f + J_{f-1}|^2`` summed over joints, m^2 (attributed to frame ``f``;
  set ``w_smooth = 0`` for chunks of unrelated frames);
* ``betas`` — ``|betas|^2``, once per chunk (reported per frame as ``w_betas |betas|^2 / F``).

Stages (L-BFGS with strong-Wolfe line search, a fixed iteration budget each, deterministic on CPU):
(1) ``global_orient`` and ``transl`` on the torso joints (2D + 3D terms); (2) all parameters on the
joint terms and priors (no mesh needed: fast); (3) all parameters with the silhouette terms added (the
same as (2) when no silhouettes are given). The body is evaluated by :class:`TorchBody`, the maths of
``smplx.lbs`` restricted to the joints and a vertex subset. CPU runs are bit-identical for the same torch
thread count; on a CPU shared with other jobs ``torch.set_num_threads(1)`` is much faster
(``docs/bodyfit.md``).

Views without the person in a frame (an all-zero silhouette, when silhouettes are given, or no joint
with ``conf > min_conf``) are ignored for that frame; a frame with fewer than two views that see the
person raises :class:`BodyFitError` naming the frame and the empty views.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as Fnn
from scipy import ndimage

from humanrecon.bodyfit import priors
from humanrecon.bodyfit.triangulate import (
    BodyFitError,
    TriangulationConfig,
    camera_tensors,
    project_torch,
    triangulate_points,
)
from humanrecon.bodymodel.skeleton import JOINT_NAMES, NUM_BETAS, NUM_BODY_JOINTS, NUM_JOINTS, PARENTS
from humanrecon.calibration.camera import Camera

__all__ = ["TERM_NAMES", "TORSO_JOINTS", "BodyFitError", "FitConfig", "LIMB_HYPOTHESES", "FitResult", "bone_outliers", "fit_limb_hypotheses", "fit_smpl", "vertex_subset"]

log = logging.getLogger(__name__)

#: Joints used by stage 1 and by the rigid initialisation (pelvis, hips, spine, neck, collars, shoulders).
TORSO_JOINTS: tuple[int, ...] = (0, 1, 2, 3, 6, 9, 12, 13, 14, 16, 17)
#: Names of the per-frame loss terms in :attr:`FitResult.losses` (plus ``"total"``).
TERM_NAMES: tuple[str, ...] = (
    "joints2d", "joints3d", "sil_out", "sil_in", "parts", "pose_prior", "angle_limits", "smooth", "betas",
)  # fmt: skip


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit_smpl`. Energies are described in the module docstring.

    Attributes
    ----------
    min_conf : float
        A 2D joint counts as observed when its confidence is above this (also used for triangulation,
        overriding ``triangulation.min_conf``).
    triangulation : TriangulationConfig
        Thresholds of the robust triangulation (pixels).
    stage1_iters, stage2_iters, stage3_iters : int
        L-BFGS iterations of the three stages (each allows 1.25 x as many energy evaluations).
    lbfgs_history : int
        L-BFGS memory.
    ik_init : bool
        Swing the bones of the initial pose onto the triangulated joints (analytic IK, :func:`_ik_init`)
        before optimising, the root first (Kabsch on the triangulated torso): the mean pose when no
        ``init_body_pose`` is given; a given initial body (the fused regression) keeps its pose where
        joints are not triangulated and its root where the torso is not. False starts from the initial
        body as given.
    bone_ratio : (float, float)
        A limb bone (hip or shoulder down to foot or hand) whose triangulated length is outside these
        multiples of its rest length (initial shape) has one of its joints dropped, in that frame, from the
        triangulation and the 2D term (:func:`bone_outliers`). ``(0, inf)`` keeps every joint.
    limb_hypotheses : bool
        :func:`fit_limb_hypotheses` (the SMPL stage's refinement) also tries the legs and the arms with
        their left/right labels mirrored below the hips and shoulders and keeps, for the whole chunk, the
        labelling the images explain best. False: one fit with the labels as given.
    screen_iters : (int, int)
        Stage 2 and stage 3 iterations of the short fits that screen those hypotheses.
    hypothesis_margin : float
        A mirrored labelling replaces the labels as given only when its screened chunk energy is lower by
        more than this fraction (right labels with noisy joints: mirrored legs 1-2 % lower when the legs are
        close together; wrong labels: 9-34 % higher than the mirror).
    dtype : {"float64", "float32"}
        Optimisation precision.
    w_joints2d : float
        Weight of the 2D joint term, per px^2.
    joints2d_sigma_px : float
        Geman-McClure scale of the 2D joint residuals, pixels.
    w_joints3d : float
        Weight of the 3D joint term, per m^2 (1e3: a 1 cm error of one joint costs 0.1).
    joints3d_sigma_m : float
        Geman-McClure scale of the 3D joint residuals, metres (a triangulation gone wrong costs at most
        ``w_joints3d * sigma^2``).
    w_sil_out, w_sil_in : float
        Weights of the silhouette terms, per px^2.
    sil_sigma_px : float
        Geman-McClure scale of the silhouette distances, pixels.
    silhouette_size : int
        Silhouettes are downscaled (area interpolation, then threshold 0.5) so that their longer side is at
        most this many pixels before the distance transforms and contours are computed.
    silhouette_vertices : int
        Size of the body-vertex subset projected for the silhouette terms (farthest-point sample of the
        rest-pose skin, see :func:`vertex_subset`).
    silhouette_contour_points : int
        Contour points sampled per view and frame for ``sil_in``.
    w_parts : float
        Weight of the part-map term, per px^2 (used when part maps are given).
    parts_mirror : bool
        The ``parts`` term matches a limb's pixels to the vertices of that limb *or its left/right mirror*
        (whichever is nearer), so it says "an upper leg covers this pixel" without trusting the label's
        side: a segmenter unsure of front and back labels whole limbs the wrong way round (the shipped
        one does in a third of its views; the 2D joints' sides are repaired from the geometry,
        :func:`humanrecon.bodyfit.resolve_left_right`, the part maps' are not). False trusts the sides.
    part_points : int
        Points sampled per part, view and frame for ``parts`` (evenly through the part's pixels).
    part_min_pixels : int
        Parts with fewer pixels than this (at ``silhouette_size``) in a view are not used there.
    silhouette_rounds : int
        Stage 3 is split into this many L-BFGS runs (ICP style); the vertex matched to each contour point
        is recomputed before each run and kept fixed during it, so each run sees a smooth energy.
    pose_prior : {"gaussian", "l2"}
        Which pose prior (:mod:`humanrecon.bodyfit.priors`).
    w_pose : float
        Weight of the pose prior (per unit Mahalanobis^2, or per rad^2 for "l2").
    w_angle_limits : float
        Weight of the hyperextension penalty, per rad^2.
    w_betas : float
        Weight of ``|betas|^2`` (once per chunk).
    w_smooth : float
        Weight of the joint second differences, per m^2 (0 for chunks of unrelated frames).
    """

    min_conf: float = 0.1
    triangulation: TriangulationConfig = field(default_factory=TriangulationConfig)
    stage1_iters: int = 30
    stage2_iters: int = 200
    stage3_iters: int = 40
    lbfgs_history: int = 30
    ik_init: bool = True
    bone_ratio: tuple[float, float] = (0.4, 1.6)
    limb_hypotheses: bool = True
    screen_iters: tuple[int, int] = (60, 10)
    hypothesis_margin: float = 0.05
    dtype: str = "float64"
    w_joints2d: float = 1.0
    joints2d_sigma_px: float = 15.0
    w_joints3d: float = 1e3
    joints3d_sigma_m: float = 0.1
    w_sil_out: float = 1.0
    w_sil_in: float = 1.0
    sil_sigma_px: float = 20.0
    silhouette_size: int = 256
    silhouette_vertices: int = 1024
    silhouette_contour_points: int = 128
    silhouette_rounds: int = 4
    w_parts: float = 0.5
    parts_mirror: bool = True
    part_points: int = 16
    part_min_pixels: int = 8
    pose_prior: str = "gaussian"
    w_pose: float = 0.01
    w_angle_limits: float = 100.0
    w_betas: float = 0.01
    w_smooth: float = 100.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "bone_ratio", tuple(float(r) for r in self.bone_ratio))
        object.__setattr__(self, "screen_iters", tuple(int(r) for r in self.screen_iters))
        if len(self.bone_ratio) != 2 or not 0 <= self.bone_ratio[0] < self.bone_ratio[1]:
            raise ValueError(f"FitConfig.bone_ratio must be (low, high) with 0 <= low < high, got {self.bone_ratio}")
        if self.pose_prior not in ("gaussian", "l2"):
            raise ValueError(f"FitConfig.pose_prior must be 'gaussian' or 'l2', got {self.pose_prior!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"FitConfig.dtype must be 'float64' or 'float32', got {self.dtype!r}")
        for name in ("stage1_iters", "stage2_iters", "stage3_iters"):
            if getattr(self, name) < 0:
                raise ValueError(f"FitConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("silhouette_vertices", "silhouette_contour_points", "silhouette_rounds", "silhouette_size", "part_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"FitConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class FitResult:
    """Output of :func:`fit_smpl` (numpy, float64, world frame, metres).

    Attributes
    ----------
    betas : (10,)
    global_orient : (F, 3) axis-angle; body_pose : (F, 69) axis-angle; transl : (F, 3) metres.
    joints : (F, 24, 3)
        Fitted SMPL joints.
    vertices : (F, Vs, 3)
        Fitted skin vertices (``Vs = body_model.num_surface_vertices``).
    losses : dict[str, (F,)]
        Final weighted energy terms per frame (:data:`TERM_NAMES` and ``"total"``); the silhouette terms are 0
        when no silhouettes are given or ``stage3_iters == 0``.
    reproj_px : (F,)
        Mean 2D joint reprojection error (pixels) over the observed joints of the views that see the person.
    triangulated : (F, 24, 3)
        The robustly triangulated joints (NaN where fewer than two views agree).
    views_used : (F, C) bool
        Views that saw the person in each frame.
    seconds : float
        Wall time of the fit.
    mirrored_limbs : (F, 2) bool or None
        From :func:`fit_limb_hypotheses`: per frame, whether the legs' / the arms' left/right labels below
        the hips / shoulders were mirrored relative to the 2D joints given (None from :func:`fit_smpl`).
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    vertices: np.ndarray
    losses: dict[str, np.ndarray]
    reproj_px: np.ndarray
    triangulated: np.ndarray
    views_used: np.ndarray
    seconds: float
    mirrored_limbs: np.ndarray | None = None


# --------------------------------------------------------------------------------------------------
# Body model in torch (joints + a vertex subset, same maths as smplx.lbs)
# --------------------------------------------------------------------------------------------------

_SUBSET_CACHE: dict[tuple, np.ndarray] = {}


def vertex_subset(body_model, n: int) -> np.ndarray:
    """Indices (n,) int64 of a farthest-point sample of the rest-pose skin vertices (deterministic: starts
    at vertex 0). All skin vertices when ``n >= num_surface_vertices``. Cached per model file and ``n``."""
    Vs = int(body_model.num_surface_vertices)
    if n >= Vs:
        return np.arange(Vs)
    key = (str(body_model.path), Vs, int(n))
    if key not in _SUBSET_CACHE:
        pts = body_model.smpl.v_template.detach().cpu().numpy().astype(np.float64)[:Vs]
        idx = np.zeros(n, dtype=np.int64)
        d2 = np.full(Vs, np.inf)
        for i in range(1, n):
            d2 = np.minimum(d2, ((pts - pts[idx[i - 1]]) ** 2).sum(axis=1))
            idx[i] = int(np.argmax(d2))
        _SUBSET_CACHE[key] = idx
    return _SUBSET_CACHE[key]


class TorchBody:
    """SMPL joints and a subset of skinned vertices, differentiable; identical to ``smplx.lbs``."""

    def __init__(self, body_model, subset: np.ndarray, dtype: torch.dtype, device: torch.device):
        from smplx.lbs import batch_rigid_transform, batch_rodrigues

        self._rigid = batch_rigid_transform
        self._rodrigues = batch_rodrigues
        s = body_model.smpl

        def buf(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to(device=device, dtype=dtype)

        v_template = buf(s.v_template)  # (Vt, 3)
        shapedirs = buf(s.shapedirs)  # (Vt, 3, 10)
        J_reg = buf(s.J_regressor)  # (24, Vt)
        self.J_template = J_reg @ v_template  # (24, 3)
        self.J_dirs = torch.einsum("jv,vkl->jkl", J_reg, shapedirs)  # (24, 3, 10)
        self.parents = s.parents.detach().to(device)
        idx = torch.as_tensor(subset, dtype=torch.long, device=device)
        self.v_template = v_template[idx]
        self.shapedirs = shapedirs[idx]
        P = buf(s.posedirs).reshape(s.posedirs.shape[0], -1, 3)  # (207, Vt, 3)
        self.posedirs = P[:, idx].reshape(P.shape[0], -1)  # (207, S*3)
        self.weights = buf(s.lbs_weights)[idx]  # (S, 24)
        self.dtype, self.device = dtype, device
        self.eye = torch.eye(3, dtype=dtype, device=device)

    def __call__(
        self, betas: torch.Tensor, global_orient: torch.Tensor, body_pose: torch.Tensor, transl: torch.Tensor,
        with_vertices: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """betas (1 or F, 10), global_orient (F, 3), body_pose (F, 69), transl (F, 3) ->
        joints (F, 24, 3) and vertices (F, S, 3) (None unless ``with_vertices``), world metres."""
        F = body_pose.shape[0]
        pose = torch.cat([global_orient, body_pose], dim=1)
        rot = self._rodrigues(pose.reshape(-1, 3)).reshape(F, NUM_JOINTS, 3, 3)
        return self.forward_rotmat(betas, rot, transl, with_vertices)

    def forward_rotmat(
        self, betas: torch.Tensor, rot: torch.Tensor, transl: torch.Tensor, with_vertices: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """betas (1 or F, 10), rot (F, 24, 3, 3) local joint rotations (root first), transl (F, 3) ->
        joints (F, 24, 3) and vertices (F, S, 3) (None unless ``with_vertices``), metres."""
        F = rot.shape[0]
        betas = betas.expand(F, -1)
        J_rest = self.J_template + torch.einsum("jkl,fl->fjk", self.J_dirs, betas)
        J_posed, A = self._rigid(rot, J_rest, self.parents, dtype=self.dtype)
        joints = J_posed + transl[:, None]
        if not with_vertices:
            return joints, None
        S = self.v_template.shape[0]
        v_shaped = self.v_template + torch.einsum("skl,fl->fsk", self.shapedirs, betas)
        pose_feature = (rot[:, 1:] - self.eye).reshape(F, -1)
        v_posed = v_shaped + (pose_feature @ self.posedirs).reshape(F, S, 3)
        T = torch.einsum("sj,fjab->fsab", self.weights, A[:, :, :3, :])  # (F, S, 3, 4)
        verts = torch.einsum("fsab,fsb->fsa", T[..., :3], v_posed) + T[..., 3] + transl[:, None]
        return joints, verts


# --------------------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------------------


@dataclass
class _Silhouettes:
    dt: torch.Tensor  # (F*C, 1, h, w) outside distance, mask pixels
    scale: torch.Tensor  # (C, 2) mask pixels per full-resolution pixel (x, y)
    size: tuple[int, int]  # (w, h) of the masks
    contour: torch.Tensor  # (F, C, K, 2) contour points, full-resolution pixels
    contour_n: torch.Tensor  # (F, C, K, 2) unit normals of the contour at those points
    contour_w: torch.Tensor  # (F, C, K) 1 for real contour points, 0 for padding
    view_w: torch.Tensor  # (F, C) 1 where the view's silhouette is used


@dataclass
class _PartPoints:
    points: torch.Tensor  # (F, C, P*K, 2) points inside the part regions, full-resolution pixels
    weight: torch.Tensor  # (F, C, P*K) 1 for real points, 0 for padding
    same_part: torch.Tensor  # (P*K, S) bool: vertex s belongs to the part of point slot i


def _check_inputs(cameras, joints2d, conf, silhouettes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    C = len(cameras)
    if C < 2:
        raise BodyFitError(f"fit_smpl needs at least 2 cameras, got {C}")
    for c, cam in enumerate(cameras):
        if not isinstance(cam, Camera):
            raise BodyFitError(f"camera {c}: expected a Camera, got {type(cam).__name__}")
    uv = np.asarray(joints2d, dtype=np.float64)
    cf = np.asarray(conf, dtype=np.float64)
    if uv.ndim != 4 or uv.shape[1:] != (C, NUM_JOINTS, 2):
        raise BodyFitError(f"joints2d must have shape (F, {C}, {NUM_JOINTS}, 2) for {C} cameras, got {uv.shape}")
    if cf.shape != uv.shape[:3]:
        raise BodyFitError(f"conf must have shape {uv.shape[:3]} (F, C, 24), got {cf.shape}")
    if uv.shape[0] == 0:
        raise BodyFitError("joints2d has no frames")
    bad = ~np.isfinite(cf) | (cf < 0) | (cf > 1)
    if bad.any():
        f, c, j = np.argwhere(bad)[0]
        raise BodyFitError(
            f"frame {f}, camera {cameras[c].name!r}, joint {JOINT_NAMES[j]}: confidence {cf[f, c, j]} not in [0, 1] "
            f"({int(bad.sum())} such entries)"
        )
    sil = None
    if silhouettes is not None:
        sil = np.asarray(silhouettes)
        if sil.ndim != 4 or sil.shape[:2] != uv.shape[:2]:
            raise BodyFitError(f"silhouettes must have shape ({uv.shape[0]}, {C}, H, W), got {sil.shape}")
        H, W = sil.shape[2:]
        for cam in cameras:
            if cam.width <= 0 or cam.height <= 0:
                raise BodyFitError(f"camera {cam.name!r}: image size unknown ({cam.width}x{cam.height}); needed for silhouettes")
            if abs(W / cam.width - H / cam.height) * max(cam.width, cam.height) > 1.0:
                raise BodyFitError(
                    f"camera {cam.name!r}: silhouettes are {W}x{H} but the camera image is {cam.width}x{cam.height} "
                    "(a different aspect ratio)"
                )
    return uv, cf, sil


def _views_seeing(cameras, cf: np.ndarray, sil: np.ndarray | None, min_conf: float) -> np.ndarray:
    """(F, C) bool: views that see the person; raises BodyFitError for frames with fewer than two."""
    has_joints = (cf > min_conf).any(axis=2)
    has_sil = np.ones_like(has_joints) if sil is None else sil.reshape(*sil.shape[:2], -1).any(axis=2)
    ok = has_joints & has_sil
    bad_frames = np.flatnonzero(ok.sum(axis=1) < 2)
    if bad_frames.size:
        lines = []
        for f in bad_frames[:5]:
            empty = []
            for c, cam in enumerate(cameras):
                if ok[f, c]:
                    continue
                why = []
                if not has_sil[f, c]:
                    why.append("empty silhouette")
                if not has_joints[f, c]:
                    why.append(f"no joint with confidence > {min_conf:g}")
                empty.append(f"{cam.name!r} ({', '.join(why)})")
            lines.append(
                f"frame {f}: the person is seen by {int(ok[f].sum())} of {len(cameras)} views (need >= 2); "
                f"views without the person: {', '.join(empty)}"
            )
        more = f"; and {bad_frames.size - 5} more frames" if bad_frames.size > 5 else ""
        raise BodyFitError("; ".join(lines) + more)
    return ok


def _prepare_silhouettes(
    cameras, sil: np.ndarray, ok: np.ndarray, cfg: FitConfig, dtype: torch.dtype, device: torch.device
) -> _Silhouettes:
    F, C, H, W = sil.shape
    s = min(1.0, cfg.silhouette_size / max(H, W))
    w, h = max(1, int(round(W * s))), max(1, int(round(H * s)))
    K = cfg.silhouette_contour_points
    dt = np.zeros((F, C, h, w), dtype=np.float32)
    contour = np.zeros((F, C, K, 2))
    normal = np.zeros((F, C, K, 2))
    contour_w = np.zeros((F, C, K))
    view_w = np.zeros((F, C))
    scale = np.array([[w / cam.width, h / cam.height] for cam in cameras])  # mask px per camera px
    for f in range(F):
        for c in range(C):
            if not ok[f, c]:
                continue
            m = (sil[f, c] > 0).astype(np.uint8)
            if (w, h) != (W, H):
                m = (cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5).astype(np.uint8)
            if not m.any():
                continue
            # exact Euclidean distance to the nearest mask pixel (scipy: deterministic; OpenCV's precise
            # transform differs between calls in its last float bits, which L-BFGS amplifies)
            d = ndimage.distance_transform_edt(m == 0).astype(np.float32)
            dt[f, c] = np.maximum(d - 0.5, 0.0)  # distance to the mask's pixel edge, 0 inside
            view_w[f, c] = 1.0
            cs, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            pts, nrm = _contour_points(cs, w, h, scale[c])
            if pts.shape[0] == 0:
                continue
            take = np.linspace(0, pts.shape[0] - 1, min(K, pts.shape[0])).round().astype(np.int64)
            contour[f, c, : take.size] = (pts[take] + 0.5) / scale[c] - 0.5  # back to full-resolution pixels
            normal[f, c, : take.size] = nrm[take]
            contour_w[f, c, : take.size] = 1.0
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return _Silhouettes(
        dt=t(dt).reshape(F * C, 1, h, w), scale=t(scale), size=(w, h),
        contour=t(contour), contour_n=t(normal), contour_w=t(contour_w),
        view_w=t(view_w),
    )


def _prepare_parts(
    cameras, parts: np.ndarray, ok: np.ndarray, subset_labels: np.ndarray, cfg: FitConfig, dtype: torch.dtype,
    device: torch.device,
) -> _PartPoints:
    """Points inside every observed part region of every view (module docstring, ``parts`` term).

    ``parts`` (F, C, H, W) uint8: 0 background, part id + 1 (the segmentation schema). ``subset_labels``
    (S,) the 1..12 part ids of the fitted vertex subset."""
    from humanrecon.bodymodel.skeleton import NUM_PARTS, PART_MIRROR

    F, C, H, W = parts.shape
    s = min(1.0, cfg.silhouette_size / max(H, W))
    w, h = max(1, int(round(W * s))), max(1, int(round(H * s)))
    K = cfg.part_points
    pts = np.zeros((F, C, NUM_PARTS * K, 2))
    wt = np.zeros((F, C, NUM_PARTS * K))
    scale = np.array([[w / cam.width, h / cam.height] for cam in cameras])
    for f in range(F):
        for c in range(C):
            if not ok[f, c]:
                continue
            m = parts[f, c]
            if (w, h) != (W, H):
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
            flat = m.ravel().astype(np.int64)
            order = np.argsort(flat, kind="stable")  # pixel indices grouped by label, in raster order
            counts = np.bincount(flat, minlength=NUM_PARTS + 1)
            starts = np.concatenate([[0], np.cumsum(counts)])
            for p in range(NUM_PARTS):
                n = counts[p + 1]
                if n < cfg.part_min_pixels:
                    continue
                take = order[starts[p + 1] + np.linspace(0, n - 1, K).round().astype(np.int64)]
                xy = np.stack([take % w, take // w], axis=1).astype(np.float64)
                pts[f, c, p * K : (p + 1) * K] = (xy + 0.5) / scale[c] - 0.5
                wt[f, c, p * K : (p + 1) * K] = 1.0
    slot_part = np.repeat(np.arange(1, NUM_PARTS + 1), K)
    labels = np.asarray(subset_labels)[None, :]
    same = slot_part[:, None] == labels
    if cfg.parts_mirror:  # a limb's pixels may belong to either limb of its left/right pair
        same |= np.asarray(PART_MIRROR)[slot_part][:, None] == labels
    same = torch.as_tensor(same, device=device)
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return _PartPoints(points=t(pts), weight=t(wt), same_part=same)


def _contour_points(contours, w: int, h: int, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contour pixels (M, 2) of a mask (mask pixels) off the image border, and unit normals (M, 2) in
    full-resolution pixel directions (perpendicular to the chain's central-difference tangent)."""
    pts_all, nrm_all = [], []
    for q in contours:
        q = q.reshape(-1, 2).astype(np.float64)
        if q.shape[0] < 3:
            continue
        tangent = (np.roll(q, -1, axis=0) - np.roll(q, 1, axis=0)) / scale
        n = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
        norm = np.linalg.norm(n, axis=1)
        keep = (norm > 0) & (q[:, 0] > 0) & (q[:, 0] < w - 1) & (q[:, 1] > 0) & (q[:, 1] < h - 1)
        pts_all.append(q[keep])
        nrm_all.append(n[keep] / norm[keep, None])
    if not pts_all:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.concatenate(pts_all), np.concatenate(nrm_all)


def _kabsch(src: np.ndarray, dst: np.ndarray, center: bool = True) -> np.ndarray:
    """Rotation R (3, 3) minimising sum |R (src - mean) - (dst - mean)|^2 (det +1); about the origin
    (no means subtracted) when ``center`` is False."""
    a = src - src.mean(axis=0) if center else src
    b = dst - dst.mean(axis=0) if center else dst
    U, _, Vt = np.linalg.svd(b.T @ a)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    return U @ D @ Vt


def _rotvec(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec()


# --------------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------------


def _gm(r2: torch.Tensor, sigma: float) -> torch.Tensor:
    s2 = sigma * sigma
    return s2 * r2 / (s2 + r2)


def fit_smpl(
    body_model,
    cameras: Sequence[Camera],
    joints2d: np.ndarray,
    conf: np.ndarray,
    silhouettes: np.ndarray | None = None,
    parts: np.ndarray | None = None,
    *,
    init_betas: np.ndarray | None = None,
    init_global_orient: np.ndarray | None = None,
    init_body_pose: np.ndarray | None = None,
    init_transl: np.ndarray | None = None,
    config: FitConfig = FitConfig(),
    device: str | torch.device | None = None,
) -> FitResult:
    """Fit one SMPL body per frame (shared betas) to multi-view 2D joints and silhouettes (module docstring).

    Parameters
    ----------
    body_model : humanrecon.bodymodel.model.BodyModel
        From :func:`humanrecon.bodymodel.model.load_body_model`.
    cameras : list of Camera
        The C cameras (world->camera, OpenCV distortion).
    joints2d : (F, C, 24, 2) float
        SMPL joints detected in each view, distorted full-resolution pixels (any value where unobserved).
    conf : (F, C, 24) float
        Detection confidences in [0, 1] (0 = not observed); they weight the 2D term and triangulation.
    silhouettes : (F, C, H, W) uint8, optional
        Person masks (nonzero = person). Any resolution with the cameras' aspect ratio (mapped like
        :meth:`Camera.scaled`); downscaled to ``config.silhouette_size``.
    parts : (F, C, H, W) uint8, optional
        12-part maps (0 background, part id + 1), same resolution as ``silhouettes``, which they need;
        they add the ``parts`` term in stage 3 (``config.w_parts``).
    init_betas : (10,) or (F, 10), optional
        Initial shape (per-frame values are averaged: the chunk shares one shape). Default zeros (mean shape).
    init_global_orient : (F, 3), init_body_pose : (F, 69), init_transl : (F, 3), optional
        Initial axis-angle rotations (radians) and translation (metres). Missing ones are initialised
        from the triangulated joints: ``body_pose`` is the pose prior's mean (zeros for the "l2" prior),
        ``global_orient`` the Kabsch rotation of the model's torso joints onto the triangulated ones, and
        ``transl`` puts the model's torso centroid on the triangulated one.
    config : FitConfig
    device : str or torch.device, optional
        Where to optimise; default CUDA when available, else CPU. CPU results are deterministic.

    Returns
    -------
    FitResult

    Raises
    ------
    BodyFitError
        Inconsistent shapes or confidences (naming frame/camera/joint), a frame seen by fewer than two
        views (naming the frame and its empty views), or a frame whose torso cannot be triangulated when
        no initial pose is given and no other frame has one.
    """
    t_start = time.perf_counter()
    cams = list(cameras)
    uv, cf, sil = _check_inputs(cams, joints2d, conf, silhouettes)
    F, C = uv.shape[:2]
    cfg = config
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    dtype = {"float64": torch.float64, "float32": torch.float32}[cfg.dtype]

    finite = np.isfinite(uv).all(axis=-1)
    cf = np.where(finite, cf, 0.0)
    ok = _views_seeing(cams, cf, sil, cfg.min_conf)
    cf = np.where(ok[:, :, None] & (cf > cfg.min_conf), cf, 0.0)
    uv = np.where(finite[..., None], uv, 0.0)

    # Robust triangulation of every joint of every frame at once.
    tri_cfg = dataclasses.replace(cfg.triangulation, min_conf=cfg.min_conf)
    X, _, used = triangulate_points(
        uv.transpose(1, 0, 2, 3).reshape(C, F * NUM_JOINTS, 2), cf.transpose(1, 0, 2).reshape(C, F * NUM_JOINTS), cams, tri_cfg
    )
    tri = X.reshape(F, NUM_JOINTS, 3)
    betas0 = np.zeros(NUM_BETAS) if init_betas is None else np.asarray(init_betas, dtype=np.float64)
    if betas0.ndim == 2:
        betas0 = betas0.mean(axis=0)
    if betas0.shape != (NUM_BETAS,):
        raise BodyFitError(f"init_betas must have shape ({NUM_BETAS},) or ({F}, {NUM_BETAS}), got {betas0.shape}")

    # Body layer and evidence tensors.
    if parts is not None:
        parts = np.asarray(parts)
        if sil is None or parts.shape != sil.shape:
            raise BodyFitError(f"parts must come with silhouettes of the same shape {None if sil is None else sil.shape}, got {parts.shape}")
    use_parts = parts is not None and cfg.stage3_iters > 0 and cfg.w_parts > 0
    # stage 3 poses the mesh (vertex subset) when a silhouette or part term is on
    use_sil = sil is not None and cfg.stage3_iters > 0 and (cfg.w_sil_out > 0 or cfg.w_sil_in > 0 or use_parts)
    subset = vertex_subset(body_model, cfg.silhouette_vertices) if use_sil else np.zeros(0, dtype=np.int64)
    body = TorchBody(body_model, subset, dtype, device)
    # a limb joint triangulated where no bone of the body can reach is a detector's mistake: dropped
    support = (used.reshape(C, F, NUM_JOINTS) * cf.transpose(1, 0, 2)).sum(axis=0)  # (F, 24) summed confidence
    rejected = bone_outliers(tri, support, _rest_joints(body, betas0), cfg.bone_ratio)
    if rejected.any():
        log.info("joints dropped (bone lengths impossible): %s",
                 ", ".join(f"frame {f} {JOINT_NAMES[j]}" for f, j in zip(*np.nonzero(rejected), strict=True)))  # fmt: skip
        tri[rejected] = np.nan
        cf = np.where(rejected[:, None, :], 0.0, cf)
    camT = camera_tensors(cams, dtype=dtype, device=device)
    # torch.tensor copies: the optimiser updates parameters in place and must never write into the caller's arrays
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)  # noqa: E731
    uv_t, cf_t = t(uv), t(cf)  # (F, C, 24, 2), (F, C, 24)
    tri_ok = np.isfinite(tri).all(axis=-1)
    tri_t, tri_w = t(np.nan_to_num(tri)), t(tri_ok.astype(np.float64))
    sil_data = _prepare_silhouettes(cams, sil, ok, cfg, dtype, device) if use_sil else None
    part_data = _prepare_parts(cams, parts, ok, body_model.part_labels[subset], cfg, dtype, device) if use_parts else None
    torso_mask = torch.zeros(NUM_JOINTS, dtype=dtype, device=device)
    torso_mask[list(TORSO_JOINTS)] = 1.0

    # Initial parameters.
    if init_body_pose is None:
        mean = priors.gaussian_prior_params()[0] if cfg.pose_prior == "gaussian" else np.zeros(3 * NUM_BODY_JOINTS)
        pose0 = np.tile(mean, (F, 1))
    else:
        pose0 = _frames(init_body_pose, F, 3 * NUM_BODY_JOINTS, "init_body_pose")
    go0 = None if init_global_orient is None else _frames(init_global_orient, F, 3, "init_global_orient")
    tr0 = None if init_transl is None else _frames(init_transl, F, 3, "init_transl")
    if go0 is None or tr0 is None:
        go_given, tr_given = go0, tr0
        go0, tr0 = _rigid_init(body, betas0, pose0, go_given, tr_given, tri, tri_ok, t)
        if init_body_pose is None and cfg.ik_init:
            pose0 = _ik_init(body, betas0, go0, pose0, tri, tri_ok)
            go0, tr0 = _rigid_init(body, betas0, pose0, go_given, tr_given, tri, tri_ok, t)
    elif init_body_pose is None and cfg.ik_init:
        pose0 = _ik_init(body, betas0, go0, pose0, tri, tri_ok)
    elif cfg.ik_init:  # a full initial body (the fused regression): its root and bones onto the triangulation
        given = (go0, tr0)
        go0, tr0 = _rigid_init(body, betas0, pose0, None, None, tri, tri_ok, t, fallback=given)
        pose0 = _ik_init(body, betas0, go0, pose0, tri, tri_ok)
        go0, tr0 = _rigid_init(body, betas0, pose0, None, None, tri, tri_ok, t, fallback=given)

    betas = t(betas0[None]).requires_grad_(True)
    go = t(go0).requires_grad_(True)
    pose = t(pose0).requires_grad_(True)
    transl = t(tr0).requires_grad_(True)

    def energy(stage: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with_v = stage == 3 and use_sil
        joints, verts = body(betas, go, pose, transl, with_v)
        terms: dict[str, torch.Tensor] = {}
        zero = torch.zeros(F, dtype=dtype, device=device)
        proj = project_torch(joints, camT).transpose(1, 2)  # (F, C, 24, 2)
        r2 = (proj - uv_t).square().sum(-1)
        w2 = cf_t * torso_mask if stage == 1 else cf_t
        terms["joints2d"] = cfg.w_joints2d * (w2 * _gm(r2, cfg.joints2d_sigma_px)).sum(dim=(1, 2)) / NUM_JOINTS
        w3 = tri_w * torso_mask if stage == 1 else tri_w
        terms["joints3d"] = cfg.w_joints3d * (w3 * _gm((joints - tri_t).square().sum(-1), cfg.joints3d_sigma_m)).sum(-1)
        if stage == 1:
            return sum(terms.values()).sum(), terms
        prior = priors.gaussian_pose_prior if cfg.pose_prior == "gaussian" else priors.l2_pose_prior
        terms["pose_prior"] = cfg.w_pose * prior(pose)
        terms["angle_limits"] = cfg.w_angle_limits * priors.angle_limit_penalty(pose)
        smooth = zero
        if F >= 3 and cfg.w_smooth > 0:
            acc = (joints[2:] - 2.0 * joints[1:-1] + joints[:-2]).square().sum(dim=(1, 2))
            smooth = torch.cat([zero[:1], acc, zero[:1]])
        terms["smooth"] = cfg.w_smooth * smooth
        terms["betas"] = cfg.w_betas * priors.shape_prior(betas).expand(F) / F
        terms["sil_out"], terms["sil_in"], terms["parts"] = zero, zero, zero
        if with_v:
            terms["sil_out"], terms["sil_in"] = _silhouette_terms(verts, camT, sil_data, cfg, corr[0])
            if use_parts:
                terms["parts"] = _part_term(verts, camT, part_data, cfg, corr[1])
        return sum(terms.values()).sum(), terms

    def update_correspondences() -> None:
        if use_sil:
            with torch.no_grad():
                _, verts = body(betas, go, pose, transl, True)
                corr[0] = _nearest_vertices(verts, camT, sil_data.contour)
                if use_parts:
                    corr[1] = _nearest_vertices(verts, camT, part_data.points, part_data.same_part)

    # vertex (of the subset) nearest to each contour point (F, C, K) and to each part point (same part)
    corr: list[torch.Tensor | None] = [None, None]
    rounds = max(1, cfg.silhouette_rounds) if use_sil else 1
    stages = [(1, [go, transl], cfg.stage1_iters), (2, [betas, go, pose, transl], cfg.stage2_iters)]
    stages += [(3, [betas, go, pose, transl], n) for n in _split(cfg.stage3_iters, rounds)]
    for stage, params, iters in stages:
        if iters <= 0:
            continue
        if stage == 3:
            update_correspondences()
        opt = torch.optim.LBFGS(
            params, lr=1.0, max_iter=iters, max_eval=int(iters * 1.25) + 1, history_size=cfg.lbfgs_history,
            tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe",
        )

        def closure(stage=stage, opt=opt) -> torch.Tensor:
            opt.zero_grad()
            total, _ = energy(stage)
            total.backward()
            return total

        t0 = time.perf_counter()
        opt.step(closure)
        evals = opt.state[params[0]].get("func_evals", 0)
        log.debug("stage %d: %d iterations, %d evaluations in %.2f s", stage, iters, evals, time.perf_counter() - t0)

    update_correspondences()
    with torch.no_grad():
        _, terms = energy(3)
        full = TorchBody(body_model, np.arange(body_model.num_surface_vertices), dtype, device)
        joints, verts = full(betas, go, pose, transl, True)
        proj = project_torch(joints, camT).transpose(1, 2)
        err = (proj - uv_t).square().sum(-1).sqrt()
        seen = (cf_t > 0).to(dtype)
        reproj = (err * seen).sum(dim=(1, 2)) / seen.sum(dim=(1, 2)).clamp_min(1.0)
    losses = {k: terms[k].detach().cpu().numpy().astype(np.float64) if k in terms else np.zeros(F) for k in TERM_NAMES}
    losses["total"] = sum(losses[k] for k in TERM_NAMES)
    npy = lambda x: x.detach().cpu().numpy().astype(np.float64)  # noqa: E731
    return FitResult(
        betas=npy(betas)[0],
        global_orient=npy(go),
        body_pose=npy(pose),
        transl=npy(transl),
        joints=npy(joints),
        vertices=npy(verts),
        losses=losses,
        reproj_px=npy(reproj),
        triangulated=tri,
        views_used=ok,
        seconds=time.perf_counter() - t_start,
    )


#: Limb joints checked by :func:`bone_outliers` (knees, ankles, feet, elbows, wrists, hands) and the
#: chain roots whose bones to them only ever blame the limb joint (hips, shoulders: torso joints, which
#: many views see).
_LIMB_JOINTS: tuple[int, ...] = (4, 5, 7, 8, 10, 11, 18, 19, 20, 21, 22, 23)
_LIMB_ROOTS: tuple[int, ...] = (1, 2, 16, 17)


def bone_outliers(tri: np.ndarray, support: np.ndarray, rest: np.ndarray, ratio: tuple[float, float] = (0.4, 1.6)) -> np.ndarray:
    """Triangulated limb joints that no body can have, (F, 24) bool.

    For every limb bone ``p -> j`` (``j`` in :data:`_LIMB_JOINTS`) with both ends triangulated, the length
    ``|X_j - X_p|`` is compared with the rest length ``|rest_j - rest_p|``; outside ``ratio`` x that, one
    end is wrong (a wrist 66 cm from its elbow, a hand half a metre from its wrist: the shipped segmenter
    puts a low-confidence joint on the wrong limb or on the background). The end blamed is ``j`` when ``p``
    is a hip or shoulder, else the end with the smaller ``support`` (summed confidence of the views its
    triangulation used): on 18 held-out sessions the blamed joint was the wrong one in 16 of the 17
    flagged bones. Bones are checked parent first; a dropped joint is not used again.

    Parameters
    ----------
    tri : (F, 24, 3) triangulated joints, metres (NaN where not triangulated).
    support : (F, 24) summed confidence of the views each triangulation used.
    rest : (24, 3) rest-pose joints of the body's shape, metres.
    """
    lo, hi = ratio
    tri = np.array(tri, dtype=np.float64)
    F = tri.shape[0]
    out = np.zeros((F, NUM_JOINTS), dtype=bool)
    parents = np.asarray(PARENTS)
    for j in _LIMB_JOINTS:
        p = parents[j]
        length = np.linalg.norm(rest[j] - rest[p])
        d = np.linalg.norm(tri[:, j] - tri[:, p], axis=-1)  # NaN where either is missing
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(d) & ((d < lo * length) | (d > hi * length))
        for f in np.flatnonzero(bad):
            blame = j if p in _LIMB_ROOTS or support[f, j] <= support[f, p] else p
            out[f, blame] = True
            tri[f, blame] = np.nan
    return out


#: The left/right hypotheses of :func:`fit_limb_hypotheses`: the left joints of the pairs mirrored together
#: (everything below the hips; everything below the shoulders).
LIMB_HYPOTHESES: dict[str, tuple[int, ...]] = {"legs": (4, 7, 10), "arms": (18, 20, 22)}


def _mirror_limbs(joints2d: np.ndarray, conf: np.ndarray, flips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``joints2d`` (F, C, 24, 2) and ``conf`` (F, C, 24) with the limbs of :data:`LIMB_HYPOTHESES` mirrored
    in every view of the frames where ``flips`` (F, 2) says so (copies)."""
    from humanrecon.bodymodel.skeleton import MIRROR

    uv, cf = np.array(joints2d, dtype=np.float64), np.array(conf, dtype=np.float64)
    for k, left in enumerate(LIMB_HYPOTHESES.values()):
        f = np.flatnonzero(flips[:, k])
        for jl in left:
            jr = MIRROR[jl]
            uv[f[:, None], :, [jl, jr]] = uv[f[:, None], :, [jr, jl]]
            cf[f[:, None], :, [jl, jr]] = cf[f[:, None], :, [jr, jl]]
    return uv, cf


def fit_limb_hypotheses(
    body_model, cameras: Sequence[Camera], joints2d: np.ndarray, conf: np.ndarray, silhouettes: np.ndarray | None = None,
    parts: np.ndarray | None = None, *, config: FitConfig = FitConfig(), device: str | torch.device | None = None, **init,
) -> FitResult:
    """:func:`fit_smpl` under three left/right labellings of the limbs; the one whose body explains the
    images best is fitted to the end.

    A 2D detector that labels a whole leg the wrong way round *consistently across views* (a kneeling
    subject, a hidden knee) leaves :func:`humanrecon.bodyfit.resolve_left_right` nothing to detect: the
    rays agree, only the limb chain is crossed, and the fit crosses the legs. Which labelling is right
    shows in the energy: the crossed body fits the silhouettes, part maps and joints worse. So the chunk is
    first fitted briefly (``config.screen_iters`` L-BFGS iterations in stages 2 and 3, two silhouette
    rounds) with the labels as given and with each hypothesis of :data:`LIMB_HYPOTHESES` (knees, ankles
    and feet; elbows, wrists and hands mirrored in every view and frame), and with both where both beat
    the labels as given. The labelling with the lowest chunk energy, if it beats the labels as given by
    ``config.hypothesis_margin`` (5 %) of their energy, is then fitted with the full schedule
    (the same fit as :func:`fit_smpl`'s where the labels as given win). On held-out sessions with the shipped segmenter:
    s71 (kneeling, 8 cameras) 191 -> 36 mm, s73 (4 cameras) 227 -> 25 mm; the labels as given are kept
    where they are right. Costs three or four short fits (~0.2-0.3 s per frame each on one CPU thread) on
    top of the full one. With ``config.limb_hypotheses`` False this is :func:`fit_smpl`.

    Arguments as :func:`fit_smpl` (``init`` its ``init_*`` keywords). Returns the :class:`FitResult` of the
    kept labelling, ``mirrored_limbs`` (F, 2) set (the same for every frame).
    """
    F = np.asarray(joints2d).shape[0]
    K = len(LIMB_HYPOTHESES)
    if not config.limb_hypotheses:
        res = fit_smpl(body_model, cameras, joints2d, conf, silhouettes, parts, config=config, device=device, **init)
        res.mirrored_limbs = np.zeros((F, K), dtype=bool)
        return res
    s2, s3 = min(config.screen_iters[0], config.stage2_iters), min(config.screen_iters[1], config.stage3_iters)
    screen = dataclasses.replace(config, stage2_iters=s2, stage3_iters=s3, silhouette_rounds=min(2, config.silhouette_rounds))
    t0 = time.perf_counter()
    energy: dict[tuple[bool, ...], float] = {}  # screened chunk energy per labelling

    def try_labels(mirror: tuple[bool, ...]) -> float:
        uv, cf = _mirror_limbs(joints2d, conf, np.tile(np.asarray(mirror, dtype=bool), (F, 1)))
        r = fit_smpl(body_model, cameras, uv, cf, silhouettes, parts, config=screen, device=device, **init)
        energy[mirror] = float(r.losses["total"].sum())
        return energy[mirror]

    given = (False,) * K
    e_given = try_labels(given)
    singles = [tuple(i == k for i in range(K)) for k in range(K)]
    bar = (1.0 - config.hypothesis_margin) * e_given
    better = [m for m in singles if try_labels(m) < bar]
    if len(better) > 1:
        try_labels(tuple(any(col) for col in zip(*better, strict=True)))
    best = min(energy, key=energy.get)
    if energy[best] >= bar:
        best = given
    if best != given:
        names = [n for n, on in zip(LIMB_HYPOTHESES, best, strict=True) if on]
        log.info("left/right hypotheses: %s mirrored (chunk energy %.1f, as given %.1f)", " and ".join(names), energy[best], e_given)
    uv, cf = _mirror_limbs(joints2d, conf, np.tile(np.asarray(best, dtype=bool), (F, 1)))
    res = fit_smpl(body_model, cameras, uv, cf, silhouettes, parts, config=config, device=device, **init)
    res.mirrored_limbs = np.tile(np.asarray(best, dtype=bool), (F, 1))
    res.seconds = time.perf_counter() - t0
    return res


def _frames(a, F: int, n: int, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape == (n,):
        arr = np.tile(arr, (F, 1))
    if arr.shape != (F, n):
        raise BodyFitError(f"{name} must have shape ({F}, {n}), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise BodyFitError(f"{name}: frame {int(np.argwhere(~np.isfinite(arr))[0, 0])} has non-finite values")
    return arr


def _rigid_init(body, betas0, pose0, go0, tr0, tri, tri_ok, t, fallback=None) -> tuple[np.ndarray, np.ndarray]:
    """Global orientation (Kabsch on the torso joints) and translation (torso centroids) per frame.

    Frames without >= 3 triangulated torso joints take ``fallback`` ``(go (F, 3), tr (F, 3))`` when
    given, else the nearest frame that has them."""
    F = pose0.shape[0]
    with torch.no_grad():
        zeros = np.zeros((F, 3))
        rest, _ = body(t(betas0[None]), t(zeros if go0 is None else go0), t(pose0), t(zeros), False)
    rest = rest.detach().cpu().numpy().astype(np.float64)  # (F, 24, 3) with the given (or identity) root
    torso = np.array(TORSO_JOINTS)
    go = np.zeros((F, 3)) if go0 is None else go0.copy()
    tr = np.zeros((F, 3)) if tr0 is None else tr0.copy()
    good = np.zeros(F, dtype=bool)
    for f in range(F):
        sel = torso[tri_ok[f, torso]]
        if sel.size < 3:
            continue
        src, dst = rest[f, sel], tri[f, sel]
        if np.linalg.matrix_rank(dst - dst.mean(axis=0), tol=1e-3) < 2:
            continue
        if go0 is None:
            R = _kabsch(src, dst)
            pelvis = rest[f, 0]
            go[f] = _rotvec(R)
            src = (src - pelvis) @ R.T + pelvis  # the root rotates about the pelvis joint
        if tr0 is None:
            tr[f] = dst.mean(axis=0) - src.mean(axis=0)
        good[f] = True
    if fallback is not None:
        go[~good], tr[~good] = fallback[0][~good], fallback[1][~good]
        return go, tr
    if not good.any():
        raise BodyFitError(
            "cannot initialise the fit: no frame has >= 3 non-collinear triangulated torso joints "
            f"({', '.join(JOINT_NAMES[j] for j in TORSO_JOINTS)}); pass init_global_orient and init_transl"
        )
    bad = np.flatnonzero(~good)
    if bad.size:
        log.warning("frames %s: torso not triangulated; initialised from the nearest frame that has one", bad.tolist())
        good_idx = np.flatnonzero(good)
        for f in bad:
            g = good_idx[np.argmin(np.abs(good_idx - f))]
            if go0 is None:
                go[f] = go[g]
            if tr0 is None:
                tr[f] = tr[g]
    return go, tr


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotations (N, 3, 3) taking directions a (N, 3) onto b (N, 3); identity where either is 0 or NaN."""
    from scipy.spatial.transform import Rotation

    with np.errstate(invalid="ignore", divide="ignore"):
        a = a / np.linalg.norm(a, axis=-1, keepdims=True)
        b = b / np.linalg.norm(b, axis=-1, keepdims=True)
        axis = np.cross(a, b)
        s = np.linalg.norm(axis, axis=-1)
        angle = np.arctan2(s, (a * b).sum(-1))
        rv = axis / s[:, None] * angle[:, None]
    rv[~np.isfinite(rv).all(axis=1)] = 0.0
    return Rotation.from_rotvec(rv).as_matrix()


def _rest_joints(body, betas0: np.ndarray) -> np.ndarray:
    """(24, 3) rest-pose joints (metres, float64) of the shape ``betas0`` (10,) of a :class:`TorchBody`."""
    with torch.no_grad():
        b = torch.as_tensor(betas0[None], dtype=body.dtype, device=body.device)
        return (body.J_template + torch.einsum("jkl,fl->fjk", body.J_dirs, b))[0].cpu().numpy().astype(np.float64)


def _ik_init(body, betas0, go0, pose0, tri, tri_ok) -> np.ndarray:
    """Analytic IK: starting from ``pose0`` (F, 69), rotate every joint that has triangulated children so that
    its bones point at them (one child: the minimal swing, keeping ``pose0``'s twist; several children:
    Kabsch). Joints whose children are not triangulated keep ``pose0``. Returns (F, 69) axis-angle."""
    from scipy.spatial.transform import Rotation

    F = pose0.shape[0]
    rest = _rest_joints(body, betas0)
    parents = body.parents.cpu().numpy()
    children = {j: [c for c in range(NUM_JOINTS) if parents[c] == j] for j in range(NUM_JOINTS)}
    local = Rotation.from_rotvec(np.concatenate([go0[:, None], pose0.reshape(F, NUM_BODY_JOINTS, 3)], axis=1)
                                 .reshape(-1, 3)).as_matrix().reshape(F, NUM_JOINTS, 3, 3)
    glob = np.zeros_like(local)
    glob[:, 0] = local[:, 0]
    for j in range(1, NUM_JOINTS):
        p = parents[j]
        G = glob[:, p] @ local[:, j]
        kids = children[j]
        if kids:
            bones = np.stack([rest[k] - rest[j] for k in kids], axis=0)  # (n, 3) rest bones
            pred = np.einsum("fab,nb->fna", G, bones)  # (F, n, 3) predicted world directions
            target = tri[:, kids] - tri[:, j : j + 1]  # (F, n, 3)
            okf = tri_ok[:, j] & tri_ok[:, kids].all(axis=1)
            if len(kids) == 1:
                D = _swing(pred[:, 0], np.where(okf[:, None], target[:, 0], np.nan))
            else:
                D = np.tile(np.eye(3), (F, 1, 1))
                for f in np.flatnonzero(okf):
                    D[f] = _kabsch(pred[f], target[f], center=False)
            G = D @ G
            local[:, j] = np.swapaxes(glob[:, p], 1, 2) @ G
        glob[:, j] = G
    return Rotation.from_matrix(local[:, 1:].reshape(-1, 3, 3)).as_rotvec().reshape(F, 3 * NUM_BODY_JOINTS)


def _split(n: int, parts: int) -> list[int]:
    """``n`` iterations split into ``parts`` near-equal rounds."""
    return [n // parts + (1 if r < n % parts else 0) for r in range(parts)]


def _nearest_vertices(
    verts: torch.Tensor, camT, points: torch.Tensor, allowed: torch.Tensor | None = None, chunk: int = 2
) -> torch.Tensor:
    """(F, C, K) index of the projected vertex (of ``verts`` (F, S, 3)) nearest to each image point
    (``points`` (F, C, K, 2), full-resolution pixels), among the vertices ``allowed`` (K, S) for that point
    slot when given (float32 search, ``chunk`` frames at a time to bound memory)."""
    uv = project_torch(verts, camT).transpose(1, 2).float()  # (F, C, S, 2)
    p = points.float()
    out = []
    for f0 in range(0, uv.shape[0], chunk):
        q, c = uv[f0 : f0 + chunk], p[f0 : f0 + chunk]
        d2 = (c[..., :, None, 0] - q[..., None, :, 0]).square() + (c[..., :, None, 1] - q[..., None, :, 1]).square()
        if allowed is not None:
            d2 = d2.masked_fill(~allowed, float("inf"))
        out.append(d2.argmin(dim=-1))
    return torch.cat(out, dim=0)


def _part_term(verts: torch.Tensor, camT, parts: _PartPoints, cfg: FitConfig, corr: torch.Tensor) -> torch.Tensor:
    """Per-frame ``w_parts * parts`` (F,) (module docstring); ``corr`` (F, C, P*K) the matched vertices."""
    uv = project_torch(verts, camT).transpose(1, 2)  # (F, C, S, 2)
    near = torch.gather(uv, 2, corr[..., None].expand(-1, -1, -1, 2))  # (F, C, P*K, 2)
    r2 = (near - parts.points).square().sum(-1)
    w = parts.weight
    per_view = (_gm(r2, cfg.sil_sigma_px) * w).sum(-1) / w.sum(-1).clamp_min(1.0)
    return cfg.w_parts * per_view.sum(-1)


def _silhouette_terms(
    verts: torch.Tensor, camT, sil: _Silhouettes, cfg: FitConfig, corr: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame ``w_sil_out * sil_out`` and ``w_sil_in * sil_in`` (module docstring), each (F,); ``corr``
    (F, C, K) are the vertices matched to the contour points (:func:`_nearest_vertices`)."""
    F, S = verts.shape[:2]
    C = camT.K.shape[0]
    uv, z = project_torch(verts, camT, return_depth=True)  # (F, S, C, 2), (F, S, C)
    uv = uv.transpose(1, 2)  # (F, C, S, 2) full-resolution pixels
    z = z.transpose(1, 2)
    w, h = sil.size
    scale = sil.scale[None, :, None, :]  # (1, C, 1, 2)
    m = (uv + 0.5) * scale - 0.5  # mask pixels
    inside = (m[..., 0] > -0.5) & (m[..., 0] < w - 0.5) & (m[..., 1] > -0.5) & (m[..., 1] < h - 0.5) & (z > 0)
    grid = torch.stack([(m[..., 0] + 0.5) / w * 2 - 1, (m[..., 1] + 0.5) / h * 2 - 1], dim=-1)
    d = Fnn.grid_sample(
        sil.dt, grid.reshape(F * C, 1, S, 2), mode="bilinear", padding_mode="border", align_corners=False
    ).reshape(F, C, S)
    d_full = d / sil.scale[None, :, None, 0]  # mask pixels -> camera pixels (same aspect ratio)
    out = (_gm(d_full.square(), cfg.sil_sigma_px) * inside.to(verts.dtype)).mean(-1)
    sil_out = (out * sil.view_w).sum(-1)
    # contour points -> nearest projected vertex
    p = sil.contour  # (F, C, K, 2)
    near = torch.gather(uv, 2, corr[..., None].expand(-1, -1, -1, 2))  # (F, C, K, 2)
    nearest = ((near - p) * sil.contour_n).sum(-1).square()  # point-to-line: sliding along the contour is free
    cw = sil.contour_w
    sil_in = ((_gm(nearest, cfg.sil_sigma_px) * cw).sum(-1) / cw.sum(-1).clamp_min(1.0)).sum(-1)
    return cfg.w_sil_out * sil_out, cfg.w_sil_in * sil_in
