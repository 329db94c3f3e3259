"""Plausible SMPL body poses for the synthetic studio: joint limits, a key-pose library, random poses,
smooth pose sequences and smooth global motion.

Conventions
-----------
Joints, names, parents and the left/right mirror table are :mod:`humanrecon.bodymodel.skeleton`'s
(SMPL, 24 joints). Frames are :mod:`humanrecon.conventions`' body-model canonical frame: ``+y`` up, the
body faces ``+z``, the subject's left is ``+x``. In the rest pose (T-pose) the arms point along ``+x``
(left) / ``-x`` (right) and the legs straight down.

A pose is ``(24, 3)`` axis-angle: row ``j`` is joint ``j``'s local rotation, applied in its parent's
frame (which is world-aligned at rest), SMPL style. Row 0 is the root (``global_orient``); every pose made
here has an identity root, the global orientation is handled separately (:func:`compose_heading`).

Human-readable angles are Euler angles in degrees, *intrinsic* ``XYZ`` in the parent frame, i.e.
``R = Rx(x) @ Ry(y) @ Rz(z)`` (scipy ``Rotation.from_euler("XYZ", ..., degrees=True)``). A rotation has two
XYZ decompositions; the limit box of every joint holds at most one of them, so the Euler angles of a pose
within the limits are unique and survive an axis-angle round trip (:func:`axis_angle_to_euler` picks the
in-limits one; the elbows flex about ``y`` beyond 90 deg).

Sign cheat sheet (left side; the right side has the same ``x`` and opposite ``y``/``z`` signs):

* shoulder ``z`` > 0 raises the arm, ``z`` < 0 lowers it towards the body side; ``y`` < 0 swings the
  horizontal arm forward (``+z``); ``x`` twists the horizontal arm (swings the lowered arm, ``x`` < 0 forward);
* elbow ``y`` < 0 is flexion (forearm forward in the T-pose);
* hip ``x`` < 0 is flexion (thigh forward), ``z`` > 0 abduction, ``y`` > 0 external rotation;
* knee ``x`` > 0 is flexion (shin backwards); ankle ``x`` > 0 plantar flexion (toes down);
* spine/neck/head ``x`` > 0 bends forward, ``y`` > 0 turns towards the subject's left, ``z`` > 0 leans
  to the subject's right.

Mirroring across the ``x = 0`` plane swaps left/right joints and flips the sign of the ``y`` and ``z``
components (of the axis-angle vector and of the Euler angles alike).

Everything random is drawn from the ``numpy.random.Generator`` passed in, so results are deterministic
for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from humanrecon.bodymodel.skeleton import JOINT_NAMES, MIRROR, NUM_JOINTS, PARENTS

__all__ = [
    "DEFAULT_REST_JOINTS",
    "JOINT_LIMITS_DEG",
    "KEY_POSES",
    "KEY_POSES_EULER_DEG",
    "KEY_POSE_NAMES",
    "axis_angle_to_euler",
    "clamp_to_limits",
    "compose_heading",
    "euler_to_axis_angle",
    "mirror_euler",
    "mirror_pose",
    "sample_global_motion",
    "sample_pose",
    "sample_pose_euler",
    "sample_sequence",
    "stick_figure_joints",
    "to_smpl_params",
    "within_limits",
]

_EULER_SEQ = "XYZ"  # intrinsic x, then y, then z: R = Rx @ Ry @ Rz
_JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
_SIDE_FLIP = np.array([1.0, -1.0, -1.0])  # mirror across x = 0: y and z components change sign
_MIRROR = np.array(MIRROR)

# --------------------------------------------------------------------------------------------------
# Euler <-> axis-angle, mirroring
# --------------------------------------------------------------------------------------------------


def _rows3(a: np.ndarray) -> np.ndarray:
    """A writable float64 (N, 3) copy (scipy's Rotation rejects read-only buffers such as broadcasts)."""
    return np.array(a, dtype=np.float64).reshape(-1, 3)


def euler_to_axis_angle(euler_deg: np.ndarray) -> np.ndarray:
    """Intrinsic-XYZ Euler angles in degrees ``(..., 3)`` -> axis-angle vectors ``(..., 3)`` (radians)."""
    euler_deg = np.asarray(euler_deg, dtype=np.float64)
    rotvec = Rotation.from_euler(_EULER_SEQ, _rows3(euler_deg), degrees=True).as_rotvec()
    return rotvec.reshape(euler_deg.shape)


def _wrap_deg(a: np.ndarray) -> np.ndarray:
    return (a + 180.0) % 360.0 - 180.0


def _limit_violation(euler: np.ndarray) -> np.ndarray:
    """Summed degrees by which ``(..., 24, 3)`` Euler poses leave the limit box, per joint ``(..., 24)``."""
    lo = JOINT_LIMITS_DEG[..., 0]
    hi = JOINT_LIMITS_DEG[..., 1]
    return (np.maximum(lo - euler, 0.0) + np.maximum(euler - hi, 0.0)).sum(axis=-1)


def axis_angle_to_euler(pose: np.ndarray, *, near_limits: bool = True) -> np.ndarray:
    """Axis-angle vectors -> intrinsic-XYZ Euler angles in degrees.

    Every rotation has two XYZ decompositions, ``(x, y, z)`` with ``y`` in ``[-90, 90]`` (scipy's) and
    ``(x + 180, 180 - y, z + 180)`` (wrapped). With ``near_limits`` (the default) ``pose`` must be
    ``(..., 24, 3)`` poses and each joint gets the decomposition that lies within, or least outside,
    :data:`JOINT_LIMITS_DEG` (the box holds at most one of the two, so this is the unique in-limits
    reading: e.g. an elbow flexed by 150 deg reads ``(0, -150, 0)``, not ``(180, -30, 180)``). Without
    it, any ``(..., 3)`` is accepted and scipy's decomposition is returned.
    """
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape[-1] != 3:
        raise ValueError(f"expected (..., 3), got {pose.shape}")
    euler = Rotation.from_rotvec(_rows3(pose)).as_euler(_EULER_SEQ, degrees=True).reshape(pose.shape)
    if not near_limits:
        return euler
    if pose.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"near_limits needs (..., {NUM_JOINTS}, 3) poses, got {pose.shape}")
    alt = np.stack(
        [
            euler[..., 0] + 180.0,
            np.where(euler[..., 1] >= 0, 180.0, -180.0) - euler[..., 1],
            euler[..., 2] + 180.0,
        ],
        axis=-1,
    )
    alt = _wrap_deg(alt)
    use_alt = _limit_violation(alt) < _limit_violation(euler)
    return np.where(use_alt[..., None], alt, euler)


