"""DVC with the real tools, in temporary git + DVC repositories: push/pull round trip, bit-identical dataset
releases, tampering detected, and Snakemake that ignores a `dvc checkout` (new mtimes, same content) but
reruns on a content change (docs/data-versioning.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from humanrecon.cli import main
from humanrecon.curation import (
    ReleaseError,
    SessionSource,
    curate_release,
    dvc_file_for,
    sha256_file,
    verify_release,
)
from humanrecon.io.hdf5 import DATASET_RELEASE, read_h5
from humanrecon.io.images import read_image, write_image
from humanrecon.pipeline.calibration import ingest_calibration
from humanrecon.pipeline.meshing import mesh_chunk
from humanrecon.pipeline.occupancy import occupancy_chunk
from humanrecon.pipeline.segmentation import segment_chunk
from humanrecon.synth.studio import StudioConfig, write_session

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = StudioConfig(name="tiny", seed=7, num_frames=2, num_cameras=6, image_size=(128, 128), layout="dome")
# the line docs/data-versioning.md puts in the Snakemake profiles
PROFILE_LINE = "max-checksum-file-size: 1MB\n"
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def dvc(repo: Path, *args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=ENV, capture_output=True, text=True)
    assert run.returncode == 0, f"dvc {' '.join(args)}: {run.stderr[-2000:]}"
    return run.stdout


def make_repo(path: Path) -> Path:
    """git + DVC repository configured like this project (no analytics, no update checks, local remote)."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    dvc(path, "init", "-q")
    dvc(path, "config", "core.analytics", "false")
    dvc(path, "config", "core.check_update", "false")
    dvc(path, "config", "core.site_cache_dir", str(path.parent / f"{path.name}-site-cache"))
    dvc(path, "remote", "add", "-d", "local", str(path.parent / f"{path.name}-store"))
    shutil.copy(ROOT / ".dvcignore", path / ".dvcignore")
    return path


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def session(tmp_path_factory, body_model_dir) -> Path:
    out = tmp_path_factory.mktemp("dvc") / "tiny"
    write_session(out, TINY, body_model_path=body_model_dir)
    return out


@pytest.fixture(scope="module")
def results(session, tmp_path_factory) -> Path:
    """The stages on the tiny session, one frame per chunk: results/tiny/..."""
    res = tmp_path_factory.mktemp("results") / "tiny"
    ingest_calibration(session, res / "calibration.h5")
    for i in (0, 1):
        c = f"c{i:05d}"
        segment_chunk(session, res / "calibration.h5", [i], res / "segmentation" / f"{c}.h5")
        occupancy_chunk(res / "segmentation" / f"{c}.h5", res / "calibration.h5", res / "occupancy" / f"{c}.h5", resolution=64, coarse_resolution=8)
        mesh_chunk(res / "occupancy" / f"{c}.h5", res / "meshes" / f"{c}.json", res / "meshes")
    return res


def test_add_push_delete_pull_gives_the_same_bytes(session, tmp_path):
    repo = make_repo(tmp_path / "repo")
    data = repo / "data" / "sessions" / "tiny"
    shutil.copytree(session, data)
    before = digests(data)
    dvc(repo, "add", "-q", "data/sessions/tiny")
    assert dvc_file_for(data) == data.with_name("tiny.dvc")
    assert dvc_file_for(data / "images" / "cam00") == data.with_name("tiny.dvc")  # inside a tracked folder
    assert dvc_file_for(session) is None
    dvc(repo, "push", "-q")
    assert any((tmp_path / "repo-store").rglob("*"))
    shutil.rmtree(data)
    shutil.rmtree(repo / ".dvc" / "cache")
    dvc(repo, "pull", "-q")
    assert digests(data) == before
    assert json.loads(dvc(repo, "status", "--json") or "{}") == {}


