"""Training views for the regressor, rendered on the fly: part maps of random SMPL bodies seen by random cameras.

A batch holds ``B`` bodies, each seen by ``V`` cameras (``B * V`` views, view ``b * V + v``), so the
multi-view consistency loss can compare the views of one body. Per body:

* shape ``betas ~ N(0, beta_std^2)``; pose from the synthetic key-pose library
  (:func:`humanrecon.synth.poses.sample_pose`, Euler noise ``perturb_deg``, random mirroring) with a random
  heading and a small random lean of the root;
* cameras at ``distance`` metres and ``height`` metres above/below the body's centre, at random azimuths,
  looking at the centre (jittered), pinhole (the person crop of a studio image is nearly pinhole; the
  inference maps crop pixels through the real lens model).

Per view, the **person crop** is the square of ``box_scale`` x the longer side of the projected body's
box (jittered centre), ``size`` x ``size`` pixels; its intrinsics ``K_crop`` map normalised camera
coordinates to crop pixels. The 12-part map is a z-buffered splat of the posed skin vertices and face
centroids (about 10 points per pixel at 128^2; single-pixel gaps are filled from their neighbours).

Segmentations from the learned segmenter or background plates are not clean renders, and clothing and
hair enlarge the silhouette, so the maps are degraded (:class:`Augment`): a random smooth displacement
of the label boundaries, one part bleeding into its neighbours, a dilated (clothed) silhouette channel,
rectangular occluders and speckle.

Everything but the pose sampling is batched torch on ``device``; the generator is deterministic for a
given ``numpy`` seed and ``torch.Generator`` state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from humanrecon.bodymodel.skeleton import NUM_BETAS, NUM_PARTS
from humanrecon.regressor.rotations import axis_angle_to_matrix

#: Input channels of the regressor: one-hot of the 13 part classes (0 = background) and the silhouette.
NUM_INPUT_CHANNELS = NUM_PARTS + 2


@dataclass(frozen=True)
class Augment:
    """Degradations applied to rendered part maps (probabilities per view, sizes in crop pixels at 128^2)."""

    warp_px: float = 2.0            # max amplitude of the smooth boundary displacement
    bleed_prob: float = 0.5         # one random part dilated over its neighbours ...
    bleed_px: int = 3               # ... by up to this many pixels
    clothes_prob: float = 0.7       # silhouette channel dilated (clothing, hair) ...
    clothes_px: int = 6             # ... by up to this many pixels
    occluder_prob: float = 0.15     # a rectangle cut out of parts and silhouette
    speckle: float = 0.01           # fraction of pixels given a random part label
    drop_parts_prob: float = 0.05   # parts channel zeroed (silhouette only) for this fraction of views


@dataclass(frozen=True)
class SynthConfig:
    """Random bodies and cameras of a batch (units: metres, pixels of the crop)."""

    size: int = 128
    views: int = 4
    beta_std: float = 1.0
    perturb_deg: float = 15.0
    lean_deg: float = 8.0
    distance: tuple[float, float] = (2.2, 4.5)
    height: tuple[float, float] = (-0.6, 1.8)
    focal: tuple[float, float] = (1.0, 2.2)       # focal length / image half-width (FOV 49-90 deg)
    target_jitter: float = 0.15
    box_scale: tuple[float, float] = (1.1, 1.35)
    center_jitter: float = 0.05                    # fraction of the crop side
    augment: Augment = field(default_factory=Augment)


@dataclass
class Batch:
    """One batch of ``N = B * V`` views (torch tensors on one device).

    Attributes
    ----------
    inputs : (N, 14, S, S) float32
        One-hot part map (13 channels incl. background) and silhouette.
    parts : (N, S, S) uint8
        The clean rendered part map (before degradation).
    rot : (N, 24, 3, 3)
        GT rotations: root in the *camera* frame, joints 1..23 local (parent frame).
    betas : (N, 10)
    pelvis_cam : (N, 3)
        GT root-joint position in the camera frame, metres.
    joints_rel : (N, 24, 3)
        GT joints minus the root joint, camera axes, metres.
    joints_crop : (N, 24, 2)
        GT joints in crop pixels.
    K_crop : (N, 3, 3)
        Normalised camera coordinates -> crop pixels.
    R_cam : (N, 3, 3)
        World -> camera rotation of each view (world root orientation = ``R_cam^T rot[:, 0]``).
    t_cam : (N, 3)
    views : int
        V (views per body).
    """

    inputs: torch.Tensor
    parts: torch.Tensor
    rot: torch.Tensor
    betas: torch.Tensor
    pelvis_cam: torch.Tensor
    joints_rel: torch.Tensor
    joints_crop: torch.Tensor
    K_crop: torch.Tensor
    R_cam: torch.Tensor
    t_cam: torch.Tensor
    views: int

    def to(self, device: torch.device | str) -> Batch:
        """The batch on ``device``."""
        kw = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in self.__dict__.items()}
        return Batch(**kw)


def encode_inputs(parts: torch.Tensor, silhouette: torch.Tensor) -> torch.Tensor:
    """(N, S, S) part ids 0..12 and (N, S, S) silhouette {0, 1} -> (N, 14, S, S) float32 network input."""
    N, S1, S2 = parts.shape
    out = torch.zeros((N, NUM_INPUT_CHANNELS, S1, S2), dtype=torch.float32, device=parts.device)
    out.scatter_(1, parts.long().clamp(0, NUM_PARTS)[:, None], 1.0)
    out[:, NUM_PARTS + 1] = silhouette.float()
    return out


def _look_at(center: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched world->camera (R (N, 3, 3), t (N, 3)), y up in the world, y down in the image."""
    z = target - center
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)
    return R, -np.einsum("nij,nj->ni", R, center)