def mirror_euler(euler_deg: np.ndarray) -> np.ndarray:
    """Mirror ``(..., 24, 3)`` Euler poses across the body's ``x = 0`` plane (swap sides, negate y and z)."""
    euler_deg = np.asarray(euler_deg, dtype=np.float64)
    return euler_deg[..., _MIRROR, :] * _SIDE_FLIP


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """Mirror ``(..., 24, 3)`` axis-angle poses across the body's ``x = 0`` plane.

    Left and right joints swap (:data:`humanrecon.bodymodel.skeleton.MIRROR`) and the ``y``/``z``
    components of every rotation vector change sign (``M R M`` with ``M = diag(-1, 1, 1)``). The root row
    is mirrored too. ``mirror_pose(mirror_pose(p)) == p``.
    """
    pose = np.asarray(pose, dtype=np.float64)
    return pose[..., _MIRROR, :] * _SIDE_FLIP


# --------------------------------------------------------------------------------------------------
# Joint limits
# --------------------------------------------------------------------------------------------------

# Left-side and midline joints: ((x_min, x_max), (y_min, y_max), (z_min, z_max)) in degrees, intrinsic XYZ
# in the parent frame. The right side is derived by mirroring. Midline joints are symmetric in y and z.
_LIMITS_LEFT_AND_MID: dict[str, tuple[tuple[float, float], ...]] = {
    # root: unconstrained (global orientation is handled separately); y is Euler's middle angle.
    "pelvis": ((-180, 180), (-90, 90), (-180, 180)),
    # x: flexion (-) / extension (+); y: internal (-) / external (+) rotation; z: adduction (-) / abduction (+)
    "left_hip": ((-125, 30), (-40, 45), (-30, 50)),
    # flexion only (+), at most 5 deg hyperextension; little twist / varus-valgus
    "left_knee": ((-5, 150), (-10, 10), (-5, 5)),
    # x: dorsiflexion (-) / plantar flexion (+); y: toe in/out; z: inversion (-) / eversion (+)
    "left_ankle": ((-30, 50), (-20, 25), (-30, 20)),
    # toes: extension (-, up) / flexion (+, down)
    "left_foot": ((-50, 30), (-10, 10), (-10, 10)),
    # spine segments: x flexion (+) / extension (-); y twist; z lateral bend
    "spine1": ((-20, 40), (-15, 15), (-20, 20)),
    "spine2": ((-15, 30), (-20, 20), (-15, 15)),
    "spine3": ((-15, 25), (-20, 20), (-15, 15)),
    "neck": ((-40, 50), (-50, 50), (-30, 30)),
    "head": ((-30, 35), (-35, 35), (-25, 25)),
    # collar: x small twist; y protraction (-) / retraction (+); z depression (-) / elevation (+)
    "left_collar": ((-15, 15), (-25, 15), (-10, 30)),
    # shoulder: large. z lowers (-) / raises (+) the arm; y swings it forward (-) / back (+) (twist when
    # lowered); x twists the horizontal arm / swings the lowered arm
    "left_shoulder": ((-100, 100), (-85, 60), (-95, 100)),
    # elbow: flexion (-y) up to 150, 5 deg hyperextension; forearm pronation/supination as x twist
    "left_elbow": ((-60, 60), (-150, 5), (-10, 10)),
    # wrist: x twist; y radial (-) / ulnar (+) deviation; z flexion (-, palm side) / extension (+)
    "left_wrist": ((-45, 45), (-20, 35), (-80, 70)),
    "left_hand": ((-15, 15), (-15, 15), (-20, 20)),
}


