"""Report figures of a session (shown in ``snakemake --report``).

* ``summary.png``: per-frame metric curves (P2S, Chamfer-L2, IoU, silhouette IoU).
* ``overlays.png``: input images of a few cameras with the reconstructed mesh shaded on top
  (ray-cast through each camera's distorted pixel rays, so it lines up with the image).
* ``turntable.png``: the reconstructed mesh of a frame seen from eight virtual cameras around it.
* with the SMPL stage, ``smpl_overlays.png``: the fitted body over the input images, and for sessions with
  ground truth ``body_vs_segmentation.png``: body error against segmentation quality (NBF's Figure 3).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import trimesh  # noqa: E402

from humanrecon.calibration import Camera  # noqa: E402
from humanrecon.io.atomic import atomic_output  # noqa: E402
from humanrecon.io.images import read_image  # noqa: E402
from humanrecon.pipeline.calibration import read_calibration  # noqa: E402
from humanrecon.session import load_session  # noqa: E402
from humanrecon.synth.rig import look_at  # noqa: E402

log = logging.getLogger(__name__)


def shade_mesh(vertices: np.ndarray, faces: np.ndarray, camera: Camera, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Headlight-shaded view of a mesh through a camera (lens distortion honoured).

    Returns
    -------
    shade : (H', W') float32 in [0, 1] (``|cos|`` between face normal and ray); mask : (H', W') bool hit.
    """
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    origin, dirs = camera.pixel_rays(stride=stride)
    h, w = dirs.shape[:2]
    d = dirs.reshape(-1, 3)
    ok = np.isfinite(d).all(1)
    tri = np.full(len(d), -1, dtype=np.int64)
    if ok.any():
        tri[ok] = mesh.ray.intersects_first(np.broadcast_to(origin, (int(ok.sum()), 3)), d[ok])
    hit = tri >= 0
    shade = np.zeros(len(d), np.float32)
    shade[hit] = np.abs((mesh.face_normals[tri[hit]] * d[hit]).sum(1))
    return shade.reshape(h, w), hit.reshape(h, w)


def _first_mesh(manifests: list[str | os.PathLike]) -> tuple[int, trimesh.Trimesh]:
    """The lowest frame number listed in the meshing manifests and its mesh."""
    entries = {}
    for m in manifests:
        for k, e in json.loads(Path(m).read_text())["meshes"].items():
            entries[int(k)] = Path(m).parent / e["path"]
    frame = min(entries)
    return frame, trimesh.load(entries[frame], file_type="ply", process=False, force="mesh")


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def summary_figure(metrics_csv: str | os.PathLike, output: str | os.PathLike) -> None:
    """Per-frame metric curves from ``metrics.csv``."""
    with open(metrics_csv) as fh:
        rows = [r for r in csv.DictReader(fh) if r["frame"] != "mean"]
    frames = [int(r["frame"]) for r in rows]
    panels = [("p2s_cm", "P2S (cm)"), ("chamfer_l2_cm2", "Chamfer-L2 (cm²)"), ("iou", "volumetric IoU"), ("silhouette_iou", "silhouette IoU")]
    body = [("view_mpjpe_mm", "per-view regression (root-rel.)"), ("fused_mpjpe_mm", "fused regression"), ("mpjpe_mm", "refined")]
    has_body = any(r.get("mpjpe_mm") for r in rows)
    n = len(panels) + int(has_body)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3))
    for ax, (key, label) in zip(axes, panels, strict=False):
        vals = [float(r[key]) if r.get(key) else np.nan for r in rows]
        ax.plot(frames, vals, "o-")
        ax.set_title(label)
        ax.set_xlabel("frame")
        ax.grid(alpha=0.3)
    if has_body:
        ax = axes[-1]
        for key, label in body:
            ax.plot(frames, [float(r[key]) if r.get(key) else np.nan for r in rows], "o-", label=label)
        ax.set_yscale("log")
        ax.set_title("SMPL MPJPE (mm)")
        ax.set_xlabel("frame")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    _save(fig, output)


def smpl_overlay_figure(
    session_path: str | os.PathLike,
    calibration: str | os.PathLike,
    smpl_manifests: list[str | os.PathLike],
    output: str | os.PathLike,
    num_cameras: int = 4,
) -> None:
    """Input images of the first frame with the fitted SMPL body shaded on top (``num_cameras`` views)."""
    entries = {}
    for m in smpl_manifests:
        for k, e in json.loads(Path(m).read_text())["frames"].items():
            entries[int(k)] = Path(m).parent / e["ply"]
    frame = min(entries)
    mesh = trimesh.load(entries[frame], file_type="ply", process=False, force="mesh")
    _overlay(session_path, calibration, frame, mesh, output, (1.0, 0.55, 0.2), ": SMPL fit", num_cameras)


