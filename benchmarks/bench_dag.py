"""DAG construction for a big session: `snakemake -n` on a 10 000-frame, 8-camera session.

Bar: the DAG builds in <= 30 s; chunking keeps the job count in the hundreds (<= 1000 through the SLURM
profile). The session is a session.yaml plus calibration only (a dry run reads no images).

    .venv/bin/python benchmarks/bench_dag.py [--frames 10000] [--chunk-size 25]
    .venv/bin/python benchmarks/bench_dag.py --workflow-profile profiles/slurm   # the profile's chunk_size
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from humanrecon.calibration import write_easymocap
from humanrecon.session import write_session_yaml
from humanrecon.synth.rig import RigConfig, make_rig

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--chunk-size", type=int, default=None, help="default: 25, or the profile's chunk_size")
    ap.add_argument("--workflow-profile", default=None, help="e.g. profiles/slurm (its config: entries apply)")
    args = ap.parse_args()
    profile = ["--workflow-profile", str(Path(args.workflow_profile).resolve())] if args.workflow_profile else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        s = tmp / "big"
        rig = make_rig(np.random.default_rng(0), RigConfig(num_cameras=args.cameras))
        write_easymocap(rig, s / "calibration" / "intri.yml", s / "calibration" / "extri.yml")
        write_session_yaml(
            {
                "name": "big",
                "calibration": {"format": "easymocap", "path": "calibration"},
                "frames": {"start": 0, "stop": args.frames},
                "images": "images/{camera}/{frame:06d}.png",
                "backgrounds": "backgrounds/{camera}.png",
            },
            s / "session.yaml",
        )
        cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
        cfg["synth"] = {}
        cfg["sessions"] = {"big": str(s)}
        cfg["chunk_size"] = args.chunk_size or 25
        for section in ("segmentation", "body_fit", "occupancy"):  # shipped weights by absolute path (another workdir)
            if cfg.get(section, {}).get("model"):
                cfg[section]["model"] = str(ROOT / cfg[section]["model"])
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp / "wd"),
               "--configfile", str(tmp / "config.yaml"), "--cores", "2", "--quiet", "rules", *profile]  # fmt: skip
        if profile and args.chunk_size:
            cmd += ["--config", f"chunk_size={args.chunk_size}"]  # the profile's config: beats the config file
        (tmp / "wd").mkdir()
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if run.returncode != 0:
            sys.exit(run.stdout[-2000:] + run.stderr[-2000:])
        text = run.stdout + run.stderr
        total = re.search(r"^total\s+(\d+)", text, re.M)
        segments = re.search(r"^segmentation\s+(\d+)", text, re.M)
        chunk = f"chunk_size {-(-args.frames // int(segments.group(1)))}" if segments else "chunk_size ?"
        via = f" via {args.workflow_profile}" if profile else ""
        print(f"{args.frames} frames x {args.cameras} cameras, {chunk}{via}:")
        bar = " (bar: <= 1000)" if profile else ""
        print(f"  snakemake -n: {dt:.1f} s (bar: <= 30 s), {total.group(1) if total else '?'} jobs{bar}")
        for line in text.splitlines():
            if re.match(r"^\w+\s+\d+$", line.strip()):
                print("   ", line.strip())
                if line.strip().startswith("total"):
                    break  # the job table appears once per output stream


if __name__ == "__main__":
    main()
