"""Person silhouettes from background plates (an empty-studio image per camera).

The plate is shot at another time than the capture, so it is lit slightly differently and carries
independent sensor noise. Per camera the method is:

1. Median filter of image and plate (``median_size``; edge-preserving, so no halo around the person)
   and optional Gaussian blur (``blur_sigma``, off by default) to suppress sensor noise.
2. **Lighting compensation**: a per-channel gain field ``g(x)`` with ``image ≈ g * plate`` on the
   background: a global robust gain (median ratio), then a smooth local gain (large box filter of the
   ratio over pixels that look like background), so a brighter plate or a slightly moved light does not
   show up as foreground.
3. **Difference score**: colour distance ``|image - g * plate|`` (RGB, 0-1 scale) divided by the noise
   level expected at the pixel's brightness, estimated robustly (median absolute deviation) per
   brightness bin from background pixels.
4. **Hysteresis threshold**: seeds above ``high_sigma``, grown through pixels above ``low_sigma``.
5. **Clean-up**: morphological opening then closing, connected components (keep the largest and any
   component at least ``min_component_fraction`` of its size lying near it: drops clutter and
   speckle), and filling
   of holes up to ``max_hole_fraction`` of the silhouette that differ from the plate by a median of at
   least ``hole_sigma`` (no holes inside the body; the gap between the legs, or between the head and a
   raised arm, stays open).
6. **Outline band** (``band_radius``): the median filter smears edges by a pixel or two, so every pixel
   within ``band_radius`` of the outline is re-decided on *unfiltered* pixels (:func:`decide_band`): the
   person where it differs from the plate by ``boundary_sigma`` or more, or where its colour is closer
   to one of the person's own colours nearby (``colour_radius``) than to the gain-corrected plate.
   Pixels are hard (each is person or background), so this two-class test keeps low-contrast boundary
   pixels that a threshold alone must trade against the background's noise.

All thresholds live in :class:`BackgroundSubtraction`. Everything is vectorised OpenCV/numpy per image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)


class SilhouetteError(ValueError):
    """Silhouette extraction cannot proceed; the message names the camera/frame and what to do."""


@dataclass(frozen=True)
class BackgroundSubtraction:
    """Parameters of background-plate subtraction (config key ``segmentation.plates``).

    Attributes
    ----------
    median_size : int
        Median-filter aperture (odd, pixels; 1 = off) applied to image and plate.
    blur_sigma : float
        Gaussian pre-blur (pixels) of image and plate; 0 = off (it widens the silhouette by ~2 sigma).
    low_sigma, high_sigma : float
        Hysteresis thresholds on the noise-normalised difference: pixels above ``high_sigma`` seed the
        person, pixels above ``low_sigma`` connected to a seed join it (low-contrast clothing next to
        well-separated parts is kept; isolated noise is not).
    min_difference : float
        RGB distance (0-1 scale) below which a pixel counts as background when estimating gain and noise.
    min_sigma : float
        Floor of the noise estimate (RGB distance), so a noiseless plate does not make every change count.
    noise_bins : int
        Brightness bins for the noise-versus-brightness estimate.
    gain_window : float
        Size of the local gain box filter as a fraction of the image's shorter side.
    open_radius, close_radius : int
        Radii (pixels) of the morphological opening and closing.
    min_component_fraction : float
        Keep connected components at least this fraction of the largest one's area.
    max_hole_fraction : float
        Fill holes up to this fraction of the silhouette's area (holes inside the person); larger
        enclosed regions (the gap between the legs) stay background. 1.0 fills every hole.
    hole_sigma : float
        ... and only holes whose median noise-normalised difference is at least this: clothing that
        resembles the background still differs from the plate a little (median ~1-1.5 here), whereas
        background enclosed by the body (between head and raised arm, arm and torso) matches its plate
        to the noise (median ~0.7). 0 fills every hole up to ``max_hole_fraction``.
    notch_radius : int
        With a score, bays of the boundary that a closing of this radius (pixels) would fill are
        candidates too, filled under the same two rules as holes; 0 = holes only.
    boundary_sigma : float
        Near the outline, pixels whose *unfiltered* normalised difference is at least this are the
        person (the median filter smears edges outwards by a pixel or two). With ``band_radius = 0``:
        the outermost ring is kept only where the difference exceeds this; 0 disables.
    grow_sigma : float
        ``band_radius = 0`` only: the pixel ring just outside the silhouette joins it where the
        *unfiltered* normalised difference is at least this; 0 disables.
    band_radius : int
        Pixels within this many pixels (chessboard) of the cleaned silhouette's outline, inside or out,
        are re-decided one by one on *unfiltered* pixels (:func:`decide_band`: ``boundary_sigma`` plus
        the person-colour test); 0 = the older one-pixel rings (``boundary_sigma`` inside,
        ``grow_sigma`` outside).
    colour_radius : int
        Window radius (pixels) in which :func:`decide_band` looks for the person's own colours
        (silhouette pixels beyond the band); 0 = threshold only.
    refine_passes : int
        0: one pass. 1: a second pass whose gain and noise estimates exclude the first pass's person
        (holes filled, grown by 3 pixels).
    dilate_radius : int
        Final dilation (pixels). A visual hull is carved by any camera that misses a part, so a
        silhouette one pixel too large costs far less than one pixel too small.
    """

    median_size: int = 3
    blur_sigma: float = 0.0
    low_sigma: float = 1.7
    high_sigma: float = 8.0
    min_difference: float = 0.06
    min_sigma: float = 0.004
    noise_bins: int = 8
    gain_window: float = 0.125
    open_radius: int = 1
    close_radius: int = 1
    min_component_fraction: float = 0.05
    max_hole_fraction: float = 0.03
    hole_sigma: float = 0.95
    notch_radius: int = 0
    refine_passes: int = 1
    grow_sigma: float = 3.0
    dilate_radius: int = 0
    boundary_sigma: float = 2.0
    band_radius: int = 2
    colour_radius: int = 3


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def difference_score(
    image: np.ndarray, plate: np.ndarray, params: BackgroundSubtraction, foreground: np.ndarray | None = None
) -> np.ndarray:
    """Lighting-compensated, noise-normalised difference of one image against its plate.

    Parameters
    ----------
    image, plate : (H, W, 3) uint8 RGB
    foreground : (H, W) bool, optional
        Pixels known (from a first pass) to be the person or next to it: excluded from the gain and
        noise estimates, which otherwise pick up person pixels that happen to resemble the background.

    Returns
    -------
    (H, W) float32
        ``|image - g * plate| / sigma(plate intensity)``: the RGB distance after gain compensation in
        units of the background noise expected at that brightness (sensor noise is signal-dependent and
        sRGB encoding stretches it in dark areas). ``sigma`` is measured per brightness bin, robustly
        (median absolute deviation), over pixels that look like background.
    """
    return _compensated(image, plate, params, foreground)[2]


def _compensated(
    image: np.ndarray, plate: np.ndarray, params: BackgroundSubtraction, foreground: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, gain-corrected plate, :func:`difference_score`): (H, W, 3) float32 0-1 (filtered as
    ``params`` says), same, (H, W) float32."""
    if params.median_size > 1:
        image = cv2.medianBlur(np.ascontiguousarray(image), params.median_size)
        plate = cv2.medianBlur(np.ascontiguousarray(plate), params.median_size)
    img = image.astype(np.float32) / 255.0
    bg = plate.astype(np.float32) / 255.0
    if params.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), params.blur_sigma)
        bg = cv2.GaussianBlur(bg, (0, 0), params.blur_sigma)
    eps = 1.0 / 255.0
    ratio = (img + eps) / (bg + eps)  # (H, W, 3)
    gain = np.median(ratio.reshape(-1, 3), axis=0)  # global per-channel gain
    d0 = np.linalg.norm(img - gain * bg, axis=2)
    likely_bg = d0 < max(params.min_difference, float(np.percentile(d0, 50)) * 3.0)
    if foreground is not None:
        likely_bg &= ~foreground
    # local gain: least-squares gain over the likely-background pixels of a window,
    # g = sum(w I B) / sum(w B^2) (normalised convolution). Unlike a mean of ratios I / B it is not
    # thrown off by dark pixels, whose ratios are mostly noise.
    k = max(3, int(round(params.gain_window * min(img.shape[:2]))) | 1)
    w = likely_bg.astype(np.float32)[..., None]
    num = cv2.boxFilter(img * bg * w, -1, (k, k), normalize=False)
    den = cv2.boxFilter(bg * bg * w, -1, (k, k), normalize=False)
    min_den = 1e-3 * (0.05**2)  # about one background pixel of brightness >= 0.05 in the window
    local = np.where(den > min_den, num / np.maximum(den, 1e-12), gain)
    local = np.clip(local, 0.25, 4.0)
    diff = np.linalg.norm(img - local * bg, axis=2).astype(np.float32)
    # noise level as a function of plate brightness, from likely-background pixels
    lum = bg.mean(axis=2)
    edges = np.quantile(lum[likely_bg], np.linspace(0.0, 1.0, params.noise_bins + 1)) if likely_bg.any() else np.linspace(0, 1, params.noise_bins + 1)
    edges[0], edges[-1] = -np.inf, np.inf
    b = np.clip(np.searchsorted(edges, lum, side="right") - 1, 0, params.noise_bins - 1)
    sigma = np.empty(params.noise_bins, np.float32)
    for i in range(params.noise_bins):  # a handful of bins, not pixels
        v = diff[likely_bg & (b == i)]
        sigma[i] = 1.4826 * np.median(np.abs(v - np.median(v))) + np.median(v) if v.size > 50 else np.nan
    fallback = np.nanmedian(sigma) if np.isfinite(sigma).any() else params.min_difference
    sigma = np.where(np.isfinite(sigma), sigma, fallback)
    sigma = np.maximum(sigma, params.min_sigma)
    return img, local * bg, diff / sigma[b]


