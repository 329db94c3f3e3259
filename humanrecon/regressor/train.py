"""Training of the SMPL regressor on part-map views rendered on the fly (resumable), evaluation and export.

Every step draws ``batch_size`` random bodies seen by ``views`` cameras each
(:class:`humanrecon.regressor.synthetic.ViewSampler`; nothing is read from disk, so the data are as
large as the run is long) and minimises, summed over the IEF iterations (weights ``iter_weights``):

==================  ==========================================================================  ========
term                definition                                                                    units
==================  ==========================================================================  ========
``joints3d``        mean distance of root-relative joints (camera axes) to the GT                 m
``vertices``        same over a 431-vertex subset of the skin                                      m
``rotations``       mean squared Frobenius distance of the 24 rotation matrices (root in camera)  -
``betas``           mean squared error of the 10 shape coefficients                               -
``joints2d``        mean L1 distance of the projected joints in the crop, / crop side            -
``camera``          \\|log z - log z_gt\\| of the root depth + L1 of its crop position / side       -
``multiview``       variance across the views of one body of the world root rotation, body       -
                    rotations, betas and world root position (m); the calibrated counterpart of
                    ImpHMR's imagined-view consistency
``pose_prior``      Gaussian pose prior (:mod:`humanrecon.bodyfit.priors`) / 69                    -
==================  ==========================================================================  ========

Learning rate: a cosine decay from ``lr`` to 0 over ``steps`` (100 warm-up steps), then one more cosine
cycle per entry ``(steps_k, lr_k)`` of ``restarts`` (warm restarts, SGDR: Loshchilov & Hutter, ICLR 2017)
on new data (batch ``k`` is drawn from ``(seed, k)``). The optimiser's moments are reset at the start of
every cycle, so the weights at the end of a cycle are all a later cycle needs:
:func:`seed_from_weights` starts a run's later cycles from exported weights (e.g. the shipped model)
exactly as an uninterrupted run would continue.

Checkpoints (model, optimiser, step, RNG state) are written atomically every ``checkpoint_every``
steps; a restarted run continues from the last one (the numpy pose RNG and the dropout masks are seeded
from ``(seed, step)``, so a resumed run draws the same data and ends with the same weights as an
uninterrupted one).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from humanrecon.bodymodel.skeleton import NUM_BODY_JOINTS
from humanrecon.io.checkpoint import export_weights_and_card, resume_checkpoint, save_checkpoint
from humanrecon.regressor.network import SMPLRegressor, camera_from_pelvis, pelvis_camera_position
from humanrecon.regressor.rotations import matrix_to_axis_angle, rot6d_to_matrix
from humanrecon.regressor.synthetic import Augment, Batch, SynthConfig, ViewSampler

log = logging.getLogger(__name__)

#: Default loss weights (dimensionless after the units of the module docstring).
DEFAULT_WEIGHTS = {
    "joints3d": 5.0, "vertices": 5.0, "rotations": 1.0, "betas": 0.05, "joints2d": 2.0, "camera": 1.0,
    "multiview": 1.0, "pose_prior": 1e-3,
}  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (config key ``training.regressor``)."""

    steps: int = 3000
    batch_size: int = 16          # bodies per step (x views = crops per step)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 50
    threads: int = 2
    iter_weights: tuple[float, ...] = (0.25, 0.5, 1.0)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    workers: int = 1              # processes rendering batches ahead of the optimiser (0: in the training loop)
    hidden: int = 512
    restarts: tuple[tuple[int, float], ...] = ()  # further cosine cycles (steps, peak lr) after the first
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    synth: SynthConfig = field(default_factory=SynthConfig)

    def cycles(self) -> list[tuple[int, int, float]]:
        """``(first step, steps, peak lr)`` of every cosine cycle: the first, then one per ``restarts`` entry."""
        out, start = [], 0
        for n, peak in [(self.steps, self.lr), *self.restarts]:
            out.append((start, int(n), float(peak)))
            start += int(n)
        return out

    @property
    def total_steps(self) -> int:
        """Steps of every cycle together."""
        first, n, _ = self.cycles()[-1]
        return first + n

    def cycle_starts(self) -> list[int]:
        """First step of each cycle (0 for the first)."""
        return [first for first, _, _ in self.cycles()]

    def learning_rate(self, step: int) -> float:
        """Learning rate of (0-based) ``step``: cosine within its cycle, 100 warm-up steps at each start; 0
        after the last cycle."""
        for first, n, peak in self.cycles():
            if step < first + n:
                k = step - first
                return peak * 0.5 * (1 + math.cos(math.pi * k / n)) * min(1.0, (k + 1) / 100.0)
        return 0.0

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        """From config ``training.regressor`` (a ``test`` key is ignored here)."""
        d = {k: v for k, v in (d or {}).items() if k not in ("test",)}
        synth = dict(d.pop("synth", {}) or {})
        if "augment" in synth:
            synth["augment"] = Augment(**synth["augment"])
        for k in ("distance", "height", "focal", "box_scale"):
            if k in synth:
                synth[k] = tuple(synth[k])
        for k in ("widths", "iter_weights"):
            if k in d:
                d[k] = tuple(d[k])
        if "restarts" in d:
            d["restarts"] = tuple((int(n), float(lr)) for n, lr in d["restarts"])
        if "weights" in d:
            d["weights"] = {**DEFAULT_WEIGHTS, **d["weights"]}
        return TrainConfig(**d, synth=SynthConfig(**synth))