def test_release_is_bit_identical_verified_and_complete(session, results, tmp_path):
    src = [SessionSource("tiny", session, results)]
    a = curate_release(tmp_path / "a" / "r1", src, config={"k": 1})
    curate_release(tmp_path / "b" / "r1", src, config={"k": 1})
    assert digests(tmp_path / "a" / "r1") == digests(tmp_path / "b" / "r1")
    assert (tmp_path / "a" / "r1" / "manifest.json").read_bytes() == (tmp_path / "b" / "r1" / "manifest.json").read_bytes()
    assert set(a["files"]) == {"shards/tiny/c00000.h5", "shards/tiny/c00001.h5"}
    assert a["sessions"]["tiny"]["frames"] == [0, 1] and a["provenance"]["packages"]["numpy"] == np.__version__
    assert verify_release(tmp_path / "a" / "r1")["name"] == "r1"
    # contents: the session's images, the stage's meshes (ragged), ground truth
    arr, attrs = read_h5(tmp_path / "a" / "r1" / "shards" / "tiny" / "c00001.h5", DATASET_RELEASE)
    assert attrs["kind"] == "dataset_release" and attrs["smpl_source"] == "gt" and list(arr["frames"]) == [1]
    np.testing.assert_array_equal(arr["images"][0, 2], read_image(session / "images" / "cam02" / "000001.png"))
    import trimesh

    ply = trimesh.load(results / "meshes" / "000001.ply", process=False, force="mesh")
    o, fo = arr["mesh_vertex_offsets"], arr["mesh_face_offsets"]
    np.testing.assert_array_equal(arr["mesh_vertices"][o[0] : o[1]], np.asarray(ply.vertices, np.float32))
    np.testing.assert_array_equal(arr["mesh_faces"][fo[0] : fo[1]], ply.faces)
    assert arr["gt_masks"].shape == arr["masks"].shape == (1, 6, 128, 128) and arr["parts"].max() > 0
    # person crops: the crop intrinsics map the joints exactly where the full-image ones land in the crop
    curate_release(tmp_path / "c" / "r1", src, crop_size=48)
    crop, _ = read_h5(tmp_path / "c" / "r1" / "shards" / "tiny" / "c00001.h5", DATASET_RELEASE)
    assert crop["images"].shape == (1, 6, 48, 48, 3)
    x0, y0, x1, _ = crop["crop_boxes"][0, 3]
    s = 48 / (x1 - x0)
    uv = s * (arr["joints2d"][0, 3] - [x0, y0] + 0.5) - 0.5
    uv_crop = _project(crop["joints"][0], crop["R"][3], crop["t"][3], crop["crop_K"][0, 3], crop["dist"][3])
    np.testing.assert_allclose(uv_crop, uv, atol=1e-6)
    # a release is immutable unless asked; an identical rebuild gives the same bytes
    with pytest.raises(ReleaseError, match="exists"):
        curate_release(tmp_path / "a" / "r1", src, config={"k": 1})
    curate_release(tmp_path / "a" / "r1", src, config={"k": 1}, overwrite=True)
    assert digests(tmp_path / "a" / "r1") == digests(tmp_path / "b" / "r1")
    with pytest.raises(ReleaseError, match="not inside a DVC project"):
        curate_release(tmp_path / "d" / "r1", src, dvc=True)
    assert not (tmp_path / "d" / "r1").exists()
    # the command line: same release as the API with the same settings
    assert main(["curate", str(tmp_path / "e" / "r1"), "--session", f"tiny={session}", "--results", str(results.parent)]) == 0
    curate_release(tmp_path / "f" / "r1", src)
    assert digests(tmp_path / "e" / "r1") == digests(tmp_path / "f" / "r1")
    assert main(["curate", str(tmp_path / "e" / "r1"), "--verify"]) == 0


def _project(X, R, t, K, dist):
    import cv2

    uv, _ = cv2.projectPoints(X, cv2.Rodrigues(R)[0], t, K, dist)
    return uv[:, 0]


