"""Implicit training samples in memory: shards (``humanrecon.implicit.shards``) read back with every
view prepared for the network (:func:`humanrecon.implicit.views.prepare_views`).

Reading needs only numpy, h5py, OpenCV and torch (the training environment, envs/learning.yaml);
generating shards needs the synthetic studio and lives in :mod:`humanrecon.implicit.shards`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from humanrecon.calibration.camera import Camera
from humanrecon.implicit.body import BODY_PARAMS
from humanrecon.implicit.views import Views, prepare_views
from humanrecon.io.hdf5 import IMPLICIT_SHARD, read_h5


@dataclass
class Sample:
    """One training sample in memory: its prepared views (all cameras; images as uint8 to save memory)
    and its labelled points."""

    image: np.ndarray  # (V, 4, S, S) uint8
    crop: np.ndarray  # (V, 2, 3)
    rgb: np.ndarray  # (V, H, W, 3) uint8
    mask: np.ndarray  # (V, H, W) uint8
    sdf: np.ndarray  # (V, H, W) float16
    cams: dict[str, np.ndarray]  # K, dist, R, t, size, r2max, z_ref (V, ...)
    points: np.ndarray  # (N, 3) float32
    inside: np.ndarray  # (N,) uint8
    #: GT SMPL parameters (betas, body_pose, global_orient, transl) for body conditioning, if known
    body: dict[str, np.ndarray] | None = None
    #: (N,) uint8: 1 for points sampled near the surface, 0 for those uniform in the box (None: unknown)
    near: np.ndarray | None = None


def shard_files(folder: str | os.PathLike) -> list[Path]:
    return sorted(Path(folder).glob("shard_*.h5"))


def load_samples(paths: list[Path], crop_size: int, samples: int | None = None) -> list[Sample]:
    """Samples (all views prepared with :func:`prepare_views`) of the shards ``paths`` (first ``samples`` of each)."""
    out = []
    for p in paths:
        read_h5(p, IMPLICIT_SHARD, names=["K"])  # validates kind and version, names the file otherwise
        with h5py.File(p, "r") as f:
            n = f["rgb"].shape[0] if samples is None else min(samples, f["rgb"].shape[0])
            for b in range(n):
                rgb, mask = f["rgb"][b], f["mask"][b]
                cams = [
                    Camera(name=f"cam{c:02d}", K=f["K"][b, c], dist=f["dist"][b, c], R=f["R"][b, c], t=f["t"][b, c],
                           width=rgb.shape[2], height=rgb.shape[1])
                    for c in range(rgb.shape[0])
                ]  # fmt: skip
                body = {k: f[k][b] for k in BODY_PARAMS} if all(k in f for k in BODY_PARAMS) else None
                out.append(make_sample(rgb, mask, cams, f["points"][b], f["inside"][b], crop_size, body, f["near_surface"][b]))
    return out


def make_sample(images: np.ndarray, masks: np.ndarray, cameras: list[Camera], points: np.ndarray, inside: np.ndarray,
                crop_size: int, body: dict[str, np.ndarray] | None = None, near: np.ndarray | None = None) -> Sample:
    """A :class:`Sample` from V views ((V, H, W, 3) uint8, (V, H, W) {0,1}, cameras), labelled points
    ((N, 3) metres world, (N,) {0,1}) and optionally the GT SMPL parameters (:data:`BODY_PARAMS`) and the
    points' near-surface flags ((N,) {0,1})."""
    v = prepare_views(images, masks, cameras, crop_size)
    return Sample(
        image=np.round(v.image.numpy() * 255).astype(np.uint8), crop=v.crop.numpy(), rgb=np.asarray(images, np.uint8),
        mask=(np.asarray(masks) > 0).astype(np.uint8), sdf=v.sdf.numpy()[:, 0].astype(np.float16),
        cams={k: getattr(v, k).numpy() for k in ("K", "dist", "R", "t", "size", "r2max", "z_ref")},
        points=np.asarray(points, np.float32), inside=np.asarray(inside, np.uint8),
        body=None if body is None else {k: np.asarray(body[k], np.float64) for k in BODY_PARAMS},
        near=None if near is None else np.asarray(near, np.uint8),
    )  # fmt: skip


def sample_views(s: Sample, index: np.ndarray) -> Views:
    """The views ``index`` of a sample as float tensors."""
    return Views(
        image=torch.from_numpy(s.image[index]).float() / 255.0,
        crop=torch.from_numpy(s.crop[index]),
        rgb=torch.from_numpy(s.rgb[index]).permute(0, 3, 1, 2).float() / 255.0,
        mask=torch.from_numpy(s.mask[index]).float()[:, None],
        sdf=torch.from_numpy(s.sdf[index].astype(np.float32))[:, None],
        **{k: torch.from_numpy(s.cams[k][index]) for k in ("K", "dist", "R", "t", "size", "r2max", "z_ref")},
    )
