"""Tests for humanrecon.synth.poses: joint limits, key poses, sampling, sequences, global motion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanrecon.bodymodel.skeleton import JOINT_NAMES, MIRROR, NUM_JOINTS
from humanrecon.synth import poses as P

J = {name: i for i, name in enumerate(JOINT_NAMES)}
REQUIRED_POSES = (
    "a_pose",
    "standing_relaxed",
    "walking_left",
    "walking_right",
    "reaching_forward",
    "reaching_up",
    "squatting",
    "arms_raised",
    "turning",
    "kneeling",
    "dancing_1",
    "dancing_2",
    "arms_crossed",
    "t_pose",
    "hands_on_hips",
    "lunge",
)


def fk(name_or_pose) -> np.ndarray:
    pose = P.KEY_POSES[name_or_pose] if isinstance(name_or_pose, str) else name_or_pose
    return P.stick_figure_joints(pose)


def single_joint_pose(joint: str, euler_deg) -> np.ndarray:
    euler = np.zeros((NUM_JOINTS, 3))
    euler[J[joint]] = euler_deg
    return P.euler_to_axis_angle(euler)


def per_frame_angles(seq: np.ndarray) -> np.ndarray:
    """(F-1, 24) rotation angle (rad) of every joint's local rotation between successive frames."""
    f = seq.shape[0]
    mats = Rotation.from_rotvec(seq.reshape(-1, 3)).as_matrix().reshape(f, NUM_JOINTS, 3, 3)
    rel = np.einsum("fjab,fjac->fjbc", mats[:-1], mats[1:])
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


# ------------------------------------------------------------------------------------------ limits


def test_limits_table_shape_and_order():
    lim = P.JOINT_LIMITS_DEG
    assert lim.shape == (NUM_JOINTS, 3, 2)
    assert np.all(lim[..., 0] <= lim[..., 1])
    # no knee hyperextension beyond ~5 deg, flexion well past 90, little twist / abduction
    for knee in ("left_knee", "right_knee"):
        assert lim[J[knee], 0, 0] >= -5.0
        assert lim[J[knee], 0, 1] >= 120.0
        assert np.all(np.abs(lim[J[knee], 1:]) <= 10.0)
    # shoulders range more than elbows' side axes, collars small
    assert np.ptp(lim[J["left_shoulder"], 2]) >= 150.0
    assert np.all(np.ptp(lim[J["left_collar"]], axis=-1) <= 45.0)


def test_limits_mirror_consistent():
    lim = P.JOINT_LIMITS_DEG
    for j in range(NUM_JOINTS):
        m = MIRROR[j]
        np.testing.assert_array_equal(lim[m, 0], lim[j, 0])
        np.testing.assert_array_equal(lim[m, 1:], -lim[j, 1:, ::-1])


def test_clamp_to_limits():
    rng = np.random.default_rng(0)
    wild = rng.uniform(-300.0, 300.0, size=(5, NUM_JOINTS, 3))
    assert not P.within_limits(wild)
    clamped = P.clamp_to_limits(wild)
    assert P.within_limits(clamped)
    inside = P.KEY_POSES_EULER_DEG["squatting"]
    np.testing.assert_array_equal(P.clamp_to_limits(inside), inside)


def test_axis_angle_to_euler_reads_deep_elbow_flexion():
    euler = np.zeros((NUM_JOINTS, 3))
    euler[J["left_elbow"]] = (10.0, -150.0, 3.0)
    euler[J["right_elbow"]] = (10.0, 140.0, -3.0)
    back = P.axis_angle_to_euler(P.euler_to_axis_angle(euler))
    np.testing.assert_allclose(back, euler, atol=1e-9)
    assert P.within_limits(P.euler_to_axis_angle(euler), axis_angle=True, tol_deg=1e-6)


# --------------------------------------------------------------------------------------- key poses


def test_key_pose_library_complete_and_within_limits():
    assert set(REQUIRED_POSES) <= set(P.KEY_POSES)
    assert set(P.KEY_POSE_NAMES) == set(P.KEY_POSES) == set(P.KEY_POSES_EULER_DEG)
    for name, pose in P.KEY_POSES.items():
        assert pose.shape == (NUM_JOINTS, 3), name
        np.testing.assert_array_equal(pose[0], 0.0, err_msg=name)  # root identity
        assert P.within_limits(P.KEY_POSES_EULER_DEG[name]), name
        assert P.within_limits(pose, axis_angle=True, tol_deg=1e-6), name
        np.testing.assert_allclose(P.axis_angle_to_euler(pose), P.KEY_POSES_EULER_DEG[name], atol=1e-8)


