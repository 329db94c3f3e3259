"""Pose arbitrary rest-space points with an SMPL-format model's skinning (garments, helper geometry).

smplx returns posed model vertices only; clothing displaced from the rest surface and extra garment
meshes need the same per-joint transforms. These functions reuse smplx's own kernels
(``batch_rodrigues``, ``batch_rigid_transform``, ``blend_shapes``) so the result matches smplx exactly
for the model's own vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humanrecon.bodymodel import skeleton


@dataclass
class PosedTransforms:
    """Per-joint skinning transforms of a batch of bodies.

    Attributes
    ----------
    A : (B, 24, 4, 4) float64
        Rest -> posed transform of each joint (smplx's ``rel_transforms``), before ``transl``.
    joints : (B, 24, 3) float64
        Posed joints, world metres (``transl`` included).
    v_shaped : (B, V, 3) float64
        Shaped rest vertices (template + shape blend), model frame.
    transl : (B, 3) float64
    """

    A: np.ndarray
    joints: np.ndarray
    v_shaped: np.ndarray
    transl: np.ndarray


def posed_transforms(body_model, betas, global_orient, body_pose, transl=None) -> PosedTransforms:
    """Joint transforms for SMPL parameters (posedirs are ignored: zero for the exported model).

    Parameters
    ----------
    body_model : humanrecon.bodymodel.model.BodyModel
    betas : (B, 10); global_orient : (B, 3); body_pose : (B, 69); transl : (B, 3) or None
    """
    import torch
    from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, vertices2joints

    smpl = body_model.smpl
    dt = smpl.shapedirs.dtype
    betas = torch.as_tensor(np.atleast_2d(betas), dtype=dt)
    B = betas.shape[0]
    pose = torch.cat(
        [torch.as_tensor(np.atleast_2d(global_orient), dtype=dt), torch.as_tensor(np.atleast_2d(body_pose), dtype=dt)],
        dim=1,
    )  # (B, 72)
    tr = torch.zeros(B, 3, dtype=dt) if transl is None else torch.as_tensor(np.atleast_2d(transl), dtype=dt)
    with torch.no_grad():
        v_shaped = smpl.v_template + blend_shapes(betas, smpl.shapedirs)  # (B, V, 3)
        J = vertices2joints(smpl.J_regressor, v_shaped)  # (B, 24, 3)
        rot = batch_rodrigues(pose.view(-1, 3)).view(B, -1, 3, 3)  # (B, 24, 3, 3)
        posed_j, A = batch_rigid_transform(rot, J, smpl.parents, dtype=dt)
    return PosedTransforms(
        A=A.numpy().astype(np.float64),
        joints=(posed_j + tr[:, None]).numpy().astype(np.float64),
        v_shaped=v_shaped.numpy().astype(np.float64),
        transl=tr.numpy().astype(np.float64),
    )


def skin_points(transforms: PosedTransforms, points_rest: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Linear blend skinning of rest-space points.

    Parameters
    ----------
    transforms : PosedTransforms
        From :func:`posed_transforms` (batch B).
    points_rest : (N, 3) or (B, N, 3) float
        Rest-pose (T-pose, shaped) positions in the model frame, metres.
    weights : (N, 24) float
        Skinning weights (rows sum to 1).

    Returns
    -------
    (B, N, 3) float64 posed world positions (``transl`` added).
    """
    points_rest = np.asarray(points_rest, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != skeleton.NUM_JOINTS:
        raise ValueError(f"weights must be (N, 24), got {weights.shape}")
    if points_rest.shape[-2] != weights.shape[0] or points_rest.shape[-1] != 3:
        raise ValueError(f"points {points_rest.shape} do not match weights {weights.shape}")
    B = transforms.A.shape[0]
    pts = np.broadcast_to(points_rest, (B, *points_rest.shape[-2:]))
    # T_n = sum_j w_nj A_j : (N, 24) x (B, 24, 4, 4) -> (B, N, 4, 4)
    T = np.einsum("nj,bjik->bnik", weights, transforms.A)
    out = np.einsum("bnik,bnk->bni", T[..., :3, :3], pts) + T[..., :3, 3]
    return out + transforms.transl[:, None, :]
