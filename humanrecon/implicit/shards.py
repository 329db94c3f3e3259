"""Training data for the implicit reconstruction: labelled query points around synthetic clothed people.

A set is a folder of ``shard_*.h5`` files of kind :data:`humanrecon.io.hdf5.IMPLICIT_SHARD`. Each sample
is a sample of the synthetic studio's training shards (:func:`humanrecon.synth.shards.iter_samples`: a
random subject, outfit, pose, rig, studio and lighting) plus ``points_per_sample`` query points:

* a fraction ``1 - uniform_fraction`` near the clothed surface: area-uniform surface samples displaced
  by isotropic Gaussian noise, half with ``sigma`` and half with ``sigma / 4`` (fine detail);
* the rest uniform in the clothed mesh's box grown by ``box_pad`` metres (PIFu's 16:1 mix by default);
* labelled inside where the generalised winding number of the clothed mesh exceeds 0.5
  (:func:`humanrecon.metrics.winding_number`, the same test as the volumetric IoU), so garments that are
  open surfaces are handled.

Shards are written atomically and depend only on ``(seed, k)``: an interrupted generation resumes.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

from humanrecon.bodymodel.model import load_body_model
from humanrecon.io.hdf5 import IMPLICIT_SHARD, write_h5
from humanrecon.metrics import sample_surface, winding_number
from humanrecon.provenance import provenance
from humanrecon.synth import garments
from humanrecon.synth.shards import ShardConfig, iter_samples
from humanrecon.synth.subjects import PhenotypeSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImplicitSetConfig:
    """Settings of an implicit training set (config ``training.datasets.<name>`` with ``kind: implicit``)."""

    shards: ShardConfig = field(default_factory=ShardConfig)
    points_per_sample: int = 8192
    sigma: float = 0.03
    uniform_fraction: float = 1.0 / 17.0
    box_pad: float = 0.15

    @staticmethod
    def from_dict(d: dict) -> ImplicitSetConfig:
        d = {k: v for k, v in d.items() if k != "kind"}
        own = {k: d.pop(k) for k in ("points_per_sample", "sigma", "uniform_fraction", "box_pad") if k in d}
        if "points" in d:
            own["points_per_sample"] = d.pop("points")
        return ImplicitSetConfig(shards=ShardConfig.from_dict(d), **own)


def sample_points(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator, sigma: float,
                  uniform_fraction: float, box_pad: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query points (n, 3) float32 metres world, GT inside (n,) uint8 and near-surface flags (n,) uint8
    for a mesh (see the module docstring)."""

    n_uni = int(round(n * uniform_fraction))
    n_near = n - n_uni
    surf = sample_surface(vertices, faces, n_near, seed=int(rng.integers(2**31)))
    scale = np.where(np.arange(n_near) % 2 == 0, sigma, sigma / 4.0)[:, None]
    near = surf + rng.normal(size=surf.shape) * scale
    lo, hi = vertices.min(axis=0) - box_pad, vertices.max(axis=0) + box_pad
    uni = lo + rng.random((n_uni, 3)) * (hi - lo)
    pts = np.concatenate([near, uni]).astype(np.float64)
    inside = (winding_number(pts, vertices, faces) > 0.5).astype(np.uint8)
    flags = np.concatenate([np.ones(n_near, np.uint8), np.zeros(n_uni, np.uint8)])
    return pts.astype(np.float32), inside, flags


def render_implicit_shard(config: ImplicitSetConfig, k: int, body_model, phenotypes: PhenotypeSampler) -> dict[str, np.ndarray]:
    """Arrays of :data:`IMPLICIT_SHARD` for shard ``k``."""

    sc = config.shards
    B, C, S, N = sc.samples_per_shard, sc.num_cameras, sc.image_size, config.points_per_sample
    out = {
        "rgb": np.zeros((B, C, S, S, 3), np.uint8), "mask": np.zeros((B, C, S, S), np.uint8),
        "parts": np.zeros((B, C, S, S), np.uint8), "K": np.zeros((B, C, 3, 3)), "dist": np.zeros((B, C, 5)),
        "R": np.zeros((B, C, 3, 3)), "t": np.zeros((B, C, 3)), "betas": np.zeros((B, 10)),
        "body_pose": np.zeros((B, 69)), "global_orient": np.zeros((B, 3)), "transl": np.zeros((B, 3)),
        "points": np.zeros((B, N, 3), np.float32), "inside": np.zeros((B, N), np.uint8), "near_surface": np.zeros((B, N), np.uint8),
    }  # fmt: skip
    for s in iter_samples(sc, k, body_model, phenotypes):
        for name in ("rgb", "mask", "parts", "K", "dist", "R", "t", "betas", "body_pose", "global_orient", "transl"):
            out[name][s.b] = s.fields[name]
        mesh = garments.clothed_mesh(s.surfaces)
        rng = np.random.default_rng(np.random.SeedSequence([sc.seed, k, s.b, 1]))
        pts, inside, near = sample_points(np.asarray(mesh.vertices), np.asarray(mesh.faces), N, rng,
                                          config.sigma, config.uniform_fraction, config.box_pad)  # fmt: skip
        out["points"][s.b], out["inside"][s.b], out["near_surface"][s.b] = pts, inside, near
    return out


def write_implicit_set(out_dir: str | os.PathLike, config: ImplicitSetConfig, body_model_path: str | os.PathLike = "resources/body_models",
                       anny_cache_dir: str | os.PathLike | None = None) -> Path:
    """A complete implicit training set at ``out_dir``, built in ``<out_dir>.partial`` (finished shards
    with the same config are kept across restarts) and renamed into place when complete."""

    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    prov = provenance(asdict(config))
    bm = load_body_model(body_model_path)
    phen = PhenotypeSampler(bm, anny_cache_dir)
    n = config.shards.num_shards
    for k in range(n):
        path = partial / f"shard_{k:05d}.h5"
        if path.exists():
            try:
                with h5py.File(path, "r") as f:
                    if f.attrs.get("config_hash") == prov["config_hash"]:
                        log.info("shard %d/%d exists, skipped", k + 1, n)
                        continue
            except OSError:
                pass
        t0 = time.perf_counter()
        arrays = render_implicit_shard(config, k, bm, phen)
        write_h5(path, IMPLICIT_SHARD, arrays, attrs={"seed": config.shards.seed, "shard_index": k}, provenance_record=prov)
        log.info("implicit shard %d/%d: %d samples in %.1f s", k + 1, n, config.shards.samples_per_shard, time.perf_counter() - t0)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    return out_dir