def test_t_pose_is_rest():
    np.testing.assert_array_equal(P.KEY_POSES["t_pose"], 0.0)
    np.testing.assert_allclose(fk("t_pose"), P.DEFAULT_REST_JOINTS, atol=1e-12)


def test_key_poses_distinct():
    names = P.KEY_POSE_NAMES
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            diff = np.abs(P.KEY_POSES_EULER_DEG[names[a]] - P.KEY_POSES_EULER_DEG[names[b]]).max()
            assert diff > 5.0, (names[a], names[b])


# ---------------------------------------------------------------------------------------- mirroring


def test_mirror_involution_and_symmetric_poses():
    rng = np.random.default_rng(1)
    pose = rng.normal(scale=0.5, size=(3, NUM_JOINTS, 3))
    np.testing.assert_array_equal(P.mirror_pose(P.mirror_pose(pose)), pose)
    for name in ("a_pose", "t_pose", "standing_relaxed", "arms_raised", "squatting", "hands_on_hips"):
        np.testing.assert_allclose(P.mirror_pose(P.KEY_POSES[name]), P.KEY_POSES[name], atol=1e-12)
    np.testing.assert_allclose(
        P.mirror_pose(P.KEY_POSES["walking_left"]), P.KEY_POSES["walking_right"], atol=1e-12
    )
    np.testing.assert_allclose(
        P.mirror_euler(P.KEY_POSES_EULER_DEG["lunge"]),
        P.axis_angle_to_euler(P.mirror_pose(P.KEY_POSES["lunge"])),
        atol=1e-9,
    )


def test_mirror_reflects_stick_figure():
    # The default rest skeleton is left/right symmetric, so mirroring a pose mirrors the posed joints.
    flip = np.array([-1.0, 1.0, 1.0])
    for name in ("dancing_1", "kneeling", "turning", "walking_left"):
        joints = fk(name)
        mirrored = fk(P.mirror_pose(P.KEY_POSES[name]))
        np.testing.assert_allclose(mirrored, (joints * flip)[list(MIRROR)], atol=1e-12)


# ------------------------------------------------------------------------------------ sign sanity


def test_sign_conventions_single_joints():
    rest = P.DEFAULT_REST_JOINTS
    # left shoulder about +z by -60 deg lowers the left arm; right arm: +60
    j = P.stick_figure_joints(single_joint_pose("left_shoulder", (0, 0, -60)))
    assert j[J["left_wrist"], 1] < rest[J["left_shoulder"], 1] - 0.3
    j = P.stick_figure_joints(single_joint_pose("right_shoulder", (0, 0, 60)))
    assert j[J["right_wrist"], 1] < rest[J["right_shoulder"], 1] - 0.3
    # left knee +x: the foot goes backwards (-z)
    j = P.stick_figure_joints(single_joint_pose("left_knee", (60, 0, 0)))
    assert j[J["left_ankle"], 2] < -0.3
    # left elbow -y: forearm forward (+z); right elbow +y
    j = P.stick_figure_joints(single_joint_pose("left_elbow", (0, -90, 0)))
    assert j[J["left_wrist"], 2] > 0.2
    j = P.stick_figure_joints(single_joint_pose("right_elbow", (0, 90, 0)))
    assert j[J["right_wrist"], 2] > 0.2
    # left hip -x: thigh forward
    j = P.stick_figure_joints(single_joint_pose("left_hip", (-90, 0, 0)))
    assert j[J["left_knee"], 2] > 0.3


def test_arms_raised_wrists_above_head():
    j = fk("arms_raised")
    assert j[J["left_wrist"], 1] > j[J["head"], 1] + 0.2
    assert j[J["right_wrist"], 1] > j[J["head"], 1] + 0.2


def test_reaching_up_one_wrist_above_head():
    j = fk("reaching_up")
    assert j[J["left_wrist"], 1] > j[J["head"], 1] + 0.2
    assert j[J["right_wrist"], 1] < j[J["right_shoulder"], 1]


def test_a_pose_wrists_below_shoulders():
    j = fk("a_pose")
    for side in ("left", "right"):
        assert j[J[f"{side}_wrist"], 1] < j[J[f"{side}_shoulder"], 1] - 0.2
        assert abs(j[J[f"{side}_wrist"], 0]) > abs(j[J[f"{side}_shoulder"], 0])  # out to the side


def test_squatting_knees_in_front_of_hips():
    j = fk("squatting")
    for side in ("left", "right"):
        assert j[J[f"{side}_knee"], 2] - j[J[f"{side}_hip"], 2] > 0.2
    # pelvis is low: much closer to the ankles than standing
    assert j[J["pelvis"], 1] - j[J["left_ankle"], 1] < 0.6


