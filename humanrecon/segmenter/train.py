"""Training of the segmenter on synthetic shards (resumable), and its evaluation metrics.

Loss per batch (crop pixels, :mod:`humanrecon.segmenter.data` batches):

* foreground: binary cross-entropy on ``fg_logits``;
* parts: cross-entropy over the 13 classes;
* joints: cross-entropy between the heatmap's spatial softmax and a Gaussian target (sigma one heatmap
  cell) plus ``joint_l1_weight`` x the L1 distance (heatmap cells) of the soft-argmax to the GT, over joints
  inside the crop.

Checkpoints (model, optimiser, step, RNG state) are written atomically every ``checkpoint_every`` steps;
a restarted run continues from the last one. The set of shards is re-read at every checkpoint, so a
training set still being generated feeds the run as it grows.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.nn import functional as F

from humanrecon.bodymodel.skeleton import PART_NAMES
from humanrecon.io.checkpoint import export_weights_and_card, resume_checkpoint, save_checkpoint
from humanrecon.segmenter.crops import BOX_SCALE
from humanrecon.segmenter.data import AugmentConfig, CropSet, load_crops, make_batch, store_size
from humanrecon.segmenter.metrics import iou_f1
from humanrecon.segmenter.network import HEATMAP_STRIDE, NUM_PART_CLASSES, SegmenterNet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (config key ``training.segmenter``)."""

    steps: int = 3000
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    input_size: int = 256
    seed: int = 0
    joint_l1_weight: float = 0.1
    checkpoint_every: int = 50
    threads: int = 2
    widths: tuple[int, int, int, int, int] = (16, 24, 48, 80, 128)
    seg_channels: int = 32  # segmentation head (SegmenterNet); 0 = the original 1x1 head (cannot fit the part maps)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        """From config ``training.segmenter`` (keys ``train``/``test`` name datasets and are ignored here)."""
        d = {k: v for k, v in (d or {}).items() if k not in ("train", "test")}
        aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("augment", {}).items()})
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return TrainConfig(**d, augment=aug)


#: ``--quick``: a few small steps, for tests and smoke runs.
QUICK = TrainConfig(steps=30, batch_size=4, input_size=128, checkpoint_every=10)


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("shard_*.h5"))


def losses(out, batch, joint_l1_weight: float = 0.1) -> dict[str, torch.Tensor]:
    """The three loss terms and their sum (``total``)."""
    fg = F.binary_cross_entropy_with_logits(out.fg_logits[:, 0], batch["mask"])
    parts = F.cross_entropy(out.part_logits, batch["parts"])
    B, J, h, w = out.heatmaps.shape
    cells = (batch["joints"] - (HEATMAP_STRIDE - 1) / 2.0) / HEATMAP_STRIDE  # (B, J, 2) in cell units
    ys = torch.arange(h, dtype=torch.float32)[None, None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, None, :]
    d2 = (xs - cells[..., 0, None, None]) ** 2 + (ys - cells[..., 1, None, None]) ** 2
    target = torch.softmax((-0.5 * d2).reshape(B, J, -1), dim=-1)
    logp = torch.log_softmax(out.heatmaps.reshape(B, J, -1).float(), dim=-1)
    valid = batch["joint_valid"].float()
    n = valid.sum().clamp(min=1.0)
    heat = (-(target * logp).sum(-1) * valid).sum() / n
    l1 = ((out.joints - batch["joints"]).abs().sum(-1) / HEATMAP_STRIDE * valid).sum() / n
    total = fg + parts + heat + joint_l1_weight * l1
    return {"total": total, "fg": fg, "parts": parts, "heatmap": heat, "joint_l1_cells": l1}


