"""Training of the implicit occupancy network on synthetic shards (resumable), evaluation and export.

Each step draws ``batch_size`` samples, for each a random subset of ``min_views``..``max_views`` of its
cameras (one count per step, so views stack; one model serves every rig) and ``points_per_sample`` of
its labelled query points, and minimises the binary cross-entropy between the predicted occupancy
logits and the GT labels (the seed's loss) over the points inside the visual hull of the chosen views
(outside it the reconstruction is 0 whatever the network says, :mod:`humanrecon.implicit.infer`).
Colour jitter per view (gain, per-channel gain) keeps the image features from keying on the renderer's
exact lighting.

A body-conditioned network (``net.body_features``) also gets, per point, the features of the sample's GT
SMPL body posed with parameter noise (``body_noise``, :class:`humanrecon.implicit.body.BodyNoise`: the
errors of a fitted body), drawn afresh every step.

A run can start from exported weights (``init_weights``, fine-tuning): every tensor is copied, and a
body-conditioned network started from unconditioned weights gets zero weights on the body features'
head inputs, so its first step computes exactly what the given network does and training adds the body.

Checkpoints (model, optimiser, step, RNG state) are written atomically every ``checkpoint_every`` steps;
a restarted run continues from the last one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from humanrecon.implicit.body import BODY_FEATURES, BodyNoise, BodyPoser
from humanrecon.implicit.data import Sample, load_samples, sample_views, shard_files
from humanrecon.implicit.network import ImplicitNet, NetConfig
from humanrecon.implicit.views import Views, stack
from humanrecon.io.checkpoint import export_weights_and_card, resume_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (config key ``training.implicit``)."""

    steps: int = 2000
    batch_size: int = 2
    points_per_sample: int = 4096
    min_views: int = 3
    max_views: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    checkpoint_every: int = 50
    threads: int = 2
    jitter: float = 0.08
    #: share of each sample's points drawn from its uniform (not near-surface) points, as far as it has
    #: them; None: drawn at random from all (the shards' 1:16). Uniform points inside the chosen views'
    #: hull but outside the person are the phantom volume the network must carve.
    uniform_share: float | None = None
    net: NetConfig = field(default_factory=NetConfig)
    #: body-conditioned networks: the body model posing the samples' SMPL parameters, and their noise
    body_model: str = "resources/body_models"
    body_noise: BodyNoise = field(default_factory=BodyNoise)
    #: start a fresh run from these exported weights (``implicit.pt``; :func:`init_from_weights`)
    init_weights: str | None = None

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        """From config ``training.implicit`` (``train``/``test`` name datasets and are ignored here)."""
        d = {k: v for k, v in (d or {}).items() if k not in ("train", "test")}
        net = d.pop("net", {}) or {}
        if "widths" in net:
            net = {**net, "widths": tuple(net["widths"])}
        noise = BodyNoise(**(d.pop("body_noise", {}) or {}))
        return TrainConfig(**d, net=NetConfig(**net), body_noise=noise)


#: ``--quick``: a few small steps, for tests and smoke runs.
QUICK = TrainConfig(steps=20, batch_size=1, points_per_sample=1024, checkpoint_every=10, net=NetConfig(crop_size=128))


def body_features(poser: BodyPoser, s: Sample, points: np.ndarray, noise: BodyNoise | None, rng: np.random.Generator) -> torch.Tensor:
    """Body features (N, BODY_FEATURES) of ``points`` for sample ``s``'s GT body, perturbed by ``noise``."""
    if s.body is None:
        raise ValueError("a body-conditioned network needs samples with SMPL parameters (implicit shards store them)")
    params = s.body if noise is None else noise.perturb(s.body, rng)
    return torch.from_numpy(poser.surface(params).features(points))


def choose_points(s: Sample, points: int, gen: torch.Generator, uniform_share: float | None = None) -> np.ndarray:
    """Indices of ``points`` of sample ``s``'s labelled points: at random, or with ``uniform_share`` of
    them from its uniform points (all of those when it has fewer) and the rest from the near-surface ones."""
    if uniform_share is None or s.near is None:
        return torch.randperm(len(s.points), generator=gen)[:points].numpy()
    uni, near = np.flatnonzero(s.near == 0), np.flatnonzero(s.near != 0)
    n_uni = min(len(uni), int(round(points * uniform_share)))
    pick_u = uni[torch.randperm(len(uni), generator=gen)[:n_uni].numpy()]
    pick_n = near[torch.randperm(len(near), generator=gen)[: points - n_uni].numpy()]
    return np.concatenate([pick_u, pick_n])


