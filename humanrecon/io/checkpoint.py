"""Resumable training runs: atomic checkpoints (model, optimiser, step, RNG state, config) and the
training log truncated to the checkpoint on resume. Used by every trainer (segmenter, implicit)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import torch

from humanrecon.io.atomic import atomic_write_bytes, atomic_write_text
from humanrecon.provenance import config_hash, provenance

log = logging.getLogger(__name__)


def save_checkpoint(path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                    gen: torch.Generator, config: dict) -> None:
    """Write the run's state to ``path`` atomically (a killed run never leaves a torn checkpoint)."""
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "rng": gen.get_state(), "config": config}, buf)
    atomic_write_bytes(path, buf.getvalue())


def resume_checkpoint(path: str | Path, log_path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                      gen: torch.Generator) -> int:
    """Restore model, optimiser and RNG from ``path`` if it exists and return its step (0 otherwise);
    records of later steps in the JSON-lines ``log_path`` are dropped (they are redone)."""
    path, log_path = Path(path), Path(log_path)
    if not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["rng"])
    step = int(state["step"])
    log.info("resuming from %s at step %d", path, step)
    if log_path.exists():
        keep = [ln for ln in log_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
        atomic_write_text(log_path, "".join(ln + "\n" for ln in keep))
    return step


def export_weights_and_card(output: str | Path, weights: dict, card: dict, state: dict) -> None:
    """Write shipped weights (``output``: ``weights`` through ``torch.save``) and their model card
    (``<output>.json``: ``card`` plus the checkpoint ``state``'s training config, step, provenance and
    config hash), each atomically. Used by every trainer's export."""
    buf = io.BytesIO()
    torch.save(weights, buf)
    atomic_write_bytes(output, buf.getvalue())
    card = {**card, "train_config": state["config"], "steps": state["step"], "provenance": provenance(state["config"]),
            "config_hash": config_hash(state["config"])}  # fmt: skip
    atomic_write_text(str(output) + ".json", json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
