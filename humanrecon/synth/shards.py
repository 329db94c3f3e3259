"""Training shards for the learned stages: many independent synthetic samples in HDF5 files.

Each sample is one subject in one random pose seen by C cameras of a fresh random rig in a random
studio, with full ground truth (schema :data:`humanrecon.io.hdf5.TRAINING_SHARD`). A dataset is a folder
of ``shard_00000.h5``, ``shard_00001.h5``... Shard ``k`` depends only on ``(seed, k)``, and each shard is
written atomically, so an interrupted generation resumes where it stopped (finished shards are kept) and
the same seed always gives the same files.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from humanrecon.bodymodel.model import load_body_model
from humanrecon.bodymodel.skinning import posed_transforms
from humanrecon.io.hdf5 import TRAINING_SHARD, write_h5
from humanrecon.provenance import provenance
from humanrecon.synth import garments, poses, render, scene
from humanrecon.synth.rig import RigConfig, make_rig
from humanrecon.synth.subjects import PhenotypeSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardConfig:
    """Settings of a training set.

    Attributes
    ----------
    seed : int
    num_shards : int
    samples_per_shard : int
    num_cameras : int
    image_size : int
        Square images (pixels); the learned stages crop/resize as they need.
    samples_per_subject : int
        Consecutive samples share a subject (outfit, body) to amortise its set-up.
    perturb_deg : float
        Pose perturbation around the key poses (see :func:`humanrecon.synth.poses.sample_pose`).
    """

    seed: int = 0
    num_shards: int = 1
    samples_per_shard: int = 16
    num_cameras: int = 4
    image_size: int = 256
    samples_per_subject: int = 4
    perturb_deg: float = 12.0

    @staticmethod
    def from_dict(d: dict) -> ShardConfig:
        """From config ``training.datasets.<name>``: seed, shards, samples, cameras, size (and any field)."""
        alias = {"shards": "num_shards", "samples": "samples_per_shard", "cameras": "num_cameras", "size": "image_size"}
        return ShardConfig(**{alias.get(k, k): v for k, v in d.items()})


def _shard_rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, k]))


@dataclass
class Sample:
    """One rendered sample of a shard: the fields of :data:`TRAINING_SHARD` for sample ``b`` plus the
    clothed surfaces (world, metres; :func:`humanrecon.synth.garments.clothed_mesh` joins them)."""

    b: int
    fields: dict[str, np.ndarray]
    surfaces: list


def iter_samples(config: ShardConfig, k: int, body_model, phenotypes: PhenotypeSampler):
    """Yield the :class:`Sample` s of shard ``k`` in order (everything drawn from ``(seed, k)``)."""
    rng = _shard_rng(config.seed, k)
    C, S = config.num_cameras, config.image_size
    Vs = body_model.num_surface_vertices
    weights = body_model.smpl.lbs_weights.detach().cpu().numpy().astype(np.float64)
    for b in range(config.samples_per_shard):
        if b % config.samples_per_subject == 0:
            _, betas = phenotypes.sample(rng)
            rest = posed_transforms(body_model, betas[None], np.zeros((1, 3)), np.zeros((1, 69)))
            outfit = garments.sample_outfit(
                rng, rest.v_shaped[0, :Vs], body_model.faces, weights[:Vs], body_model.part_labels[:Vs], rest.joints[0]
            )
            studio = scene.make_studio(rng)
            subject = b // config.samples_per_subject
        pose = poses.sample_pose(rng, perturb_deg=config.perturb_deg)
        heading = rng.uniform(-np.pi, np.pi)
        go = poses.compose_heading(pose[0], heading)
        bp = pose[1:].reshape(-1)
        transl = np.array([rng.uniform(-0.3, 0.3), 0.0, rng.uniform(-0.3, 0.3)])
        T = posed_transforms(body_model, betas[None], go[None], bp[None], transl[None])
        surfaces = garments.clothed_surfaces(body_model, outfit, T)
        lowest = min(s[0][:, 1].min() for s in surfaces)
        transl[1] = -lowest
        T = posed_transforms(body_model, betas[None], go[None], bp[None], transl[None])
        surfaces = garments.clothed_surfaces(body_model, outfit, T)
        rig = make_rig(rng, RigConfig(num_cameras=C, image_size=(S, S), layout=str(rng.choice(["ring", "dome"]))))
        cams = list(rig)
        lighting = render.make_lighting(rng)
        renders = render.render_frame(
            [render.Surface(vertices=v, faces=f, part_labels=p, albedo=a, is_body=True) for v, f, p, a, _ in surfaces],
            studio,
            cams,
            rng,
            lighting,
        )
        fields = {
            "rgb": np.stack([r.rgb for r in renders]),
            "mask": np.stack([r.mask for r in renders]),
            "parts": np.stack([r.parts for r in renders]),
            "K": np.stack([c.K for c in cams]),
            "dist": np.stack([c.dist for c in cams]),
            "R": np.stack([c.R for c in cams]),
            "t": np.stack([c.t for c in cams]),
            "joints2d": np.stack([c.project(T.joints[0]) for c in cams]),
            "betas": betas, "body_pose": bp, "global_orient": go, "transl": transl,
            "joints": T.joints[0], "subject": subject,
        }  # fmt: skip
        yield Sample(b, fields, surfaces)


def render_shard(config: ShardConfig, k: int, body_model, phenotypes: PhenotypeSampler) -> dict[str, np.ndarray]:
    """Render shard ``k``: arrays matching :data:`TRAINING_SHARD` with ``B = samples_per_shard``."""
    B, C, S = config.samples_per_shard, config.num_cameras, config.image_size
    out = {
        "rgb": np.zeros((B, C, S, S, 3), np.uint8),
        "mask": np.zeros((B, C, S, S), np.uint8),
        "parts": np.zeros((B, C, S, S), np.uint8),
        "K": np.zeros((B, C, 3, 3)),
        "dist": np.zeros((B, C, 5)),
        "R": np.zeros((B, C, 3, 3)),
        "t": np.zeros((B, C, 3)),
        "betas": np.zeros((B, 10)),
        "body_pose": np.zeros((B, 69)),
        "global_orient": np.zeros((B, 3)),
        "transl": np.zeros((B, 3)),
        "joints": np.zeros((B, 24, 3)),
        "joints2d": np.zeros((B, C, 24, 2)),
        "subject": np.zeros(B, np.int64),
    }
    for sample in iter_samples(config, k, body_model, phenotypes):
        for name, value in sample.fields.items():
            out[name][sample.b] = value
    return out


def write_shards(
    out_dir: str | os.PathLike,
    config: ShardConfig,
    body_model_path: str | os.PathLike = "resources/body_models",
    anny_cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
) -> list[Path]:
    """Write (or complete) a training set of ``config.num_shards`` shards in ``out_dir``.

    Existing shards with the same config hash are kept (resume); returns all shard paths. The missing
    shards are rendered by ``workers`` processes, each initialised the same way (one torch thread), also
    when ``workers`` is 1: shard ``k`` depends only on ``(seed, k)``, and the files are bit-identical
    whatever the number of workers (rendered in the calling process, torch's thread count would change the
    last bits of some reductions on machines with many cores).
    """
    out_dir = Path(out_dir)
    prov = provenance(asdict(config))
    paths = [out_dir / f"shard_{k:05d}.h5" for k in range(config.num_shards)]
    todo = [k for k, p in enumerate(paths) if not (p.exists() and _same_config(p, prov["config_hash"]))]
    workers = max(1, min(workers, len(todo)))
    log.info("%d of %d shards exist; %d to render with %d worker(s)", len(paths) - len(todo), len(paths), len(todo), workers)
    if not todo:
        return paths
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork, not spawn: spawn re-runs the caller's main module, which for a Snakemake script is the script
    # itself. The workers set torch to one thread before any kernel runs.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_worker_init) as pool:
        futures = [pool.submit(_write_shard, out_dir, config, k, str(body_model_path), anny_cache_dir) for k in todo]
        for done, fut in enumerate(futures, 1):
            fut.result()  # re-raises a worker's error, naming its shard
            log.info("shards: %d/%d rendered", done, len(todo))
    return paths


#: Per-process body model and phenotype sampler of :func:`_write_shard` (loaded once per process).
_LOADED: dict[tuple, tuple] = {}


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _write_shard(out_dir: Path, config: ShardConfig, k: int, body_model_path: str, anny_cache_dir) -> Path:
    """Render shard ``k`` and write it atomically; returns its path."""
    key = (body_model_path, str(anny_cache_dir))
    if key not in _LOADED:
        bm = load_body_model(body_model_path)
        _LOADED[key] = (bm, PhenotypeSampler(bm, anny_cache_dir))
    bm, phen = _LOADED[key]
    path = Path(out_dir) / f"shard_{k:05d}.h5"
    t0 = time.perf_counter()
    try:
        arrays = render_shard(config, k, bm, phen)
    except Exception as e:
        raise RuntimeError(f"training shard {k} (seed {config.seed}) failed: {e}") from e
    write_h5(path, TRAINING_SHARD, arrays, attrs={"seed": config.seed, "shard_index": k}, provenance_record=provenance(asdict(config)))
    log.info("shard %d/%d: %d samples in %.1f s", k + 1, config.num_shards, config.samples_per_shard, time.perf_counter() - t0)
    return path


def _same_config(path: Path, config_hash: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("config_hash") == config_hash
    except OSError:
        return False


def write_training_set(
    out_dir: str | os.PathLike,
    config: ShardConfig,
    body_model_path: str | os.PathLike = "resources/body_models",
    anny_cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
) -> Path:
    """A complete training set at ``out_dir``, built in ``<out_dir>.partial`` (resumable: finished shards
    are kept across restarts; ``workers`` processes, see :func:`write_shards`) and renamed into place when
    every shard is written."""
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    write_shards(partial, config, body_model_path, anny_cache_dir, workers)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    return out_dir
