"""Pose and shape priors for SMPL fitting (torch, differentiable).

Pose parameters are SMPL ``body_pose`` axis-angle vectors, ``(..., 69)`` radians (joints 1..23, three
entries each, local rotations in the parent frame; :mod:`humanrecon.synth.poses` explains the signs).

* :func:`gaussian_pose_prior` — a Gaussian ``N(mu, Sigma)`` over ``body_pose`` fitted once (deterministic
  seed) to :data:`GAUSSIAN_PRIOR_SAMPLES` random poses of the synthetic key-pose library
  (:func:`humanrecon.synth.poses.sample_pose` with ``perturb_deg = 15`` and random mirroring), with
  ``(GAUSSIAN_PRIOR_FLOOR_DEG)^2`` added to the diagonal of ``Sigma`` so that no direction is stiffer than
  a 5 deg standard deviation. The energy is the squared Mahalanobis distance (dimensionless; about 69
  for a typical pose of the library). It encodes the library's poses, so on real captures with poses
  far from it prefer ``FitConfig.pose_prior = "l2"``.
* :func:`l2_pose_prior` — ``|body_pose|^2`` (rad^2), the plain fallback.
* :func:`angle_limit_penalty` — squared hinge (rad^2) on knees bending forwards and elbows bending
  backwards beyond :data:`HYPEREXTENSION_DEG`, on the flexion component of the axis-angle vector (knee
  ``x > 0`` is flexion; left elbow ``y < 0``, right elbow ``y > 0`` is flexion).
* :func:`shape_prior` — ``|betas|^2``; the exported model's betas are unit-variance.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from humanrecon.bodymodel.skeleton import JOINT_NAMES, NUM_BODY_JOINTS

__all__ = [
    "GAUSSIAN_PRIOR_FLOOR_DEG",
    "GAUSSIAN_PRIOR_SAMPLES",
    "HYPEREXTENSION_DEG",
    "angle_limit_penalty",
    "gaussian_pose_prior",
    "gaussian_prior_params",
    "l2_pose_prior",
    "shape_prior",
]

#: Number of library poses the Gaussian prior is fitted to (seed 0).
GAUSSIAN_PRIOR_SAMPLES = 4096
#: Standard deviation (degrees) added in quadrature to every direction of the Gaussian prior.
GAUSSIAN_PRIOR_FLOOR_DEG = 5.0
#: Knees/elbows may bend the wrong way by this much (degrees) before :func:`angle_limit_penalty` acts.
HYPEREXTENSION_DEG = 5.0

_J = {name: i for i, name in enumerate(JOINT_NAMES)}
# (body_pose column, sign): the penalty acts on max(0, sign * theta - limit).
_LIMIT_COLUMNS = (
    (3 * (_J["left_knee"] - 1) + 0, -1.0),  # knee x < 0: hyperextension
    (3 * (_J["right_knee"] - 1) + 0, -1.0),
    (3 * (_J["left_elbow"] - 1) + 1, +1.0),  # left elbow y > 0: bending backwards
    (3 * (_J["right_elbow"] - 1) + 1, -1.0),  # right elbow y < 0
)


@functools.lru_cache(maxsize=1)
def gaussian_prior_params() -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(69,)`` and precision matrix ``(69, 69)`` (rad^-2) of the Gaussian pose prior (module docstring).

    Deterministic (seed 0) and cached; takes about a second the first time.
    """
    from humanrecon.synth.poses import sample_pose

    rng = np.random.default_rng(0)
    samples = np.stack(
        [sample_pose(rng, perturb_deg=15.0, mirror_prob=0.5)[1:].reshape(-1) for _ in range(GAUSSIAN_PRIOR_SAMPLES)]
    )
    mean = samples.mean(axis=0)
    cov = np.cov(samples, rowvar=False) + np.deg2rad(GAUSSIAN_PRIOR_FLOOR_DEG) ** 2 * np.eye(3 * NUM_BODY_JOINTS)
    precision = np.linalg.inv(cov)
    precision = 0.5 * (precision + precision.T)
    return mean, precision


def gaussian_pose_prior(body_pose: torch.Tensor) -> torch.Tensor:
    """Squared Mahalanobis distance of ``(..., 69)`` axis-angle poses under the library Gaussian -> ``(...)``."""
    mean, precision = gaussian_prior_params()
    mu = torch.as_tensor(mean, dtype=body_pose.dtype, device=body_pose.device)
    P = torch.as_tensor(precision, dtype=body_pose.dtype, device=body_pose.device)
    d = body_pose - mu
    return torch.einsum("...i,ij,...j->...", d, P, d)


def l2_pose_prior(body_pose: torch.Tensor) -> torch.Tensor:
    """``|body_pose|^2`` in rad^2, ``(..., 69) -> (...)``."""
    return body_pose.square().sum(dim=-1)


def angle_limit_penalty(body_pose: torch.Tensor) -> torch.Tensor:
    """Squared hinge (rad^2) on hyperextended knees and elbows, ``(..., 69) -> (...)`` (module docstring)."""
    limit = float(np.deg2rad(HYPEREXTENSION_DEG))
    cols = torch.tensor([c for c, _ in _LIMIT_COLUMNS], device=body_pose.device)
    signs = torch.tensor([s for _, s in _LIMIT_COLUMNS], dtype=body_pose.dtype, device=body_pose.device)
    excess = torch.relu(body_pose[..., cols] * signs - limit)
    return excess.square().sum(dim=-1)


def shape_prior(betas: torch.Tensor) -> torch.Tensor:
    """``|betas|^2`` (unit-variance shape coefficients), ``(..., 10) -> (...)``."""
    return betas.square().sum(dim=-1)
