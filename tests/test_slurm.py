"""The workflow on a real SLURM cluster: profiles/slurm through snakemake-executor-plugin-slurm.

The cluster tests (marked ``slurm``) need root: they start a one-node cluster on this machine with
tests/cluster/setup_slurm.sh (apt-installs slurm-wlm + munge when missing) and always stop it again with
teardown_slurm.sh. They are skipped unless HUMANRECON_SLURM_TESTS=1; CI (.ci/run) enables them after
`make test`. The dry-run job count of the profile needs no cluster and always runs.

    sudo HUMANRECON_SLURM_TESTS=1 .venv/bin/pytest -q -rP tests/test_slurm.py
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
PROFILE = ROOT / "profiles" / "slurm"
ENABLED = os.environ.get("HUMANRECON_SLURM_TESTS") == "1"
needs_cluster = pytest.mark.skipif(not ENABLED, reason="needs root and a local SLURM cluster: set HUMANRECON_SLURM_TESTS=1")
# The tiny session: 2 frames (one chunk each, so per-chunk rules run twice), 4 cameras at 160x160.
TINY = {"seed": 7, "num_frames": 2, "num_cameras": 4, "image_size": [160, 160], "layout": "ring", "distortion": True, "fps": 30}
RULES_ON_SLURM = ["synth_session", "calibration", "segmentation", "occupancy", "meshing", "metrics", "metrics_table", "report_figures"]
# Poll SLURM every second at first (the plugin then adds 10 s per poll that finds no finished job).
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group; past ``timeout`` kill the whole group (the SLURM executor
    does not exit on SIGTERM while it waits for a job) and fail the test."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {' '.join(cmd)}\n{out[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def _snakemake(workdir: Path, configfile: Path, *args: str, timeout: float = 420) -> tuple[subprocess.CompletedProcess, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--configfile", str(configfile), *args]
    t0 = time.perf_counter()
    run = _run(cmd, timeout)
    return run, time.perf_counter() - t0


def _config(path: Path, sessions: dict, synth: dict, body_model_dir: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["body_model"]["path"] = str(body_model_dir)  # the built model: no body_model job
    cfg["cache_dir"] = str(ROOT / ".cache")  # Anny's data, built once by `make test`
    cfg["synth"] = synth
    cfg["sessions"] = sessions
    cfg["chunk_size"] = 1
    cfg["occupancy"].update(resolution=64, coarse_resolution=8)
    cfg["metrics"].update(surface_samples=5000, iou_resolution=48)
    cfg.pop("curation", None)
    # cluster mechanics, not the learned stages: plate silhouettes, no SMPL stage (tests/test_pipeline.py runs it)
    cfg["segmentation"]["source"] = "plates"
    cfg["body_fit"]["enabled"] = False
    path.write_text(yaml.safe_dump(cfg))
    return path


def _slurm_jobs() -> dict[str, tuple[str, str]]:
    """SLURM job id -> (state, comment) of every job the controller still remembers (MinJobAge=300)."""
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"], capture_output=True, text=True, timeout=30, check=True)
    return {i: (state, comment) for i, state, comment in (line.split("|", 2) for line in out.stdout.splitlines() if line)}


def _submissions(log: str) -> dict[int, str]:
    """Snakemake job id -> SLURM job id, from the executor's 'has been submitted' lines."""
    return {int(a): b for a, b in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)}