def make_batch(samples: list[Sample], index: np.ndarray, num_views: int, points: int, gen: torch.Generator,
               jitter: float = 0.0, poser: BodyPoser | None = None, noise: BodyNoise | None = None,
               uniform_share: float | None = None) -> tuple[Views, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Batched views (B, num_views, ...), points (B, points, 3) (:func:`choose_points`), labels (B, points)
    float and, with a ``poser``, body features (B, points, BODY_FEATURES) (else None)."""
    views, pts, labs, bodies = [], [], [], []
    for i in index:
        s = samples[int(i)]
        V = s.image.shape[0]
        vi = torch.randperm(V, generator=gen)[:num_views].sort().values.numpy()
        v = sample_views(s, vi)
        if jitter > 0:
            g = 1 + (torch.rand(num_views, 1, 1, 1, generator=gen) * 2 - 1) * jitter
            c = 1 + (torch.rand(num_views, 3, 1, 1, generator=gen) * 2 - 1) * jitter / 2
            rgb = (v.image[:, :3] * g * c).clamp(0, 1)
            v.image = torch.cat([rgb, v.image[:, 3:]], dim=1)
            v.rgb = (v.rgb * g * c).clamp(0, 1)
        pi = choose_points(s, points, gen, uniform_share)
        views.append(v)
        pts.append(torch.from_numpy(s.points[pi]).double())
        labs.append(torch.from_numpy(s.inside[pi]).float())
        if poser is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            bodies.append(body_features(poser, s, s.points[pi], noise, rng))
    return stack(views), torch.stack(pts), torch.stack(labs), (torch.stack(bodies) if poser is not None else None)


def init_from_weights(model: ImplicitNet, weights: str | Path) -> str:
    """Load exported weights (:func:`export_with_card`'s ``implicit.pt``) into ``model``; returns their SHA-256.

    The architectures must match except for the body features: weights of an unconditioned network
    start a body-conditioned ``model`` with zero weights on the head's body inputs (the columns after
    the fused view features and the hull value), so the model's logits equal the given network's.
    Anything else that differs raises ``ValueError`` naming the file and the tensor."""
    raw = Path(weights).read_bytes()
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    net = asdict(NetConfig(**{**state["net"], "widths": tuple(state["net"]["widths"])}))  # older files lack newer fields
    if net != {**asdict(model.config), "body_features": net["body_features"]}:
        raise ValueError(f"{weights}: architecture {net} differs from this run's {asdict(model.config)} (only body_features may differ)")
    if net["body_features"] and not model.config.body_features:
        raise ValueError(f"{weights}: a body-conditioned network cannot start an unconditioned one")
    own = model.state_dict()
    for name, t in state["model"].items():
        if name not in own:
            raise ValueError(f"{weights}: tensor {name} is not in this network")
        if own[name].shape == t.shape:
            own[name] = t
        elif name == "head.0.weight" and own[name].shape[0] == t.shape[0] and own[name].shape[1] == t.shape[1] + BODY_FEATURES:
            own[name] = torch.cat([t, torch.zeros(t.shape[0], BODY_FEATURES, dtype=t.dtype)], dim=1)
        else:
            raise ValueError(f"{weights}: tensor {name} has shape {tuple(t.shape)}, this network's is {tuple(own[name].shape)}")
    model.load_state_dict(own)
    return hashlib.sha256(raw).hexdigest()


def make_poser(cfg_net: NetConfig, body_model: str | Path) -> BodyPoser | None:
    """The body poser of a body-conditioned network (None for an unconditioned one)."""
    if not cfg_net.body_features:
        return None
    from humanrecon.bodymodel.model import load_body_model

    return BodyPoser(load_body_model(body_model))


def train(shard_dir: str | Path | None, workdir: str | Path, cfg: TrainConfig = TrainConfig(), progress: bool = True,
          samples: list[Sample] | None = None, poser: BodyPoser | None = None) -> Path:
    """Train (or resume) in ``workdir`` (checkpoint.pt, train_log.jsonl) on the shards in ``shard_dir`` (or
    on in-memory ``samples``); returns the checkpoint path. A body-conditioned network poses the samples'
    bodies with ``poser`` (default: a :class:`BodyPoser` of ``cfg.body_model``)."""
    torch.set_num_threads(cfg.threads)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt, logf = workdir / "checkpoint.pt", workdir / "train_log.jsonl"
    torch.manual_seed(cfg.seed)
    model = ImplicitNet(cfg.net)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step = resume_checkpoint(ckpt, logf, model, opt, gen)
    saved = asdict(cfg)
    if cfg.init_weights:
        # recorded with the checkpoints (and so in the model card): which weights the run started from
        saved["init_weights_sha256"] = hashlib.sha256(Path(cfg.init_weights).read_bytes()).hexdigest()
        if step == 0:
            init_from_weights(model, cfg.init_weights)
            log.info("starting from %s (sha256 %s)", cfg.init_weights, saved["init_weights_sha256"][:12])
    if not cfg.net.body_features:
        poser = None
    elif poser is None:
        poser = make_poser(cfg.net, cfg.body_model)
    if samples is None:
        files = shard_files(shard_dir)
        if not files:
            raise FileNotFoundError(f"{shard_dir}: no shard_*.h5 implicit training shards")
        samples = load_samples(files, cfg.net.crop_size)
        log.info("training set: %d samples from %d shards", len(samples), len(files))
    model.train()
    t0 = time.perf_counter()
    while step < cfg.steps:
        lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(step / cfg.steps, 1.0)))
        for gp in opt.param_groups:
            gp["lr"] = lr
        nv = int(torch.randint(cfg.min_views, cfg.max_views + 1, (1,), generator=gen))
        idx = torch.randint(0, len(samples), (cfg.batch_size,), generator=gen).numpy()
        views, pts, lab, body = make_batch(samples, idx, nv, cfg.points_per_sample, gen, cfg.jitter, poser, cfg.body_noise, cfg.uniform_share)
        logits, hull = model(views, pts, body)
        # the hull bounds the reconstruction (occupancy = min(hull, p)): learn where it is positive
        w = (hull > 0).float()
        loss = (F.binary_cross_entropy_with_logits(logits, lab, reduction="none") * w).sum() / w.sum().clamp(min=1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        with torch.no_grad():
            acc = float(((logits > 0).float() == lab).float().mean())
            in_hull = hull >= 0.5
            acc_hull = float(((logits > 0).float() == lab)[in_hull].float().mean()) if in_hull.any() else float("nan")
        rec = {"step": step, "lr": lr, "views": nv, "loss": round(float(loss.detach()), 5), "acc": round(acc, 4), "acc_in_hull": round(acc_hull, 4),
               "s": round(time.perf_counter() - t0, 1)}  # fmt: skip
        with open(logf, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if progress and (step % 10 == 0 or step == cfg.steps):
            log.info("step %d/%d  loss %.4f  acc %.4f (in hull %.4f)  %d views  %.1f s", step, cfg.steps, rec["loss"], acc, acc_hull, nv, rec["s"])
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint(ckpt, model, opt, step, gen, saved)
    return ckpt


def spread_views(total: int, n: int | None) -> np.ndarray:
    """``n`` of ``total`` camera indices spread evenly around the rig (all when ``n`` is None)."""
    if n is None or n >= total:
        return np.arange(total)
    return np.unique(np.floor(np.arange(n) * total / n).astype(int))


def evaluate(model: ImplicitNet, samples: list[Sample], num_views: int | None = None, points: int = 8192,
             poser: BodyPoser | None = None, noise: BodyNoise | None = None, seed: int = 0) -> dict:
    """Point classification on held-out samples (all or the first ``num_views`` views): accuracy overall
    and among points inside the visual hull (where the network decides), and the IoU of the inside points.

    A body-conditioned ``model`` needs a ``poser``; sample ``i``'s body is its GT body perturbed by
    ``noise`` drawn from ``(seed, i)`` (None: the GT body), so an evaluation is reproducible."""
    if model.config.body_features and poser is None:
        raise ValueError("evaluating a body-conditioned network needs the body model (poser)")
    model.eval()
    tp = fp = fn = correct = total = correct_h = total_h = 0
    with torch.inference_mode():
        for i, s in enumerate(samples):
            v = stack([sample_views(s, spread_views(s.image.shape[0], num_views))])
            pts = torch.from_numpy(s.points[:points]).double()[None]
            lab = torch.from_numpy(s.inside[:points]).bool()[None]
            body = None
            if model.config.body_features:
                rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
                body = body_features(poser, s, s.points[:points], noise, rng)[None]
            logits, hull = model(v, pts, body)
            pred = (logits > 0) & (hull >= 0.5)
            tp += int((pred & lab).sum())
            fp += int((pred & ~lab).sum())
            fn += int((~pred & lab).sum())
            correct += int((pred == lab).sum())
            total += lab.numel()
            h = hull >= 0.5
            correct_h += int((pred == lab)[h].sum())
            total_h += int(h.sum())
    return {"samples": len(samples), "views": num_views or "all", "point_accuracy": correct / max(total, 1),
            "point_accuracy_in_hull": correct_h / max(total_h, 1), "point_iou": tp / max(tp + fp + fn, 1)}  # fmt: skip


def load_checkpoint_model(state: dict) -> ImplicitNet:
    net = dict(state["config"]["net"])
    net["widths"] = tuple(net["widths"])
    model = ImplicitNet(NetConfig(**net))
    model.load_state_dict(state["model"])
    return model


#: Samples of held-out shard 0 that the model card's reproducibility check re-evaluates.
CHECK_SAMPLES = 1


def export_with_card(checkpoint: str | Path, train_shards: str | Path, test_shards: str | Path, output: str | Path,
                     extra: dict | None = None) -> dict:
    """Evaluate a checkpoint on the held-out shards and write weights (``output``) + model card (``output.json``)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = load_checkpoint_model(state)
    test_files = shard_files(test_shards)
    if not test_files:
        raise FileNotFoundError(f"{test_shards}: no shard_*.h5 held-out shards")
    samples = load_samples(test_files, model.config.crop_size)
    cfg = state["config"]
    poser = make_poser(model.config, cfg.get("body_model", "resources/body_models"))
    noise = BodyNoise(**cfg["body_noise"]) if model.config.body_features else None
    metrics = {f"{v}_views": evaluate(model, samples, v, poser=poser, noise=noise) for v in (8, 4)}
    # the model card's reproducibility check: the first sample of held-out shard 0, which a one-sample
    # shard of the same seed re-renders identically (samples and their points are drawn in order)
    import h5py

    with h5py.File(test_files[0], "r") as f:
        seed, (cams, size, n_points) = int(f.attrs["seed"]), (f["mask"].shape[1], f["mask"].shape[-1], f["points"].shape[1])
    check = {
        "set_config": {"seed": seed, "shards": 1, "samples": CHECK_SAMPLES, "cameras": int(cams), "size": int(size), "points": int(n_points)},
        "metrics": evaluate(model, load_samples(test_files[:1], model.config.crop_size, samples=CHECK_SAMPLES), poser=poser, noise=noise),
    }
    if model.config.body_features:
        # the body features of held-out samples are their GT bodies with the training noise (seeded): the
        # errors of a fitted body; the exact GT body bounds what a perfect fit would give
        extra = {**(extra or {}), "body_conditioning": {"noise": asdict(noise), "gt_body_8_views": evaluate(model, samples, 8, poser=poser)}}
    card = {
        "model": "humanrecon implicit occupancy (multi-scale pixel-aligned features, mean/std view fusion, plain torch)"
                 + (", conditioned on the fitted SMPL body" if model.config.body_features else ""),
        "input": f"V calibrated views: person crop {model.config.crop_size}^2 RGB + silhouette, full-resolution silhouette",
        "data": {"train": {"folder": str(train_shards), "shards": len(shard_files(train_shards))},
                 "test": {"folder": str(test_shards), "shards": len(test_files)}},  # fmt: skip
        "held_out_point_metrics": metrics,
        "reproduce_check": check,
        "reproduce": f"snakemake models/implicit/trained/{Path(output).name} (config.yaml: training.{Path(output).stem}), docs/implicit.md",
        **(extra or {}),
    }  # fmt: skip
    export_weights_and_card(output, {"model": state["model"], "net": asdict(model.config)}, card, state)
    return metrics


def train_and_export(train_shards: str | Path, test_shards: str | Path, workdir: str | Path, output: str | Path,
                     config: TrainConfig = TrainConfig()) -> dict:
    """Train (resuming in ``workdir``), evaluate on the held-out shards and write weights + model card
    (``output`` and ``output.json``); returns the held-out point metrics (rule train_implicit)."""
    return export_with_card(train(train_shards, workdir, config), train_shards, test_shards, output)