def _build_limits() -> np.ndarray:
    limits = np.full((NUM_JOINTS, 3, 2), np.nan)
    for name, rows in _LIMITS_LEFT_AND_MID.items():
        j = _JOINT_INDEX[name]
        limits[j] = np.array(rows, dtype=np.float64)
        m = MIRROR[j]
        if m != j:
            mirrored = limits[j].copy()
            mirrored[1:] = -limits[j, 1:, ::-1]  # y, z: [min, max] -> [-max, -min]
            limits[m] = mirrored
    assert not np.isnan(limits).any(), "every joint needs limits"
    assert (limits[..., 0] <= limits[..., 1]).all()
    # The two XYZ decompositions of a rotation differ by 180 deg in x and z and mirror y about +-90 deg;
    # the box must never hold both, so that an in-limits reading is unique.
    width = limits[..., 1] - limits[..., 0]
    y_inside = (np.abs(limits[:, 1]) < 90).all(axis=-1)
    assert (y_inside | (width[:, 0] < 180) | (width[:, 2] < 180))[1:].all()
    return limits


#: (24, 3, 2) per joint, per Euler axis (intrinsic XYZ, degrees) the ``[min, max]`` local rotation.
#: Row 0 (root) is unconstrained. Mirror-consistent: the right joint's x range equals the left's, its y
#: and z ranges are the left's negated and swapped.
JOINT_LIMITS_DEG: np.ndarray = _build_limits()

_RANGE_DEG = JOINT_LIMITS_DEG[..., 1] - JOINT_LIMITS_DEG[..., 0]  # (24, 3)
# Perturbation scale per joint/axis: 1 for joints with >= 90 deg of range, proportional below.
_PERTURB_SCALE = np.minimum(1.0, _RANGE_DEG / 90.0)
_PERTURB_SCALE[0] = 0.0  # the root stays identity


def clamp_to_limits(pose_euler: np.ndarray) -> np.ndarray:
    """Clamp ``(..., 24, 3)`` Euler poses (degrees) into :data:`JOINT_LIMITS_DEG` (returns a copy)."""
    pose_euler = np.asarray(pose_euler, dtype=np.float64)
    return np.clip(pose_euler, JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1])


def within_limits(pose: np.ndarray, *, axis_angle: bool = False, tol_deg: float = 1e-6) -> bool:
    """Whether every joint of ``(..., 24, 3)`` poses lies within :data:`JOINT_LIMITS_DEG`.

    ``pose`` is Euler degrees (intrinsic XYZ) by default; with ``axis_angle=True`` it is axis-angle and
    is converted with :func:`axis_angle_to_euler` first (use a small ``tol_deg``, e.g. ``1e-4``, for the
    round-off of the conversion).
    """
    euler = axis_angle_to_euler(pose) if axis_angle else np.asarray(pose, dtype=np.float64)
    lo = JOINT_LIMITS_DEG[..., 0] - tol_deg
    hi = JOINT_LIMITS_DEG[..., 1] + tol_deg
    return bool(np.all((euler >= lo) & (euler <= hi)))


# --------------------------------------------------------------------------------------------------
# Key poses
# --------------------------------------------------------------------------------------------------

_BOTH_SIDES = ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand")


def _compose(*steps: tuple[str, float]) -> tuple[float, float, float]:
    """Euler XYZ degrees of a rotation built from elementary steps, the first step applied first.

    ``_compose(("x", 90), ("z", -50))`` twists the (left) T-pose arm 90 deg about its own axis, then lowers
    it by 50 deg: ``R = Rz(-50) @ Rx(90)``.
    """
    rot = Rotation.identity()
    for axis, deg in steps:
        rot = Rotation.from_euler(axis, deg, degrees=True) * rot
    x, y, z = rot.as_euler(_EULER_SEQ, degrees=True)
    return (float(x), float(y), float(z))