def clean_mask(mask: np.ndarray, params: BackgroundSubtraction, score: np.ndarray | None = None) -> np.ndarray:
    """Opening, closing, largest components, hole filling: (H, W) {0,1} uint8 -> same.

    ``score`` ((H, W) float, the :func:`difference_score`) lets hole filling tell clothing that resembles
    the background (filled) from background enclosed by the body (kept), see ``hole_sigma``.
    """
    m = mask.astype(np.uint8)
    if params.open_radius > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, _disk(params.open_radius))
    if params.close_radius > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, _disk(params.close_radius))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        big = int(np.argmax(areas))
        # the person's box, grown by a quarter of its size: parts split off by an occluder lie near it,
        # relit clutter elsewhere in the studio does not
        x, y, w, h = stats[1 + big, :4]
        gx, gy = w // 4, h // 4
        x0, y0, x1, y1 = x - gx, y - gy, x + w + gx, y + h + gy
        bx, by, bw, bh = stats[1:, 0], stats[1:, 1], stats[1:, 2], stats[1:, 3]
        near = (bx < x1) & (bx + bw > x0) & (by < y1) & (by + bh > y0)
        keep = np.flatnonzero((areas >= params.min_component_fraction * areas[big]) & near) + 1
        m = np.isin(lab, keep).astype(np.uint8)
    if params.dilate_radius > 0:
        m = cv2.dilate(m, _disk(params.dilate_radius))
    gaps = ndimage.binary_fill_holes(m) & ~m.astype(bool)  # holes: background enclosed by the mask
    if score is not None and params.notch_radius > 0:
        # notches: narrow bays a closing would fill (clothing eaten into from the boundary)
        gaps |= (cv2.morphologyEx(m, cv2.MORPH_CLOSE, _disk(params.notch_radius)) > 0) & (m == 0)
    if not gaps.any():
        return m
    lab, n = ndimage.label(gaps)
    fill = np.arange(1, n + 1)
    if params.max_hole_fraction < 1.0:
        # fill holes inside the person, but keep large background gaps (between the legs, arm loops)
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        fill = fill[sizes <= params.max_hole_fraction * max(int(m.sum()), 1)]
    if score is not None and params.hole_sigma > 0 and fill.size:
        med = np.asarray(ndimage.median(score, lab, fill), dtype=np.float64)
        fill = fill[med >= params.hole_sigma]
    return (m.astype(bool) | np.isin(lab, fill)).astype(np.uint8)