def splat_parts(
    uv: torch.Tensor, depth: torch.Tensor, labels: torch.Tensor, size: int, fill_holes: bool = True
) -> torch.Tensor:
    """Z-buffered point splat: the label of the nearest point in every pixel.

    Parameters
    ----------
    uv : (N, P, 2) crop pixels (centre of pixel (0, 0) at (0, 0))
    depth : (N, P) camera z, metres (points with z <= 0 are dropped)
    labels : (P,) part ids 1..12
    size : int
        Output side S.
    fill_holes : bool
        Empty pixels with at least 5 covered neighbours (3 x 3) take a neighbour's label.

    Returns
    -------
    (N, S, S) uint8 part map, 0 where no point lands.
    """
    N, P = depth.shape
    px = torch.round(uv).long()
    ok = (px[..., 0] >= 0) & (px[..., 0] < size) & (px[..., 1] >= 0) & (px[..., 1] < size) & (depth > 0)
    flat = (torch.arange(N, device=uv.device)[:, None] * (size * size) + px[..., 1] * size + px[..., 0])[ok]
    z = depth[ok]
    lab = labels.expand(N, P)[ok]
    zbuf = torch.full((N * size * size,), float("inf"), dtype=z.dtype, device=z.device)
    zbuf.scatter_reduce_(0, flat, z, reduce="amin")
    front = z <= zbuf[flat]
    out = torch.zeros(N * size * size, dtype=torch.uint8, device=uv.device)
    out[flat[front]] = lab[front].to(torch.uint8)
    out = out.reshape(N, size, size)
    if fill_holes:
        covered = (out > 0).float()[:, None]
        count = F.avg_pool2d(covered, 3, stride=1, padding=1) * 9.0
        neighbour = F.max_pool2d(out.float()[:, None], 3, stride=1, padding=1)[:, 0]  # a neighbour's label
        hole = (out == 0) & (count[:, 0] >= 5)
        out = torch.where(hole, neighbour.to(torch.uint8), out)
    return out


