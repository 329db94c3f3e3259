"""Segmenter inference speed and memory: images/s at 256x256 on the CPU (and the GPU when present).

Runs the network (the shipped weights when present, else an untrained network of the same shape: speed
does not depend on the weights) on batches of random 256x256 crops and prints images per second and
the process's peak resident memory. The bar (learned-segmentation issue): >= 15 images/s on 2 CPU cores,
peak memory <= 2 GB.

Run: ``.venv/bin/python benchmarks/bench_segmenter.py [--threads 2] [--batch 16] [--repeat 5] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from humanrecon.segmenter.infer import load_segmenter
from humanrecon.segmenter.network import SegmenterNet, count_parameters

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--weights", type=Path, default=ROOT / "models" / "segmenter" / "segmenter.pt")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if args.weights.exists():
        model, _ = load_segmenter(args.weights, dev)
        what = str(args.weights.relative_to(ROOT) if args.weights.is_relative_to(ROOT) else args.weights)
    else:
        model, what = SegmenterNet().eval().to(dev), "untrained network"
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev)
    with torch.inference_mode():
        model(x)  # warm-up (allocations, kernel selection)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    best, med = min(times), sorted(times)[len(times) // 2]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"segmenter ({what}): {count_parameters(model) / 1e6:.2f} M parameters, {args.device}, {args.threads} threads")
    print(f"batch {args.batch} x {args.size}^2: median {args.batch / med:.1f} images/s (best {args.batch / best:.1f}); "
          f"{1000 * med / args.batch:.1f} ms/image")  # fmt: skip
    print(f"peak resident memory {peak_mb:.0f} MB (bar: <= 2048 MB); speed bar: >= 15 images/s on 2 CPU cores")


if __name__ == "__main__":
    main()