def _filtered(image: np.ndarray, params: BackgroundSubtraction) -> np.ndarray:
    """The image as the hysteresis sees it (median filter), float32 0-1."""
    if params.median_size > 1:
        image = cv2.medianBlur(np.ascontiguousarray(image), params.median_size)
    return image.astype(np.float32) / 255.0


def decide_band(
    mask: np.ndarray,
    z_raw: np.ndarray,
    image: np.ndarray,
    plate: np.ndarray,
    colours: np.ndarray | None,
    params: BackgroundSubtraction,
) -> np.ndarray:
    """Re-decide the pixels within ``band_radius`` of the silhouette's outline, one pixel at a time.

    Images are rendered/captured with hard edges: each outline pixel is either the person or the
    background. A band pixel is the person when its *unfiltered* noise-normalised difference ``z_raw``
    reaches ``boundary_sigma`` (clearly not the plate), or when its colour is closer to one of the
    person's own colours nearby than to the plate: ``min |I - F| < |I - g B|`` over the pixels ``F`` of
    ``colours`` (the median-filtered image) within ``colour_radius`` that lie inside the silhouette but
    beyond the band (the person for sure). The second test keeps boundary pixels of clothing that
    resembles the background a little (``z_raw`` of 1-2), which a threshold alone must trade against
    the background's noise. Band pixels with no such person pixel nearby use the threshold alone.

    Parameters
    ----------
    mask : (H, W) uint8 {0, 1}
        The cleaned silhouette.
    z_raw : (H, W) float
        :func:`difference_score` of the unfiltered image.
    image, plate : (H, W, 3) float
        The unfiltered image and its gain-corrected plate ``g B``, same scale as ``colours``.
    colours : (H, W, 3) float, optional
        Person colours (None: threshold only).

    Returns
    -------
    (H, W) uint8 {0, 1}
    """
    m = mask.astype(np.uint8)
    r = params.band_radius
    square = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    core = cv2.erode(m, square, borderType=cv2.BORDER_REPLICATE) > 0  # beyond the band: the person
    band = (cv2.dilate(m, square) > 0) & ~core
    ys, xs = np.nonzero(band)
    person = z_raw[ys, xs] >= params.boundary_sigma
    if colours is not None and params.colour_radius > 0 and ys.size:
        H, W = m.shape
        pix = image[ys, xs]
        to_plate = np.linalg.norm(pix - plate[ys, xs], axis=1)
        to_person = np.full(ys.size, np.inf, np.float32)
        R = params.colour_radius
        for dy in range(-R, R + 1):
            y = ys + dy
            for dx in range(-R, R + 1):
                x = xs + dx
                ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
                yc, xc = np.clip(y, 0, H - 1), np.clip(x, 0, W - 1)
                ok &= core[yc, xc]
                d = np.linalg.norm(pix - colours[yc, xc], axis=1)
                np.minimum(to_person, np.where(ok, d, np.inf), out=to_person)
        person |= to_person < to_plate
    out = np.where(core, 1, 0).astype(np.uint8)
    out[ys, xs] = person
    return out


