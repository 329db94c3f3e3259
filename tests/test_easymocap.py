"""EasyMocap intri.yml / extri.yml: round trip, OpenCV 4 and 5 files, errors naming file and key."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from humanrecon.calibration import (
    CalibrationError,
    Camera,
    CameraRig,
    load_calibration,
    read_easymocap,
    write_easymocap,
)


def make_rig(seed: int = 0, sizes: bool = True) -> CameraRig:
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(3):
        K = np.array([[rng.uniform(900, 1200), 0.0, rng.uniform(600, 680)], [0.0, rng.uniform(900, 1200), rng.uniform(330, 390)], [0.0, 0.0, 1.0]])
        dist = rng.normal(scale=[0.1, 0.05, 1e-4, 1e-4, 1e-3])
        R = cv2.Rodrigues(rng.normal(size=3))[0]
        t = rng.normal(size=3) * 2
        w, h = (1280, 720) if sizes else (0, 0)
        cams.append(Camera(f"cam{i:02d}", K, dist, R, t, w, h))
    return CameraRig(tuple(cams))


def test_round_trip_is_exact(tmp_path):
    for sizes in (True, False):
        rig = make_rig(sizes=sizes)
        write_easymocap(rig, tmp_path / "intri.yml", tmp_path / "extri.yml")
        back = read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml")
        assert back == rig
        for a, b in zip(rig, back, strict=True):
            assert np.array_equal(a.K, b.K) and np.array_equal(a.R, b.R)
            assert np.array_equal(a.t, b.t) and np.array_equal(a.dist, b.dist)
    assert load_calibration("easymocap", tmp_path) == rig


def test_written_bytes_are_deterministic(tmp_path):
    rig = make_rig()
    write_easymocap(rig, tmp_path / "a" / "intri.yml", tmp_path / "a" / "extri.yml")
    write_easymocap(make_rig(), tmp_path / "b" / "intri.yml", tmp_path / "b" / "extri.yml")
    for name in ("intri.yml", "extri.yml"):
        data = (tmp_path / "a" / name).read_bytes()
        assert data == (tmp_path / "b" / name).read_bytes()
        assert data.startswith(b"%YAML:1.0\n---\n")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["extri.yml", "intri.yml"]  # no temp files


def test_opencv_reads_what_we_write(tmp_path):
    rig = make_rig()
    write_easymocap(rig, tmp_path / "intri.yml", tmp_path / "extri.yml")
    fs = cv2.FileStorage(str(tmp_path / "intri.yml"), cv2.FILE_STORAGE_READ)
    names = fs.getNode("names")
    assert [names.at(i).string() for i in range(names.size())] == list(rig.names)
    assert np.array_equal(fs.getNode("K_cam01").mat(), rig["cam01"].K)
    assert fs.getNode("W_cam01").real() == 1280
    fs = cv2.FileStorage(str(tmp_path / "extri.yml"), cv2.FILE_STORAGE_READ)
    assert np.array_equal(fs.getNode("Rot_cam02").mat(), rig["cam02"].R)
    np.testing.assert_allclose(cv2.Rodrigues(fs.getNode("R_cam02").mat())[0], rig["cam02"].R, atol=1e-12)


# As OpenCV 4 (cv::FileStorage) writes them: "%YAML:1.0", quoted numeric names, wrapped data lines.
OPENCV4_INTRI = """%YAML:1.0
---
names:
   - "01"
K_01: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 1.1354639133046634e+03, 0., 5.1350075954236458e+02, 0.,
       1.1343927386337983e+03, 3.8361564331720863e+02, 0., 0., 1. ]
dist_01: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -4.2708998949311743e-01, 2.2584946318744433e-01,
       -1.2143935262998003e-03, -5.8193451893441094e-04,
       -7.5291656962209823e-02 ]
"""
OPENCV4_EXTRI = """%YAML:1.0
---
names:
   - "01"