def _pose_from_spec(spec: Mapping[str, Sequence[float]]) -> np.ndarray:
    """(24, 3) Euler degrees from ``{joint: (x, y, z)}``.

    A key from :data:`_BOTH_SIDES` (``"shoulder"``) sets both sides: the angles given are the left
    joint's, the right joint gets the mirrored angles. Full names (``"left_knee"``) set one joint.
    """
    euler = np.zeros((NUM_JOINTS, 3))
    for key, angles in spec.items():
        a = np.asarray(angles, dtype=np.float64)
        if key in _BOTH_SIDES:
            left = _JOINT_INDEX["left_" + key]
            euler[left] = a
            euler[MIRROR[left]] = a * _SIDE_FLIP
        else:
            j = _JOINT_INDEX[key]
            if j == 0:
                raise ValueError("key poses keep the root at identity")
            euler[j] = a
    return euler


# Left-side angles for "both sides" keys; see the sign cheat sheet in the module docstring.
_KEY_POSE_SPECS: dict[str, dict[str, Sequence[float]]] = {
    "t_pose": {},
    "a_pose": {
        "collar": (0, 0, -5),
        "shoulder": (0, 0, -40),
        "elbow": (0, -5, 0),
        "hip": (0, 0, 4),
    },
    "standing_relaxed": {
        "spine1": (3, 0, 0),
        "spine3": (-3, 0, 0),
        "head": (5, 0, 0),
        "collar": (0, 0, -5),
        "shoulder": (5, -8, -72),  # hanging at the sides, slightly forward
        "elbow": (10, -15, 0),
        "wrist": (0, 0, -5),
        "hip": (0, 5, 3),
        "knee": (4, 0, 0),
        "ankle": (-2, 0, 0),
    },
    "walking_left": {  # mid-stride, left leg forward, right arm forward
        "spine1": (3, -4, 0),
        "spine2": (0, -4, 0),
        "spine3": (0, -3, 0),
        "head": (0, 8, 0),
        "left_hip": (-28, 2, 2),
        "left_knee": (12, 0, 0),
        "left_ankle": (-8, 0, 0),
        "right_hip": (18, -2, -2),
        "right_knee": (25, 0, 0),
        "right_ankle": (18, 0, 0),
        "right_foot": (-20, 0, 0),
        "collar": (0, 0, -5),
        "left_shoulder": (20, 0, -75),  # swung back
        "right_shoulder": (-25, 0, 75),  # swung forward
        "left_elbow": (0, -15, 0),
        "right_elbow": (0, 30, 0),
    },
    "reaching_forward": {  # both arms reaching forward at chest height, torso leaning in
        "spine1": (10, 0, 0),
        "spine2": (8, 0, 0),
        "spine3": (5, 0, 0),
        "head": (-10, 0, 0),
        "collar": (0, -15, 0),
        "shoulder": (0, -75, 15),
        "elbow": (0, -10, 0),
        "hip": (-5, 0, 3),
        "knee": (8, 0, 0),
    },
    "reaching_up": {  # left arm stretched overhead, right arm relaxed, up on the toes
        "spine2": (0, 0, 5),
        "spine3": (0, 0, 5),
        "neck": (-15, 0, 0),
        "head": (-15, 0, 0),
        "left_collar": (0, 0, 25),
        "left_shoulder": (0, -10, 72),
        "left_elbow": (0, -5, 0),
        "right_collar": (0, 0, 5),
        "right_shoulder": (0, 8, 72),
        "right_elbow": (0, 15, 0),
        "ankle": (20, 0, 0),
        "foot": (-25, 0, 0),
    },
    "squatting": {
        "spine1": (20, 0, 0),
        "spine2": (15, 0, 0),
        "spine3": (10, 0, 0),
        "neck": (-10, 0, 0),
        "head": (-10, 0, 0),
        "shoulder": (0, -60, -15),  # arms forward for balance
        "elbow": (0, -15, 0),
        "hip": (-100, 15, 15),
        "knee": (120, 0, 0),
        "ankle": (-20, 0, 0),
    },
    "arms_raised": {
        "collar": (0, 0, 20),
        "shoulder": (0, 0, 70),
        "elbow": (0, -10, 0),
        "neck": (-10, 0, 0),
        "hip": (0, 0, 5),
    },
    "turning": {  # torso twisted towards the subject's left
        "spine1": (0, 10, 0),
        "spine2": (0, 15, 0),
        "spine3": (0, 15, 0),
        "neck": (0, 20, 0),
        "head": (0, 10, 0),
        "collar": (0, 0, -5),
        "left_shoulder": (20, 0, -70),
        "right_shoulder": (-20, 0, 70),
        "left_elbow": (0, -20, 0),
        "right_elbow": (0, 35, 0),
        "left_hip": (0, 15, 5),
        "right_hip": (0, 10, -5),
        "knee": (8, 0, 0),
    },
    "kneeling": {  # right knee on the floor, left foot planted in front
        "left_hip": (-90, 5, 5),
        "left_knee": (90, 0, 0),
        "left_ankle": (0, 0, 0),
        "right_hip": (0, -5, -3),
        "right_knee": (90, 0, 0),
        "right_ankle": (30, 0, 0),
        "right_foot": (-40, 0, 0),
        "spine1": (5, 0, 0),
        "collar": (0, 0, -5),
        "shoulder": (0, -15, -70),
        "elbow": (0, -30, 0),
    },
    "dancing_1": {  # left arm up, right forearm across the front, right knee lifted, hips swaying
        "spine1": (0, 5, -8),
        "spine2": (0, 5, -5),
        "neck": (0, 0, 5),
        "head": (-5, 15, 10),
        "left_collar": (0, 0, 15),
        "left_shoulder": (0, -20, 60),
        "left_elbow": (-30, -50, 0),
        "right_shoulder": (0, 35, 35),
        "right_elbow": (0, 80, 0),
        "left_hip": (0, 10, 10),
        "left_knee": (10, 0, 0),
        "right_hip": (-50, -10, -5),
        "right_knee": (70, 0, 0),
        "right_ankle": (25, 0, 0),
    },
    "dancing_2": {  # disco: left arm pointing up diagonally, right arm down across, knees bent
        "spine1": (5, -10, 5),
        "spine2": (0, -8, 5),
        "spine3": (0, -5, 0),
        "neck": (-10, 10, 0),
        "head": (-10, 15, -5),
        "left_collar": (0, 0, 20),
        "left_shoulder": (0, -20, 55),
        "left_elbow": (0, -5, 0),
        "right_shoulder": (0, 25, 60),
        "right_elbow": (0, 30, 0),
        "right_wrist": (0, 0, 20),
        "left_hip": (-15, 20, 12),
        "left_knee": (30, 0, 0),
        "right_hip": (-25, -15, -5),
        "right_knee": (35, 0, 0),
        "ankle": (-10, 0, 0),
    },
    "arms_crossed": {  # upper arms down and forward, internally rotated; forearms folded across the chest
        "collar": (0, -10, 0),
        "left_shoulder": (-30, -80, -70),
        "left_elbow": (0, -100, 0),
        "right_shoulder": (-25, 78, 74),  # right forearm slightly lower / closer to the chest
        "right_elbow": (0, 105, 0),
        "wrist": (0, 0, -10),
        "head": (5, 0, 0),
        "hip": (0, 5, 4),
    },
    "hands_on_hips": {  # elbows out to the sides, hands on the iliac crests
        "collar": (0, 0, -5),
        "shoulder": _compose(("x", 90), ("z", -45), ("y", 10)),  # internal twist, lower, slightly back
        "elbow": (0, -100, 0),
        "wrist": (0, 0, 20),
        "hip": (0, 8, 6),
    },
    "lunge": {  # forward lunge, left leg forward
        "spine1": (-5, 0, 0),
        "left_hip": (-80, 5, 3),
        "left_knee": (85, 0, 0),
        "left_ankle": (-10, 0, 0),
        "right_hip": (25, -5, -3),
        "right_knee": (60, 0, 0),
        "right_ankle": (20, 0, 0),
        "right_foot": (-40, 0, 0),
        "collar": (0, 0, -5),
        "shoulder": (0, -10, -70),
        "elbow": (0, -20, 0),
    },
}


