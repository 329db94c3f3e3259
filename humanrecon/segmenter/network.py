"""The learned segmenter: a small encoder-decoder (U-Net family) with three heads, in plain torch.

Input: a person crop, ``(B, 3, S, S)`` float RGB in [0, 1] (``S = 256`` for the shipped model; any
multiple of 32 works). Outputs (:class:`SegmenterOutput`), all in the crop's pixel frame (pixel centres
at integer coordinates, :mod:`humanrecon.conventions`):

* ``fg_logits`` ``(B, 1, S, S)``: person vs background;
* ``part_logits`` ``(B, 13, S, S)``: background + the 12 parts of :data:`humanrecon.bodymodel.skeleton.PART_NAMES`
  (class ``k`` is part id ``k``);
* ``heatmaps`` ``(B, 24, S/4, S/4)``: one logit map per SMPL joint; ``joints`` ``(B, 24, 2)`` are, in
  training mode, their soft-argmax (expected position under the spatial softmax, sub-pixel; the L1 loss
  needs it differentiable) and in eval mode :func:`decode_joints` (the mean near the peak, left/right
  pairs kept on two limbs), in crop pixels; ``confidence`` ``(B, 24)`` the softmax mass within two
  heatmap cells of the position (1 = certain, ~0 = flat).

Architecture: stride-2 stem, four stride-2 encoder stages (widths ``(16, 24, 48, 80, 128)``) with a
global-context term at 1/32 (mean-pooled features added back), and a decoder that upsamples and fuses
the skip connections (one conv each) back to 1/4 resolution, where the joint head lives, and 1/2, where
the segmentation head lives (its logits upsampled x2, bilinear; with ``seg_channels > 0`` it is a 3x3
conv over the 1/2 features and the upsampled 1/4 features, see :class:`SegmenterNet`). BatchNorm statistics are frozen in ``eval()`` mode, as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from humanrecon.bodymodel.skeleton import MIRROR, NUM_JOINTS, NUM_PARTS

#: Classes of the part head: background (0) and the 12 parts (1..12).
NUM_PART_CLASSES = NUM_PARTS + 1
#: Input side length of the shipped model, pixels.
INPUT_SIZE = 256
#: Side lengths must be multiples of this (five stride-2 stages).
SIZE_MULTIPLE = 32
#: Input pixels per heatmap cell (the joint head works at quarter resolution).
HEATMAP_STRIDE = 4


class SegmenterInputError(ValueError):
    """The network was given an input of the wrong shape, type or range; the message says which."""


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Up(nn.Module):
    """Upsample x2 (bilinear), concatenate the skip, one 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = _cbr(cin + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


@dataclass
class SegmenterOutput:
    fg_logits: torch.Tensor  # (B, 1, S, S)
    part_logits: torch.Tensor  # (B, 13, S, S)
    heatmaps: torch.Tensor  # (B, 24, S/4, S/4)
    joints: torch.Tensor  # (B, 24, 2) crop pixels (u, v)
    confidence: torch.Tensor  # (B, 24) in [0, 1]


def soft_argmax(heatmaps: torch.Tensor, stride: int = HEATMAP_STRIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected pixel position and peak confidence of each heatmap.

    Parameters
    ----------
    heatmaps : (B, J, h, w) logits; cell ``(i, j)`` covers input pixels ``[stride*j, stride*(j+1))`` in u.

    Returns
    -------
    joints : (B, J, 2) float, input pixels (u, v), pixel centres at integers: cell ``j`` is centred at
        ``stride * j + (stride - 1) / 2``.
    confidence : (B, J) softmax mass within two cells (Chebyshev) of the most likely cell.
    """
    B, J, h, w = heatmaps.shape
    p = torch.softmax(heatmaps.reshape(B, J, h * w).float(), dim=-1).reshape(B, J, h, w)
    off = (stride - 1) / 2.0
    us = torch.arange(w, dtype=p.dtype, device=p.device) * stride + off
    vs = torch.arange(h, dtype=p.dtype, device=p.device) * stride + off
    u = (p.sum(dim=2) * us).sum(dim=-1)
    v = (p.sum(dim=3) * vs).sum(dim=-1)
    pooled = F.avg_pool2d(p, 5, stride=1, padding=2, count_include_pad=True) * 25.0
    conf = pooled.reshape(B, J, -1).amax(dim=-1).clamp(0.0, 1.0)
    return torch.stack([u, v], dim=-1), conf


def _window(index: torch.Tensor, h: int, w: int, radius: int) -> torch.Tensor:
    """(..., h, w) bool: cells within ``radius`` (Chebyshev) of the flat cell ``index`` (...)."""
    py, px = (index // w)[..., None, None], (index % w)[..., None, None]
    ys = torch.arange(h, device=index.device)[:, None]
    xs = torch.arange(w, device=index.device)[None, :]
    return ((ys - py).abs() <= radius) & ((xs - px).abs() <= radius)


def _local_mean(p: torch.Tensor, win: torch.Tensor, stride: int) -> torch.Tensor:
    """(..., 2) expected input pixel (u, v) of ``p`` (..., h, w) restricted to the window ``win``."""
    h, w = p.shape[-2:]
    q = p * win
    q = q / q.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    off = (stride - 1) / 2.0
    us = torch.arange(w, dtype=p.dtype, device=p.device) * stride + off
    vs = torch.arange(h, dtype=p.dtype, device=p.device) * stride + off
    return torch.stack([(q.sum(dim=-2) * us).sum(-1), (q.sum(dim=-1) * vs).sum(-1)], dim=-1)


#: Left joints of the left/right pairs (their mirror partners are ``MIRROR[j]``).
_LEFT = tuple(j for j, m in enumerate(MIRROR) if m > j)
_RIGHT = tuple(MIRROR[j] for j in _LEFT)


def decode_joints(
    heatmaps: torch.Tensor, stride: int = HEATMAP_STRIDE, radius: int = 2, min_second: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint positions and confidences that stay on a body part when left and right are uncertain.

    A network unsure whether it sees the person's front or back puts each left/right joint's heatmap on
    *both* limbs; the soft-argmax of such a map is the point between them, on no limb at all (measured on
    held-out views: 99 % of the pairs more than 30 px apart). Here every map is decoded at its peak: the
    softmax-weighted mean within ``radius`` cells (Chebyshev) of the most likely cell. For each left/right
    pair the summed map is searched for two peaks (the second at least ``radius + 2`` cells from the first
    and with at least ``min_second`` x its mass); when there are two, the pair is assigned to them the way
    that puts more of each joint's own mass at its peak, so the two joints land on two limbs (possibly the
    wrong way round: the multi-view stage resolves that, :mod:`humanrecon.bodyfit.triangulate`).

    Parameters
    ----------
    heatmaps : (B, 24, h, w) logits.

    Returns
    -------
    joints : (B, 24, 2) input pixels (u, v), pixel centres at integers.
    confidence : (B, 24) the joint's own softmax mass in the window of its position.
    """
    B, J, h, w = heatmaps.shape
    p = torch.softmax(heatmaps.reshape(B, J, h * w).float(), dim=-1).reshape(B, J, h, w)
    win = _window(p.reshape(B, J, -1).argmax(dim=-1), h, w, radius)
    joints = _local_mean(p, win, stride)
    conf = (p * win).sum(dim=(-2, -1))
    if J != len(MIRROR):
        return joints, conf.clamp(0.0, 1.0)
    L, R = list(_LEFT), list(_RIGHT)
    pl, pr = p[:, L], p[:, R]
    S = pl + pr  # (B, P, h, w)
    k1 = S.reshape(B, len(L), -1).argmax(dim=-1)
    w1 = _window(k1, h, w, radius)
    k2 = S.masked_fill(_window(k1, h, w, radius + 1), -1.0).reshape(B, len(L), -1).argmax(dim=-1)
    w2 = _window(k2, h, w, radius)
    mass = lambda q, win_: (q * win_).sum(dim=(-2, -1))  # noqa: E731
    two = mass(S, w2) >= min_second * mass(S, w1)
    l1, l2, r1, r2 = mass(pl, w1), mass(pl, w2), mass(pr, w1), mass(pr, w2)
    straight = (l1 + r2) >= (l2 + r1)
    at1, at2 = _local_mean(S, w1, stride), _local_mean(S, w2, stride)
    st = straight[..., None]
    jl = torch.where(two[..., None], torch.where(st, at1, at2), joints[:, L])
    jr = torch.where(two[..., None], torch.where(st, at2, at1), joints[:, R])
    cl = torch.where(two, torch.where(straight, l1, l2), conf[:, L])
    cr = torch.where(two, torch.where(straight, r2, r1), conf[:, R])
    joints, conf = joints.clone(), conf.clone()
    joints[:, L], joints[:, R], conf[:, L], conf[:, R] = jl, jr, cl, cr
    return joints, conf.clamp(0.0, 1.0)


class SegmenterNet(nn.Module):
    """Silhouette, 12-part and 24-joint network (see the module docstring).

    Parameters
    ----------
    widths : tuple of 5 ints
        Channels of the stem and the four encoder stages.
    seg_channels : int
        0 (the original head, kept for older weights): the segmentation logits are a 1x1 conv of the
        ``widths[0]``-channel 1/2-resolution decoder features, too narrow a bottleneck for 14 outputs
        (the network cannot even fit its training views' part maps). > 0: a 3x3 conv-BN-ReLU of that many
        channels over those features concatenated with the upsampled 1/4-resolution features (which carry
        the part identity the joint head uses), then the 1x1 conv.
    """

    def __init__(self, widths: tuple[int, int, int, int, int] = (16, 24, 48, 80, 128), seg_channels: int = 0):
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.widths = tuple(widths)
        self.seg_channels = int(seg_channels)
        self.stem = nn.Sequential(_cbr(3, w0, 2), _cbr(w0, w0))  # 1/2
        self.enc1 = nn.Sequential(_cbr(w0, w1, 2), _cbr(w1, w1))  # 1/4
        self.enc2 = nn.Sequential(_cbr(w1, w2, 2), _cbr(w2, w2))  # 1/8
        self.enc3 = nn.Sequential(_cbr(w2, w3, 2), _cbr(w3, w3))  # 1/16
        self.enc4 = nn.Sequential(_cbr(w3, w4, 2), _cbr(w4, w4))  # 1/32
        self.context = nn.Sequential(nn.Linear(w4, w4), nn.ReLU(inplace=True))
        self.dec3 = _Up(w4, w3, w3)
        self.dec2 = _Up(w3, w2, w2)
        self.dec1 = _Up(w2, w1, w1)
        self.dec0 = _Up(w1, w0, w0)
        if self.seg_channels > 0:
            self.seg_head = nn.Sequential(_cbr(w0 + w1, self.seg_channels), nn.Conv2d(self.seg_channels, 1 + NUM_PART_CLASSES, 1))
        else:
            self.seg_head = nn.Conv2d(w0, 1 + NUM_PART_CLASSES, 1)
        self.joint_head = nn.Sequential(_cbr(w1, w1), nn.Conv2d(w1, NUM_JOINTS, 1))
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def check_input(x: torch.Tensor) -> None:
        """Raise :class:`SegmenterInputError` unless ``x`` is ``(B, 3, S, S)`` float, ``S % 32 == 0``."""
        if not isinstance(x, torch.Tensor):
            raise SegmenterInputError(f"segmenter input must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4:
            raise SegmenterInputError(f"segmenter input must be (B, 3, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] != 3:
            raise SegmenterInputError(
                f"segmenter input must have 3 channels (RGB), got {x.shape[1]} (shape {tuple(x.shape)}); "
                "convert grey or RGBA images to RGB first"
            )
        H, W = x.shape[-2:]
        if H != W or H % SIZE_MULTIPLE or H < SIZE_MULTIPLE:
            raise SegmenterInputError(
                f"segmenter input must be square with a side that is a multiple of {SIZE_MULTIPLE} "
                f"(the shipped model expects {INPUT_SIZE}x{INPUT_SIZE}), got {W}x{H}; crop and resize the "
                "person first (humanrecon.segmenter.crops)"
            )
        if not torch.is_floating_point(x):
            raise SegmenterInputError(f"segmenter input must be float RGB in [0, 1], got dtype {x.dtype}")

    def forward(self, x: torch.Tensor) -> SegmenterOutput:
        self.check_input(x)
        x = (x - self.mean) / self.std
        s0 = self.stem(x)
        s1 = self.enc1(s0)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        s4 = self.enc4(s3)
        s4 = s4 + self.context(s4.mean(dim=(2, 3)))[:, :, None, None]
        d = self.dec3(s4, s3)
        d = self.dec2(d, s2)
        d1 = self.dec1(d, s1)  # 1/4 resolution: joints
        d0 = self.dec0(d1, s0)  # 1/2 resolution: segmentation
        if self.seg_channels > 0:
            d0 = torch.cat([d0, F.interpolate(d1, size=d0.shape[-2:], mode="bilinear", align_corners=False)], dim=1)
        seg = F.interpolate(self.seg_head(d0), scale_factor=2, mode="bilinear", align_corners=False)
        heat = self.joint_head(d1)
        # training: the differentiable soft-argmax (its L1 loss); inference: peaks that stay on a limb
        joints, conf = soft_argmax(heat, HEATMAP_STRIDE) if self.training else decode_joints(heat, HEATMAP_STRIDE)
        return SegmenterOutput(seg[:, :1], seg[:, 1:], heat, joints, conf)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
