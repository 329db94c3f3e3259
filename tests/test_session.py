"""session.yaml: a tiny valid session loads; every kind of bad input gives an error naming file and field."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator

from humanrecon.calibration import CalibrationError, Camera, CameraRig, write_easymocap
from humanrecon.io.images import ImageError, write_image
from humanrecon.session import SCHEMA_PATH, Session, SessionError, load_session, write_session_yaml

W, H = 32, 24
CAMERAS = ("cam00", "cam01")
FRAMES = (0, 1, 2)

VALID_YAML = """\
name: demo
units: m
up: y
calibration: {format: easymocap, path: calibration}
cameras: [cam00, cam01]
frames: {start: 0, stop: 3, step: 1}
images: images/{camera}/{frame:06d}.png
backgrounds: backgrounds/{camera}.png
gt:
  meshes: gt/meshes/{frame:06d}.ply
  smpl: gt/smpl/{frame:06d}.npz
  masks: 'gt/masks/{camera}/{frame:06d}.png'
"""


def make_rig(sizes: bool = True) -> CameraRig:
    cams = []
    for i, name in enumerate(CAMERAS):
        angle = 0.3 * i
        R = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
        K = np.array([[30.0, 0, (W - 1) / 2], [0, 30.0, (H - 1) / 2], [0, 0, 1]])
        cams.append(Camera(name, K, np.array([-0.05, 0.01, 0, 0, 0]), R, np.array([0, 0, 3.0]), W if sizes else 0, H if sizes else 0))
    return CameraRig(tuple(cams))


def make_session(root: Path, yaml_text: str = VALID_YAML, sizes: bool = True) -> Path:
    rng = np.random.default_rng(0)
    write_easymocap(make_rig(sizes), root / "calibration" / "intri.yml", root / "calibration" / "extri.yml")
    for cam in CAMERAS:
        for frame in FRAMES:
            write_image(root / "images" / cam / f"{frame:06d}.png", rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        write_image(root / "backgrounds" / f"{cam}.png", np.zeros((H, W, 3), np.uint8))
    (root / "session.yaml").write_text(yaml_text)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def session_dir(tmp_path) -> Path:
    return make_session(tmp_path / "sess")


def test_schema_is_valid_and_documents_every_field():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)

    def walk(node):
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"field {key} has no description"
            walk(sub)

    walk(schema)


def test_valid_session_loads(session_dir):
    for path in (session_dir, session_dir / "session.yaml", os.path.relpath(session_dir)):
        s = load_session(path)
        assert s.root == session_dir.resolve()
        assert s.name == "demo" and s.units == "m" and s.up == "y"
        assert s.camera_names == CAMERAS and s.frames == FRAMES
        assert s.calibration_path == session_dir.resolve() / "calibration"
    assert s.image_path("cam01", 2) == session_dir.resolve() / "images" / "cam01" / "000002.png"
    assert s.background_path("cam00") == session_dir.resolve() / "backgrounds" / "cam00.png"
    assert s.gt_mesh_path(7) == session_dir.resolve() / "gt" / "meshes" / "000007.ply"
    assert s.gt_smpl_path(7).name == "000007.npz"
    assert s.gt_mask_path("cam00", 1) == session_dir.resolve() / "gt" / "masks" / "cam00" / "000001.png"
    assert s.gt_part_path("cam00", 1) is None
    s.check_images()
    rig = s.rig()
    assert rig.names == CAMERAS and rig == make_rig()
    for p in (session_dir / "images").rglob("*.png"):
        p.unlink()
    assert s.rig(images=False) == rig


def test_defaults_cameras_from_calibration_and_sizes_from_images(tmp_path):
    text = "name: demo\ncalibration: {format: easymocap}\nframes: [2, 0]\nimages: images/{camera}/{frame:06d}.png\n"
    root = make_session(tmp_path / "s", text, sizes=False)
    s = load_session(root)
    assert s.camera_names == CAMERAS and s.frames == (0, 2) and s.up == "y" and s.units == "m"
    assert s.background_path("cam00") is None and s.gt_mesh_path(0) is None
    rig = s.rig()
    assert [c.size for c in rig] == [(W, H), (W, H)]


def test_session_subset_order(tmp_path):
    root = make_session(tmp_path / "s", VALID_YAML.replace("[cam00, cam01]", "[cam01]"))
    assert load_session(root).rig().names == ("cam01",)


def test_write_and_reload_round_trip(session_dir, tmp_path):
    s = load_session(session_dir)
    out = write_session_yaml(s, tmp_path / "copy")
    assert out == tmp_path / "copy" / "session.yaml"
    data = yaml.safe_load(out.read_text())
    assert data == s.to_yaml_dict()
    assert data["frames"] == {"start": 0, "stop": 3, "step": 1}
    first = out.read_bytes()
    write_session_yaml(s.to_yaml_dict(), out)
    assert out.read_bytes() == first
    # written next to the real data, the copy loads to the same session
    write_session_yaml(s, session_dir / "again.yaml")
    again = load_session(session_dir / "again.yaml")
    assert again.to_yaml_dict() == s.to_yaml_dict() and again.frames == s.frames


def replace_field(text: str, field: str, new: str | None) -> str:
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{field}:")]
    if new is not None:
        lines.append(new)
    return "\n".join(lines) + "\n"


BAD_YAMLS = [
    # (description, yaml transformation, words in the message)
    ("missing name", lambda t: replace_field(t, "name", None), ["missing required field 'name'"]),
    ("missing frames", lambda t: replace_field(t, "frames", None), ["missing required field 'frames'"]),
    ("missing images", lambda t: replace_field(t, "images", None), ["missing required field 'images'"]),
    ("missing calibration", lambda t: replace_field(t, "calibration", None), ["missing required field 'calibration'"]),
    ("mistyped frames", lambda t: t.replace("frames:", "frame:"), ["unknown field 'frame' (did you mean 'frames'?)"]),
    ("mistyped nested", lambda t: t.replace("format:", "fromat:"), ["unknown field 'calibration.fromat'", "did you mean 'calibration.format'"]),
    ("wrong type", lambda t: replace_field(t, "name", "name: 123"), ["field 'name' must be text", "quotes"]),
    ("frames type", lambda t: replace_field(t, "frames", "frames: 0-10"), ["field 'frames' must be a mapping", "or a list"]),
    ("units", lambda t: replace_field(t, "units", "units: mm"), ["field 'units'", "only metres"]),
    ("up", lambda t: replace_field(t, "up", "up: w"), ["field 'up'", "-y"]),
    ("calib format", lambda t: t.replace("format: easymocap", "format: bundler"), ["calibration.format", "known formats: colmap, easymocap"]),
    ("calib escapes", lambda t: t.replace("path: calibration", "path: ../calibration"), ["calibration.path", "leaves the session folder"]),
    ("calib absolute", lambda t: t.replace("path: calibration", "path: /etc"), ["calibration.path", "relative"]),
    ("images escape", lambda t: replace_field(t, "images", "images: images/../../x/{camera}/{frame}.png"), ["field 'images'", "leaves the session folder"]),
    ("images absolute", lambda t: replace_field(t, "images", "images: /data/{camera}/{frame}.png"), ["field 'images'", "relative"]),
    ("gt escapes", lambda t: t.replace("smpl: gt/smpl", "smpl: ../gt/smpl"), ["field 'gt.smpl'", "leaves"]),
    ("no camera placeholder", lambda t: replace_field(t, "images", "images: images/{frame:06d}.png"), ["field 'images'", "lacks the placeholder {camera}"]),
    ("no frame placeholder", lambda t: replace_field(t, "images", "images: images/{camera}.png"), ["field 'images'", "{frame}"]),
    ("unknown placeholder", lambda t: replace_field(t, "images", "images: images/{cam}/{frame}.png"), ["unknown placeholder {cam}", "did you mean {camera}"]),
    ("bad format spec", lambda t: replace_field(t, "images", "images: images/{camera}/{frame:06s}.png"), ["field 'images'", "cannot be filled in"]),
    ("background frame", lambda t: replace_field(t, "backgrounds", "backgrounds: bg/{camera}/{frame}.png"), ["field 'backgrounds'", "{frame}"]),
    ("stop <= start", lambda t: replace_field(t, "frames", "frames: {start: 5, stop: 5}"), ["field 'frames'", "stop (5) must be greater than start (5)"]),
    ("step 0", lambda t: replace_field(t, "frames", "frames: {start: 0, stop: 5, step: 0}"), ["frames.step", ">= 1"]),
    ("negative start", lambda t: replace_field(t, "frames", "frames: {start: -1, stop: 5}"), ["frames.start", ">= 0"]),
    ("negative frame", lambda t: replace_field(t, "frames", "frames: [0, -3]"), ["field 'frames'", "[-3]"]),
    ("duplicate frame", lambda t: replace_field(t, "frames", "frames: [0, 1, 1]"), ["field 'frames'", "[1] listed more than once"]),
    ("empty frames", lambda t: replace_field(t, "frames", "frames: []"), ["field 'frames'", "at least one"]),
    ("frames float", lambda t: replace_field(t, "frames", "frames: [0, 1.5]"), ["field 'frames[1]'", "integer"]),
    ("frames extra key", lambda t: replace_field(t, "frames", "frames: {start: 0, stop: 3, stride: 1}"), ["unknown field 'frames.stride'"]),
    ("camera name", lambda t: replace_field(t, "cameras", "cameras: [../x]"), ["cameras[0]", "folder name"]),
    ("duplicate camera", lambda t: replace_field(t, "cameras", "cameras: [cam00, cam00]"), ["field 'cameras'", "more than once"]),
    ("duplicate field", lambda t: t + "frames: [1]\n", ["duplicate field 'frames'"]),
    ("bad yaml", lambda t: t + "images: [unclosed\n", ["invalid YAML", "line"]),
    ("unquoted flow template", lambda t: t + "more: {a: x/{frame}.ply}\n", ["invalid YAML", "line 13", "must be quoted"]),
    ("not a mapping", lambda t: "- a\n- b\n", ["must be a mapping"]),
    ("empty", lambda t: "", ["empty"]),
]


@pytest.mark.parametrize(("what", "transform", "words"), BAD_YAMLS, ids=[b[0] for b in BAD_YAMLS])
def test_bad_session_yaml(session_dir, what, transform, words):
    yaml_path = session_dir / "session.yaml"
    yaml_path.write_text(transform(VALID_YAML))
    before = snapshot(session_dir)
    with pytest.raises(SessionError) as info:
        load_session(session_dir)
    msg = str(info.value)
    assert msg.startswith(str(yaml_path)), msg
    for word in words:
        assert word in msg, msg
    assert snapshot(session_dir) == before  # nothing written on error


def test_several_problems_reported_at_once(session_dir):
    (session_dir / "session.yaml").write_text(VALID_YAML.replace("units: m", "units: cm").replace("up: y", "up: q"))
    with pytest.raises(SessionError, match=r"2 problems:\n  - field 'units'.*\n  - field 'up'"):
        load_session(session_dir)


def test_missing_session_file(tmp_path):
    with pytest.raises(SessionError, match=r"session.yaml: session file not found"):
        load_session(tmp_path)


def test_unknown_camera(session_dir):
    (session_dir / "session.yaml").write_text(VALID_YAML.replace("[cam00, cam01]", "[cam00, cam09]"))
    s = load_session(session_dir)
    with pytest.raises(SessionError) as info:
        s.rig()
    msg = str(info.value)
    assert str(session_dir / "session.yaml") in msg and "'cam09'" in msg and "cameras" in msg
    with pytest.raises(SessionError, match="unknown camera 'cam07'"):
        s.image_path("cam07", 0)


def test_missing_image(session_dir):
    missing = session_dir / "images" / "cam01" / "000001.png"
    missing.unlink()
    s = load_session(session_dir)
    with pytest.raises(SessionError) as info:
        s.check_images()
    assert str(missing) in str(info.value) and "cam01" in str(info.value) and "frame 1" in str(info.value)
    (session_dir / "images" / "cam00" / "000000.png").unlink()
    with pytest.raises(SessionError, match=r"missing image .*cam00.*000000\.png"):
        s.rig()


def test_wrong_image_size(session_dir):
    bad = session_dir / "images" / "cam00" / "000000.png"
    write_image(bad, np.zeros((H + 2, W, 3), np.uint8))
    s = load_session(session_dir)
    with pytest.raises(SessionError) as info:
        s.rig()
    msg = str(info.value)
    assert str(bad) in msg and "cam00" in msg and f"{W}x{H + 2}" in msg and f"{W}x{H}" in msg
    write_image(bad, np.zeros((H, W, 3), np.uint8))
    write_image(session_dir / "images" / "cam01" / "000002.png", np.zeros((H, W + 1, 3), np.uint8))
    with pytest.raises(SessionError, match=r"000002\.png is 33x24, camera 'cam01' is calibrated for 32x24"):
        s.check_images()


def test_corrupt_image(session_dir):
    bad = session_dir / "images" / "cam01" / "000000.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    s = load_session(session_dir)
    with pytest.raises(ImageError, match=str(bad)):
        s.rig()
    bad.write_bytes(b"garbage")
    with pytest.raises(ImageError, match=str(bad)):
        s.check_images()


def test_calibration_errors_propagate(session_dir):
    intri = session_dir / "calibration" / "intri.yml"
    intri.write_text(intri.read_text().replace("K_cam01", "K_camXX"))
    with pytest.raises(CalibrationError, match=rf"{intri}: camera 'cam01' listed in names has no K_cam01"):
        load_session(session_dir).rig()


def test_write_session_yaml_refuses_invalid_dict(tmp_path):
    bad = {"name": "x", "frame": [0], "calibration": {"format": "easymocap"}, "images": "{camera}/{frame}.png"}
    with pytest.raises(SessionError, match="unknown field 'frame'"):
        write_session_yaml(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_session_is_frozen(session_dir):
    s = load_session(session_dir)
    assert isinstance(s, Session)
    with pytest.raises(AttributeError):
        s.name = "other"
