"""The SMPL 24-joint skeleton and the project's 12-part body map: the one table used everywhere.

Joint order, names and parents are SMPL's. ``left`` is the subject's left, which is ``+x`` in the
body-model canonical frame (see :mod:`humanrecon.conventions`).

The 12-part map groups joints into body parts. A mesh vertex belongs to the part whose joints carry
the largest sum of its skinning weights (:func:`humanrecon.bodymodel.parts.vertex_part_labels`). Part
ids are 1..12 (0 is background in part maps).

======  ===============  =====================================================
 id      part             SMPL joints whose skinning weights make the part
======  ===============  =====================================================
  1      head             neck (12), head (15)
  2      torso            pelvis (0), spine1-3 (3, 6, 9), collars (13, 14)
  3      left_upper_arm   left_shoulder (16)
  4      right_upper_arm  right_shoulder (17)
  5      left_lower_arm   left_elbow (18), left_wrist (20), left_hand (22)
  6      right_lower_arm  right_elbow (19), right_wrist (21), right_hand (23)
  7      left_upper_leg   left_hip (1)
  8      right_upper_leg  right_hip (2)
  9      left_lower_leg   left_knee (4)
 10      right_lower_leg  right_knee (5)
 11      left_foot        left_ankle (7), left_foot (10)
 12      right_foot       right_ankle (8), right_foot (11)
======  ===============  =====================================================
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 24
NUM_BODY_JOINTS = 23  # all but the root: body_pose has 23 * 3 = 69 entries
NUM_BETAS = 10

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

#: Parent joint index of each joint; -1 for the root (SMPL ``kintree_table[0]``).
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

#: Index of the left/right mirror joint of each joint (itself on the midline).
MIRROR: tuple[int, ...] = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22)

PART_NAMES: tuple[str, ...] = (
    "head",
    "torso",
    "left_upper_arm",
    "right_upper_arm",
    "left_lower_arm",
    "right_lower_arm",
    "left_upper_leg",
    "right_upper_leg",
    "left_lower_leg",
    "right_lower_leg",
    "left_foot",
    "right_foot",
)
NUM_PARTS = len(PART_NAMES)  # 12; part ids are 1..12, 0 is background

#: Part id (1..12) of each SMPL joint.
JOINT_TO_PART: tuple[int, ...] = (
    2, 7, 8, 2, 9, 10, 2, 11, 12, 2, 11, 12, 1, 2, 2, 1, 3, 4, 5, 6, 5, 6, 5, 6,
)  # fmt: skip

#: Part id of each part's left/right mirror (index 0 = background).
PART_MIRROR: tuple[int, ...] = (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11)

#: Display colours (RGB uint8) for part maps, index 0 = background.
PART_COLORS = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
        [170, 110, 40],
    ],
    dtype=np.uint8,
)


def kintree_table() -> np.ndarray:
    """SMPL ``kintree_table``: (2, 24) int64, row 0 parents (root: 2**32 - 1 as in SMPL files), row 1 ids."""
    parents = np.array(PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    return np.stack([parents, np.arange(NUM_JOINTS, dtype=np.int64)])