def _smooth_warp(parts: torch.Tensor, amp: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Displace label maps (N, S, S) by a smooth random field of amplitude ``amp`` (N,) pixels (nearest)."""
    N, S, _ = parts.shape
    coarse = torch.randn((N, 2, 6, 6), generator=gen, device=parts.device)
    field_ = F.interpolate(coarse, size=(S, S), mode="bicubic", align_corners=True)  # (N, 2, S, S)
    field_ = field_ / field_.flatten(1).abs().amax(1).clamp_min(1e-6)[:, None, None, None] * amp[:, None, None, None]
    ys, xs = torch.meshgrid(torch.arange(S, device=parts.device), torch.arange(S, device=parts.device), indexing="ij")
    gx = (xs[None] + field_[:, 0]) * (2.0 / (S - 1)) - 1.0
    gy = (ys[None] + field_[:, 1]) * (2.0 / (S - 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1).float()
    out = F.grid_sample(parts[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=True)
    return out[:, 0].to(torch.uint8)


def _dilate(mask: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Dilate (N, S, S) {0,1} masks by per-view radii (N,) ints (square structuring element)."""
    out = mask.clone()
    r_max = int(radius.max().item()) if radius.numel() else 0
    cur = mask.float()[:, None]
    for r in range(1, r_max + 1):
        cur = F.max_pool2d(cur, 3, stride=1, padding=1)
        sel = radius >= r
        out[sel] = cur[sel, 0].to(out.dtype)
    return out


def degrade(parts: torch.Tensor, aug: Augment, gen: torch.Generator, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Degraded part maps and silhouettes of clean part maps (N, S, S) (:class:`Augment`; ``scale`` =
    S / 128 scales the pixel sizes). Returns ``(parts (N, S, S) uint8, silhouette (N, S, S) uint8)``."""
    N, S, _ = parts.shape
    dev = parts.device
    rnd = lambda *shape: torch.rand(shape, generator=gen, device=dev)  # noqa: E731
    out = _smooth_warp(parts, rnd(N) * aug.warp_px * scale, gen) if aug.warp_px > 0 else parts.clone()
    sil = (out > 0).to(torch.uint8)
    # one part bleeds over its neighbours (a segmenter's typical confusion), inside the silhouette
    bleed = rnd(N) < aug.bleed_prob
    if bleed.any():
        which = torch.randint(1, NUM_PARTS + 1, (N,), generator=gen, device=dev)
        radius = torch.where(bleed, torch.randint(1, max(2, int(round(aug.bleed_px * scale)) + 1), (N,), generator=gen, device=dev), 0)
        grown = _dilate((out == which[:, None, None]).to(torch.uint8), radius)
        out = torch.where((grown > 0) & (sil > 0), which[:, None, None].to(torch.uint8), out)
    # clothing and hair: the silhouette grows beyond the body's parts
    clothes = rnd(N) < aug.clothes_prob
    radius = torch.where(clothes, torch.randint(0, max(1, int(round(aug.clothes_px * scale))) + 1, (N,), generator=gen, device=dev), 0)
    sil = _dilate(sil, radius)
    # occluders: rectangles removed from both
    occ = rnd(N) < aug.occluder_prob
    if occ.any():
        ys = torch.arange(S, device=dev)[None, :, None]
        xs = torch.arange(S, device=dev)[None, None, :]
        c = rnd(N, 2) * S
        half = (0.08 + 0.17 * rnd(N, 2)) * S
        box = (
            ((xs - c[:, 0, None, None]).abs() < half[:, 0, None, None])
            & ((ys - c[:, 1, None, None]).abs() < half[:, 1, None, None])
            & occ[:, None, None]
        )
        out = torch.where(box, torch.zeros_like(out), out)
        sil = torch.where(box, torch.zeros_like(sil), sil)
    if aug.speckle > 0:
        spk = (rnd(N, S, S) < aug.speckle) & (sil > 0)
        out = torch.where(spk, torch.randint(1, NUM_PARTS + 1, (N, S, S), generator=gen, device=dev).to(torch.uint8), out)
    drop = rnd(N) < aug.drop_parts_prob
    out = torch.where(drop[:, None, None], torch.zeros_like(out), out)
    return out, sil


class ViewSampler:
    """Draws :class:`Batch` es of random bodies and views (module docstring).

    Parameters
    ----------
    body_model : humanrecon.bodymodel.model.BodyModel
    config : SynthConfig
    device : torch.device
    """

    def __init__(self, body_model, config: SynthConfig = SynthConfig(), device: torch.device | str = "cpu"):
        from humanrecon.bodyfit.fit import TorchBody

        self.cfg = config
        self.device = torch.device(device)
        Vs = int(body_model.num_surface_vertices)
        self.body = TorchBody(body_model, np.arange(Vs), torch.float32, self.device)
        self.faces = torch.as_tensor(np.asarray(body_model.faces), dtype=torch.long, device=self.device)
        vlab = torch.as_tensor(np.asarray(body_model.part_labels[:Vs]), dtype=torch.long, device=self.device)
        # face label: majority of its vertices (the first vertex's label on a three-way tie)
        fl = vlab[self.faces]
        flab = torch.where(fl[:, 1] == fl[:, 2], fl[:, 1], fl[:, 0])
        self.labels = torch.cat([vlab, flab])

    def sample(self, batch_size: int, rng: np.random.Generator, gen: torch.Generator, augment: bool = True) -> Batch:
        """``batch_size`` bodies x ``config.views`` views."""
        from humanrecon.synth.poses import compose_heading, sample_pose

        cfg, dev, B, V = self.cfg, self.device, batch_size, self.cfg.views
        N = B * V
        pose = np.stack([sample_pose(rng, perturb_deg=cfg.perturb_deg) for _ in range(B)])  # (B, 24, 3)
        lean = rng.normal(0.0, np.deg2rad(cfg.lean_deg) / 2.0, (B, 3)) * np.array([1.0, 0.0, 1.0])
        pose[:, 0] = compose_heading(lean, rng.uniform(-np.pi, np.pi, B))
        betas = rng.normal(0.0, cfg.beta_std, (B, NUM_BETAS))
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)  # noqa: E731
        rot_w = axis_angle_to_matrix(t(pose))  # (B, 24, 3, 3), root in world
        with torch.no_grad():
            joints, verts = self.body.forward_rotmat(t(betas), rot_w, torch.zeros(B, 3, device=dev), True)
        pts = torch.cat([verts, verts[:, self.faces].mean(2)], dim=1)  # (B, P, 3): vertices + face centroids
        centre = 0.5 * (verts.amin(1) + verts.amax(1)).cpu().numpy().astype(np.float64)  # (B, 3)

        # cameras: V per body, random azimuth / distance / height, looking at the jittered centre
        az = rng.uniform(0, 2 * np.pi, (B, V))
        dist = rng.uniform(*cfg.distance, (B, V))
        h = rng.uniform(*cfg.height, (B, V))
        cpos = np.repeat(centre[:, None], V, 1) + np.stack([dist * np.sin(az), h, dist * np.cos(az)], -1)
        target = np.repeat(centre[:, None], V, 1) + rng.normal(0.0, cfg.target_jitter / 2.0, (B, V, 3))
        R, tc = _look_at(cpos.reshape(N, 3), target.reshape(N, 3))
        R_t, t_t = t(R), t(tc)
        pts_v = pts.repeat_interleave(V, 0)  # (N, P, 3)
        Xc = torch.einsum("nij,npj->npi", R_t, pts_v) + t_t[:, None]
        z = Xc[..., 2]
        xy = Xc[..., :2] / z.clamp_min(1e-3)[..., None]
        # person crop in normalised coordinates: square of box_scale x the box's longer side, jittered
        nv = verts.shape[1]
        lo, hi = xy[:, :nv].amin(1), xy[:, :nv].amax(1)  # skin vertices only
        side = (hi - lo).amax(1) * t(rng.uniform(*cfg.box_scale, N))
        ctr = 0.5 * (lo + hi) + t(rng.uniform(-1, 1, (N, 2))) * cfg.center_jitter * side[:, None]
        S = cfg.size
        f = S / side
        K = torch.zeros(N, 3, 3, device=dev)
        K[:, 0, 0] = f
        K[:, 1, 1] = f
        K[:, 0, 2] = (S - 1) / 2.0 - f * ctr[:, 0]
        K[:, 1, 2] = (S - 1) / 2.0 - f * ctr[:, 1]
        K[:, 2, 2] = 1.0
        uv = xy * f[:, None, None] + K[:, None, :2, 2]
        parts = splat_parts(uv, z, self.labels, S)

        # targets
        jw = joints.repeat_interleave(V, 0)  # (N, 24, 3) world (transl 0)
        jc = torch.einsum("nij,nkj->nki", R_t, jw) + t_t[:, None]
        rot_c = rot_w.repeat_interleave(V, 0).clone()
        rot_c[:, 0] = R_t @ rot_c[:, 0]
        jcrop = jc[..., :2] / jc[..., 2:3] * f[:, None, None] + K[:, None, :2, 2]
        if augment:
            dparts, sil = degrade(parts, cfg.augment, gen, scale=S / 128.0)
        else:
            dparts, sil = parts, (parts > 0).to(torch.uint8)
        return Batch(
            inputs=encode_inputs(dparts, sil),
            parts=parts,
            rot=rot_c,
            betas=t(betas).repeat_interleave(V, 0),
            pelvis_cam=jc[:, 0],
            joints_rel=jc - jc[:, :1],
            joints_crop=jcrop,
            K_crop=K,
            R_cam=R_t,
            t_cam=t_t,
            views=V,
        )


__all__ = [
    "NUM_INPUT_CHANNELS",
    "Augment",
    "Batch",
    "SynthConfig",
    "ViewSampler",
    "degrade",
    "encode_inputs",
    "splat_parts",
]
