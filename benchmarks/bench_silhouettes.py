"""Background subtraction as the visual hull sees it: hull IoU from plate silhouettes vs GT silhouettes.

For each frame of a synthetic session (GT masks and meshes under ``gt/``) the classical chain
(bounding box -> octree hull at ``--resolution`` -> marching cubes -> cleanup -> volumetric IoU against the
GT mesh) runs twice: on silhouettes from background plates (:mod:`humanrecon.silhouettes`, the
parameters of ``config.yaml`` plus ``--set`` overrides) and on the GT silhouettes. Printed per frame and
on average: silhouette IoU, false-negative / false-positive pixels per camera, hull IoU (plates), hull
IoU (GT masks) and the difference (the DAG issue's bar: <= 0.01).

Tune on sessions other than the one you report on (e.g. ``humanrecon synth session --seed 21 ...``).

Run: ``.venv/bin/python benchmarks/bench_silhouettes.py SESSION [--frames 0 1] [--set open_radius=0 ...]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import trimesh
import yaml

from humanrecon.io.images import read_image, read_mask
from humanrecon.meshing import clean_mesh, extract_mesh
from humanrecon.metrics import volumetric_iou
from humanrecon.occupancy import bounding_box, octree_occupancy
from humanrecon.session import load_session
from humanrecon.silhouettes import BackgroundSubtraction, subtract_background

ROOT = Path(__file__).resolve().parents[1]


def _value(text: str):
    return yaml.safe_load(text)


def hull_iou(masks: np.ndarray, cameras: list, gt_mesh: trimesh.Trimesh, resolution: int, clean: dict, iou_resolution: int) -> float:
    bbox = bounding_box(masks, cameras, margin=0.05)
    grid = octree_occupancy(masks, cameras, bbox, resolution=resolution, coarse_resolution=32)
    grid = type(grid)(np.round(grid.values * 255.0) / 255.0, grid.origin, grid.voxel_size, grid.num_queries, grid.resolution)
    v, f = clean_mesh(*extract_mesh(grid, iso=0.5), **clean)
    return float(volumetric_iou((v, f), (gt_mesh.vertices, gt_mesh.faces), resolution=iou_resolution))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("session", type=Path)
    ap.add_argument("--frames", type=int, nargs="*", help="frames to use (default: all)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override segmentation.plates keys")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--iou-resolution", type=int, default=128)
    ap.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    args = ap.parse_args()

    config = yaml.safe_load(args.config.read_text())
    plates = dict(config["segmentation"]["plates"])
    plates.update({k: _value(v) for k, v in (s.split("=", 1) for s in args.set)})
    params = BackgroundSubtraction(**plates)
    clean = config["meshing"]["clean"]
    session = load_session(args.session)
    rig = session.rig()
    names = list(rig.names)
    cameras = list(rig)
    plate_imgs = np.stack([read_image(session.background_path(c)) for c in names])
    frames = args.frames if args.frames else list(session.frames)
    print(f"session {session.name}: {len(names)} cameras, frames {frames}; plates {params}")
    rows = []
    for frame in frames:
        t0 = time.perf_counter()
        imgs = np.stack([read_image(session.image_path(c, frame)) for c in names])
        pred = subtract_background(imgs, plate_imgs, params)
        gt = np.stack([(read_mask(session.gt_mask_path(c, frame)) > 0).astype(np.uint8) for c in names])
        inter = (pred & gt).sum(axis=(1, 2))
        union = (pred | gt).sum(axis=(1, 2))
        fn = (gt & (1 - pred)).sum(axis=(1, 2))
        fp = (pred & (1 - gt)).sum(axis=(1, 2))
        mesh = trimesh.load(session.gt_mesh_path(frame), process=False, force="mesh")
        iou_p = hull_iou(pred, cameras, mesh, args.resolution, clean, args.iou_resolution)
        iou_g = hull_iou(gt, cameras, mesh, args.resolution, clean, args.iou_resolution)
        rows.append((float(np.mean(inter / union)), float(fn.mean()), float(fp.mean()), iou_p, iou_g))
        print(
            f"frame {frame:4d}: silhouette IoU {rows[-1][0]:.4f}  FN/cam {rows[-1][1]:7.1f}  FP/cam {rows[-1][2]:7.1f}  "
            f"hull IoU plates {iou_p:.4f}  GT masks {iou_g:.4f}  diff {iou_g - iou_p:+.4f}  ({time.perf_counter() - t0:.1f} s)"
        )
    m = np.mean(rows, axis=0)
    print(
        f"mean      : silhouette IoU {m[0]:.4f}  FN/cam {m[1]:7.1f}  FP/cam {m[2]:7.1f}  "
        f"hull IoU plates {m[3]:.4f}  GT masks {m[4]:.4f}  diff {m[4] - m[3]:+.4f}"
    )


if __name__ == "__main__":
    main()
