"""Training data for the segmenter: person crops from training shards and batched domain randomisation.

:func:`load_crops` turns shards (:data:`humanrecon.io.hdf5.TRAINING_SHARD`, full frames) into *stored
crops*: per view a square of ``CONTEXT`` times the nominal person box (:data:`crops.BOX_SCALE`) resampled
to ``store_size`` pixels, with mask, 12-part map and 2D joints in the stored crop's pixels. The context
lets :func:`augment` zoom, shift and rotate without running out of image.

:func:`make_batch` (torch, batched) draws the network's input from stored crops: random scale, shift,
rotation and horizontal flip (left/right parts and joints swapped), background replacement with
procedural clutter (gradients, shapes, noise textures), occluders, blur, colour jitter and sensor noise.
Everything is drawn from a ``torch.Generator`` so a seed gives the same batches.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.nn import functional as F

from humanrecon.bodymodel.skeleton import MIRROR, PART_MIRROR
from humanrecon.io.hdf5 import TRAINING_SHARD, read_h5
from humanrecon.segmenter import crops

log = logging.getLogger(__name__)

#: Stored crops cover this many times the nominal person box (room for zoom/shift augmentation).
CONTEXT = 1.25


def store_size(input_size: int) -> int:
    """Side (pixels) of the stored crops from which :func:`make_batch` draws ``input_size`` inputs: the
    nominal crop is then resampled 1:1."""
    return int(round(CONTEXT * input_size))


#: Joint index permutation under a horizontal flip.
JOINT_FLIP = np.asarray(MIRROR)
#: Part-class permutation under a horizontal flip (class 0 background, class k part id k).
PART_FLIP = np.asarray(PART_MIRROR)


@dataclass
class CropSet:
    """Stored crops (N views).

    rgb (N, S, S, 3) uint8; mask (N, S, S) uint8; parts (N, S, S) uint8; joints (N, 24, 2) float32 in
    stored-crop pixels.
    """

    rgb: np.ndarray
    mask: np.ndarray
    parts: np.ndarray
    joints: np.ndarray

    def __len__(self) -> int:
        return len(self.rgb)

    @staticmethod
    def concat(sets: list[CropSet]) -> CropSet:
        return CropSet(*(np.concatenate([getattr(s, k) for s in sets]) for k in ("rgb", "mask", "parts", "joints")))


def crop_views(rgb: np.ndarray, mask: np.ndarray, parts: np.ndarray, joints2d: np.ndarray, store_size: int,
               context: float = CONTEXT, box_scale: float = crops.BOX_SCALE) -> CropSet | None:
    """Stored crops of views (V, H, W, ...) around their GT silhouettes; views without a person are skipped."""
    out = {"rgb": [], "mask": [], "parts": [], "joints": []}
    for i in range(len(rgb)):
        if not mask[i].any():
            continue
        cx, cy, side = crops.person_box(mask[i], box_scale * context)
        M = crops.crop_matrix(cx, cy, side, store_size)
        out["rgb"].append(crops.warp(rgb[i], M, store_size))
        out["mask"].append(crops.warp(mask[i], M, store_size, nearest=True))
        out["parts"].append(crops.warp(parts[i], M, store_size, nearest=True))
        out["joints"].append(crops.to_crop(joints2d[i], M).astype(np.float32))
    if not out["rgb"]:
        return None
    return CropSet(*(np.stack(out[k]) for k in ("rgb", "mask", "parts", "joints")))


def load_crops(paths: list[str | Path], size: int, samples: int | None = None) -> CropSet:
    """Stored crops (side ``size``, see :func:`store_size`) of every view of every sample of the shards
    ``paths``, or of their first ``samples`` samples."""
    sets = []
    for p in paths:
        read_h5(p, TRAINING_SHARD, names=["subject"])  # validates kind/version, names the file otherwise
        with h5py.File(p, "r") as f:
            rgb, mask, parts, j2d = (f[k][:samples] for k in ("rgb", "mask", "parts", "joints2d"))
        B, C = mask.shape[:2]
        cs = crop_views(
            rgb.reshape(B * C, *rgb.shape[2:]), mask.reshape(B * C, *mask.shape[2:]),
            parts.reshape(B * C, *parts.shape[2:]), j2d.reshape(B * C, 24, 2), size,
        )  # fmt: skip
        if cs is not None:
            sets.append(cs)
    if not sets:
        raise ValueError(f"no views with a person in {len(paths)} shard(s)")
    return CropSet.concat(sets)


@dataclass(frozen=True)
class AugmentConfig:
    """Domain randomisation (probabilities and ranges)."""

    zoom: tuple[float, float] = (0.85, 1.2)  # >1: person larger in the crop
    shift: float = 0.08  # fraction of the crop side
    rotate_deg: float = 12.0
    flip: float = 0.5
    background: float = 0.6  # replace the studio behind the person with procedural clutter
    occluder: float = 0.3
    blur: float = 0.3
    blur_sigma: tuple[float, float] = (0.4, 1.3)
    noise: tuple[float, float] = (0.0, 0.03)
    brightness: tuple[float, float] = (0.65, 1.35)
    channel_gain: float = 0.12
    contrast: tuple[float, float] = (0.75, 1.25)


def _uniform(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def procedural_backgrounds(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) float backgrounds: a two-colour gradient, random rectangles and ellipses, and
    a blurred noise texture."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    ang = _uniform(g, n, 0, 2 * math.pi)
    t = (xx[None] * torch.cos(ang)[:, None, None] + yy[None] * torch.sin(ang)[:, None, None])
    t = (t - t.amin(dim=(1, 2), keepdim=True)) / (t.amax(dim=(1, 2), keepdim=True) - t.amin(dim=(1, 2), keepdim=True) + 1e-6)
    c0, c1 = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    bg = c0 + (c1 - c0) * t[:, None]
    for _ in range(6):
        cx, cy = torch.rand(n, generator=g), torch.rand(n, generator=g)
        rx, ry = _uniform(g, n, 0.03, 0.35), _uniform(g, n, 0.03, 0.35)
        ell = torch.rand(n, generator=g) < 0.5
        dx = (xx[None] - cx[:, None, None]) / rx[:, None, None]
        dy = (yy[None] - cy[:, None, None]) / ry[:, None, None]
        inside = torch.where(ell[:, None, None], dx**2 + dy**2 < 1, (dx.abs() < 1) & (dy.abs() < 1))
        on = torch.rand(n, generator=g) < 0.7
        col = torch.rand(n, 3, 1, 1, generator=g)
        bg = torch.where((inside & on[:, None, None])[:, None], col, bg)
    tex = torch.rand(n, 1, size // 8, size // 8, generator=g)
    tex = F.interpolate(tex, size=(size, size), mode="bilinear", align_corners=False)
    amp = _uniform(g, n, 0.0, 0.25)[:, None, None, None]
    return (bg + amp * (tex - 0.5)).clamp(0, 1)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image separable Gaussian blur (sigma (n,) pixels)."""
    r = 3
    k = torch.arange(-r, r + 1, dtype=x.dtype)
    w = torch.exp(-0.5 * (k[None] / sigma[:, None]) ** 2)
    w = w / w.sum(dim=1, keepdim=True)  # (n, 2r+1)
    n, c, H, W = x.shape
    y = x.reshape(1, n * c, H, W)
    wk = w.repeat_interleave(c, dim=0)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), wk[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), wk[:, None, :, None], groups=n * c)
    return y.reshape(n, c, H, W)


