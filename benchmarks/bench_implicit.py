"""Implicit reconstruction vs visual hull vs SMPL body on held-out synthetic sessions (the seed's table).

For every frame of every session, with all 8 cameras and with 4 of them (every other camera), the
silhouettes come from the background plates (``config.yaml`` ``segmentation.plates``, as in the DAG) and

* **visual hull**: the octree carve (:func:`humanrecon.occupancy.octree_occupancy`);
* **implicit**: the trained network inside that hull (:func:`humanrecon.implicit.infer.implicit_occupancy`);
* **SMPL body (GT parameters)**: the naked body model posed with the session's *ground-truth* SMPL
  parameters, i.e. the best any SMPL-only method (a fitted body) can do; no clothing, hair or detail;

are meshed like the DAG does (marching cubes + ``meshing.clean``) and scored against the GT clothed mesh
(:func:`humanrecon.metrics.surface_metrics`: P2S cm, Chamfer-L2 cm², volumetric IoU). Printed: one row per
session x cameras x method and the mean over sessions, plus seconds per frame and peak memory of the
implicit occupancy at ``--resolution``.

Make held-out sessions with seeds the training sets do not use, e.g.
``humanrecon synth session /tmp/held/s41 --seed 41 --frames 3 --cameras 8 --size 512 512 --layout dome``.

Run: ``.venv/bin/python benchmarks/bench_implicit.py MODEL.pt SESSION [SESSION...] [--frames N] [--resolution 256]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import trimesh
import yaml

from humanrecon.bodymodel.model import load_body_model
from humanrecon.implicit.infer import implicit_occupancy, load_implicit
from humanrecon.io.images import read_image, read_mask
from humanrecon.meshing import clean_mesh, extract_mesh
from humanrecon.metrics import surface_metrics
from humanrecon.occupancy import bounding_box, octree_occupancy
from humanrecon.session import load_session
from humanrecon.silhouettes import BackgroundSubtraction, subtract_background

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("smpl_gt_body", "visual_hull", "implicit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("sessions", type=Path, nargs="+")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of each session (default: all)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--cameras", type=int, nargs="+", default=[8, 4])
    ap.add_argument("--gt-masks", action="store_true", help="GT silhouettes instead of plate subtraction")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    plates_cfg = BackgroundSubtraction(**cfg["segmentation"]["plates"])
    clean = cfg["meshing"]["clean"]
    iou_res = cfg["metrics"]["iou_resolution"]
    net, _ = load_implicit(args.model)
    bm = load_body_model(ROOT / cfg["body_model"]["path"])
    rows, times = [], []
    for path in args.sessions:
        s = load_session(path)
        rig = s.rig()
        names, cams = list(rig.names), list(rig)
        plates = np.stack([read_image(s.background_path(c)) for c in names])
        for frame in list(s.frames)[: args.frames]:
            imgs = np.stack([read_image(s.image_path(c, frame)) for c in names])
            if args.gt_masks:
                masks = np.stack([(read_mask(s.gt_mask_path(c, frame)) > 0).astype(np.uint8) for c in names])
            else:
                masks = subtract_background(imgs, plates, plates_cfg)
            gt = trimesh.load(s.gt_mesh_path(frame), process=False, force="mesh")
            smpl = np.load(s.gt_smpl_path(frame))
            body = bm.forward_numpy(betas=smpl["betas"][None], body_pose=smpl["body_pose"][None],
                                    global_orient=smpl["global_orient"][None], transl=smpl["transl"][None])  # fmt: skip
            m = surface_metrics((body["vertices"][0], bm.faces), gt, iou_resolution=iou_res)
            body_row = {"p2s_cm": m.p2s_cm, "chamfer_l2_cm2": m.chamfer_l2_cm2, "iou": m.iou}
            for nc in args.cameras:
                sel = np.unique(np.floor(np.arange(nc) * len(cams) / nc).astype(int))
                c_sel, m_sel, i_sel = [cams[i] for i in sel], masks[sel], imgs[sel]
                bbox = bounding_box(m_sel, c_sel, margin=cfg["occupancy"]["margin"])
                grids = {"visual_hull": octree_occupancy(m_sel, c_sel, bbox, resolution=args.resolution)}
                t0 = time.perf_counter()
                grids["implicit"] = implicit_occupancy(i_sel, m_sel, c_sel, net, bbox, args.resolution)
                dt = time.perf_counter() - t0
                if nc == 8:
                    times.append(dt)
                rows.append({"session": s.name, "frame": int(frame), "cameras": nc, "method": "smpl_gt_body", **body_row})
                for name, grid in grids.items():
                    v, f = clean_mesh(*extract_mesh(grid, iso=0.5), **clean)
                    m = surface_metrics((v, f), gt, iou_resolution=iou_res)
                    rows.append({"session": s.name, "frame": int(frame), "cameras": nc, "method": name,
                                 "p2s_cm": m.p2s_cm, "chamfer_l2_cm2": m.chamfer_l2_cm2, "iou": m.iou})  # fmt: skip
                last = {r["method"]: r for r in rows[-3:]}
                print(f"{s.name} frame {frame} {nc} cams: " + "  ".join(
                    f"{k} P2S {r['p2s_cm']:.3f} CD {r['chamfer_l2_cm2']:.3f} IoU {r['iou']:.4f}" for k, r in last.items()
                ) + f"  (implicit {dt:.1f} s)", flush=True)  # fmt: skip
    print(f"\n{'cameras':>7} {'method':>14} {'P2S cm':>8} {'Chamfer-L2 cm2':>15} {'IoU':>7}   (mean over {len(rows) // (3 * len(args.cameras))} frames)")
    for nc in args.cameras:
        for meth in METHODS:
            sel = [r for r in rows if r["cameras"] == nc and r["method"] == meth]
            print(f"{nc:>7} {meth:>14} {np.mean([r['p2s_cm'] for r in sel]):8.3f} {np.mean([r['chamfer_l2_cm2'] for r in sel]):15.3f} "
                  f"{np.mean([r['iou'] for r in sel]):7.4f}")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nimplicit occupancy, 8 cameras, {args.resolution}^3: {np.mean(times):.1f} s per frame (mean of {len(times)}); peak RSS {peak:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds_per_frame_8cams": float(np.mean(times)), "peak_rss_mb": peak}, indent=1))


if __name__ == "__main__":
    main()