#: ``--quick``: a few small steps, for tests and smoke runs.
QUICK = TrainConfig(steps=20, batch_size=4, checkpoint_every=10, widths=(16, 24, 32, 48, 64), hidden=128, synth=SynthConfig(size=64, views=2))


def make_model(cfg: TrainConfig) -> SMPLRegressor:
    from humanrecon.bodyfit.priors import gaussian_prior_params

    return SMPLRegressor(cfg.synth.size, cfg.widths, cfg.hidden, len(cfg.iter_weights), gaussian_prior_params()[0])


class LossTerms:
    """The loss terms of the module docstring for one batch (holds the body layer and vertex subset)."""

    def __init__(self, body_model, device: torch.device | str = "cpu", vertices: int = 431):
        from humanrecon.bodyfit.fit import TorchBody, vertex_subset

        self.body = TorchBody(body_model, vertex_subset(body_model, vertices), torch.float32, torch.device(device))

    def forward_body(self, rot: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Root-relative joints (N, 24, 3) and subset vertices (N, S, 3), axes of the root rotation's frame."""
        zero = torch.zeros(rot.shape[0], 3, dtype=rot.dtype, device=rot.device)
        j, v = self.body.forward_rotmat(betas, rot, zero, True)
        return j - j[:, :1], v - j[:, :1]

    def __call__(self, rot6d: torch.Tensor, betas: torch.Tensor, cam: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        rot = rot6d_to_matrix(rot6d)
        N, S = rot.shape[0], batch.inputs.shape[-1]
        j, v = self.forward_body(rot, betas)
        with torch.no_grad():
            jg, vg = self.forward_body(batch.rot, batch.betas)
        terms = {
            "joints3d": (j - batch.joints_rel).norm(dim=-1).mean(),
            "vertices": (v - vg).norm(dim=-1).mean(),
            "rotations": (rot - batch.rot).square().sum((-1, -2)).mean(),
            "betas": (betas - batch.betas).square().mean(),
        }
        uv, z = pelvis_camera_position(cam, batch.K_crop, S)
        gt_uv = batch.joints_crop[:, 0]
        terms["camera"] = (torch.log(z) - torch.log(batch.pelvis_cam[:, 2])).abs().mean() + (uv - gt_uv).abs().mean() / S
        p = camera_from_pelvis(uv, z, batch.K_crop)  # (N, 3) camera frame
        jc = j + p[:, None]
        proj = jc[..., :2] / jc[..., 2:3].clamp_min(0.1) * batch.K_crop[:, None, 0, 0, None] + batch.K_crop[:, None, :2, 2]
        terms["joints2d"] = (proj - batch.joints_crop).abs().mean() / S
        # multi-view consistency: views of one body agree in the world frame
        Vn = batch.views
        if Vn > 1:
            B = N // Vn
            Rw = batch.R_cam.transpose(1, 2) @ rot[:, 0]  # (N, 3, 3) world root orientation
            pw = torch.einsum("nji,nj->ni", batch.R_cam, p - batch.t_cam)  # (N, 3) world root position
            var = lambda x: (x.reshape(B, Vn, -1) - x.reshape(B, Vn, -1).mean(1, keepdim=True)).square().sum(-1).mean()  # noqa: E731
            terms["multiview"] = var(Rw) + var(rot[:, 1:]) / NUM_BODY_JOINTS + var(betas) / 10.0 + var(pw)
        else:
            terms["multiview"] = torch.zeros((), device=rot.device)
        from humanrecon.bodyfit.priors import gaussian_pose_prior

        aa = matrix_to_axis_angle(rot[:, 1:]).reshape(N, -1)
        terms["pose_prior"] = gaussian_pose_prior(aa).mean() / (3 * NUM_BODY_JOINTS)
        return terms


def train(body_model, workdir: str | Path, cfg: TrainConfig = TrainConfig(), progress: bool = True, device: str | None = None) -> Path:
    """Train (or resume) in ``workdir`` (checkpoint.pt, train_log.jsonl); returns the checkpoint path."""
    torch.set_num_threads(cfg.threads)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt, logf = workdir / "checkpoint.pt", workdir / "train_log.jsonl"
    torch.manual_seed(cfg.seed)
    model = make_model(cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    step = resume_checkpoint(ckpt, logf, model, opt, gen)
    losses = LossTerms(body_model, dev)
    model.train()
    t0 = time.perf_counter()
    batches = _BatchStream(body_model, cfg, step)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=cfg.workers,
                                         prefetch_factor=2 if cfg.workers else None, persistent_workers=False)
    starts = set(cfg.cycle_starts()[1:])
    for batch in loader:
        if step >= cfg.total_steps:
            break
        batch = batch.to(dev)
        if step in starts:  # a warm restart: fresh optimiser moments
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        lr = cfg.learning_rate(step)
        for gp in opt.param_groups:
            gp["lr"] = lr
        torch.manual_seed(int(np.random.default_rng([cfg.seed, step, 1]).integers(2**62)))  # dropout masks of this step
        out = model(batch.inputs)
        total = torch.zeros((), device=dev)
        for k, wk in enumerate(cfg.iter_weights):
            terms = losses(out.rot6d[k], out.betas[k], out.cam[k], batch)
            total = total + wk * sum(cfg.weights[n] * t for n, t in terms.items())
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        rec = {"step": step, "lr": lr, "loss": round(float(total.detach()), 5),
               **{n: round(float(t.detach()), 5) for n, t in terms.items()}, "s": round(time.perf_counter() - t0, 1)}  # fmt: skip
        with open(logf, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if progress and (step % 10 == 0 or step == cfg.total_steps):
            log.info("step %d/%d  loss %.4f  joints %.1f mm  vertices %.1f mm  %.1f s", step, cfg.total_steps, rec["loss"],
                     1000 * rec["joints3d"], 1000 * rec["vertices"], rec["s"])  # fmt: skip
        if step % cfg.checkpoint_every == 0 or step == cfg.total_steps or step in starts:
            save_checkpoint(ckpt, model, opt, step, gen, _jsonable(cfg))
    return ckpt


def seed_from_weights(weights: str | Path, workdir: str | Path, cfg: TrainConfig) -> int:
    """Start ``workdir``'s run at a cycle boundary from exported weights (``regressor.pt``), as if the
    run had trained to there itself: the weights' training config must be ``cfg``'s first cycles (same
    settings, ``steps`` and leading ``restarts``); the optimiser starts fresh, as every cycle does.
    Returns the step it starts at. Refuses a workdir that already has a checkpoint."""
    workdir = Path(workdir)
    ckpt = workdir / "checkpoint.pt"
    if ckpt.exists():
        raise ValueError(f"{ckpt} exists: the run is under way (delete the folder to start over)")
    state = torch.load(weights, map_location="cpu", weights_only=False)
    done = config_from_state(state["train_config"])
    operational = {"threads": cfg.threads, "workers": cfg.workers, "checkpoint_every": cfg.checkpoint_every}
    if done.restarts != cfg.restarts[: len(done.restarts)] or dataclasses.replace(done, restarts=cfg.restarts, **operational) != cfg:
        raise ValueError(
            f"{weights}: its training config is not the first cycles of this run's (training.regressor); "
            "only `restarts` may be added"
        )
    step = done.total_steps
    if step not in cfg.cycle_starts() or step >= cfg.total_steps:
        raise ValueError(f"{weights}: trained {step} steps, which is not the start of a later cycle of this run")
    model = make_model(cfg)
    model.load_state_dict(state["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    workdir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, model, opt, step, torch.Generator().manual_seed(cfg.seed), _jsonable(cfg))
    log.info("%s: run seeded at step %d of %d from %s", workdir, step, cfg.total_steps, weights)
    return step


class _BatchStream(torch.utils.data.IterableDataset):
    """The training batches of steps ``start``..``cfg.total_steps - 1``; batch ``k`` depends on ``(seed, k)`` only
    (numpy and torch generators seeded from both), so resumed, prefetched and in-loop runs see the same data."""

    def __init__(self, body_model, cfg: TrainConfig, start: int):
        self.body_model, self.cfg, self.start = body_model, cfg, start

    def __iter__(self):
        torch.set_num_threads(1)
        sampler = ViewSampler(self.body_model, self.cfg.synth, "cpu")
        for k in range(self.start, self.cfg.total_steps):
            rng = np.random.default_rng([self.cfg.seed, k])
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            yield sampler.sample(self.cfg.batch_size, rng, gen)


def _jsonable(cfg: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def config_from_state(d: dict) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint's ``config`` dict describes."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig.from_dict({k: v for k, v in d.items() if k in names})


def load_checkpoint_model(state: dict) -> SMPLRegressor:
    model = make_model(config_from_state(state["config"]))
    model.load_state_dict(state["model"])
    return model.eval()


#: Seed of the held-out synthetic views of the model card (training uses ``[seed, step]`` streams).
EVAL_SEED = 987_654


def evaluate(model: SMPLRegressor, body_model, synth: SynthConfig, bodies: int = 64, augment: bool = True,
             seed: int = EVAL_SEED) -> dict:
    """Per-view accuracy on ``bodies`` held-out random bodies x ``synth.views`` views: MPJPE and PA-MPJPE of
    the root-relative joints, PVE of the root-relative skin (mm), root depth error (%)."""
    from humanrecon.metrics import mpjpe_mm, pa_mpjpe_mm, pve_mm

    model.eval()
    dev = next(model.parameters()).device
    sampler = ViewSampler(body_model, synth, dev)
    losses = LossTerms(body_model, dev, vertices=body_model.num_surface_vertices)
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=dev).manual_seed(seed)
    mp, pa, pv, dz = [], [], [], []
    with torch.inference_mode():
        for start in range(0, bodies, 16):
            batch = sampler.sample(min(16, bodies - start), rng, gen, augment=augment)
            out = model(batch.inputs)
            j, v = losses.forward_body(out.rotmat, out.betas[-1])
            jg, vg = losses.forward_body(batch.rot, batch.betas)
            j, v, jg, vg = (x.double().cpu().numpy() for x in (j, v, jg, vg))
            mp.append(mpjpe_mm(j, jg, reduction="none"))
            pa.append(pa_mpjpe_mm(j, jg, reduction="none"))
            pv.append(pve_mm(v, vg, reduction="none"))
            _, z = pelvis_camera_position(out.cam[-1], batch.K_crop, batch.inputs.shape[-1])
            dz.append((100 * (z / batch.pelvis_cam[:, 2] - 1).abs()).cpu().numpy())
    mp, pa, pv, dz = (np.concatenate(x) for x in (mp, pa, pv, dz))
    return {"views": int(mp.size), "augmented": augment, "mpjpe_mm": float(mp.mean()), "pa_mpjpe_mm": float(pa.mean()),
            "pve_mm": float(pv.mean()), "root_depth_error_pct": float(dz.mean())}  # fmt: skip


def export_with_card(checkpoint: str | Path, body_model, output: str | Path, extra: dict | None = None) -> dict:
    """Evaluate a checkpoint on held-out synthetic views and write weights (``output``) + card (``output.json``)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = load_checkpoint_model(state)
    cfg = config_from_state(state["config"])
    metrics = {"clean": evaluate(model, body_model, cfg.synth, augment=False), "degraded": evaluate(model, body_model, cfg.synth, augment=True)}
    card = {
        "model": "humanrecon SMPL regressor (HMR-style: residual encoder over 12-part map + silhouette, 3 IEF iterations, 6D rotations; plain torch)",
        "input": f"person crop {cfg.synth.size}^2: one-hot 13-class part map + silhouette",
        "data": "part-map views of random SMPL-format bodies rendered on the fly (humanrecon.regressor.synthetic), "
                f"{state['step']} steps x {cfg.batch_size} bodies x {cfg.synth.views} views",
        "held_out_synthetic_views": metrics,
        "reproduce": "snakemake models/regressor/trained/regressor.pt (config.yaml: training.regressor), docs/regressor.md",
        **(extra or {}),
    }  # fmt: skip
    weights = {"model": state["model"], "hparams": model.hparams(), "train_config": state["config"]}
    export_weights_and_card(output, weights, card, state)
    return metrics


def train_and_export(body_model_path: str | Path, workdir: str | Path, output: str | Path, config: TrainConfig = TrainConfig()) -> dict:
    """Train (resuming in ``workdir``), evaluate and write weights + model card (rule train_regressor)."""
    from humanrecon.bodymodel.model import load_body_model

    bm = load_body_model(body_model_path, dtype="float32")
    return export_with_card(train(bm, workdir, config), bm, output)