def test_tampered_release_is_detected_and_not_overwritten(session, results, tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    out = repo / "releases" / "r1"
    curate_release(out, [SessionSource("tiny", session, results)], dvc=True)
    assert (repo / "releases" / "r1.dvc").is_file() and "/r1" in (repo / "releases" / ".gitignore").read_text()
    assert json.loads(dvc(repo, "status", "--json") or "{}") == {}
    shard = out / "shards" / "tiny" / "c00000.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    tampered = sha256_file(shard)
    status = json.loads(dvc(repo, "status", "--json"))
    assert "releases/r1.dvc" in status and "modified" in json.dumps(status)
    with pytest.raises(ReleaseError, match=r"shards/tiny/c00000\.h5: modified"):
        verify_release(out)
    with pytest.raises(ReleaseError, match=r"(?s)refusing to replace .*r1: release does not match.*c00000\.h5: modified.*dvc checkout"):
        curate_release(out, [SessionSource("tiny", session, results)], dvc=True, overwrite=True)
    assert sha256_file(shard) == tampered  # nothing overwritten
    assert main(["curate", str(out), "--verify"]) == 2
    assert "c00000.h5: modified" in capsys.readouterr().err
    dvc(repo, "checkout", "--force", "-q", "releases/r1.dvc")  # the documented way back
    verify_release(out)


def _snakemake(repo: Path, profile: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(repo), "--profile", str(profile),
           "--configfile", str(repo / "config.yaml"), "--cores", "2", *args]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout + run.stderr


def test_snakemake_ignores_dvc_checkout_and_reruns_on_content_change(session, tmp_path, body_model_dir):
    repo = make_repo(tmp_path / "repo")
    data = repo / "data" / "sessions" / "tiny"
    shutil.copytree(session, data)
    dvc(repo, "add", "-q", "data/sessions/tiny")
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg.update(synth={}, sessions={"tiny": "data/sessions/tiny"}, chunk_size=1)
    cfg["body_model"]["path"] = str(body_model_dir)
    cfg["occupancy"].update(resolution=48, coarse_resolution=8)
    cfg["segmentation"]["source"] = "plates"  # DVC mechanics, not the learned stages
    cfg["body_fit"]["enabled"] = False
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg))
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text(PROFILE_LINE)

    # the whole chain to a release, through the rules: curate runs `dvc add` in this DVC project
    _snakemake(repo, profile, "releases/r1")
    manifest = verify_release(repo / "releases" / "r1")
    assert manifest["sessions"]["tiny"]["dvc"]["md5"].endswith(".dir")
    assert json.loads(dvc(repo, "status", "--json") or "{}") == {}  # .snakemake_timestamp is .dvcignore'd
    assert "Nothing to be done" in _snakemake(repo, profile, "-n", "releases/r1")

    # dvc checkout: every session file rewritten (new mtimes, same bytes); the .dvc file touched (git checkout)
    old_mtime = (data / "session.yaml").stat().st_mtime_ns
    time.sleep(0.05)
    shutil.rmtree(data)
    dvc(repo, "checkout", "-q", "data/sessions/tiny.dvc")
    assert (data / "session.yaml").stat().st_mtime_ns > old_mtime
    os.utime(data.with_name("tiny.dvc"))
    assert "Nothing to be done" in _snakemake(repo, profile, "-n", "releases/r1")
    # control: without checksums the same mtimes would rerun the session's stages
    forced = _snakemake(repo, profile, "-n", "--max-checksum-file-size", "0", "releases/r1")
    assert "rule calibration" in forced and "Updated input files" in forced

    # a content change, recorded with `dvc add`, reruns everything downstream of the session
    img = data / "images" / "cam00" / "000001.png"
    rgb = read_image(img)
    rgb[:8] = 255 - rgb[:8]
    write_image(img, rgb)
    status = json.loads(dvc(repo, "status", "--json"))
    assert "data/sessions/tiny.dvc" in status
    dvc(repo, "add", "-q", "data/sessions/tiny")
    rerun = _snakemake(repo, profile, "-n", "releases/r1")
    assert "Updated input files: data/sessions/tiny.dvc" in rerun
    for rule in ("calibration", "segmentation", "occupancy", "meshing", "curate"):
        assert f"rule {rule}:" in rerun, rule
