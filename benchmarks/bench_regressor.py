"""SMPL regressor throughput: network views/s at batch 64 and the whole per-view step (crop + network + lens
mapping, :func:`humanrecon.regressor.infer.regress_views`) on full 512 x 512 segmentations; frames/s at 8
views per frame. CPU by default (``--threads``), CUDA with ``--device cuda``.

Run: ``.venv/bin/python benchmarks/bench_regressor.py [models/regressor/regressor.pt] [--threads 2] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from humanrecon.regressor.infer import load_regressor, regress_views
from humanrecon.synth.rig import RigConfig, make_rig

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, nargs="?", default=ROOT / "models" / "regressor" / "regressor.pt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load_regressor(args.model, device=args.device)
    S = net.input_size
    x = torch.zeros(args.batch, 14, S, S, device=args.device)
    x[:, 0] = 1.0
    with torch.inference_mode():
        net(x)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            net(x)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.repeats
    print(f"network: {args.batch / dt:.0f} views/s at batch {args.batch} ({args.device}, {args.threads} threads)")
    # whole per-view step on synthetic full-size segmentations (an ellipse person with striped parts)
    cams = list(make_rig(np.random.default_rng(0), RigConfig(num_cameras=8, image_size=(512, 512))))
    H = W = 512
    yy, xx = np.mgrid[:H, :W]
    person = (((xx - 256) / 60.0) ** 2 + ((yy - 256) / 190.0) ** 2) <= 1.0
    parts = np.where(person, 1 + (yy // 32) % 12, 0).astype(np.uint8)
    n = args.batch
    P = np.repeat(parts[None], n, 0)
    M = (P > 0).astype(np.uint8)
    regress_views(net, P[:8], M[:8], cams)
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        regress_views(net, P, M, [cams[i % 8] for i in range(n)], batch_size=args.batch)
    dt = (time.perf_counter() - t0) / args.repeats
    print(f"regress_views (crop + network + lens mapping): {n / dt:.0f} views/s = {n / dt / 8:.1f} frames/s at 8 views")


if __name__ == "__main__":
    main()