def make_batch(cs: CropSet, index: np.ndarray, size: int, g: torch.Generator, aug: AugmentConfig | None) -> dict[str, torch.Tensor]:
    """Network inputs and targets for views ``index`` of ``cs``.

    Returns ``image`` (B, 3, size, size) float in [0, 1], ``mask`` (B, size, size) float, ``parts``
    (B, size, size) int64, ``joints`` (B, 24, 2) crop pixels, ``joint_valid`` (B, 24) bool (inside the
    crop). ``aug=None``: the nominal crop (person box x :data:`crops.BOX_SCALE`), no randomisation.
    """
    S = cs.rgb.shape[1]
    B = len(index)
    rgb = torch.from_numpy(cs.rgb[index]).permute(0, 3, 1, 2).float() / 255.0
    lab = torch.stack([torch.from_numpy(cs.mask[index]).float(), torch.from_numpy(cs.parts[index]).float()], dim=1)
    joints = torch.from_numpy(cs.joints[index]).float()  # stored-crop pixels
    # output pixel p (centres at integers) samples stored pixel q = c_s + A (p - c_o)
    zoom = torch.ones(B) if aug is None else _uniform(g, B, *aug.zoom)
    rot = torch.zeros(B) if aug is None else torch.deg2rad(_uniform(g, B, -aug.rotate_deg, aug.rotate_deg))
    shift = torch.zeros(B, 2) if aug is None else (torch.rand(B, 2, generator=g) * 2 - 1) * aug.shift * S
    flip = torch.zeros(B, dtype=torch.bool) if aug is None else torch.rand(B, generator=g) < aug.flip
    scale = S / (CONTEXT * size) / zoom  # stored pixels per output pixel
    cos, sin = torch.cos(rot), torch.sin(rot)
    A = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2) * scale[:, None, None]
    fl = torch.where(flip, -1.0, 1.0)
    A = A * torch.stack([fl, torch.ones(B)], -1)[:, None, :]  # flip the output's u axis
    c_o, c_s = (size - 1) / 2.0, (S - 1) / 2.0
    # grid_sample (align_corners=False): normalised x = (2 q + 1) / S - 1
    p = torch.arange(size, dtype=torch.float32) - c_o
    pu, pv = torch.meshgrid(p, p, indexing="xy")
    P = torch.stack([pu, pv], -1).reshape(-1, 2)  # (size*size, 2)
    Q = torch.einsum("bij,nj->bni", A, P) + c_s + shift[:, None, :]
    grid = ((2 * Q + 1) / S - 1).reshape(B, size, size, 2)
    image = F.grid_sample(rgb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    lab = F.grid_sample(lab, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    mask, parts = lab[:, 0], lab[:, 1].long()
    # joints: q = c_s + shift + A (p - c_o)  =>  p = c_o + A^-1 (q - c_s - shift)
    jo = torch.einsum("bij,bkj->bki", torch.linalg.inv(A), joints - c_s - shift[:, None, :]) + c_o
    if flip.any():
        jflip = torch.from_numpy(JOINT_FLIP)
        pflip = torch.from_numpy(PART_FLIP)
        jo[flip] = jo[flip][:, jflip]
        parts[flip] = pflip[parts[flip]]
    if aug is not None:
        fgm = mask[:, None]
        bgr = torch.rand(B, generator=g) < aug.background
        if bgr.any():
            back = procedural_backgrounds(int(bgr.sum()), size, g)
            image[bgr] = fgm[bgr] * image[bgr] + (1 - fgm[bgr]) * back
        occ = torch.rand(B, generator=g) < aug.occluder
        for b in torch.nonzero(occ).flatten().tolist():
            w = int(_uniform(g, 1, 0.1, 0.45).item() * size)
            h = int(_uniform(g, 1, 0.1, 0.45).item() * size)
            x0 = int(torch.randint(0, size - w, (1,), generator=g))
            y0 = int(torch.randint(0, size - h, (1,), generator=g))
            image[b, :, y0:y0 + h, x0:x0 + w] = torch.rand(3, 1, 1, generator=g) * (0.8 + 0.4 * torch.rand(1, h, w, generator=g))
            mask[b, y0:y0 + h, x0:x0 + w] = 0
            parts[b, y0:y0 + h, x0:x0 + w] = 0
        bl = torch.rand(B, generator=g) < aug.blur
        if bl.any():
            image[bl] = _gaussian_blur(image[bl], _uniform(g, int(bl.sum()), *aug.blur_sigma))
        gain = _uniform(g, B, *aug.brightness)[:, None, None, None] * (
            1 + (torch.rand(B, 3, 1, 1, generator=g) * 2 - 1) * aug.channel_gain
        )
        mean = image.mean(dim=(1, 2, 3), keepdim=True)
        con = _uniform(g, B, *aug.contrast)[:, None, None, None]
        image = ((image - mean) * con + mean) * gain
        sig = _uniform(g, B, *aug.noise)[:, None, None, None]
        image = image + sig * torch.randn(image.shape, generator=g)
        image = image.clamp(0, 1)
    valid = (jo[..., 0] >= 0) & (jo[..., 0] <= size - 1) & (jo[..., 1] >= 0) & (jo[..., 1] <= size - 1)
    return {"image": image.contiguous(), "mask": mask, "parts": parts, "joints": jo, "joint_valid": valid}
