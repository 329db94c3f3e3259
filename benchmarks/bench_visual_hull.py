"""Benchmark of the classical visual-hull chain: silhouettes -> octree hull -> marching cubes -> cleanup.

Scene: a synthetic person-like shape (union of capsules, 1.7 m, arms abducted) seen by the synthetic
studio rig (8 cameras, 512 x 512, lens distortion; :func:`humanrecon.synth.rig.make_rig`), silhouettes
rendered exactly per pixel by ray-capsule intersection. Figures printed:

* bounding box and octree occupancy at 256^3 (seconds, points projected vs 256^3, which must be <= 10 %);
* octree vs dense agreement at 128^3 (inside/outside samples that differ, symmetric vertex distances);
* marching cubes and cleanup seconds;
* the chain's total against the per-frame budget (5 s at 8 x 512^2 and 256^3). Silhouette extraction is
  not part of this benchmark (the masks are given); its share of the budget is what remains.

Run: ``.venv/bin/python benchmarks/bench_visual_hull.py [--repeat N] [--dense256]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.spatial import cKDTree

from humanrecon.meshing import clean_mesh, extract_mesh
from humanrecon.occupancy import bounding_box, dense_occupancy, octree_occupancy
from humanrecon.synth.rig import RigConfig, make_rig

#: Per-frame budget of the classical chain (silhouette -> hull -> mesh), seconds.
BUDGET_S = 5.0
#: Maximum fraction of the dense grid's points the octree may project at 256^3.
MAX_QUERY_FRACTION = 0.10
#: Face count the cleaned mesh is decimated to.
TARGET_FACES = 100_000

#: (start (3,), end (3,), radius) metres; +y up, floor at y = 0, facing +z.
CAPSULES = [
    ((-0.08, 0.93, 0.0), (0.08, 0.93, 0.0), 0.12),  # pelvis
    ((0.0, 0.95, 0.0), (0.0, 1.38, 0.0), 0.14),  # torso
    ((-0.17, 1.40, 0.0), (0.17, 1.40, 0.0), 0.065),  # shoulders
    ((0.0, 1.40, 0.0), (0.0, 1.53, 0.01), 0.05),  # neck
    ((0.0, 1.58, 0.01), (0.0, 1.64, 0.01), 0.095),  # head
    *(
        capsule
        for s in (-1.0, 1.0)
        for capsule in (
            ((s * 0.19, 1.40, 0.0), (s * 0.40, 1.17, 0.02), 0.045),  # upper arm
            ((s * 0.40, 1.17, 0.02), (s * 0.57, 0.97, 0.08), 0.035),  # forearm
            ((s * 0.57, 0.97, 0.08), (s * 0.62, 0.89, 0.10), 0.028),  # hand
            ((s * 0.09, 0.90, 0.0), (s * 0.11, 0.50, 0.02), 0.075),  # thigh
            ((s * 0.11, 0.50, 0.02), (s * 0.12, 0.10, 0.0), 0.05),  # shin
            ((s * 0.12, 0.05, -0.03), (s * 0.13, 0.05, 0.15), 0.04),  # foot
        )
    ),
]


def ray_capsule_hits(origin: np.ndarray, dirs: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """(P,) bool: which rays ``origin + t dirs`` (t >= 0, dirs (P, 3) unit) pass within ``radius`` of
    segment ``a b`` (closest points between a segment and a long ray segment, clamped)."""
    far = 100.0  # metres: a ray is a segment this long
    d1 = dirs * far
    d2 = b - a
    r = origin - a
    aa = np.einsum("ij,ij->i", d1, d1)
    e = float(d2 @ d2)
    f = float(d2 @ r)
    c = d1 @ r
    bb = d1 @ d2
    denom = aa * e - bb * bb
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(denom > 1e-12, np.clip((bb * f - c * e) / denom, 0.0, 1.0), 0.0)
        t = (bb * s + f) / e
        s = np.where(t < 0.0, np.clip(-c / aa, 0.0, 1.0), np.where(t > 1.0, np.clip((bb - c) / aa, 0.0, 1.0), s))
        t = np.clip(t, 0.0, 1.0)
    closest = origin + d1 * s[:, None] - (a + d2 * t[:, None])
    return np.einsum("ij,ij->i", closest, closest) <= radius * radius


def render_silhouettes(cameras) -> np.ndarray:
    """(C, H, W) uint8 exact per-pixel silhouettes of :data:`CAPSULES` (pixel-centre rays, distortion included)."""
    masks = []
    for cam in cameras:
        origin, dirs = cam.pixel_rays()
        H, W, _ = dirs.shape
        flat = dirs.reshape(-1, 3)
        ok = np.all(np.isfinite(flat), axis=1)
        hit = np.zeros(flat.shape[0], dtype=bool)
        for a, b, radius in CAPSULES:
            a, b = np.array(a), np.array(b)
            # only rays that pass the capsule's bounding sphere need the exact test
            centre = 0.5 * (a + b)
            bound = radius + 0.5 * float(np.linalg.norm(b - a))
            to_c = centre - origin
            along = flat @ to_c
            near = ok & (to_c @ to_c - along**2 <= bound**2)
            idx = np.flatnonzero(near)
            hit[idx] |= ray_capsule_hits(origin, flat[idx], a, b, radius)
        masks.append(hit.reshape(H, W).astype(np.uint8))
    return np.stack(masks)


def symmetric_vertex_distance(v1: np.ndarray, v2: np.ndarray) -> float:
    """Largest nearest-vertex distance from either vertex set to the other, metres."""
    return float(max(cKDTree(v2).query(v1)[0].max(), cKDTree(v1).query(v2)[0].max()))


def timed(fn, repeat: int):
    """(result of the last call, best wall time of ``repeat`` calls in seconds)."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions (best is reported)")
    parser.add_argument("--dense256", action="store_true", help="also time the dense 256^3 reference")
    args = parser.parse_args()

    rig = make_rig(np.random.default_rng(7), RigConfig(num_cameras=8, image_size=(512, 512)))
    cameras = list(rig)
    t0 = time.perf_counter()
    masks = render_silhouettes(cameras)
    print(f"scene: {len(CAPSULES)} capsules, {len(cameras)} cameras x 512^2 (rendered in {time.perf_counter() - t0:.2f} s)")
    print(f"silhouette fill: {', '.join(f'{m.mean():.3f}' for m in masks)}")

    bbox, t_bbox = timed(lambda: bounding_box(masks, cameras), args.repeat)
    print(f"bounding_box: {t_bbox:.3f} s, extent {np.round(bbox[1] - bbox[0], 3)} m")

    R = 256
    grid, t_oct = timed(lambda: octree_occupancy(masks, cameras, bbox, R), args.repeat)
    frac = grid.num_queries / R**3
    print(
        f"octree {R}^3: {t_oct:.3f} s, {grid.num_queries} points projected = {100 * frac:.2f} % of {R}^3 "
        f"(voxel {1000 * grid.voxel_size:.2f} mm)"
    )
    assert frac <= MAX_QUERY_FRACTION, f"octree projected {100 * frac:.1f} % of the dense grid"

    (verts, faces), t_mc = timed(lambda: extract_mesh(grid), args.repeat)
    print(f"marching cubes: {t_mc:.3f} s, {len(verts)} vertices, {len(faces)} faces")
    (cv, cf), t_clean = timed(lambda: clean_mesh(verts, faces), args.repeat)
    print(f"clean_mesh: {t_clean:.3f} s -> {len(cv)} vertices, {len(cf)} faces")
    (dv, df), t_dec = timed(lambda: clean_mesh(verts, faces, target_faces=TARGET_FACES), args.repeat)
    print(f"clean_mesh + decimation to {TARGET_FACES}: {t_dec:.3f} s -> {len(df)} faces")

    total = t_bbox + t_oct + t_mc + t_clean
    print(
        f"chain (bbox + octree + marching cubes + cleanup): {total:.2f} s of the {BUDGET_S:.0f} s budget "
        f"({100 * total / BUDGET_S:.0f} %); with decimation {t_bbox + t_oct + t_mc + t_dec:.2f} s"
    )

    R2 = 128
    g_oct = octree_occupancy(masks, cameras, bbox, R2)
    g_den, t_den = timed(lambda: dense_occupancy(masks, cameras, bbox, R2), 1)
    differ = int(np.count_nonzero((g_oct.values >= 0.5) != (g_den.values >= 0.5)))
    v_oct, _ = extract_mesh(g_oct)
    v_den, _ = extract_mesh(g_den)
    dist = symmetric_vertex_distance(v_oct, v_den)
    print(
        f"octree vs dense at {R2}^3: {differ} samples differ in side, max |value diff| "
        f"{float(np.abs(g_oct.values - g_den.values).max()):.3g}, symmetric vertex distance {1000 * dist:.2f} mm "
        f"= {dist / g_oct.voxel_size:.2f} voxel; queries {100 * g_oct.num_queries / R2**3:.2f} %; "
        f"dense {t_den:.2f} s"
    )
    if args.dense256:
        g_d256, t_d256 = timed(lambda: dense_occupancy(masks, cameras, bbox, R), 1)
        differ = int(np.count_nonzero((grid.values >= 0.5) != (g_d256.values >= 0.5)))
        print(f"dense {R}^3: {t_d256:.2f} s; samples differing in side from the octree: {differ}")


if __name__ == "__main__":
    main()
