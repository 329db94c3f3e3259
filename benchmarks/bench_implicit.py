"""Implicit reconstruction vs visual hull vs SMPL body on held-out synthetic sessions (the seed's table).

For every frame of every session, with all 8 cameras and with 4 of them (every other camera), the
silhouettes come from the background plates (``config.yaml`` ``segmentation.plates``, as in the DAG) and

* **visual hull**: the octree carve (:func:`humanrecon.occupancy.octree_occupancy`);
* **implicit**: the trained network inside that hull (:func:`humanrecon.implicit.infer.implicit_occupancy`);
* **SMPL body (GT parameters)**: the naked body model posed with the session's *ground-truth* SMPL
  parameters, i.e. the best any SMPL-only method (a fitted body) can do; no clothing, hair or detail;

and, with ``--body-weights`` (a body-conditioned network, ``net.body_features``), the pipeline's own body:
the SMPL stage (:func:`humanrecon.pipeline.bodyfit.fit_chunk`: the DAG's segmentation, ``source: both``,
regression, fusion and refinement) on the same cameras (8, or the 4), then

* **SMPL body (fitted)**: that fitted body's mesh alone (the SMPL-only method of the seed's table);
* **implicit + body**: the conditioned network inside the hull, given that fitted body;

are meshed like the DAG does (marching cubes + ``meshing.clean``) and scored against the GT clothed mesh
(:func:`humanrecon.metrics.surface_metrics`: P2S cm, Chamfer-L2 cm², volumetric IoU). Printed: one row per
session x cameras x method and the mean over sessions, plus seconds per frame and peak memory of the
implicit occupancy at ``--resolution``.

Make held-out sessions with seeds the training sets do not use, e.g.
``humanrecon synth session /tmp/held/s41 --seed 41 --frames 3 --cameras 8 --size 512 512 --layout dome``.

Run: ``.venv/bin/python benchmarks/bench_implicit.py MODEL.pt SESSION [SESSION...] [--frames N] [--resolution 256]
[--body-weights models/implicit/implicit_body.pt] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh
import yaml

from humanrecon.bodymodel.model import load_body_model
from humanrecon.implicit.body import BODY_PARAMS, BodyPoser
from humanrecon.implicit.infer import implicit_occupancy, load_implicit
from humanrecon.implicit.train import spread_views
from humanrecon.io.hdf5 import CALIBRATION, SEGMENTATION, SMPL, read_h5, write_h5
from humanrecon.io.images import read_image, read_mask
from humanrecon.meshing import clean_mesh, extract_mesh
from humanrecon.metrics import surface_metrics
from humanrecon.occupancy import bounding_box, octree_occupancy
from humanrecon.pipeline.bodyfit import fit_chunk
from humanrecon.pipeline.calibration import ingest_calibration
from humanrecon.pipeline.segmentation import segment_chunk
from humanrecon.session import load_session
from humanrecon.silhouettes import BackgroundSubtraction, subtract_background

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("smpl_gt_body", "visual_hull", "implicit")
BODY_METHODS = ("smpl_fitted", "implicit_body")


def fitted_bodies(session: Path, frames: list[int], cameras: list[int], cfg: dict, tmp: Path) -> list[dict]:
    """The SMPL stage's fitted parameters of ``frames`` from ``cameras`` only (the DAG's segmentation,
    regression, fusion and refinement with config.yaml's settings); one dict of :data:`BODY_PARAMS` per frame."""
    cal, seg = tmp / f"{session.name}_cal.h5", tmp / f"{session.name}_seg.h5"
    if not seg.exists():
        ingest_calibration(session, cal)
        segment_chunk(session, cal, frames, seg, source="both", plates=cfg["segmentation"]["plates"],
                      model=ROOT / cfg["segmentation"]["model"])  # fmt: skip
    tag = f"{session.name}_{len(cameras)}"
    cal_arrays, seg_arrays = read_h5(cal, CALIBRATION)[0], read_h5(seg, SEGMENTATION)[0]
    write_h5(tmp / f"{tag}_cal.h5", CALIBRATION, {k: v[cameras] for k, v in cal_arrays.items()})
    write_h5(tmp / f"{tag}_seg.h5", SEGMENTATION, {"frames": seg_arrays["frames"], "camera_names": seg_arrays["camera_names"][cameras],
                                                   **{k: seg_arrays[k][:, cameras] for k in ("masks", "parts", "joints2d")}})  # fmt: skip
    bf = cfg["body_fit"]
    out = tmp / f"{tag}_smpl.h5"
    fit_chunk(tmp / f"{tag}_seg.h5", tmp / f"{tag}_cal.h5", ROOT / cfg["body_model"]["path"], ROOT / bf["model"], out,
              out.with_suffix(".json"), refine=bf["refine"], fit=bf.get("fit") or None)  # fmt: skip
    fit = read_h5(out, SMPL)[0]
    return [{k: fit[k][i] for k in BODY_PARAMS} for i in range(len(frames))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("sessions", type=Path, nargs="+")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of each session (default: all)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--cameras", type=int, nargs="+", default=[8, 4])
    ap.add_argument("--gt-masks", action="store_true", help="GT silhouettes instead of plate subtraction")
    ap.add_argument("--body-weights", type=Path, help="a body-conditioned network: adds the fitted-body rows")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    methods = METHODS + (BODY_METHODS if args.body_weights else ())

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    plates_cfg = BackgroundSubtraction(**cfg["segmentation"]["plates"])
    clean = cfg["meshing"]["clean"]
    iou_res = cfg["metrics"]["iou_resolution"]
    net, _ = load_implicit(args.model)
    body_net = load_implicit(args.body_weights)[0] if args.body_weights else None
    if body_net is not None and not body_net.config.body_features:
        raise SystemExit(f"{args.body_weights}: not a body-conditioned network (net.body_features)")
    bm = load_body_model(ROOT / cfg["body_model"]["path"])
    poser = BodyPoser(bm)
    rows, times, body_times = [], [], []
    tmpdir = tempfile.TemporaryDirectory()
    for path in args.sessions:
        s = load_session(path)
        rig = s.rig()
        names, cams = list(rig.names), list(rig)
        plates = np.stack([read_image(s.background_path(c)) for c in names])
        frames = list(s.frames)[: args.frames]
        fits = {}
        if body_net is not None:
            for nc in args.cameras:
                fits[nc] = fitted_bodies(path, [int(f) for f in frames], spread_views(len(cams), nc), cfg, Path(tmpdir.name))
        for fi, frame in enumerate(frames):
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
                sel = spread_views(len(cams), nc)
                c_sel, m_sel, i_sel = [cams[i] for i in sel], masks[sel], imgs[sel]
                bbox = bounding_box(m_sel, c_sel, margin=cfg["occupancy"]["margin"])
                grids = {"visual_hull": octree_occupancy(m_sel, c_sel, bbox, resolution=args.resolution)}
                t0 = time.perf_counter()
                grids["implicit"] = implicit_occupancy(i_sel, m_sel, c_sel, net, bbox, args.resolution)
                dt = time.perf_counter() - t0
                if nc == 8:
                    times.append(dt)
                rows.append({"session": s.name, "frame": int(frame), "cameras": nc, "method": "smpl_gt_body", **body_row})
                if body_net is not None:
                    surface = poser.surface(fits[nc][fi])
                    m = surface_metrics((surface.vertices, bm.surface_faces), gt, iou_resolution=iou_res)
                    rows.append({"session": s.name, "frame": int(frame), "cameras": nc, "method": "smpl_fitted",
                                 "p2s_cm": m.p2s_cm, "chamfer_l2_cm2": m.chamfer_l2_cm2, "iou": m.iou})  # fmt: skip
                    t0 = time.perf_counter()
                    grids["implicit_body"] = implicit_occupancy(i_sel, m_sel, c_sel, body_net, bbox, args.resolution, body=surface)
                    if nc == 8:
                        body_times.append(time.perf_counter() - t0)
                for name, grid in grids.items():
                    v, f = clean_mesh(*extract_mesh(grid, iso=0.5), **clean)
                    m = surface_metrics((v, f), gt, iou_resolution=iou_res)
                    rows.append({"session": s.name, "frame": int(frame), "cameras": nc, "method": name,
                                 "p2s_cm": m.p2s_cm, "chamfer_l2_cm2": m.chamfer_l2_cm2, "iou": m.iou})  # fmt: skip
                last = {r["method"]: r for r in rows[-len(methods):]}
                print(f"{s.name} frame {frame} {nc} cams: " + "  ".join(
                    f"{k} P2S {r['p2s_cm']:.3f} CD {r['chamfer_l2_cm2']:.3f} IoU {r['iou']:.4f}" for k, r in last.items()
                ) + f"  (implicit {dt:.1f} s)", flush=True)  # fmt: skip
    print(f"\n{'cameras':>7} {'method':>14} {'P2S cm':>8} {'Chamfer-L2 cm2':>15} {'IoU':>7}   (mean over {len(rows) // (len(methods) * len(args.cameras))} frames)")
    for nc in args.cameras:
        for meth in methods:
            sel = [r for r in rows if r["cameras"] == nc and r["method"] == meth]
            print(f"{nc:>7} {meth:>14} {np.mean([r['p2s_cm'] for r in sel]):8.3f} {np.mean([r['chamfer_l2_cm2'] for r in sel]):15.3f} "
                  f"{np.mean([r['iou'] for r in sel]):7.4f}")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nimplicit occupancy, 8 cameras, {args.resolution}^3: {np.mean(times):.1f} s per frame (mean of {len(times)}); peak RSS {peak:.0f} MB")
    if body_times:
        print(f"implicit + body occupancy, 8 cameras, {args.resolution}^3: {np.mean(body_times):.1f} s per frame (mean of {len(body_times)})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds_per_frame_8cams": float(np.mean(times)), "peak_rss_mb": peak,
                                         "body_seconds_per_frame_8cams": float(np.mean(body_times)) if body_times else None}, indent=1))  # fmt: skip
    tmpdir.cleanup()


if __name__ == "__main__":
    main()