def train(shard_dir: str | Path, workdir: str | Path, cfg: TrainConfig = TrainConfig(), progress: bool = True) -> Path:
    """Train (or resume) in ``workdir`` (checkpoint.pt, train_log.jsonl); returns the checkpoint path."""
    torch.set_num_threads(cfg.threads)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = workdir / "checkpoint.pt"
    logf = workdir / "train_log.jsonl"
    torch.manual_seed(cfg.seed)
    model = SegmenterNet(tuple(cfg.widths), cfg.seg_channels)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step = resume_checkpoint(ckpt, logf, model, opt, gen)
    store = store_size(cfg.input_size)
    loaded: dict[Path, CropSet] = {}
    data: CropSet | None = None
    model.train()
    t0 = time.perf_counter()
    while step < cfg.steps:
        if data is None or step % cfg.checkpoint_every == 0:
            found = _shards(Path(shard_dir))
            if not found:
                raise FileNotFoundError(f"{shard_dir}: no shard_*.h5 training shards")
            new = [p for p in found if p not in loaded]
            if new:  # shards are immutable once written: load only the new ones
                for p in new:
                    loaded[p] = load_crops([p], store)
                data = CropSet.concat([loaded[p] for p in sorted(loaded)])
                log.info("training set: %d views from %d shards", len(data), len(loaded))
        lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(step / cfg.steps, 1.0)))
        for gparam in opt.param_groups:
            gparam["lr"] = lr
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=gen).numpy()
        batch = make_batch(data, idx, cfg.input_size, gen, cfg.augment)
        out = model(batch["image"])
        ls = losses(out, batch, cfg.joint_l1_weight)
        opt.zero_grad(set_to_none=True)
        ls["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        rec = {"step": step, "lr": lr, **{k: round(float(v.detach()), 5) for k, v in ls.items()}, "s": round(time.perf_counter() - t0, 1)}
        with open(logf, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if progress and (step % 10 == 0 or step == cfg.steps):
            log.info("step %d/%d  loss %.4f (fg %.3f parts %.3f heat %.3f l1 %.2f cells)  %.1f s",
                     step, cfg.steps, rec["total"], rec["fg"], rec["parts"], rec["heatmap"], rec["joint_l1_cells"], rec["s"])  # fmt: skip
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint(ckpt, model, opt, step, gen, asdict(cfg))
    return ckpt


def _checkpoint_model(state: dict) -> SegmenterNet:
    """The network of a checkpoint (checkpoints written before ``widths`` or ``seg_channels`` were
    settings use the default widths and the original head)."""
    model = SegmenterNet(tuple(state["config"].get("widths", SegmenterNet().widths)), state["config"].get("seg_channels", 0))
    model.load_state_dict(state["model"])
    return model


def export_weights(state: dict, output: str | Path, card: dict) -> None:
    """Write a checkpoint's weights (``output``, a torch state dict) and its model card (``<output>.json``)."""
    net = _checkpoint_model(state)
    weights = {"model": state["model"], "widths": net.widths, "seg_channels": net.seg_channels, "input_size": state["config"]["input_size"]}
    export_weights_and_card(output, weights, {**card, "num_part_classes": NUM_PART_CLASSES}, state)


def evaluate(model: SegmenterNet, data: CropSet, input_size: int, batch_size: int = 32) -> dict:
    """Metrics on nominal crops (no randomisation): silhouette IoU (mean over views), per-part IoU and F1
    and their mean over the 12 parts (pixels pooled over views, as in NBF), joint error in crop pixels
    (mean, median) and PCK@0.05 of the person box's longer side."""
    model.eval()
    g = torch.Generator().manual_seed(0)
    sil, errs, pck, preds, gts = [], [], [], [], []
    with torch.inference_mode():
        for s in range(0, len(data), batch_size):
            idx = np.arange(s, min(s + batch_size, len(data)))
            b = make_batch(data, idx, input_size, g, None)
            out = model(b["image"])
            fg = (out.fg_logits[:, 0] > 0).numpy()
            gt = b["mask"].numpy() > 0.5
            sil += list((fg & gt).sum(axis=(1, 2)) / np.maximum((fg | gt).sum(axis=(1, 2)), 1))
            parts = out.part_logits.argmax(dim=1).numpy().astype(np.uint8)
            preds.append(parts)
            gts.append(b["parts"].numpy().astype(np.uint8))
            err = (out.joints - b["joints"]).norm(dim=-1).numpy()
            valid = b["joint_valid"].numpy()
            box = input_size / BOX_SCALE  # the nominal crop is BOX_SCALE x the person box's longer side
            errs.append(err[valid])
            pck.append(err[valid] <= 0.05 * box)
    iou, f1 = iou_f1(np.concatenate(preds), np.concatenate(gts), NUM_PART_CLASSES)
    e = np.concatenate(errs)
    return {
        "views": len(data),
        "silhouette_iou": float(np.mean(sil)),
        "part_miou": float(np.nanmean(iou[1:])),
        "part_iou": {n: float(v) for n, v in zip(PART_NAMES, iou[1:], strict=True)},
        "part_f1": {n: float(v) for n, v in zip(PART_NAMES, f1[1:], strict=True)},
        "background_iou": float(iou[0]),
        "joint_error_px_mean": float(e.mean()),
        "joint_error_px_median": float(np.median(e)),
        "pck_0.05": float(np.concatenate(pck).mean()),
        "input_size": input_size,
    }


#: The model card's reproducibility check: the first samples of held-out shard 0, which a shard of
#: this config re-renders identically (samples are drawn in order from the shard's generator).
CHECK_SAMPLES = 2


def train_and_export(
    train_shards: str | Path, test_shards: str | Path, workdir: str | Path, output: str | Path, config: TrainConfig = TrainConfig()
) -> dict:
    """Train (resuming in ``workdir``), evaluate on the held-out ``test_shards`` and write the weights and
    model card (``output`` and ``output.json``); returns the held-out metrics."""
    ckpt = train(train_shards, workdir, config)
    return export_with_card(ckpt, train_shards, test_shards, output, config.input_size)


def export_with_card(checkpoint: str | Path, train_shards: str | Path, test_shards: str | Path, output: str | Path, input_size: int) -> dict:
    """Evaluate a checkpoint on the held-out shards and write weights + model card (with the figures a
    test re-derives: :data:`CHECK_SAMPLES` samples of held-out shard 0)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = _checkpoint_model(state)
    store = store_size(input_size)
    test_files = _shards(Path(test_shards))
    if not test_files:
        raise FileNotFoundError(f"{test_shards}: no shard_*.h5 held-out shards")
    metrics = evaluate(model, load_crops(test_files, store), input_size)
    with h5py.File(test_files[0], "r") as f:
        seed = int(f.attrs["seed"])
        cams, size = f["mask"].shape[1], f["mask"].shape[-1]
    check = {
        "shard_config": {"seed": seed, "num_shards": 1, "samples_per_shard": CHECK_SAMPLES,
                         "num_cameras": int(cams), "image_size": int(size)},  # fmt: skip
        "metrics": evaluate(model, load_crops(test_files[:1], store, samples=CHECK_SAMPLES), input_size),
    }
    card = {
        "model": "humanrecon segmenter (U-Net, silhouette + 13-class parts + 24 joint heatmaps, plain torch)",
        "input": f"person crop {input_size}x{input_size} RGB in [0, 1], 1.2 x the silhouette box",
        "data": {
            "train": {"folder": str(train_shards), "shards": len(_shards(Path(train_shards)))},
            "test": {"folder": str(test_shards), "shards": len(test_files)},
        },
        "held_out_metrics": metrics,
        "reproduce_check": check,
        "reproduce": "snakemake models/segmenter/trained/segmenter.pt (config.yaml: training), docs/segmenter.md",
    }
    export_weights(state, output, card)
    return metrics