def test_walking_feet_apart_front_to_back():
    j = fk("walking_left")
    assert j[J["left_foot"], 2] - j[J["right_foot"], 2] > 0.3
    # arms swing opposite to the legs
    assert j[J["right_wrist"], 2] > j[J["left_wrist"], 2]
    j = fk("walking_right")
    assert j[J["right_foot"], 2] - j[J["left_foot"], 2] > 0.3


def test_kneeling_one_knee_low():
    j = fk("kneeling")
    floor = j[:, 1].min()
    assert j[J["right_knee"], 1] - floor < 0.1  # on the floor
    assert j[J["left_knee"], 1] - floor > 0.3  # left thigh horizontal, foot planted in front
    assert j[J["left_ankle"], 2] > j[J["right_knee"], 2] + 0.2


def test_lunge_front_knee_bent_forward():
    j = fk("lunge")
    assert j[J["left_knee"], 2] > 0.25
    assert j[J["right_ankle"], 2] < -0.3


def test_reaching_forward_wrists_in_front():
    j = fk("reaching_forward")
    for side in ("left", "right"):
        assert j[J[f"{side}_wrist"], 2] > 0.45
        assert j[J[f"{side}_wrist"], 1] > j[J["pelvis"], 1] + 0.2


def test_arms_crossed_wrists_cross_midline_in_front():
    j = fk("arms_crossed")
    assert j[J["left_wrist"], 0] < 0.0 < j[J["right_wrist"], 0]
    assert j[J["left_wrist"], 2] > 0.1 and j[J["right_wrist"], 2] > 0.1
    assert 0.15 < j[J["left_wrist"], 1] < 0.45


def test_hands_on_hips_wrists_at_waist():
    j = fk("hands_on_hips")
    for side, sign in (("left", 1.0), ("right", -1.0)):
        w = j[J[f"{side}_wrist"]]
        e = j[J[f"{side}_elbow"]]
        assert -0.05 < w[1] < 0.2
        assert 0.05 < sign * w[0] < 0.2
        assert sign * e[0] > sign * w[0] + 0.1  # elbows out to the side


def test_turning_twists_torso_left():
    j = fk("turning")
    # the shoulder line rotates about +y towards the subject's left: left shoulder back, right forward
    assert j[J["left_shoulder"], 2] < -0.05 < 0.05 < j[J["right_shoulder"], 2]


# ------------------------------------------------------------------------------------------ sampling


def test_sample_pose_within_limits_and_deterministic():
    rng = np.random.default_rng(42)
    samples = np.stack([P.sample_pose(rng, perturb_deg=15.0) for _ in range(300)])
    assert samples.shape == (300, NUM_JOINTS, 3)
    np.testing.assert_array_equal(samples[:, 0], 0.0)
    assert P.within_limits(samples, axis_angle=True, tol_deg=1e-6)
    again = np.stack([P.sample_pose(np.random.default_rng(42), perturb_deg=15.0) for _ in range(1)])
    np.testing.assert_array_equal(again[0], samples[0])
    assert np.abs(samples[0] - samples[1]).max() > 1e-3


def test_sample_pose_named_and_mirrored():
    rng = np.random.default_rng(3)
    p = P.sample_pose(rng, "squatting", perturb_deg=0.0, mirror_prob=0.0)
    np.testing.assert_allclose(p, P.KEY_POSES["squatting"], atol=1e-12)
    p = P.sample_pose(rng, "walking_left", perturb_deg=0.0, mirror_prob=1.0)
    np.testing.assert_allclose(p, P.KEY_POSES["walking_right"], atol=1e-12)
    p = P.sample_pose(rng, "lunge", perturb_deg=10.0, mirror_prob=0.0)
    assert 0.0 < np.abs(p - P.KEY_POSES["lunge"]).max() < 1.0
    with pytest.raises(KeyError):
        P.sample_pose(rng, "moonwalk")


def test_sample_pose_mirror_happens_at_random():
    rng = np.random.default_rng(5)
    right_forward = 0
    for _ in range(40):
        j = P.stick_figure_joints(P.sample_pose(rng, "walking_left", perturb_deg=0.0))
        right_forward += j[J["right_foot"], 2] > j[J["left_foot"], 2]
    assert 5 < right_forward < 35


