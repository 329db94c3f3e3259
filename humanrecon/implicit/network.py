"""Multi-view implicit occupancy network (PIFu family, multi-scale features; Li, Oskarsson, Heyden).

Per view an image encoder turns the person crop (RGB + silhouette, 4 x S x S) into a feature pyramid:
four maps at strides 2, 4, 8 and 16 (local detail at fine scales, context at coarse ones) and a global
vector (average of the coarsest map). A 3-D query point is projected into every view with the
calibration (lens distortion included, :func:`humanrecon.implicit.views.project`); at its pixel the
network samples every map bilinearly, the full-resolution silhouette and its signed distance, and appends
the point's depth relative to the person's centre in that camera. A per-view MLP embeds these; the
embeddings of the views that see the point are fused by mean and standard deviation
(permutation-invariant, any number of cameras); a second MLP maps the fused vector and the point's
visual-hull value (the minimum of the silhouette samples) to an occupancy logit. A body-conditioned
network (``NetConfig.body_features``) also appends the point's features of the fitted body
(:mod:`humanrecon.implicit.body`) to the head's input.

Views that do not see a point (behind the camera, outside the distortion model's valid radius or the
image) are left out of the fusion and carve it in the hull value, as in the visual hull's ``carve``
policy. A point no view sees gets a fused vector of zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from humanrecon.implicit.body import BODY_FEATURES, BodyConditioningError
from humanrecon.implicit.views import ImplicitInputError, Views, project

#: Per-view point features appended to the sampled feature maps and the view's global vector: the
#: full-resolution RGB at the point's pixel (3), silhouette value, signed distance, relative depth.
GEOMETRIC_FEATURES = 6
#: Relative depth is divided by this (metres) before entering the network.
DEPTH_SCALE = 0.5


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(min(8, cout // 4), cout), nn.ReLU(inplace=True))


@dataclass(frozen=True)
class NetConfig:
    """Architecture (stored with the weights)."""

    widths: tuple[int, int, int, int] = (16, 32, 64, 96)
    view_hidden: int = 128
    view_dim: int = 64
    hidden: int = 128
    crop_size: int = 256
    #: condition on the fitted body (:mod:`humanrecon.implicit.body` features enter the head)
    body_features: bool = False


class Encoder(nn.Module):
    """(n, 4, S, S) crops -> four feature maps (strides 2, 4, 8, 16) and a global vector (n, widths[-1])."""

    def __init__(self, widths: tuple[int, int, int, int]):
        super().__init__()
        w = widths
        self.stages = nn.ModuleList([
            nn.Sequential(_cbr(4, w[0], 2), _cbr(w[0], w[0])),
            nn.Sequential(_cbr(w[0], w[1], 2), _cbr(w[1], w[1])),
            nn.Sequential(_cbr(w[1], w[2], 2), _cbr(w[2], w[2])),
            nn.Sequential(_cbr(w[2], w[3], 2), _cbr(w[3], w[3]), _cbr(w[3], w[3])),
        ])  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps, x.mean(dim=(2, 3))


@dataclass
class Encoded:
    """Encoded views of B frames: feature maps (B*V, C_i, h_i, w_i), global (B, V, G) and the views."""

    maps: list[torch.Tensor]
    glob: torch.Tensor
    views: Views


class ImplicitNet(nn.Module):
    """Occupancy logits of 3-D points from V calibrated views (see the module docstring)."""

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        self.config = config
        w = config.widths
        self.encoder = Encoder(w)
        fin = sum(w) + w[-1] + GEOMETRIC_FEATURES
        self.view_mlp = nn.Sequential(
            nn.Linear(fin, config.view_hidden), nn.ReLU(inplace=True),
            nn.Linear(config.view_hidden, config.view_dim), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Linear(2 * config.view_dim + 1 + (BODY_FEATURES if config.body_features else 0), config.hidden), nn.ReLU(inplace=True),
            nn.Linear(config.hidden, config.hidden // 2), nn.ReLU(inplace=True),
            nn.Linear(config.hidden // 2, 1),
        )  # fmt: skip

    def encode(self, views: Views) -> Encoded:
        """Run the image encoder on batched views (B, V, ...) (unbatched views are treated as B = 1)."""
        if views.image.dim() == 4:
            views = Views(*(getattr(views, k)[None] for k in Views.FIELDS))
        B, V, C, S, S2 = views.image.shape
        if C != 4 or S != S2 or S != self.config.crop_size:
            raise ImplicitInputError(
                f"view crops must be (B, V, 4, {self.config.crop_size}, {self.config.crop_size}) (RGB + silhouette), "
                f"got {tuple(views.image.shape)}"
            )
        maps, glob = self.encoder(views.image.reshape(B * V, C, S, S))
        return Encoded(maps, glob.reshape(B, V, -1), views)

    def query(self, enc: Encoded, points: torch.Tensor, body: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Occupancy logits (B, N) and visual-hull values (B, N) of world points (B, N, 3) metres;
        ``body`` (B, N, BODY_FEATURES): the points' body features, required by (and only accepted by) a
        body-conditioned network."""
        v = enc.views
        self._check_body(points, body)
        B, V = v.image.shape[:2]
        N = points.shape[1]
        u, vv, z, valid = project(points.to(v.K.dtype), v.K, v.dist, v.R, v.t, v.r2max)  # (B, V, N)
        W, H = v.size[..., 0, None], v.size[..., 1, None]
        seen = valid & (u >= -0.5) & (u < W - 0.5) & (vv >= -0.5) & (vv < H - 0.5)
        # crop pixels (no rotation in the crop map) -> grid_sample's normalised coordinates
        S = self.config.crop_size
        uc = v.crop[..., 0, 0, None] * u + v.crop[..., 0, 2, None]
        vc = v.crop[..., 1, 1, None] * vv + v.crop[..., 1, 2, None]
        grid = torch.stack([(2 * uc + 1) / S - 1, (2 * vc + 1) / S - 1], dim=-1).float().reshape(B * V, N, 1, 2)
        feats = [F.grid_sample(m, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0] for m in enc.maps]
        gfull = torch.stack([(2 * u + 1) / W - 1, (2 * vv + 1) / H - 1], dim=-1).float().reshape(B * V, N, 1, 2)
        msk = F.grid_sample(v.mask.reshape(B * V, 1, *v.mask.shape[-2:]), gfull, align_corners=False, padding_mode="border")[:, 0, :, 0]
        sdf = F.grid_sample(v.sdf.reshape(B * V, 1, *v.sdf.shape[-2:]), gfull, align_corners=False, padding_mode="border")[:, 0, :, 0]
        rgb = F.grid_sample(v.rgb.reshape(B * V, 3, *v.rgb.shape[-2:]), gfull, align_corners=False, padding_mode="border")[..., 0]
        seen_f = seen.reshape(B * V, N).float()
        msk = msk * seen_f
        dz = ((z - v.z_ref[..., None]) / DEPTH_SCALE).float().reshape(B * V, N) * seen_f
        x = torch.cat(
            [torch.cat(feats, dim=1).transpose(1, 2), enc.glob.reshape(B * V, 1, -1).expand(-1, N, -1),
             (rgb * seen_f[:, None]).transpose(1, 2), torch.stack([msk, sdf * seen_f, dz], dim=-1)], dim=-1,
        )  # fmt: skip
        h = self.view_mlp(x).reshape(B, V, N, -1)
        w = seen.float()[..., None]  # (B, V, N, 1)
        cnt = w.sum(dim=1).clamp(min=1.0)
        mean = (h * w).sum(dim=1) / cnt
        std = torch.sqrt(((h - mean[:, None]) ** 2 * w).sum(dim=1) / cnt + 1e-6)
        hull = msk.reshape(B, V, N).amin(dim=1)
        head_in = [mean, std, hull[..., None]] + ([body.to(mean.dtype)] if body is not None else [])
        logits = self.head(torch.cat(head_in, dim=-1))[..., 0]
        return logits, hull

    def forward(self, views: Views, points: torch.Tensor, body: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.query(self.encode(views), points, body)

    def _check_body(self, points: torch.Tensor, body: torch.Tensor | None) -> None:
        if self.config.body_features and body is None:
            raise BodyConditioningError(
                "this implicit network is conditioned on the fitted body: give it the body features "
                "(occupancy.body: true, which needs body_fit.enabled)"
            )
        if not self.config.body_features and body is not None:
            raise BodyConditioningError("this implicit network was trained without the body: do not pass body features (occupancy.body: false)")
        if body is not None and tuple(body.shape) != (*points.shape[:2], BODY_FEATURES):
            raise BodyConditioningError(f"body features must be (B, N, {BODY_FEATURES}) for points {tuple(points.shape)}, got {tuple(body.shape)}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
