"""SMPL stage on held-out synthetic sessions: per-view regression, fusion and refinement against GT, as a
function of the segmentation quality (Neural Body Fitting's Figure 3).

For every session, with 8 cameras and with 4 (every other one), the SMPL stage
(:func:`humanrecon.pipeline.bodyfit.fit_chunk`) runs on the same frames with these segmentations:

* ``gt``: the session's GT silhouettes, 12-part maps and 2D joints (confidence 1);
* ``degraded-k``: the GT part maps degraded at strength ``k`` (boundary warp ``2k`` px, a part bleeding
  ``k`` px, speckle ``k`` %, :func:`humanrecon.regressor.synthetic.degrade`) and the GT 2D joints with
  ``3k`` px Gaussian noise;
* ``predicted``: the DAG's segmentation (plates for the silhouettes, the shipped segmenter for the parts
  and 2D joints, ``segmentation.source: both``).

Printed: one row per session x cameras x input, and means over sessions: part mIoU and 2D joint error of
the input, per-view regression MPJPE (root-relative), fusion MPJPE / PA-MPJPE / PVE, refinement MPJPE /
PA-MPJPE / PVE (world frame, mm) and refinement seconds per frame. ``--plot`` draws the curve (MPJPE
against part mIoU).

Make held-out sessions with seeds nothing trains on, e.g.
``humanrecon synth session /tmp/held/s61 --seed 61 --frames 4 --cameras 8 --size 512 512 --layout dome``.

Run: ``.venv/bin/python benchmarks/bench_bodyfit.py models/regressor/regressor.pt SESSION [SESSION...]
[--cameras 8 4] [--levels 1 2 4] [--no-predicted] [--fit '{"w_parts": 0}'] [--json out.json] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from humanrecon.bodymodel.model import load_body_model
from humanrecon.implicit.train import spread_views
from humanrecon.io.hdf5 import CALIBRATION, SEGMENTATION, SMPL, read_h5, write_h5
from humanrecon.pipeline.bodyfit import (
    degraded_segmentation,
    fit_chunk,
    gt_bodies,
    gt_segmentation,
    segmentation_quality,
)
from humanrecon.pipeline.calibration import ingest_calibration
from humanrecon.pipeline.evaluation import body_metrics
from humanrecon.pipeline.segmentation import segment_chunk
from humanrecon.session import load_session

ROOT = Path(__file__).resolve().parents[1]
COLS = ("part_miou", "joint2d_px", "view_mpjpe_mm", "fused_mpjpe_mm", "fused_pa_mpjpe_mm", "fused_pve_mm",
        "mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "s_per_frame")  # fmt: skip


def _subset(arrays: dict, names: list[str], keep: list[int]) -> dict:
    """Calibration/segmentation arrays restricted to cameras ``keep`` (axis 0 = C, or axis 1 after F)."""
    out = {}
    for k, v in arrays.items():
        if k in ("frames",):
            out[k] = v
        elif k in ("masks", "parts", "joints2d"):
            out[k] = v[:, keep]
        else:
            out[k] = v[keep]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("sessions", type=Path, nargs="+")
    ap.add_argument("--cameras", type=int, nargs="+", default=[8, 4])
    ap.add_argument("--levels", type=float, nargs="*", default=[1.0, 2.0, 4.0])
    ap.add_argument("--no-predicted", action="store_true")
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--fit", type=json.loads, default=None, help='FitConfig overrides as JSON, e.g. \'{"w_parts": 0}\'')
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    bm_path = ROOT / cfg["body_model"]["path"]
    bm = load_body_model(bm_path)
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for sp in args.sessions:
            session = load_session(sp)
            names = list(session.camera_names)
            frames = list(session.frames)
            cal = tmp / f"{sp.name}_cal.h5"
            ingest_calibration(sp, cal)
            gt = gt_segmentation(sp, frames)
            inputs = {"gt": gt}
            for k in args.levels:
                inputs[f"degraded-{k:g}"] = degraded_segmentation(gt, k, seed=int(round(100 * k)))
            if not args.no_predicted:
                pred = tmp / f"{sp.name}_pred.h5"
                segment_chunk(sp, cal, frames, pred, source="both", plates=cfg["segmentation"]["plates"], model=ROOT / cfg["segmentation"]["model"])
                inputs["predicted"] = read_h5(pred, SEGMENTATION)[0]
            gt_j, gt_v = gt_bodies(sp, frames, bm)
            cal_arrays, _ = read_h5(cal, CALIBRATION)
            for ncam in args.cameras:
                keep = spread_views(len(names), ncam)
                cal_n = tmp / f"{sp.name}_cal{ncam}.h5"
                write_h5(cal_n, CALIBRATION, _subset(cal_arrays, names, keep))
                for kind, seg in inputs.items():
                    seg_n = tmp / f"{sp.name}_{kind}_{ncam}.h5"
                    sub = _subset({k: seg[k] for k in ("frames", "camera_names", "masks", "parts", "joints2d")}, names, keep)
                    write_h5(seg_n, SEGMENTATION, sub)
                    miou, j2d = segmentation_quality(sub, _subset(gt, names, keep))
                    out = tmp / f"{sp.name}_{kind}_{ncam}_smpl.h5"
                    t0 = time.perf_counter()
                    fit_chunk(seg_n, cal_n, bm_path, args.model, out, out.with_suffix(".json"), refine=not args.no_refine, fit=args.fit)
                    dt = (time.perf_counter() - t0) / len(frames)
                    recs = body_metrics(read_h5(out, SMPL)[0], gt_j, gt_v, bm)
                    row = {"session": sp.name, "cameras": ncam, "input": kind, "part_miou": miou, "joint2d_px": j2d, "s_per_frame": dt}
                    for c in COLS[2:-1]:
                        row[c] = float(np.mean([r[c] for r in recs]))
                    rows.append(row)
                    print(f"{sp.name:6s} {ncam} cams {kind:13s} " + "  ".join(f"{c} {row[c]:.3g}" for c in COLS), flush=True)
    print("\nmean over sessions")
    summary = []
    for ncam in args.cameras:
        for kind in dict.fromkeys(r["input"] for r in rows):
            sel = [r for r in rows if r["cameras"] == ncam and r["input"] == kind]
            m = {c: float(np.mean([r[c] for r in sel])) for c in COLS}
            summary.append({"cameras": ncam, "input": kind, **m})
            print(f"{ncam} cams {kind:13s} " + "  ".join(f"{c} {m[c]:.3g}" for c in COLS))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mean": summary}, indent=2) + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for ncam, marker in zip(args.cameras, "os^", strict=False):
            sel = sorted((s for s in summary if s["cameras"] == ncam), key=lambda s: s["part_miou"])
            ax.plot([s["part_miou"] for s in sel], [s["mpjpe_mm"] for s in sel], marker=marker, label=f"refined, {ncam} cameras")
            ax.plot([s["part_miou"] for s in sel], [s["fused_mpjpe_mm"] for s in sel], marker=marker, ls="--", label=f"fused regression, {ncam} cameras")
            for s in sel:
                ax.annotate(s["input"], (s["part_miou"], s["mpjpe_mm"]), fontsize=6)
        ax.set_xlabel("12-part mean IoU of the input segmentation")
        ax.set_ylabel("MPJPE (mm, world)")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=150)


if __name__ == "__main__":
    main()