def subtract_background(
    images: np.ndarray,
    plates: np.ndarray,
    params: BackgroundSubtraction = BackgroundSubtraction(),
    names: list[str] | None = None,
) -> np.ndarray:
    """Silhouettes of a batch of images against their cameras' plates.

    Parameters
    ----------
    images : (B, H, W, 3) uint8 RGB
    plates : (B, H, W, 3) uint8 RGB
        The plate of each image's camera (repeat a camera's plate for its frames).
    names : list of str, optional
        Label of each image (e.g. ``"cam03 frame 12"``) used in error messages.

    Returns
    -------
    (B, H, W) uint8 in {0, 1}
    """
    images = np.asarray(images)
    plates = np.asarray(plates)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise SilhouetteError(f"images must be (B, H, W, 3) uint8, got {images.shape} {images.dtype}")
    if plates.shape != images.shape:
        raise SilhouetteError(f"plates {plates.shape} do not match images {images.shape}")
    from skimage.filters import apply_hysteresis_threshold

    out = np.zeros(images.shape[:3], np.uint8)
    raw = replace(params, median_size=1, blur_sigma=0.0)
    ring = _disk(1)
    grow = _disk(3)
    for i in range(len(images)):
        z = difference_score(images[i], plates[i], params)
        person = None
        if params.refine_passes > 0:
            # first pass: where the person is (holes filled, grown), so that the second pass estimates
            # lighting gain and noise on background only, not on clothing that resembles it
            first = clean_mask(apply_hysteresis_threshold(z, params.low_sigma, params.high_sigma), params)
            person = cv2.dilate(ndimage.binary_fill_holes(first).astype(np.uint8), grow) > 0
            z = difference_score(images[i], plates[i], params, foreground=person)
        m = clean_mask(apply_hysteresis_threshold(z, params.low_sigma, params.high_sigma), params, score=z)
        if params.band_radius > 0:
            # the median filter smears edges by a pixel or two (deeper in concave corners): re-decide
            # every pixel near the outline on unfiltered pixels, against the plate and the person's colours
            img_raw, plate_raw, z_raw = _compensated(images[i], plates[i], raw, foreground=person)
            colours = _filtered(images[i], params) if params.colour_radius > 0 else None
            m = decide_band(m, z_raw, img_raw, plate_raw, colours, params)
        elif params.boundary_sigma > 0 and params.median_size > 1:
            # the median filter smears edges by a pixel: re-decide the outer ring on unfiltered pixels
            edge = (m > 0) & (cv2.erode(m, ring) == 0)
            z_raw = difference_score(images[i], plates[i], raw, foreground=person)
            m = m & ~(edge & (z_raw < params.boundary_sigma))
            if params.grow_sigma > 0:
                # ... and add the ring just outside where the unfiltered pixel clearly differs
                outside = (cv2.dilate(m, ring) > 0) & (m == 0)
                m = m | (outside & (z_raw >= params.grow_sigma)).astype(np.uint8)
        out[i] = m
        if names is not None:
            log.debug("%s: foreground fraction %.3f", names[i], out[i].mean())
    return out
