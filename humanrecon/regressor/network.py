"""The HMR-style regressor: a convolutional encoder over a person crop's part map, then iterative error
feedback (IEF) from the mean body.

Input: ``(N, 14, S, S)`` float32, the one-hot 13-class part map (0 = background) and the silhouette of a
person crop (:func:`humanrecon.regressor.synthetic.encode_inputs`), ``S`` = ``input_size`` (128).

Output (:class:`RegressorOutput`), per view, for each of the ``iterations`` (3) IEF steps:

* ``rot6d`` (N, 24, 6): continuous 6D rotations (:mod:`humanrecon.regressor.rotations`); joint 0 is the
  root orientation **in the camera frame**, joints 1..23 SMPL's local rotations;
* ``betas`` (N, 10);
* ``cam`` (N, 3): the root joint's crop position and depth, ``u = (S - 1)/2 + (S/2) cam[0]``,
  ``v = (S - 1)/2 + (S/2) cam[1]`` crop pixels, ``z = f_crop * DEPTH_SPAN / S * exp(cam[2])`` metres,
  with ``f_crop`` the crop's focal length in pixels (:func:`pelvis_camera_position`). A crop of side
  ``S`` then spans about ``DEPTH_SPAN`` metres at the person's depth when ``cam[2] = 0``.

IEF: ``theta_0`` is the mean body (Gaussian pose prior's mean, zero betas, a frontal root, centred
camera); ``theta_{k+1} = theta_k + MLP([features, theta_k])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from humanrecon.bodymodel.skeleton import NUM_BETAS, NUM_JOINTS
from humanrecon.regressor.rotations import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from humanrecon.regressor.synthetic import NUM_INPUT_CHANNELS

#: Metres spanned by a crop of the regressor's input at ``cam[2] = 0`` (a 1.7 m person in a 1.2x box).
DEPTH_SPAN = 2.0
#: Parameters per IEF state: 24 x 6D rotations, 10 betas, 3 camera values.
THETA_SIZE = NUM_JOINTS * 6 + NUM_BETAS + 3


class RegressorInputError(ValueError):
    """The regressor's input has the wrong shape, dtype or channel count; the message says what it expects."""


@dataclass
class RegressorOutput:
    """Per-iteration predictions (lists of length ``iterations``; the last is the answer)."""

    rot6d: list[torch.Tensor]  # (N, 24, 6)
    betas: list[torch.Tensor]  # (N, 10)
    cam: list[torch.Tensor]  # (N, 3)

    @property
    def rotmat(self) -> torch.Tensor:
        """(N, 24, 3, 3) final rotations (root in the camera frame)."""
        return rot6d_to_matrix(self.rot6d[-1])


