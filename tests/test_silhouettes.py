"""Background-plate subtraction: robust to relighting and noise, no holes inside, no clutter outside."""

import cv2
import numpy as np
import pytest

from humanrecon.silhouettes import (
    BackgroundSubtraction,
    SilhouetteError,
    clean_mask,
    decide_band,
    difference_score,
    subtract_background,
)


def _scene(seed=0, H=160, W=120, gain=1.04, light_shift=0.03, noise=0.01, with_background=False):
    """A textured plate, a relit noisy capture of it with a person-like blob whose colours resemble it
    (and, ``with_background``, the capture without the person)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    plate = 0.35 + 0.25 * np.sin(xx / 7.0)[..., None] * np.array([1.0, 0.6, 0.3]) + 0.15 * (yy / H)[..., None]
    plate += 0.05 * rng.standard_normal((H, W, 3))
    person = ((xx - W / 2) / 18.0) ** 2 + ((yy - H / 2) / 55.0) ** 2 < 1.0
    person |= (np.abs(yy - 55) < 6) & (np.abs(xx - W / 2) < 40)  # arms
    body = np.where((yy // 8 % 2 == 0)[..., None], [0.75, 0.35, 0.3], [0.3, 0.3, 0.7])  # striped clothes
    empty = plate * gain * (1 + light_shift * (xx / W - 0.5))[..., None]
    capture = np.where(person[..., None], body, empty)
    sensor = noise * rng.standard_normal(capture.shape)
    capture = capture + sensor
    plate_noisy = plate + noise * rng.standard_normal(plate.shape)
    to8 = lambda a: np.clip(a * 255, 0, 255).astype(np.uint8)  # noqa: E731
    if with_background:
        return to8(capture), to8(plate_noisy), person, to8(empty + sensor)
    return to8(capture), to8(plate_noisy), person


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("gain", [0.95, 1.0, 1.06])
def test_relit_noisy_plate_gives_accurate_silhouette(gain):
    img, plate, gt = _scene(gain=gain)
    mask = subtract_background(img[None], plate[None])[0].astype(bool)
    assert iou(mask, gt) > 0.95
    assert mask.dtype == bool or set(np.unique(mask)) <= {0, 1}


def test_no_holes_and_no_clutter():
    img, plate, gt, empty = _scene(seed=1, with_background=True)
    # a patch of clothing inside the body that resembles the background (a few grey levels off) must
    # not leave a hole
    img[70:80, 55:65] = np.clip(empty[70:80, 55:65].astype(int) + np.array([4, -4, 0]), 0, 255)
    # a few isolated noise spikes outside the person must not survive
    img[5, 5] = 255 - img[5, 5]
    img[150, 110] = 255 - img[150, 110]
    mask = subtract_background(img[None], plate[None])[0].astype(bool)
    assert mask[70:80, 55:65].all()
    assert not mask[:10, :10].any() and not mask[145:, 105:].any()


def test_clean_mask_keeps_large_components_and_fills():
    m = np.zeros((50, 50), np.uint8)
    m[10:40, 10:20] = 1
    m[20:25, 14:16] = 0  # hole
    m[2, 45] = 1  # speck
    out = clean_mask(m, BackgroundSubtraction())
    assert out[22, 15] == 1 and out[2, 45] == 0


def test_bad_inputs_are_named():
    img, plate, _ = _scene()
    with pytest.raises(SilhouetteError, match="do not match"):
        subtract_background(img[None], plate[None, :-1])
    with pytest.raises(SilhouetteError, match="uint8"):
        subtract_background(img[None].astype(np.float32), plate[None])


def test_gap_between_legs_stays_open():
    m = np.zeros((120, 80), np.uint8)
    m[10:60, 20:60] = 1  # torso
    m[60:110, 20:35] = 1  # legs joined at the feet: the gap between them is an enclosed region
    m[60:110, 45:60] = 1
    m[105:110, 20:60] = 1
    out = clean_mask(m, BackgroundSubtraction())
    assert out[80, 40] == 0  # 10 x 45 px gap = 11 % of the silhouette: background, not a hole
    m[30:34, 38:42] = 0  # a small hole in the torso is filled
    assert clean_mask(m, BackgroundSubtraction())[32, 40] == 1


def test_background_enclosed_by_the_body_stays_open():
    """Background seen through a loop of the body (between a raised arm and the head) matches the plate
    to the noise: it is not a hole to fill, however small."""
    img, plate, gt, empty = _scene(seed=2, with_background=True)
    img[70:80, 55:65] = empty[70:80, 55:65]  # exactly what the camera sees of the empty studio there
    mask = subtract_background(img[None], plate[None])[0].astype(bool)
    assert mask[72:78, 57:63].mean() < 0.2
    filled = subtract_background(img[None], plate[None], BackgroundSubtraction(hole_sigma=0.0))[0].astype(bool)
    assert filled[70:80, 55:65].all()  # hole_sigma = 0: every small hole is filled


def test_gain_estimate_ignores_the_person():
    """Excluding the person from the lighting-gain estimate (the second pass) keeps a large body part
    whose colour is the plate's, brightened a little, visibly different from the background."""
    img, plate, gt, empty = _scene(seed=3, with_background=True)
    img[60:100, 52:68] = np.clip(empty[60:100, 52:68].astype(int) + 8, 0, 255)
    params = BackgroundSubtraction()
    z_one = difference_score(img, plate, params)
    z_two = difference_score(img, plate, params, foreground=gt)
    patch = np.s_[62:98, 54:66]
    assert np.median(z_two[patch]) > 1.5 * np.median(z_one[patch])
    assert np.median(z_two[patch]) > params.low_sigma  # found by the hysteresis
    bg = ~gt
    assert abs(np.median(z_two[bg]) - np.median(z_one[bg])) < 0.1  # background unchanged


def test_band_is_redecided_on_unfiltered_pixels_against_plate_and_person_colours():
    """Near the outline each pixel is re-decided: a mask smeared two pixels outwards (the median filter
    in a concave corner) shrinks back, and boundary pixels of clothing only slightly different from the
    plate (below ``boundary_sigma``) are kept because they match the person's colour just inside."""
    rng = np.random.default_rng(4)
    H = W = 40
    plate = np.full((H, W, 3), 0.5, np.float32)
    person = np.zeros((H, W), bool)
    person[10:30, 10:30] = True
    person[10:20, 20:30] = False  # an L shape: a concave corner at (20, 20)
    image = np.where(person[..., None], plate + 0.015, plate) + 0.002 * rng.standard_normal((H, W, 3))
    image = image.astype(np.float32)
    sigma = 0.02  # noise scale: the person differs from the plate by ~1.3 sigma, the background by ~0.2
    z_raw = np.linalg.norm(image - plate, axis=2) / sigma
    params = BackgroundSubtraction()
    for grown in (1, 2):  # the mask one or two pixels too large
        smeared = cv2.dilate(person.astype(np.uint8), np.ones((2 * grown + 1,) * 2, np.uint8))
        out = decide_band(smeared, z_raw, image, plate, image, params).astype(bool)
        assert (out == person).all(), grown
    # the threshold alone cannot tell the low-contrast boundary from the background: it is lost
    by_one = cv2.dilate(person.astype(np.uint8), np.ones((3, 3), np.uint8))
    alone = decide_band(by_one, z_raw, image, plate, None, params).astype(bool)
    ring = person & (cv2.erode(person.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0)
    assert not alone[ring].any() and not (alone & ~person).any()
