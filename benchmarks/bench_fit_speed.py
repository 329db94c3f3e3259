"""Refinement speed of the SMPL stage on one chunk: one fit (:func:`humanrecon.bodyfit.fit_smpl`) against the
fit with the limbs' left/right hypotheses (:func:`humanrecon.bodyfit.fit_limb_hypotheses`, what the DAG runs).

The session's predicted segmentation (plates + shipped segmenter) is computed once; its 2D joints are
repaired as in the DAG (collapsed pairs dropped, left/right resolved); both fits start from the body
model's mean pose (the regressor is timed by ``bench_regressor.py``). A warm-up fit runs first (imports,
pose-prior fit, vertex subset: paid once per process). Printed: seconds per frame of each, the labelling
kept, and MPJPE against the session's GT.

Make a session, e.g. ``humanrecon synth session /tmp/held/s97 --seed 97 --frames 10 --cameras 8 --size 512 512
--layout dome``, then ``.venv/bin/python benchmarks/bench_fit_speed.py /tmp/held/s97 [--threads 1] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from humanrecon.bodyfit import (
    FitConfig,
    drop_collapsed_pairs,
    fit_limb_hypotheses,
    fit_smpl,
    resolve_left_right,
)
from humanrecon.bodymodel.model import load_body_model
from humanrecon.io.hdf5 import SEGMENTATION, read_h5
from humanrecon.metrics import mpjpe_mm
from humanrecon.pipeline.bodyfit import gt_bodies
from humanrecon.pipeline.calibration import ingest_calibration, read_calibration
from humanrecon.pipeline.segmentation import segment_chunk
from humanrecon.session import load_session

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("session", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    bm = load_body_model(ROOT / cfg["body_model"]["path"])
    frames = list(load_session(args.session).frames)
    with tempfile.TemporaryDirectory() as tmpd:
        cal, pred = Path(tmpd) / "cal.h5", Path(tmpd) / "seg.h5"
        ingest_calibration(args.session, cal)
        segment_chunk(args.session, cal, frames, pred, source="both", plates=cfg["segmentation"]["plates"], model=ROOT / cfg["segmentation"]["model"])
        seg = read_h5(pred, SEGMENTATION)[0]
        cams = list(read_calibration(cal))
    j2d, _ = drop_collapsed_pairs(seg["joints2d"].astype(np.float64))
    j2d, _ = resolve_left_right(j2d, cams)
    gt_j, _ = gt_bodies(args.session, frames, bm)
    inputs = (bm, cams, j2d[..., :2], j2d[..., 2], seg["masks"], seg["parts"])
    F, C = j2d.shape[:2]
    fit_smpl(*inputs, config=FitConfig(stage2_iters=5, stage3_iters=2), device="cpu")  # warm-up
    print(f"{args.session.name}: {F} frames x {C} cameras, {args.threads} torch thread(s), load average "
          f"{open('/proc/loadavg').read().split()[0]}")  # fmt: skip
    for name, fn in (("fit_smpl (labels as given)", fit_smpl), ("fit_limb_hypotheses (DAG)", fit_limb_hypotheses)):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = fn(*inputs, config=FitConfig(), device="cpu")
            times.append(time.perf_counter() - t0)
        kept = "" if res.mirrored_limbs is None else f"  mirrored (legs, arms): {res.mirrored_limbs[0].tolist()}"
        print(f"  {name:28s} {min(times) / F:.2f} s/frame (best of {args.repeat})  MPJPE {mpjpe_mm(res.joints, gt_j):.1f} mm{kept}")


if __name__ == "__main__":
    main()