def quality_curve_figure(curve_json: str | os.PathLike, output: str | os.PathLike) -> None:
    """Body error against the 12-part mIoU of the input segmentation (:func:`humanrecon.pipeline.bodyfit.quality_curve`)."""
    rows = json.loads(Path(curve_json).read_text())["rows"]
    rows = sorted(rows, key=lambda r: r["part_miou"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, label, style in (("mpjpe_mm", "refined", "o-"), ("fused_mpjpe_mm", "fused regression", "s--"), ("view_mpjpe_mm", "per-view regression (root-rel.)", "^:")):
        ax.plot([r["part_miou"] for r in rows], [r[key] for r in rows], style, label=label)
    for r in rows:
        ax.annotate(r["input"], (r["part_miou"], r["mpjpe_mm"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("12-part mean IoU of the input segmentation")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    _save(fig, output)


def _overlay(session_path, calibration, frame: int, mesh: trimesh.Trimesh, output, tint, label: str, num_cameras: int) -> None:
    """Input images of ``frame`` (``num_cameras`` views spread over the rig) with ``mesh`` shaded on top."""
    session = load_session(session_path)
    rig = read_calibration(calibration)
    cams = list(rig)[:: max(1, len(rig) // num_cameras)][:num_cameras]
    fig, axes = plt.subplots(1, len(cams), figsize=(4 * len(cams), 4))
    tint = np.asarray(tint, np.float32)
    for ax, cam in zip(np.atleast_1d(axes), cams, strict=True):
        img = read_image(session.image_path(cam.name, frame)).astype(np.float32) / 255.0
        shade, hit = shade_mesh(mesh.vertices, mesh.faces, cam)
        over = img.copy()
        over[hit] = 0.45 * img[hit] + 0.55 * (shade[hit, None] * tint)
        ax.imshow(np.clip(over, 0, 1))
        ax.set_title(f"{cam.name} frame {frame}{label}")
        ax.axis("off")
    _save(fig, output)


def overlay_figure(
    session_path: str | os.PathLike,
    calibration: str | os.PathLike,
    manifests: list[str | os.PathLike],
    output: str | os.PathLike,
    num_cameras: int = 4,
) -> None:
    """Input images of the first frame with the reconstructed mesh shaded on top (``num_cameras`` views)."""
    frame, mesh = _first_mesh(manifests)
    _overlay(session_path, calibration, frame, mesh, output, (0.2, 0.8, 1.0), "", num_cameras)


def turntable_figure(manifests: list[str | os.PathLike], output: str | os.PathLike, views: int = 8, size: int = 256) -> None:
    """The first frame's mesh from ``views`` virtual cameras on a circle around it."""
    frame, mesh = _first_mesh(manifests)
    lo, hi = mesh.bounds
    center = 0.5 * (lo + hi)
    radius = 1.15 * float(np.linalg.norm(hi - lo))
    f = 1.1 * size
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    fig, axes = plt.subplots(1, views, figsize=(2.6 * views, 3.4))
    for i, ax in enumerate(np.atleast_1d(axes)):
        az = 2 * np.pi * i / views
        eye = center + radius * np.array([np.sin(az), 0.25, np.cos(az)])
        R, t = look_at(eye, center)
        cam = Camera(name=f"turn{i}", K=K, dist=np.zeros(5), R=R, t=t, width=size, height=size)
        shade, hit = shade_mesh(mesh.vertices, mesh.faces, cam)
        ax.imshow(np.where(hit, 0.15 + 0.85 * shade, 1.0), cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle(f"frame {frame}")
    _save(fig, output)


def write_report_figures(
    session_path: str | os.PathLike,
    metrics_csv: str | os.PathLike,
    calibration: str | os.PathLike,
    manifests: list[str | os.PathLike],
    summary: str | os.PathLike,
    overlays: str | os.PathLike,
    turntable: str | os.PathLike,
) -> None:
    """All report figures of a session (the rule's one entry point)."""
    summary_figure(metrics_csv, summary)
    overlay_figure(session_path, calibration, manifests, overlays)
    turntable_figure(manifests, turntable)