def _build_key_poses() -> dict[str, np.ndarray]:
    poses = {name: _pose_from_spec(spec) for name, spec in _KEY_POSE_SPECS.items()}
    poses["walking_right"] = mirror_euler(poses["walking_left"])
    for name, euler in poses.items():
        assert within_limits(euler), f"key pose {name!r} outside the joint limits"
    return poses


#: Named key poses as (24, 3) intrinsic-XYZ Euler angles in degrees (root row zero).
KEY_POSES_EULER_DEG: dict[str, np.ndarray] = _build_key_poses()

#: Names of the key poses, in a fixed order (the order :func:`sample_pose` draws from).
KEY_POSE_NAMES: tuple[str, ...] = tuple(sorted(KEY_POSES_EULER_DEG))

#: Named key poses as (24, 3) axis-angle (radians), joint 0 (root) identity.
KEY_POSES: dict[str, np.ndarray] = {
    name: euler_to_axis_angle(KEY_POSES_EULER_DEG[name]) for name in KEY_POSE_NAMES
}


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


def sample_pose_euler(
    rng: np.random.Generator,
    name: str | None = None,
    perturb_deg: float = 10.0,
    mirror_prob: float = 0.5,
) -> np.ndarray:
    """A random pose as (24, 3) Euler degrees; see :func:`sample_pose` (same draws, same result)."""
    if name is None:
        name = KEY_POSE_NAMES[int(rng.integers(len(KEY_POSE_NAMES)))]
    elif name not in KEY_POSES_EULER_DEG:
        raise KeyError(f"unknown key pose {name!r}; known: {', '.join(KEY_POSE_NAMES)}")
    euler = np.array(KEY_POSES_EULER_DEG[name], dtype=np.float64)
    if rng.random() < mirror_prob:
        euler = mirror_euler(euler)
    noise = rng.standard_normal((NUM_JOINTS, 3)) * (float(perturb_deg) * _PERTURB_SCALE)
    return clamp_to_limits(euler + noise)


