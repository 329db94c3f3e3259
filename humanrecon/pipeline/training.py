"""Training sets of rules/training.smk (rule training_set): one entry point for every kind."""

from __future__ import annotations

import os
from pathlib import Path


def build_training_set(out_dir: str | os.PathLike, settings: dict, body_model_path: str | os.PathLike,
                       anny_cache_dir: str | os.PathLike | None = None, workers: int = 1) -> Path:
    """A synthetic training set (config ``training.datasets.<name>``) at ``out_dir``: segmenter shards
    (:func:`humanrecon.synth.shards.write_training_set`, the default ``kind``) or implicit shards with
    labelled 3-D points (:func:`humanrecon.implicit.shards.write_implicit_set`, ``kind: implicit``).
    ``workers`` processes render segmenter shards in parallel (the files do not depend on it)."""
    kind = settings.get("kind", "segmenter")
    if kind == "implicit":
        from humanrecon.implicit.shards import ImplicitSetConfig, write_implicit_set

        return write_implicit_set(out_dir, ImplicitSetConfig.from_dict(settings), body_model_path, anny_cache_dir)
    if kind != "segmenter":
        raise ValueError(f"training set {out_dir}: unknown kind {kind!r} (segmenter or implicit)")
    from humanrecon.synth.shards import ShardConfig, write_training_set

    return write_training_set(out_dir, ShardConfig.from_dict({k: v for k, v in settings.items() if k != "kind"}), body_model_path, anny_cache_dir, workers)