# ----------------------------------------------------------------------------------------- sequences


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequence_smooth_within_limits_deterministic(seed):
    seq = P.sample_sequence(np.random.default_rng(seed), 450, fps=30)
    assert seq.shape == (450, NUM_JOINTS, 3)
    np.testing.assert_array_equal(seq[:, 0], 0.0)
    assert P.within_limits(seq, axis_angle=True, tol_deg=1e-6)
    steps = per_frame_angles(seq)
    assert steps.max() < 0.15
    # it actually moves (several key poses visited)
    assert np.abs(seq - seq[0]).max() > 0.5
    np.testing.assert_array_equal(P.sample_sequence(np.random.default_rng(seed), 450, fps=30), seq)


def test_sequence_names_fps_and_edge_lengths():
    rng = np.random.default_rng(7)
    seq = P.sample_sequence(rng, 120, fps=60, names=["a_pose", "arms_raised"], mirror_prob=0.0)
    assert seq.shape == (120, NUM_JOINTS, 3)
    assert per_frame_angles(seq).max() < 0.15
    assert P.sample_sequence(rng, 0).shape == (0, NUM_JOINTS, 3)
    assert P.sample_sequence(rng, 1).shape == (1, NUM_JOINTS, 3)
    with pytest.raises(KeyError):
        P.sample_sequence(rng, 10, names=["nope"])


def test_global_motion_inside_area_smooth_deterministic():
    fps = 30
    for seed in range(4):
        headings, positions = P.sample_global_motion(np.random.default_rng(seed), 900, fps, area_radius=0.4)
        assert headings.shape == (900,) and positions.shape == (900, 2)
        assert np.linalg.norm(positions, axis=1).max() <= 0.4 + 1e-12
        assert np.abs(np.diff(headings)).max() < 0.05  # rad per frame
        assert np.linalg.norm(np.diff(positions, axis=0), axis=1).max() < 0.03  # m per frame
        h2, p2 = P.sample_global_motion(np.random.default_rng(seed), 900, fps, area_radius=0.4)
        np.testing.assert_array_equal(h2, headings)
        np.testing.assert_array_equal(p2, positions)
    _, small = P.sample_global_motion(np.random.default_rng(0), 300, fps, area_radius=0.1)
    assert np.linalg.norm(small, axis=1).max() <= 0.1 + 1e-12
    h0, p0 = P.sample_global_motion(np.random.default_rng(0), 0, fps)
    assert h0.shape == (0,) and p0.shape == (0, 2)


def test_global_motion_full_turn_possible():
    turns = [np.ptp(P.sample_global_motion(np.random.default_rng(seed), 60 * 30, 30)[0]) for seed in range(5)]
    assert max(turns) > 2.0 * np.pi


# ------------------------------------------------------------------------------ SMPL params, heading


def test_to_smpl_params():
    pose = np.arange(NUM_JOINTS * 3, dtype=np.float64).reshape(NUM_JOINTS, 3) / 100.0
    params = P.to_smpl_params(pose)
    np.testing.assert_array_equal(params["global_orient"], pose[0])
    assert params["body_pose"].shape == (69,)
    np.testing.assert_array_equal(params["body_pose"], pose[1:].ravel())
    batch = P.to_smpl_params(np.stack([pose, pose]))
    assert batch["global_orient"].shape == (2, 3) and batch["body_pose"].shape == (2, 69)


def test_compose_heading():
    np.testing.assert_allclose(P.compose_heading(np.zeros(3), 0.7), [0.0, 0.7, 0.0], atol=1e-12)
    frozen = np.zeros(3)
    frozen.setflags(write=False)
    np.testing.assert_allclose(P.compose_heading(frozen, -0.2), [0.0, -0.2, 0.0], atol=1e-12)
    assert P.stick_figure_joints(np.broadcast_to(np.zeros(3), (NUM_JOINTS, 3))).shape == (NUM_JOINTS, 3)
    go = np.array([0.3, -0.2, 0.1])
    h = 1.1
    out = P.compose_heading(go, h)
    expected = Rotation.from_euler("y", h) * Rotation.from_rotvec(go)
    np.testing.assert_allclose(Rotation.from_rotvec(out).as_matrix(), expected.as_matrix(), atol=1e-12)
    # the body's facing direction (+z) turns about world +y
    facing = Rotation.from_rotvec(P.compose_heading(np.zeros(3), np.pi / 2)).apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(facing, [1.0, 0.0, 0.0], atol=1e-12)
    headings = np.linspace(0.0, 3.0, 5)
    batch = P.compose_heading(np.tile(go, (5, 1)), headings)
    assert batch.shape == (5, 3)
    np.testing.assert_allclose(batch[2], P.compose_heading(go, headings[2]), atol=1e-12)