def sample_pose(
    rng: np.random.Generator,
    name: str | None = None,
    perturb_deg: float = 10.0,
    mirror_prob: float = 0.5,
) -> np.ndarray:
    """A random plausible pose, (24, 3) axis-angle with an identity root.

    Picks a key pose (uniformly from :data:`KEY_POSE_NAMES`, or ``name``), mirrors it left/right with
    probability ``mirror_prob``, adds Gaussian Euler-angle noise to every non-root joint with standard
    deviation ``perturb_deg * min(1, range / 90 deg)`` per axis (``range`` the joint's limit range on that
    axis) and clamps to :data:`JOINT_LIMITS_DEG`.
    """
    return euler_to_axis_angle(sample_pose_euler(rng, name, perturb_deg, mirror_prob))


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * (3.0 - 2.0 * u)


_SMOOTHSTEP_PEAK_RATE = 1.5  # max of d/du smoothstep(u)


def _smooth_noise(
    rng: np.random.Generator, num_frames: int, fps: float, shape: tuple[int, ...], amplitude: np.ndarray
) -> np.ndarray:
    """(F, *shape) sum of three random low-frequency sinusoids (0.1-0.6 Hz), peak <= ``amplitude``."""
    k = 3
    freq = rng.uniform(0.1, 0.6, size=(k, *shape))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(k, *shape))
    weight = rng.uniform(0.5, 1.0, size=(k, *shape))
    weight /= weight.sum(axis=0, keepdims=True)
    t = np.arange(num_frames, dtype=np.float64) / fps
    t = t.reshape((num_frames, 1) + (1,) * len(shape))
    waves = np.sin(2.0 * np.pi * freq[None] * t + phase[None]) * weight[None]  # (F, k, *shape)
    return waves.sum(axis=1) * amplitude


def sample_sequence(
    rng: np.random.Generator,
    num_frames: int,
    fps: float = 30.0,
    names: Sequence[str] | None = None,
    perturb_deg: float = 10.0,
    mirror_prob: float = 0.5,
    transition_s: tuple[float, float] = (0.7, 1.5),
    hold_s: tuple[float, float] = (0.0, 0.6),
    noise_deg: float = 2.0,
    max_step_rad: float = 0.1,
) -> np.ndarray:
    """A smooth pose sequence, (F, 24, 3) axis-angle with identity roots.

    Successive key poses are drawn with :func:`sample_pose_euler` (from ``names`` if given, else from
    the whole library, never the same name twice in a row when there is a choice). Each is held for
    ``U(hold_s)`` seconds, then the next one is reached by interpolating every joint's Euler angles
    linearly with smoothstep easing in time over ``U(transition_s)`` seconds, lengthened where needed so
    that no joint rotates by more than ``max_step_rad`` between frames. Euler interpolation (rather than
    slerp) keeps every frame inside the joint-limit box. Small smooth noise (three 0.1-0.6 Hz sinusoids per
    joint and axis, peak ``noise_deg`` scaled like the perturbations of :func:`sample_pose`) is added and
    the result is clamped to the limits; the per-frame rotation of any joint stays below
    ``max_step_rad + 0.02`` rad (with the default noise at >= 30 fps).
    """
    num_frames = int(num_frames)
    if num_frames < 0:
        raise ValueError("num_frames must be >= 0")
    if fps <= 0:
        raise ValueError("fps must be > 0")
    pool = tuple(names) if names is not None else KEY_POSE_NAMES
    for n in pool:
        if n not in KEY_POSES_EULER_DEG:
            raise KeyError(f"unknown key pose {n!r}")
    if not pool:
        raise ValueError("names must not be empty")

    def draw(previous: str | None) -> tuple[str, np.ndarray]:
        choices = [n for n in pool if n != previous] or list(pool)
        name = choices[int(rng.integers(len(choices)))]
        return name, sample_pose_euler(rng, name, perturb_deg, mirror_prob)

    name, current = draw(None)
    chunks: list[np.ndarray] = [current[None]]
    count = 1
    while count < num_frames:
        n_hold = int(round(rng.uniform(*hold_s) * fps))
        if n_hold:
            chunks.append(np.repeat(current[None], n_hold, axis=0))
            count += n_hold
        name, target = draw(name)
        # Bound the per-frame rotation: |omega| <= |dx| + |dy| + |dz| for intrinsic Euler rates.
        l1 = np.deg2rad(np.abs(target - current)).sum(axis=-1).max()
        min_frames = math.ceil(_SMOOTHSTEP_PEAK_RATE * l1 / max_step_rad)
        n_trans = max(math.ceil(rng.uniform(*transition_s) * fps), min_frames, 1)
        u = np.arange(1, n_trans + 1, dtype=np.float64) / n_trans
        chunks.append(current[None] + _smoothstep(u)[:, None, None] * (target - current)[None])
        count += n_trans
        current = target
    euler = np.concatenate(chunks, axis=0)[:num_frames]
    amplitude = float(noise_deg) * _PERTURB_SCALE
    euler = clamp_to_limits(euler + _smooth_noise(rng, num_frames, fps, (NUM_JOINTS, 3), amplitude))
    return euler_to_axis_angle(euler)


