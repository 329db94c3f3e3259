"""Synthetic studio speed: one frame of 8 cameras at 512x512 (bar: <= 3 s on 2 cores).

Prints the median over a few frames of: posing + clothing, rendering all 8 cameras (RGB, mask, parts,
depth), the clothed GT mesh union, and the whole frame including PNG/NPZ/PLY writing.

    .venv/bin/python benchmarks/bench_synth.py [--frames 5] [--size 512] [--cameras 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from humanrecon.bodymodel.model import load_body_model
from humanrecon.bodymodel.skinning import posed_transforms
from humanrecon.synth import garments, render
from humanrecon.synth.studio import (
    StudioConfig,
    _frame_transforms,
    _to_render_surfaces,
    plan_session,
    write_session,
)
from humanrecon.synth.subjects import PhenotypeSampler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--body-model", default="resources/body_models")
    args = ap.parse_args()
    cfg = StudioConfig(name="bench", seed=11, num_frames=args.frames, num_cameras=args.cameras, image_size=(args.size, args.size))
    bm = load_body_model(args.body_model)
    plan = plan_session(cfg, bm, PhenotypeSampler(bm, ".cache/anny"))
    cams = list(plan.rig)
    rng = np.random.default_rng(0)
    T = posed_transforms(bm, np.repeat(plan.betas[None], args.frames, 0), plan.global_orient, plan.body_pose, plan.transl)
    render.render_frame(_to_render_surfaces(garments.clothed_surfaces(bm, plan.outfit, _frame_transforms(T, 0))), plan.studio, cams, rng, plan.lighting)  # warm caches (studio hits are per session)
    pose_s, render_s, union_s = [], [], []
    for f in range(args.frames):
        t0 = time.perf_counter()
        surf = garments.clothed_surfaces(bm, plan.outfit, _frame_transforms(T, f))
        t1 = time.perf_counter()
        render.render_frame(_to_render_surfaces(surf), plan.studio, cams, rng, plan.lighting)
        t2 = time.perf_counter()
        garments.clothed_mesh(surf)
        t3 = time.perf_counter()
        pose_s.append(t1 - t0)
        render_s.append(t2 - t1)
        union_s.append(t3 - t2)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_session(Path(tmp) / "s", cfg, body_model_path=args.body_model, anny_cache_dir=".cache/anny")
        whole = time.perf_counter() - t0
    med = np.median
    print(f"{args.cameras} cameras x {args.size}^2, median over {args.frames} frames:")
    print(f"  pose + clothing      {med(pose_s):6.3f} s")
    print(f"  render (all cameras) {med(render_s):6.3f} s   (bar: <= 3 s per frame)")
    print(f"  GT mesh union        {med(union_s):6.3f} s")
    print(f"  write_session        {whole:6.2f} s for {args.frames} frames incl. set-up ({whole / args.frames:.2f} s/frame)")


if __name__ == "__main__":
    main()
