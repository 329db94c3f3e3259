"""Atomic writes, deterministic npz, and the HDF5 schema layer."""

import hashlib

import numpy as np
import pytest

from humanrecon.io.atomic import atomic_output, atomic_write_text
from humanrecon.io.hdf5 import TRAINING_SHARD, SchemaError, describe_h5, read_h5, write_h5
from humanrecon.io.npz import write_npz


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "done")
    assert target.read_text() == "done"


def test_atomic_directory_replaces_whole_folder(tmp_path):
    d = tmp_path / "session"
    with atomic_output(d, is_dir=True) as tmp:
        (tmp / "a.txt").write_text("1")
    with atomic_output(d, is_dir=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in d.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["session"]


def test_npz_is_byte_stable_and_loads(tmp_path):
    arrays = {"b": np.arange(6.0).reshape(2, 3), "a": np.array(["cam0", "cam1"])}
    write_npz(tmp_path / "x.npz", arrays)
    h1 = hashlib.sha256((tmp_path / "x.npz").read_bytes()).hexdigest()
    write_npz(tmp_path / "y.npz", dict(reversed(list(arrays.items()))))
    assert hashlib.sha256((tmp_path / "y.npz").read_bytes()).hexdigest() == h1
    with np.load(tmp_path / "x.npz") as z:
        np.testing.assert_array_equal(z["b"], arrays["b"])
        assert z["a"].tolist() == ["cam0", "cam1"]


def _shard(B=2, C=3, H=8, W=10):
    rng = np.random.default_rng(0)
    return {
        "rgb": rng.integers(0, 255, (B, C, H, W, 3), dtype=np.uint8),
        "mask": np.ones((B, C, H, W), np.uint8),
        "parts": np.zeros((B, C, H, W), np.uint8),
        "K": np.tile(np.eye(3), (B, C, 1, 1)),
        "dist": np.zeros((B, C, 5)),
        "R": np.tile(np.eye(3), (B, C, 1, 1)),
        "t": np.zeros((B, C, 3)),
        "betas": np.zeros((B, 10)),
        "body_pose": np.zeros((B, 69)),
        "global_orient": np.zeros((B, 3)),
        "transl": np.zeros((B, 3)),
        "joints": np.zeros((B, 24, 3)),
        "joints2d": np.zeros((B, C, 24, 2)),
        "subject": np.arange(B, dtype=np.int64),
    }


def test_hdf5_round_trip_with_provenance(tmp_path):
    arrays = _shard()
    write_h5(tmp_path / "s.h5", TRAINING_SHARD, arrays, attrs={"seed": 3}, provenance_record={"config_hash": "abc"})
    back, attrs = read_h5(tmp_path / "s.h5", TRAINING_SHARD)
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
    assert attrs["kind"] == "training_shard" and attrs["schema_version"] == 1
    assert attrs["config_hash"] == "abc" and attrs["seed"] == 3
    text = describe_h5(tmp_path / "s.h5")
    assert "rgb" in text and "B C H W 3" in text and "gzip" in text


def test_hdf5_schema_errors_name_the_dataset(tmp_path):
    bad = _shard()
    bad["joints"] = np.zeros((2, 23, 3))
    with pytest.raises(SchemaError, match="joints has shape"):
        write_h5(tmp_path / "s.h5", TRAINING_SHARD, bad)
    bad = _shard()
    bad["mask"] = np.ones((2, 4, 8, 10), np.uint8)  # C=4 disagrees with rgb's C=3
    with pytest.raises(SchemaError, match="C=4"):
        write_h5(tmp_path / "s.h5", TRAINING_SHARD, bad)
    bad = _shard()
    bad["betas"] = bad["betas"].astype(np.float32)
    with pytest.raises(SchemaError, match="dtype float32"):
        write_h5(tmp_path / "s.h5", TRAINING_SHARD, bad)
    assert not (tmp_path / "s.h5").exists()
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(SchemaError, match="not a readable HDF5"):
        read_h5(tmp_path / "junk.h5", TRAINING_SHARD)


def test_schema_docs_are_in_sync():
    from pathlib import Path

    from humanrecon.io.hdf5 import schemas_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "hdf5-schemas.md"
    assert doc.read_text().strip() == schemas_markdown().strip(), "run: humanrecon schemas > docs/hdf5-schemas.md"


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    target = tmp_path / "out.h5"
    stale = tmp_path / ".out.h5.tmp-deadbeef"
    stale.write_text("left by kill -9")
    other = tmp_path / ".other.h5.tmp-1234"
    other.write_text("another output's temporary")
    atomic_write_text(target, "ok")
    assert not stale.exists() and other.exists() and target.read_text() == "ok"
