"""Training shards: schema-valid, consistent ground truth, deterministic, resumable."""

import hashlib

import numpy as np
import pytest

from humanrecon.io.hdf5 import TRAINING_SHARD, read_h5
from humanrecon.synth.shards import ShardConfig, write_shards

pytestmark = pytest.mark.slow

CFG = ShardConfig(seed=5, num_shards=2, samples_per_shard=2, num_cameras=2, image_size=64, samples_per_subject=2)


def test_shards_are_valid_deterministic_and_resume(tmp_path, body_model_dir):
    paths = write_shards(tmp_path / "a", CFG, body_model_path=body_model_dir)
    assert [p.name for p in paths] == ["shard_00000.h5", "shard_00001.h5"]
    arrays, attrs = read_h5(paths[0], TRAINING_SHARD)
    assert arrays["rgb"].shape == (2, 2, 64, 64, 3) and attrs["shard_index"] == 0
    assert ((arrays["parts"] > 0) == (arrays["mask"] > 0)).all()
    assert arrays["mask"].mean() > 0.02  # the person is in view
    uv = arrays["joints2d"]
    assert ((uv > -5) & (uv < 69)).mean() > 0.9
    # resume: a finished shard is kept as is, a missing one is rendered again identically
    digest = hashlib.sha256(paths[1].read_bytes()).hexdigest()
    mtime0 = paths[0].stat().st_mtime_ns
    paths[1].unlink()
    write_shards(tmp_path / "a", CFG, body_model_path=body_model_dir)
    assert paths[0].stat().st_mtime_ns == mtime0
    again, _ = read_h5(paths[1], TRAINING_SHARD)
    first = write_shards(tmp_path / "b", CFG, body_model_path=body_model_dir)[1]
    other, _ = read_h5(first, TRAINING_SHARD)
    for k in again:
        np.testing.assert_array_equal(again[k], other[k])
    assert digest  # same content regenerated (bytes may differ only in HDF5 metadata)


def test_training_set_appears_only_when_complete_and_prefix_samples_match(tmp_path, body_model_dir):
    """write_training_set builds in <name>.partial and renames when done; a shard with fewer samples holds
    the same first samples (what the segmenter's model card check relies on)."""
    from dataclasses import replace

    from humanrecon.synth.shards import write_training_set

    out = write_training_set(tmp_path / "train", CFG, body_model_path=body_model_dir)
    assert out == tmp_path / "train" and not (tmp_path / "train.partial").exists()
    assert sorted(p.name for p in out.iterdir()) == ["shard_00000.h5", "shard_00001.h5"]
    assert ShardConfig.from_dict({"seed": 5, "shards": 2, "samples": 2, "cameras": 2, "size": 64, "samples_per_subject": 2}) == CFG
    full, _ = read_h5(out / "shard_00000.h5", TRAINING_SHARD)
    one = write_shards(tmp_path / "one", replace(CFG, num_shards=1, samples_per_shard=1), body_model_path=body_model_dir)[0]
    prefix, _ = read_h5(one, TRAINING_SHARD)
    for k in ("rgb", "mask", "parts", "joints2d", "betas", "body_pose"):
        np.testing.assert_array_equal(prefix[k][0], full[k][0])


def test_parallel_workers_write_the_same_shards(tmp_path, body_model_dir):
    """workers=1 and workers=2 render in identically initialised processes: bit-identical shards."""
    serial = write_shards(tmp_path / "serial", CFG, body_model_path=body_model_dir)
    parallel = write_shards(tmp_path / "parallel", CFG, body_model_path=body_model_dir, workers=2)
    assert [p.name for p in parallel] == [p.name for p in serial]
    for a, b in zip(serial, parallel, strict=True):
        x, _ = read_h5(a, TRAINING_SHARD)
        y, _ = read_h5(b, TRAINING_SHARD)
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert not list((tmp_path / "parallel").glob(".*tmp*"))  # no temporaries left behind
