"""Silhouette stage: per chunk of frames, one mask per camera and frame (``segmentation/<chunk>.h5``)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from humanrecon.io.hdf5 import SEGMENTATION, h5_writer
from humanrecon.io.images import read_image
from humanrecon.pipeline.calibration import read_calibration
from humanrecon.provenance import provenance
from humanrecon.session import load_session
from humanrecon.silhouettes import BackgroundSubtraction, SilhouetteError, subtract_background

log = logging.getLogger(__name__)

SOURCES = ("plates", "network", "both")


def segment_chunk(
    session_path: str | os.PathLike,
    calibration: str | os.PathLike,
    frames: list[int],
    output: str | os.PathLike,
    source: str = "plates",
    plates: dict | None = None,
    model: str | os.PathLike | None = None,
    batch_size: int = 32,
    config: dict | None = None,
) -> None:
    """Silhouettes (and, with the learned segmenter, 12-part maps and 2D joints) of ``frames``.

    Parameters
    ----------
    source : {"plates", "network", "both"}
        ``plates``: background-plate subtraction (:mod:`humanrecon.silhouettes`) only. ``network``: the
        learned segmenter gives silhouettes, parts and joints (no plates needed; a first whole-image pass
        finds the person). ``both``: plates give the silhouettes and the person box, the network parts
        and joints.
    plates : dict
        :class:`BackgroundSubtraction` parameters (config ``segmentation.plates``).
    model : path
        Segmenter weights (config ``segmentation.model``), for ``network`` and ``both``.
    batch_size : int
        Images per network batch.
    """
    if source not in SOURCES:
        raise SilhouetteError(f"segmentation.source must be one of {SOURCES}, got {source!r}")
    session = load_session(session_path)
    rig = read_calibration(calibration)
    learned = source in ("network", "both")
    if learned and not model:
        raise SilhouetteError(
            f"session {session.name!r}: segmentation.source is {source!r} but no trained segmenter is configured "
            "(set segmentation.model to the weights, e.g. models/segmenter/segmenter.pt), or use "
            "segmentation.source: plates with background plates"
        )
    if source in ("plates", "both") and session.background_template is None:
        raise SilhouetteError(
            f"session {session.name!r} ({session.yaml_path}): no background plates ('backgrounds' in session.yaml) "
            f"for segmentation.source: {source}: add empty-studio plates to the session, or use "
            "segmentation.source: network with the trained segmenter (segmentation.model)"
        )
    net = size = None
    attrs = {"session": session.name, "source": source}
    if learned:
        from humanrecon.segmenter.crops import person_box
        from humanrecon.segmenter.infer import load_segmenter, segment_images

        net, size = load_segmenter(model)
        attrs["model"] = str(model)
        attrs["model_sha256"] = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    params = BackgroundSubtraction(**(plates or {}))
    if source != "network":
        attrs["params"] = repr(params)
    names = list(rig.names)
    if len({(c.width, c.height) for c in rig}) != 1:
        raise SilhouetteError(f"session {session.name!r}: cameras have different image sizes; not supported yet")
    W, H = rig.cameras[0].width, rig.cameras[0].height
    plate_imgs = None
    if source != "network":
        plate_imgs = np.stack([read_image(session.background_path(c), expect_size=(cam.width, cam.height)) for c, cam in zip(names, rig, strict=True)])
    F, C = len(frames), len(names)
    shapes = {"frames": (F,), "camera_names": (C,), "masks": (F, C, H, W)}
    if learned:
        shapes.update({"parts": (F, C, H, W), "joints2d": (F, C, 24, 3)})
    with h5_writer(output, SEGMENTATION, shapes, attrs=attrs, provenance_record=provenance(config or {})) as f:
        f["frames"][:] = np.asarray(frames, dtype=np.int64)
        f["camera_names"][:] = names
        all_imgs, all_masks = [], []
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            imgs = np.stack([read_image(session.image_path(c, frame), expect_size=(W, H)) for c in names])
            masks = None
            if plate_imgs is not None:
                masks = subtract_background(imgs, plate_imgs, params, names=[f"camera {c} frame {frame}" for c in names])
                f["masks"][i] = masks
                log.info("frame %d (%d/%d): %d plate silhouettes in %.2f s", frame, i + 1, F, C, time.perf_counter() - t0)
            if learned:
                all_imgs.append(imgs)
                all_masks.append(masks)
        if learned:
            # one batched pass over every camera of every frame of the chunk
            t0 = time.perf_counter()
            labels = [f"camera {c} frame {frame}" for frame in frames for c in names]
            imgs = np.concatenate(all_imgs)
            masks = None if source == "network" else np.concatenate(all_masks)
            # a view whose plate silhouette is empty has no person: no crop, parts or joints there
            boxes = None if masks is None else [person_box(m, name=n) if m.any() else None for m, n in zip(masks, labels, strict=True)]
            seg = segment_images(net, size, imgs, boxes=boxes, batch_size=batch_size, names=labels, masks=masks)
            f["masks"][:] = seg.masks.reshape(F, C, H, W)
            f["parts"][:] = seg.parts.reshape(F, C, H, W)
            f["joints2d"][:] = seg.joints2d.reshape(F, C, 24, 3)
            dt = time.perf_counter() - t0
            log.info("segmenter (%s): %d images in %.2f s (%.1f images/s)", source, F * C, dt, F * C / max(dt, 1e-9))
