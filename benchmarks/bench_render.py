"""Renderer speed: one frame of 8 cameras at 512x512 with a ~37k-face stand-in person (bar: <= 3 s).

The person is a union (concatenation) of trimesh primitives, ~27k faces of "body" (head, torso, arms,
legs) plus a ~10k-face "shirt"; the cameras stand on a ring of radius 3 m at 1.2 m height looking at
(0, 0.9, 0) with fx = fy = 1.2 W and mild barrel distortion. Prints the first (cold: pixel rays and
studio hits are computed and cached) frame, the median of the warm frames, and the background plates.

    .venv/bin/python benchmarks/bench_render.py [--frames 5] [--size 512] [--cameras 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import trimesh

from humanrecon.calibration.camera import Camera
from humanrecon.synth import render, scene


def ring_cameras(n: int, size: int, radius: float = 3.0, height: float = 1.2) -> list[Camera]:
    """``n`` cameras on a ring around the y axis looking at (0, 0.9, 0); (size, size) images."""
    cams = []
    target = np.array([0.0, 0.9, 0.0])
    for i in range(n):
        a = 2 * np.pi * i / n
        c = np.array([radius * np.sin(a), height, radius * np.cos(a)])
        z = target - c
        z /= np.linalg.norm(z)
        x = np.cross([0.0, -1.0, 0.0], z)  # image x right, y down (world +y is up)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        K = np.array([[1.2 * size, 0.0, (size - 1) / 2 + 1.5], [0.0, 1.2 * size, (size - 1) / 2 - 2.0], [0, 0, 1]])
        dist = np.array([-0.12, 0.05, 0.0005, -0.0004, 0.0])
        cams.append(Camera(f"cam{i:02d}", K, dist, R, -R @ c, size, size))
    return cams


def stand_in_person(offset: np.ndarray) -> list[render.Surface]:
    """~27k-face body (part labels per primitive) and a ~10k-face shirt, translated by ``offset`` (3,)."""
    z_to_y = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # capsules are built along z
    z_to_x = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0])
    parts = [  # (mesh, part label)
        (trimesh.creation.icosphere(4, radius=0.11).apply_translation([0, 1.62, 0]), 1),
        (trimesh.creation.capsule(height=0.45, radius=0.17, count=[48, 48]).apply_transform(z_to_y)
         .apply_translation([0, 1.1, 0]), 2),
    ]  # fmt: skip
    limb = trimesh.creation.capsule(height=0.5, radius=0.055, count=[40, 40]).apply_transform(z_to_x)
    for sx, lab in ((1, 3), (-1, 4)):
        parts.append((limb.copy().apply_translation([sx * 0.5, 1.38, 0]), lab))
    leg = trimesh.creation.capsule(height=0.75, radius=0.08, count=[48, 48]).apply_transform(z_to_y)
    for sx, lab in ((1, 7), (-1, 8)):
        parts.append((leg.copy().apply_translation([sx * 0.1, 0.46, 0]), lab))
    verts, faces, labels, off = [], [], [], 0
    for m, lab in parts:
        verts.append(m.vertices)
        faces.append(m.faces + off)
        labels.append(np.full(len(m.faces), lab, np.uint8))
        off += len(m.vertices)
    v = np.concatenate(verts) + offset
    skin = np.tile([0.8, 0.6, 0.5], (len(v), 1))
    body = render.Surface(v, np.concatenate(faces), np.concatenate(labels), skin, is_body=True)
    shirt_mesh = trimesh.creation.capsule(height=0.35, radius=0.19, count=[72, 72]).apply_transform(z_to_y)
    shirt_mesh.apply_translation([0, 1.12, 0])
    sv = shirt_mesh.vertices + offset
    stripes = np.where((np.floor(sv[:, 1] / 0.05) % 2)[:, None] == 0, [0.2, 0.3, 0.7], [0.9, 0.9, 0.85])
    shirt = render.Surface(sv, shirt_mesh.faces, np.full(len(shirt_mesh.faces), 2, np.uint8), stripes, is_body=False)
    return [body, shirt]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cameras", type=int, default=8)
    args = ap.parse_args()
    cams = ring_cameras(args.cameras, args.size)
    studio = scene.make_studio(np.random.default_rng(3), radius=3.0)
    lighting = render.make_lighting(np.random.default_rng(4))
    rng = np.random.default_rng(0)
    n_faces = sum(len(s.faces) for s in stand_in_person(np.zeros(3)))
    times = []
    for f in range(args.frames + 1):
        surfaces = stand_in_person(np.array([0.05 * f, 0.0, -0.03 * f]))  # the person moves a little
        t0 = time.perf_counter()
        renders = render.render_frame(surfaces, studio, cams, rng, lighting)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    render.render_background(studio, cams, rng, render.perturb_lighting(lighting, rng))
    plates = time.perf_counter() - t0
    cover = np.mean([r.mask.mean() for r in renders])
    print(f"{args.cameras} cameras x {args.size}^2, person {n_faces} faces ({100 * cover:.1f} % of pixels), "
          f"studio {len(studio.faces)} faces")  # fmt: skip
    print(f"  first frame (cold caches)   {times[0]:6.3f} s")
    print(f"  render_frame, median of {args.frames} {np.median(times[1:]):6.3f} s   (bar: <= 3 s per frame)")
    print(f"  render_background (warm)    {plates:6.3f} s")


if __name__ == "__main__":
    main()