class _Block(nn.Module):
    """Residual block: two 3x3 convolutions (BatchNorm, ReLU), stride on the first, 1x1 projection skip."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(y)) + self.skip(x))


def mean_theta(mean_body_pose: np.ndarray | None = None) -> torch.Tensor:
    """(THETA_SIZE,) IEF start: a frontal root in the camera frame (body +z towards -z_cam, i.e. facing
    the camera: a 180 deg turn about x, since image y points down), ``mean_body_pose`` (69,) axis-angle
    (default zeros), zero betas and a centred camera."""
    root = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    pose = torch.zeros(NUM_JOINTS - 1, 3) if mean_body_pose is None else torch.as_tensor(mean_body_pose, dtype=torch.float32).reshape(-1, 3)
    rots = torch.cat([root[None], axis_angle_to_matrix(pose)], 0)  # (24, 3, 3)
    return torch.cat([matrix_to_rot6d(rots).reshape(-1), torch.zeros(NUM_BETAS), torch.zeros(3)])


class SMPLRegressor(nn.Module):
    """Encoder + IEF regressor (module docstring).

    Parameters
    ----------
    input_size : int
        Crop side S (multiple of 32).
    widths : tuple of 5 ints
        Channels of the stem and the four residual stages (strides 2, 2, 2, 2, 2: S/32 at the end).
    hidden : int
        Width of the IEF MLP and of the feature vector.
    iterations : int
    mean_body_pose : (69,) array, optional
        Start pose (axis-angle); default zeros.
    """

    def __init__(
        self,
        input_size: int = 128,
        widths: tuple[int, ...] = (32, 48, 96, 160, 256),
        hidden: int = 512,
        iterations: int = 3,
        mean_body_pose: np.ndarray | None = None,
    ):
        super().__init__()
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.input_size, self.widths, self.hidden, self.iterations = int(input_size), tuple(widths), int(hidden), int(iterations)
        w = self.widths
        self.stem = nn.Sequential(nn.Conv2d(NUM_INPUT_CHANNELS, w[0], 5, 2, 2, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
        self.stages = nn.Sequential(*[_Block(w[i], w[i + 1], 2) for i in range(4)])
        self.reduce = nn.Sequential(nn.Conv2d(w[4], 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        cells = (input_size // 32) ** 2
        self.fc = nn.Sequential(nn.Linear(64 * cells, hidden), nn.ReLU())
        self.ief = nn.Sequential(
            nn.Linear(hidden + THETA_SIZE, hidden), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(hidden, THETA_SIZE),
        )  # fmt: skip
        nn.init.zeros_(self.ief[-1].bias)
        nn.init.normal_(self.ief[-1].weight, std=1e-3)
        self.register_buffer("theta0", mean_theta(mean_body_pose))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`RegressorInputError` unless ``x`` is (N, 14, S, S) float."""
        S = self.input_size
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise RegressorInputError(f"regressor input must be a float tensor (N, {NUM_INPUT_CHANNELS}, {S}, {S}), got {type(x).__name__} {getattr(x, 'dtype', '')}")
        if x.ndim != 4 or x.shape[1] != NUM_INPUT_CHANNELS or x.shape[2:] != (S, S):
            raise RegressorInputError(
                f"regressor input must have shape (N, {NUM_INPUT_CHANNELS}, {S}, {S}) (13 one-hot part classes + "
                f"silhouette, {S}x{S} crops), got {tuple(x.shape)}"
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 14, S, S) -> (N, hidden) image features."""
        y = self.reduce(self.stages(self.stem(x)))
        return self.fc(y.flatten(1))

    def forward(self, x: torch.Tensor) -> RegressorOutput:
        self.check_input(x)
        feat = self.features(x)
        theta = self.theta0.expand(x.shape[0], -1)
        out = RegressorOutput([], [], [])
        for _ in range(self.iterations):
            theta = theta + self.ief(torch.cat([feat, theta], dim=1))
            out.rot6d.append(theta[:, : NUM_JOINTS * 6].reshape(-1, NUM_JOINTS, 6))
            out.betas.append(theta[:, NUM_JOINTS * 6 : NUM_JOINTS * 6 + NUM_BETAS])
            out.cam.append(theta[:, -3:])
        return out

    def hparams(self) -> dict:
        """Constructor arguments (stored with the weights)."""
        return {"input_size": self.input_size, "widths": list(self.widths), "hidden": self.hidden, "iterations": self.iterations}


def pelvis_camera_position(cam: torch.Tensor, K_crop: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Root joint from the predicted ``cam`` (N, 3) and the crops' pinhole intrinsics ``K_crop`` (N, 3, 3).

    Returns ``(uv (N, 2) crop pixels, z (N,) metres)``; the camera-frame position is
    ``(K_crop^-1 [u, v, 1]) * z``.
    """
    c = (size - 1) / 2.0
    uv = c + 0.5 * size * cam[:, :2]
    z = K_crop[:, 0, 0] * DEPTH_SPAN / size * torch.exp(cam[:, 2].clamp(-4.0, 4.0))
    return uv, z


def camera_from_pelvis(uv: torch.Tensor, z: torch.Tensor, K_crop: torch.Tensor) -> torch.Tensor:
    """Camera-frame point (N, 3) at crop pixel ``uv`` (N, 2) and depth ``z`` (N,) under pinhole ``K_crop``."""
    x = (uv[:, 0] - K_crop[:, 0, 2] - K_crop[:, 0, 1] * (uv[:, 1] - K_crop[:, 1, 2]) / K_crop[:, 1, 1]) / K_crop[:, 0, 0]
    y = (uv[:, 1] - K_crop[:, 1, 2]) / K_crop[:, 1, 1]
    return torch.stack([x * z, y * z, z], dim=1)
