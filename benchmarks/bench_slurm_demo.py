"""Wall time of the demo DAG on a SLURM cluster (profiles/slurm) vs locally (profiles/default).

Both runs process the already generated demo session (``data/sessions/demo``; `make run` creates it) from
calibration ingest to the report figures, in fresh working directories, with the project's config
(chunk_size 1 in both, so the per-frame stages are one job per frame: 4 frames -> 4 jobs per stage).
The SLURM run needs a cluster: on this project's machines start the one-node test cluster first
(``sudo bash tests/cluster/setup_slurm.sh``; ``teardown_slurm.sh`` stops it). The executor polls every
second at first (as in tests/test_slurm.py), then backs off by 10 s per poll that finds nothing finished.

Run: ``sudo .venv/bin/python benchmarks/bench_slurm_demo.py [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]


def run(workdir: Path, config: Path, *extra: str) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--configfile", str(config), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, help="working directory to keep (default: a temporary one)")
    args = ap.parse_args()
    demo = ROOT / "data" / "sessions" / "demo"
    if not (demo / "session.yaml").exists():
        sys.exit("no demo session: run `make run` first")
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["body_model"]["path"] = str(ROOT / "resources" / "body_models")
    cfg["cache_dir"] = str(ROOT / ".cache")
    cfg["synth"] = {}
    cfg["sessions"] = {"demo": str(demo)}
    cfg["chunk_size"] = 1
    config = base / "config.yaml"
    base.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(cfg))
    t_local = run(base / "local", config, "--cores", "2")
    t_slurm = run(base / "slurm", config, "--workflow-profile", str(ROOT / "profiles" / "slurm"), "--config", "chunk_size=1", *FAST_POLL)
    same = (base / "local" / "results" / "demo" / "metrics.csv").read_bytes() == (base / "slurm" / "results" / "demo" / "metrics.csv").read_bytes()
    print(f"demo DAG (4 frames, 8 cameras at 512x512, 256^3; calibration -> report): local {t_local:.0f} s, SLURM {t_slurm:.0f} s; "
          f"metrics.csv identical: {same}")  # fmt: skip
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