R_01: !!opencv-matrix
   rows: 3
   cols: 1
   dt: d
   data: [ 1.5945434067153373e+00, -6.3911424167470047e-02,
       -4.9428006079999916e-01 ]
T_01: !!opencv-matrix
   rows: 3
   cols: 1
   dt: d
   data: [ -1.7839880845305312e+00, 8.7427003562021711e-01,
       2.7226929931893094e+00 ]
"""


def test_opencv4_file_loads(tmp_path):
    (tmp_path / "intri.yml").write_text(OPENCV4_INTRI)
    (tmp_path / "extri.yml").write_text(OPENCV4_EXTRI)
    rig = read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml", image_sizes={"01": (1024, 1024)})
    cam = rig["01"]
    assert rig.names == ("01",) and cam.size == (1024, 1024)
    assert cam.K[0, 0] == 1.1354639133046634e03 and cam.dist[4] == -7.5291656962209823e-02
    R_ref = cv2.Rodrigues(np.array([1.5945434067153373, -6.3911424167470047e-02, -4.9428006079999916e-01]))[0]
    np.testing.assert_allclose(cam.R, R_ref, atol=1e-15)
    np.testing.assert_array_equal(cam.t, [-1.7839880845305312, 0.87427003562021711, 2.7226929931893094])
    # cv2 5 agrees with our parsing
    fs = cv2.FileStorage(str(tmp_path / "intri.yml"), cv2.FILE_STORAGE_READ)
    assert np.array_equal(fs.getNode("K_01").mat(), cam.K)


def test_easymocap_writer_file_with_crlf_and_sizes_loads(tmp_path):
    # EasyMocap's own FileStorage writer: CRLF line ends, 2-space indent, fixed decimals, Rot_ + R_.
    R = cv2.Rodrigues(np.array([0.1, -0.2, 0.3]))[0]
    rvec = cv2.Rodrigues(R)[0].ravel()
    fmt = lambda a: ", ".join(f"{v:.10f}" for v in np.ravel(a))  # noqa: E731
    intri = (
        '%YAML:1.0\r\n---\r\nnames:\r\n  - "cam_a"\r\n'
        "K_cam_a: !!opencv-matrix\r\n  rows: 3\r\n  cols: 3\r\n  dt: d\r\n"
        "  data: [1000.0000000000, 0.0000000000, 320.0000000000, 0.0000000000, 1000.0000000000, 240.0000000000, 0.0000000000, 0.0000000000, 1.0000000000]\r\n"
        "dist_cam_a: !!opencv-matrix\r\n  rows: 1\r\n  cols: 5\r\n  dt: d\r\n  data: [0.0100000000, 0.0000000000, 0.0000000000, 0.0000000000, 0.0000000000]\r\n"
        "H_cam_a: 480\r\nW_cam_a: 640\r\n"
    )
    extri = (
        '%YAML:1.0\r\n---\r\nnames:\r\n  - "cam_a"\r\n'
        f"R_cam_a: !!opencv-matrix\r\n  rows: 3\r\n  cols: 1\r\n  dt: d\r\n  data: [{fmt(rvec)}]\r\n"
        f"Rot_cam_a: !!opencv-matrix\r\n  rows: 3\r\n  cols: 3\r\n  dt: d\r\n  data: [{fmt(R)}]\r\n"
        "T_cam_a: !!opencv-matrix\r\n  rows: 3\r\n  cols: 1\r\n  dt: d\r\n  data: [0.1000000000, 0.2000000000, 3.0000000000]\r\n"
    )
    (tmp_path / "intri.yml").write_bytes(intri.encode())
    (tmp_path / "extri.yml").write_bytes(extri.encode())
    cam = read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml")["cam_a"]
    assert cam.size == (640, 480)
    np.testing.assert_allclose(cam.R, R, atol=1e-9)


OPENCV5_INTRI = """%YAML 1.2
---
names:
   - cam00