def sample_global_motion(
    rng: np.random.Generator,
    num_frames: int,
    fps: float = 30.0,
    area_radius: float = 0.4,
    max_turn_rate: float = 0.8,
    speed_range: tuple[float, float] = (0.15, 0.4),
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth global motion of the subject on the floor.

    Returns
    -------
    headings : (F,) float64
        Rotation about world ``+y`` in radians, *unwrapped* (continuous, may leave ``[-pi, pi]``). The
        turn rate is smoothstep-interpolated between random knots every 1-2.5 s: a pause (30 %) or
        ``U(0.3, 1) * max_turn_rate`` rad/s, usually keeping its direction, so full turns happen over long
        sequences.
    positions : (F, 2) float64
        ``(x, z)`` floor position in metres: a walk between random waypoints drawn uniformly in the disc
        of radius ``0.85 * area_radius`` about the origin, each leg eased in and out (smoothstep) at
        ``U(speed_range)`` m/s, with pauses of up to 1.5 s. Straight legs between points of a disc stay
        in the disc, so ``|position| <= area_radius`` always.
    """
    num_frames = int(num_frames)
    if num_frames < 0:
        raise ValueError("num_frames must be >= 0")
    if fps <= 0:
        raise ValueError("fps must be > 0")
    if area_radius < 0:
        raise ValueError("area_radius must be >= 0")

    # Headings: integrate a smooth random turn rate.
    knot_rates = [0.0]
    knot_frames = [0]
    direction = 1.0 if rng.random() < 0.5 else -1.0
    while knot_frames[-1] < num_frames:
        knot_frames.append(knot_frames[-1] + max(1, int(round(rng.uniform(1.0, 2.5) * fps))))
        if rng.random() < 0.3:
            knot_rates.append(0.0)
        else:
            if rng.random() < 0.2:
                direction = -direction
            knot_rates.append(direction * rng.uniform(0.3, 1.0) * max_turn_rate)
    frames = np.arange(num_frames)
    seg = np.searchsorted(np.asarray(knot_frames), frames, side="right") - 1
    kf = np.asarray(knot_frames, dtype=np.float64)
    kr = np.asarray(knot_rates)
    seg = np.clip(seg, 0, len(kf) - 2)
    u = (frames - kf[seg]) / (kf[seg + 1] - kf[seg])
    rate = kr[seg] + _smoothstep(u) * (kr[seg + 1] - kr[seg])
    heading0 = rng.uniform(-np.pi, np.pi)
    headings = heading0 + np.concatenate([[0.0], np.cumsum(rate[:-1]) / fps])[:num_frames]

    # Positions: eased walk between waypoints inside the disc.
    def waypoint() -> np.ndarray:
        r = 0.85 * area_radius * math.sqrt(rng.random())
        a = rng.uniform(0.0, 2.0 * np.pi)
        return np.array([r * math.cos(a), r * math.sin(a)])

    current = waypoint()
    chunks: list[np.ndarray] = [current[None]]
    count = 1
    while count < num_frames:
        n_pause = int(round(rng.uniform(0.0, 1.5) * fps))
        if n_pause:
            chunks.append(np.repeat(current[None], n_pause, axis=0))
            count += n_pause
        target = waypoint()
        dist = float(np.linalg.norm(target - current))
        duration = max(0.5, dist / rng.uniform(*speed_range))
        n = max(1, math.ceil(duration * fps))
        s = _smoothstep(np.arange(1, n + 1, dtype=np.float64) / n)
        chunks.append(current[None] + s[:, None] * (target - current)[None])
        count += n
        current = target
    positions = np.concatenate(chunks, axis=0)[:num_frames]
    return headings.astype(np.float64), positions.reshape(num_frames, 2).astype(np.float64)


# --------------------------------------------------------------------------------------------------
# SMPL parameters and global orientation
# --------------------------------------------------------------------------------------------------


def to_smpl_params(pose: np.ndarray) -> dict[str, np.ndarray]:
    """Split ``(..., 24, 3)`` axis-angle poses into SMPL ``global_orient (..., 3)`` and
    ``body_pose (..., 69)`` (joints 1..23 in order)."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected (..., {NUM_JOINTS}, 3), got {pose.shape}")
    lead = pose.shape[:-2]
    return {
        "global_orient": pose[..., 0, :].copy(),
        "body_pose": pose[..., 1:, :].reshape(*lead, (NUM_JOINTS - 1) * 3).copy(),
    }


