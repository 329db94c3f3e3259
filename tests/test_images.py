"""Image and mask I/O: RGB order, sizes, corrupt files, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from humanrecon.io.images import ImageError, image_size, read_image, read_mask, write_image, write_mask


def rgb_image(h: int = 30, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_round_trip_and_channel_order(tmp_path):
    img = rgb_image()
    img[0, 0] = (255, 0, 0)  # pure red in RGB
    write_image(tmp_path / "a.png", img)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == np.uint8 and back.shape == (30, 40, 3)
    np.testing.assert_array_equal(back, img)
    assert tuple(cv2.imread(str(tmp_path / "a.png"))[0, 0]) == (0, 0, 255)  # BGR on disk, as OpenCV expects
    assert read_image(tmp_path / "a.png", expect_size=(40, 30)).shape == (30, 40, 3)


def test_png_bytes_are_deterministic_and_atomic(tmp_path):
    write_image(tmp_path / "a.png", rgb_image())
    write_image(tmp_path / "sub" / "b.png", rgb_image())
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "sub" / "b.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "sub"]


def test_gray_and_alpha_files(tmp_path):
    gray = rgb_image()[:, :, 0]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    back = read_image(tmp_path / "g.png")
    assert back.shape == (30, 40, 3)
    assert np.array_equal(back[:, :, 0], gray) and np.array_equal(back[:, :, 2], gray)
    bgra = np.dstack([rgb_image()[:, :, ::-1], np.full((30, 40), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb_image())


def test_jpeg_reads_and_header_size(tmp_path):
    ok, buf = cv2.imencode(".jpg", rgb_image(24, 36)[:, :, ::-1])
    (tmp_path / "a.jpg").write_bytes(buf.tobytes())
    assert read_image(tmp_path / "a.jpg").shape == (24, 36, 3)
    assert image_size(tmp_path / "a.jpg") == (36, 24)
    write_image(tmp_path / "a.png", rgb_image(24, 36))
    assert image_size(tmp_path / "a.png") == (36, 24)
    cv2.imwrite(str(tmp_path / "a.bmp"), rgb_image(5, 7))
    assert image_size(tmp_path / "a.bmp") == (7, 5)


def test_wrong_size_names_file_and_sizes(tmp_path):
    write_image(tmp_path / "a.png", rgb_image())
    with pytest.raises(ImageError) as info:
        read_image(tmp_path / "a.png", expect_size=(64, 48))
    msg = str(info.value)
    assert str(tmp_path / "a.png") in msg and "expected 64x48" in msg and "40x30" in msg


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "not found"),
        (b"", "empty"),
        (b"this is not an image at all", "cannot decode"),
        ("truncated-png", "cannot decode"),
        ("truncated-jpg", "truncated"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, content, words):
    path = tmp_path / "x.png"
    if content == "truncated-png":
        write_image(path, rgb_image())
        path.write_bytes(path.read_bytes()[:200])
    elif content == "truncated-jpg":
        ok, buf = cv2.imencode(".jpg", rgb_image())
        path.write_bytes(buf.tobytes()[:-40])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(path) in str(info.value) and words in str(info.value)
    with pytest.raises(ImageError, match="x.png"):
        read_mask(path)


def test_16bit_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "d.png"), np.full((4, 4), 1000, np.uint16))
    with pytest.raises(ImageError, match="8-bit"):
        read_image(tmp_path / "d.png")


def test_masks(tmp_path):
    mask = (rgb_image()[:, :, 0] > 128).astype(np.uint8)
    write_mask(tmp_path / "m.png", mask)
    assert cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED).max() == 255
    back = read_mask(tmp_path / "m.png", expect_size=(40, 30))
    assert back.dtype == np.uint8 and back.shape == (30, 40)
    np.testing.assert_array_equal(back, mask)
    write_mask(tmp_path / "b.png", mask.astype(bool))
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "m.png").read_bytes()
    cv2.imwrite(str(tmp_path / "01.png"), mask)  # a {0, 1} file
    np.testing.assert_array_equal(read_mask(tmp_path / "01.png"), mask)
    cv2.imwrite(str(tmp_path / "c.png"), np.dstack([mask * 200] * 3))  # colour file
    np.testing.assert_array_equal(read_mask(tmp_path / "c.png"), mask)
    with pytest.raises(ImageError, match="0 or 1"):
        write_mask(tmp_path / "bad.png", mask * 2)
    assert not (tmp_path / "bad.png").exists()


def test_writers_check_inputs(tmp_path):
    with pytest.raises(ImageError, match="a.jpg.*png"):
        write_image(tmp_path / "a.jpg", rgb_image())
    with pytest.raises(ImageError, match="uint8"):
        write_image(tmp_path / "a.png", rgb_image().astype(np.float32))
    with pytest.raises(ImageError, match=r"\(H, W, 3\)"):
        write_image(tmp_path / "a.png", rgb_image()[:, :, 0])
    with pytest.raises(ImageError, match=r"\(H, W\)"):
        write_mask(tmp_path / "m.png", rgb_image())
    assert list(tmp_path.iterdir()) == []