def _jobs_by_rule(log: str) -> dict[int, str]:
    """Snakemake job id -> rule name of every job of a run."""
    return {int(j): r for r, j in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", log, re.M)}


def _mesh_digests(results: Path) -> dict[str, str]:
    """Frame -> SHA-256 of every mesh, from the manifests, each checked against the file itself."""
    digests = {}
    for manifest in sorted((results / "meshes").glob("c*.json")):
        for frame, entry in json.loads(manifest.read_text())["meshes"].items():
            assert hashlib.sha256((results / "meshes" / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
            digests[frame] = entry["sha256"]
    return digests


# ---- always on: the profile's DAG size --------------------------------------------------------------


def test_profile_keeps_a_10000_frame_session_under_1000_jobs():
    run = _run([sys.executable, str(ROOT / "benchmarks" / "bench_dag.py"), "--workflow-profile", str(PROFILE)], timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    total = int(re.search(r"(\d+) jobs", run.stdout).group(1))
    assert "chunk_size 60 via" in run.stdout and total <= 1000, run.stdout
    assert re.search(r"segmentation\s+167\b", run.stdout), run.stdout


def test_profile_takes_partition_and_account_from_the_environment(tmp_path, body_model_dir):
    cfg = _config(tmp_path / "config.yaml", {"tiny": "data/sessions/tiny"}, {"tiny": TINY}, body_model_dir)
    env = dict(os.environ, HUMANRECON_SLURM_PARTITION="gpu-a100", HUMANRECON_SLURM_ACCOUNT="proj42")
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path / "wd"), "--configfile", str(cfg), "--workflow-profile", str(PROFILE)]  # fmt: skip
    (tmp_path / "wd").mkdir()
    with_env = _run(cmd, timeout=120, env=env)
    assert with_env.returncode == 0, with_env.stdout[-3000:]
    assert "slurm_partition=gpu-a100" in with_env.stdout and "slurm_account=proj42" in with_env.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUMANRECON_SLURM_")}
    without = _run(cmd, timeout=120, env=env)
    assert without.returncode == 0, without.stdout[-3000:]
    assert "slurm_partition" not in without.stdout and "slurm_account" not in without.stdout  # left to the site


# ---- on a local SLURM cluster ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node cluster; torn down afterwards even when setup fails halfway."""
    if os.geteuid() != 0:
        pytest.fail("HUMANRECON_SLURM_TESTS=1 needs root (setup_slurm.sh installs packages and starts daemons)")
    try:
        setup = _run(["bash", str(CLUSTER / "setup_slurm.sh")], timeout=900)
        if setup.returncode != 0:
            pytest.fail(f"setup_slurm.sh failed:\n{setup.stdout[-4000:]}")
        yield
    finally:
        _run(["bash", str(CLUSTER / "teardown_slurm.sh")], timeout=120)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, body_model_dir, slurm_cluster):
    """The tiny DAG run locally (profiles/default) and on SLURM (profiles/slurm), from the same config."""
    tmp = tmp_path_factory.mktemp("slurm")
    cfg = _config(tmp / "config.yaml", {"tiny": "data/sessions/tiny"}, {"tiny": TINY}, body_model_dir)
    local, t_local = _snakemake(tmp / "local", cfg, "--cores", "2", timeout=300)
    assert local.returncode == 0, local.stdout[-4000:]
    # --config chunk_size=1 replaces the profile's chunk_size 60: both runs cut the session alike.
    # report_figures asks for a GPU, as later training/inference rules do: the plugin turns it into --gpus.
    slurm, t_slurm = _snakemake(
        tmp / "slurm", cfg, "--workflow-profile", str(PROFILE), "--config", "chunk_size=1", *FAST_POLL,
        "--slurm-keep-successful-logs", "--set-resources", "report_figures:gpu=1", timeout=480,
    )  # fmt: skip
    print(f"tiny DAG (2 frames, 4 cameras, 160x160, 64^3; 12 jobs): local {t_local:.0f} s, SLURM {t_slurm:.0f} s")
    return {"tmp": tmp, "local": tmp / "local", "slurm": tmp / "slurm", "slurm_run": slurm, "local_run": local}


@pytest.mark.slurm
@needs_cluster
@pytest.mark.timeout(1800)  # includes the module's setup: apt, the cluster, the local and the SLURM run
def test_every_job_runs_under_slurm_and_matches_the_local_run(runs):
    assert re.search(r"workflow specific profile \S*profiles/default ", runs["local_run"].stdout)  # found by itself
    run = runs["slurm_run"]
    assert run.returncode == 0, run.stdout[-4000:]
    log = run.stdout
    assert f"workflow specific profile {PROFILE}" in log
    rules = _jobs_by_rule(log)
    submitted = _submissions(log)
    assert sorted(rules.values()) == sorted(["all"] + RULES_ON_SLURM + ["segmentation", "occupancy", "meshing", "metrics"])
    # every job but `all` (which runs nothing) went through sbatch, each as its own SLURM job
    assert set(submitted) == {j for j, r in rules.items() if r != "all"}, log[-4000:]
    assert len(set(submitted.values())) == len(submitted)
    # SLURM ran them: the controller lists each as COMPLETED, with the rule in the job's comment
    known = _slurm_jobs()
    for job, slurm_id in submitted.items():
        state, comment = known[slurm_id]
        assert state == "COMPLETED" and comment.startswith(f"rule_{rules[job]}"), (slurm_id, state, comment)
        # and the job's SLURM log is the job step's own Snakemake run of that rule, on the node
        slurm_log = next((runs["slurm"] / "logs" / "slurm" / f"rule_{rules[job]}").rglob(f"{slurm_id}.log"))
        text = slurm_log.read_text()
        assert f"rule {rules[job]}:" in text and "--executor slurm-jobstep" in text and "Host:" in text
    # the GPU request reached SLURM as --gpus (the node's one fake GPU)
    report_id = submitted[next(j for j, r in rules.items() if r == "report_figures")]
    job_info = subprocess.run(["scontrol", "show", "job", report_id], capture_output=True, text=True, timeout=30).stdout
    assert re.search(r"TresPerJob=(gres:)?gpu:1", job_info), job_info
    # same outputs as the local run: metrics.csv byte for byte, every mesh by SHA-256
    local, slurm = runs["local"] / "results" / "tiny", runs["slurm"] / "results" / "tiny"
    assert (slurm / "metrics.csv").read_bytes() == (local / "metrics.csv").read_bytes()
    digests = _mesh_digests(slurm)
    assert sorted(digests) == ["000000", "000001"] and digests == _mesh_digests(local)
    for name in ("summary.png", "overlays.png", "turntable.png"):
        assert (slurm / "report" / name).stat().st_size > 1000


@pytest.mark.slurm
@needs_cluster
@pytest.mark.timeout(1800)
def test_a_failing_job_fails_the_run(runs, body_model_dir):
    """A session with a corrupt image: its segmentation job fails on SLURM, so the run exits non-zero."""
    tmp = runs["tmp"]
    bad = tmp / "bad-session"
    shutil.copytree(runs["local"] / "data" / "sessions" / "tiny", bad)
    (bad / "images" / "cam02" / "000001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cfg = _config(tmp / "bad.yaml", {"bad": str(bad)}, {}, body_model_dir)
    run, _ = _snakemake(tmp / "bad", cfg, "--workflow-profile", str(PROFILE), "--config", "chunk_size=1", *FAST_POLL, timeout=300)
    log = run.stdout
    assert run.returncode != 0, log[-4000:]
    assert "Error in rule segmentation" in log and re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", log), log[-4000:]
    failed = re.search(r"SLURM-job '(\d+)' failed", log).group(1)
    assert _slurm_jobs()[failed][0] == "FAILED"
    assert "cannot decode" in (tmp / "bad" / "logs" / "segmentation" / "bad" / "c00001.log").read_text()
    assert not (tmp / "bad" / "results" / "bad" / "segmentation" / "c00001.h5").exists()
    assert not (tmp / "bad" / "results" / "bad" / "metrics.csv").exists()
    # the failed job's SLURM log is kept for the user (successful ones are deleted by default)
    assert list((tmp / "bad" / "logs" / "slurm" / "rule_segmentation").rglob(f"{failed}.log"))
