"""Inference with the learned segmenter on full camera images.

:func:`segment_images` takes a batch of images (any size) and, per image, a person box (from plate
silhouettes, ``source: both``) or none (``source: network``: a first pass on the whole image, letterboxed
to the input size, finds the person). Each person crop is resampled to the network's input size, the
network runs batched (GPU when present), and its outputs are mapped back to the image: silhouette (uint8
{0,1}), 12-part map (uint8, 0 background) and 2D joints (u, v, confidence) in image pixels.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from humanrecon.segmenter import crops
from humanrecon.segmenter.network import SegmenterNet

log = logging.getLogger(__name__)


class SegmenterWeightsError(ValueError):
    """The weights file is missing or not a humanrecon segmenter; the message names the file."""


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def load_segmenter(path: str | Path, device: torch.device | None = None) -> tuple[SegmenterNet, int]:
    """The network (eval mode, on ``device``) and its input size from a weights file."""
    path = Path(path)
    if not path.is_file():
        raise SegmenterWeightsError(f"segmenter weights {path} not found (train them: snakemake models/segmenter/segmenter.pt)")
    try:
        state = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=False)
        model = SegmenterNet(tuple(state["widths"]), int(state.get("seg_channels", 0)))  # older files: original head
        model.load_state_dict(state["model"])
        size = int(state["input_size"])
    except Exception as exc:  # noqa: BLE001 - any failure means "not our weights"
        raise SegmenterWeightsError(f"{path}: not a humanrecon segmenter weights file ({exc})") from None
    return model.eval().to(device or default_device()), size


@dataclass
class Segmentation:
    """Per image: ``masks`` (N, H, W) uint8 {0,1}; ``parts`` (N, H, W) uint8; ``joints2d`` (N, 24, 3)
    float32 (u, v in image pixels, confidence)."""

    masks: np.ndarray
    parts: np.ndarray
    joints2d: np.ndarray


def _run(model: SegmenterNet, crops_u8: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Network on (N, S, S, 3) uint8 crops -> fg prob (N, S, S), part logits (N, 13, S, S), joints, conf."""
    dev = next(model.parameters()).device
    fg, pl, jt, cf = [], [], [], []
    with torch.inference_mode():
        for s in range(0, len(crops_u8), batch_size):
            x = torch.from_numpy(crops_u8[s:s + batch_size]).to(dev).permute(0, 3, 1, 2).float() / 255.0
            out = model(x)
            fg.append(torch.sigmoid(out.fg_logits[:, 0]).cpu().numpy())
            pl.append(out.part_logits.cpu().numpy())
            jt.append(out.joints.cpu().numpy())
            cf.append(out.confidence.cpu().numpy())
    return np.concatenate(fg), np.concatenate(pl), np.concatenate(jt), np.concatenate(cf)


def _whole_image_boxes(
    model: SegmenterNet, images: np.ndarray, size: int, batch_size: int, names: list[str]
) -> list[tuple[float, float, float] | None]:
    """First pass: the whole image letterboxed into the input square, person box from its silhouette (None
    where the network finds no person)."""
    N, H, W = images.shape[:3]
    side = float(max(H, W))
    M = crops.crop_matrix((W - 1) / 2.0, (H - 1) / 2.0, side, size)
    small = np.stack([crops.warp(im, M, size) for im in images])
    fg, _, _, _ = _run(model, small, batch_size)
    boxes = []
    for i in range(N):
        m = crops.unwarp((fg[i] > 0.5).astype(np.uint8), M, W, H, nearest=True)
        boxes.append(crops.person_box(m, name=names[i]) if m.any() else None)
    return boxes


def segment_images(
    model: SegmenterNet,
    size: int,
    images: np.ndarray,
    boxes: list[tuple[float, float, float] | None] | None = None,
    batch_size: int = 32,
    names: list[str] | None = None,
    masks: np.ndarray | None = None,
) -> Segmentation:
    """Silhouettes, parts and joints of ``images`` (N, H, W, 3) uint8 RGB.

    ``boxes``: per image ``(cx, cy, side)`` of the person crop (:func:`crops.person_box` of a plate
    silhouette), or None for an image without a person; None runs a first whole-image pass to find them.
    An image without a person (no box, or none found) gets an empty silhouette, no parts and joints with
    confidence 0, and a warning naming it (``names``): a person outside some cameras' view is seen by the
    others. ``masks`` (N, H, W), e.g. the plate silhouettes, replace the network's silhouettes: every
    pixel inside gets a part label.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8 RGB, got {images.shape} {images.dtype}")
    N, H, W = images.shape[:3]
    names = names or [f"image {i}" for i in range(N)]
    if boxes is None:
        boxes = _whole_image_boxes(model, images, size, batch_size, names)
    if len(boxes) != N:
        raise ValueError(f"{len(boxes)} boxes for {N} images")
    mats = [None if b is None else crops.crop_matrix(*b, size) for b in boxes]
    seen = [i for i in range(N) if mats[i] is not None]
    if len(seen) < N:
        log.warning("no person in %s: empty silhouette, no parts, joints with confidence 0", ", ".join(names[i] for i in range(N) if mats[i] is None))
    given = masks
    masks = np.zeros((N, H, W), np.uint8)
    parts = np.zeros((N, H, W), np.uint8)
    joints = np.zeros((N, 24, 3), np.float32)
    for s in range(0, len(seen), batch_size):  # crop, run and map back one batch at a time (bounded memory)
        idx = seen[s : s + batch_size]
        cr = np.stack([crops.warp(images[i], mats[i], size) for i in idx])
        fg, pl, jt, cf = _run(model, cr, batch_size)
        for k, i in enumerate(idx):
            M = mats[i]
            # probabilities and logits back to the image (bilinear), decided there: sub-crop-pixel boundaries
            if given is None:
                masks[i] = crops.unwarp(fg[k].astype(np.float32), M, W, H) > 0.5
            else:
                masks[i] = given[i] > 0
            logits = np.stack([crops.unwarp(np.ascontiguousarray(pl[k, c]), M, W, H) for c in range(1, pl.shape[1])])
            parts[i] = np.where(masks[i] > 0, logits.argmax(axis=0).astype(np.uint8) + 1, 0)
            joints[i, :, :2] = crops.to_image(jt[k].astype(np.float64), M)
            joints[i, :, 2] = cf[k]
    return Segmentation(masks, parts, joints)