K_cam00: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 800., 0., 320., 0., 800., 240., 0., 0., 1. ]
dist_cam00: !opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.10000000000000001, 1.0000000000000001e-05, 0., 0., 1e-06 ]
H_cam00: 480
W_cam00: 640
"""
OPENCV5_EXTRI = """%YAML 1.2
---
names:
   - cam00
Rot_cam00: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 1., 0., 0., 0., 1., 0., 0., 0., 1. ]
T_cam00: !!opencv-matrix
   rows: 3
   cols: 1
   dt: d
   data: [ 0., 0., 2.5 ]
"""


def test_opencv5_file_loads(tmp_path):
    (tmp_path / "intri.yml").write_text(OPENCV5_INTRI)
    (tmp_path / "extri.yml").write_text(OPENCV5_EXTRI)
    cam = read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml")["cam00"]
    np.testing.assert_array_equal(cam.dist, [-0.1, 1e-5, 0, 0, 1e-6])
    np.testing.assert_array_equal(cam.t, [0, 0, 2.5])
    assert cam.size == (640, 480)


def test_file_written_by_cv2_filestorage_loads(tmp_path):
    rig = make_rig(3)
    fi = cv2.FileStorage(str(tmp_path / "intri.yml"), cv2.FILE_STORAGE_WRITE)
    fe = cv2.FileStorage(str(tmp_path / "extri.yml"), cv2.FILE_STORAGE_WRITE)
    fi.write("names", list(rig.names))
    fe.write("names", list(rig.names))
    for cam in rig:
        fi.write(f"K_{cam.name}", cam.K)
        fi.write(f"dist_{cam.name}", cam.dist.reshape(1, 5))
        fe.write(f"R_{cam.name}", cv2.Rodrigues(cam.R)[0])
        fe.write(f"Rot_{cam.name}", cam.R)
        fe.write(f"T_{cam.name}", cam.t.reshape(3, 1))
    fi.release()
    fe.release()
    assert (tmp_path / "intri.yml").read_text().startswith("%YAML")
    back = read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml", {n: (1280, 720) for n in rig.names})
    assert back == rig


def write_pair(tmp_path, intri: str, extri: str):
    (tmp_path / "intri.yml").write_text(intri)
    (tmp_path / "extri.yml").write_text(extri)
    return tmp_path / "intri.yml", tmp_path / "extri.yml"


def error_of(intri_path, extri_path) -> str:
    with pytest.raises(CalibrationError) as info:
        read_easymocap(intri_path, extri_path)
    return str(info.value)


def test_missing_K_names_file_and_key(tmp_path):
    write_easymocap(make_rig(), tmp_path / "intri.yml", tmp_path / "extri.yml")
    text = (tmp_path / "intri.yml").read_text().replace('   - "cam02"\n', '   - "cam02"\n   - "cam03"\n')
    (tmp_path / "intri.yml").write_text(text)
    msg = error_of(tmp_path / "intri.yml", tmp_path / "extri.yml")
    assert str(tmp_path / "extri.yml") in msg and "cam03" in msg  # extri names lacks it
    text = (tmp_path / "extri.yml").read_text().replace('   - "cam02"\n', '   - "cam02"\n   - "cam03"\n')
    (tmp_path / "extri.yml").write_text(text)
    msg = error_of(tmp_path / "intri.yml", tmp_path / "extri.yml")
    assert msg == f"{tmp_path / 'intri.yml'}: camera 'cam03' listed in names has no K_cam03"


def test_mismatched_rot_and_rodrigues(tmp_path):
    intri, extri = write_pair(tmp_path, OPENCV5_INTRI, OPENCV5_EXTRI.replace(
        "Rot_cam00", "R_cam00: !!opencv-matrix\n   rows: 3\n   cols: 1\n   dt: d\n   data: [ 0., 0., 1e-5 ]\nRot_cam00"))
    msg = error_of(intri, extri)
    assert str(extri) in msg and "Rot_cam00" in msg and "R_cam00" in msg and "disagree" in msg
    # within 1e-6 they agree
    extri.write_text(OPENCV5_EXTRI.replace(
        "Rot_cam00", "R_cam00: !!opencv-matrix\n   rows: 3\n   cols: 1\n   dt: d\n   data: [ 0., 0., 1e-7 ]\nRot_cam00"))
    assert read_easymocap(intri, extri)["cam00"].R[0, 0] == 1.0


@pytest.mark.parametrize(
    ("which", "old", "new", "key"),
    [
        ("extri", "[ 0., 0., 2.5 ]", "[ 0., .Nan, 2.5 ]", "T_cam00"),
        ("extri", "[ 0., 0., 2.5 ]", "[ 0., nan, 2.5 ]", "T_cam00"),
        ("intri", "800., 0., 320.", "800., 0., .Inf", "K_cam00"),
        ("intri", "[ -0.10000000000000001,", "[ abc,", "dist_cam00"),
        ("intri", "   rows: 1\n   cols: 5", "   rows: 1\n   cols: 4", "dist_cam00"),
        ("intri", "H_cam00: 480\n", "", "W_cam00"),
        ("intri", "W_cam00: 640", "W_cam00: -640", "W_cam00"),
        ("intri", "names:\n   - cam00\n", "", "names"),
        ("extri", "T_cam00", "X_cam00", "T_cam00"),
        ("extri", "   data: [ 1., 0., 0., 0., 1., 0., 0., 0., 1. ]", "   data: [ 1., 0., 0., 0., 1., 0., 0., 0., -1. ]", "Rot_cam00"),
        ("intri", "800., 0., 320., 0., 800.", "800., 0., 320., 0., -800.", "K_cam00"),
        ("intri", "W_cam00: 640", "W_cam00: 640\nW_cam00: 641", "W_cam00"),
        ("intri", "names:", "names: [oops", "line"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, which, old, new, key):
    intri, extri = write_pair(tmp_path, OPENCV5_INTRI, OPENCV5_EXTRI)
    target = intri if which == "intri" else extri
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    msg = error_of(intri, extri)
    assert str(target) in msg and key in msg


def test_missing_file_and_folder(tmp_path):
    msg = error_of(tmp_path / "nope.yml", tmp_path / "extri.yml")
    assert str(tmp_path / "nope.yml") in msg and "not found" in msg
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration("easymocap", tmp_path / "missing")
    with pytest.raises(CalibrationError, match="known formats: colmap, easymocap, json, projection"):
        load_calibration("bundler", tmp_path)


def test_image_sizes_fill_and_conflict(tmp_path):
    rig = make_rig(sizes=False)
    write_easymocap(rig, tmp_path / "intri.yml", tmp_path / "extri.yml")
    back = read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml", {"cam01": (320, 240)})
    assert back["cam01"].size == (320, 240) and back["cam00"].size == (0, 0)
    write_easymocap(make_rig(), tmp_path / "intri.yml", tmp_path / "extri.yml")
    with pytest.raises(CalibrationError, match="W_cam01/H_cam01 say 1280x720"):
        read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml", {"cam01": (320, 240)})


def test_writer_refuses_invalid_rig_and_writes_nothing(tmp_path):
    rig = make_rig()
    bad = CameraRig((rig["cam00"], dataclasses.replace(rig["cam01"], R=np.diag([1.0, 1, -1]))))
    with pytest.raises(CalibrationError, match="cam01"):
        write_easymocap(bad, tmp_path / "intri.yml", tmp_path / "extri.yml")
    bad_name = CameraRig((dataclasses.replace(rig["cam00"], name="cam 0"),))
    with pytest.raises(CalibrationError, match="cam 0"):
        write_easymocap(bad_name, tmp_path / "intri.yml", tmp_path / "extri.yml")
    assert list(tmp_path.iterdir()) == []