def compose_heading(global_orient: np.ndarray, heading: np.ndarray | float) -> np.ndarray:
    """Root orientation after turning the body by ``heading`` radians about world ``+y``.

    Returns the axis-angle of ``R_y(heading) @ R(global_orient)``: the body's own root orientation is
    applied first, then the heading in the world. Shapes broadcast: ``(3,)`` with a scalar, or
    ``(F, 3)`` with ``(F,)``.
    """
    go = np.asarray(global_orient, dtype=np.float64)
    h = np.asarray(heading, dtype=np.float64)
    shape = np.broadcast_shapes(go.shape[:-1], h.shape)
    go_b = _rows3(np.broadcast_to(go, (*shape, 3)))
    h_b = np.broadcast_to(h, shape).reshape(-1)
    yrot = np.zeros((h_b.size, 3))
    yrot[:, 1] = h_b
    out = (Rotation.from_rotvec(yrot) * Rotation.from_rotvec(go_b)).as_rotvec()
    return out.reshape(*shape, 3)


# --------------------------------------------------------------------------------------------------
# Stick-figure forward kinematics (sanity tool)
# --------------------------------------------------------------------------------------------------

#: Rough SMPL-like rest (T-pose) joint positions in metres, pelvis at the origin, left = +x. Only for
#: sanity checks of pose signs with :func:`stick_figure_joints`; real joints come from the body model.
DEFAULT_REST_JOINTS: np.ndarray = np.array(
    [
        [0.0, 0.0, 0.0],  # pelvis
        [0.09, -0.08, 0.0],  # left_hip
        [-0.09, -0.08, 0.0],  # right_hip
        [0.0, 0.1, 0.0],  # spine1
        [0.1, -0.45, 0.0],  # left_knee
        [-0.1, -0.45, 0.0],  # right_knee
        [0.0, 0.23, 0.0],  # spine2
        [0.1, -0.85, 0.0],  # left_ankle
        [-0.1, -0.85, 0.0],  # right_ankle
        [0.0, 0.3, 0.0],  # spine3
        [0.1, -0.9, 0.12],  # left_foot
        [-0.1, -0.9, 0.12],  # right_foot
        [0.0, 0.5, 0.0],  # neck
        [0.07, 0.42, 0.0],  # left_collar
        [-0.07, 0.42, 0.0],  # right_collar
        [0.0, 0.6, 0.0],  # head
        [0.18, 0.44, 0.0],  # left_shoulder
        [-0.18, 0.44, 0.0],  # right_shoulder
        [0.44, 0.44, 0.0],  # left_elbow
        [-0.44, 0.44, 0.0],  # right_elbow
        [0.69, 0.44, 0.0],  # left_wrist
        [-0.69, 0.44, 0.0],  # right_wrist
        [0.78, 0.44, 0.0],  # left_hand
        [-0.78, 0.44, 0.0],  # right_hand
    ]
)


def stick_figure_joints(pose: np.ndarray, rest_joints: np.ndarray | None = None) -> np.ndarray:
    """Posed joint positions of a stick skeleton: a sanity tool for checking pose signs.

    Plain SMPL forward kinematics without a mesh: ``G_j = G_parent(j) @ R_j`` and
    ``p_j = p_parent(j) + G_parent(j) @ (rest_j - rest_parent(j))``, with the root at ``rest_joints[0]``
    rotated by ``pose[0]``.

    Parameters
    ----------
    pose : (..., 24, 3) axis-angle local rotations.
    rest_joints : (24, 3) rest (T-pose) joint positions; :data:`DEFAULT_REST_JOINTS` when None.

    Returns
    -------
    (..., 24, 3) posed joint positions, same frame and units as ``rest_joints``.
    """
    pose = np.asarray(pose, dtype=np.float64)
    rest = DEFAULT_REST_JOINTS if rest_joints is None else np.asarray(rest_joints, dtype=np.float64)
    lead = pose.shape[:-2]
    rot = Rotation.from_rotvec(_rows3(pose)).as_matrix().reshape(*lead, NUM_JOINTS, 3, 3)
    glob = np.empty_like(rot)
    pos = np.empty((*lead, NUM_JOINTS, 3))
    glob[..., 0, :, :] = rot[..., 0, :, :]
    pos[..., 0, :] = rest[0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        glob[..., j, :, :] = glob[..., p, :, :] @ rot[..., j, :, :]
        pos[..., j, :] = pos[..., p, :] + glob[..., p, :, :] @ (rest[j] - rest[p])
    return pos
