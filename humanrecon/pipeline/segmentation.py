"""Silhouette stage: per chunk of frames, one mask per camera and frame (``segmentation/<chunk>.h5``)."""

from __future__ import annotations

import logging
import os
import time

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
    config: dict | None = None,
) -> None:
    """Silhouettes of ``frames`` for every camera of the session.

    Parameters
    ----------
    source : {"plates", "network", "both"}
        ``plates``: background-plate subtraction (:mod:`humanrecon.silhouettes`). ``network`` and ``both``
        use the learned segmenter (config ``segmentation.model``).
    plates : dict
        :class:`BackgroundSubtraction` parameters (config ``segmentation.plates``).
    """
    if source not in SOURCES:
        raise SilhouetteError(f"segmentation.source must be one of {SOURCES}, got {source!r}")
    session = load_session(session_path)
    rig = read_calibration(calibration)
    if source in ("network", "both"):
        raise SilhouetteError(
            f"session {session.name!r}: segmentation.source is {source!r} but no trained segmenter is configured "
            "(segmentation.model); use segmentation.source: plates with background plates"
        )
    if session.background_template is None:
        raise SilhouetteError(
            f"session {session.name!r} ({session.yaml_path}): no background plates ('backgrounds' in session.yaml) "
            "and no learned segmenter: add empty-studio plates to the session, or configure "
            "segmentation.source: network with a trained segmenter (segmentation.model)"
        )
    params = BackgroundSubtraction(**(plates or {}))
    names = list(rig.names)
    W, H = rig.cameras[0].width, rig.cameras[0].height
    plate_imgs = np.stack([read_image(session.background_path(c), expect_size=(cam.width, cam.height)) for c, cam in zip(names, rig, strict=True)])
    if len({(c.width, c.height) for c in rig}) != 1:
        raise SilhouetteError(f"session {session.name!r}: cameras have different image sizes; not supported yet")
    shapes = {"frames": (len(frames),), "camera_names": (len(names),), "masks": (len(frames), len(names), H, W)}
    attrs = {"session": session.name, "source": source, "params": repr(params)}
    with h5_writer(output, SEGMENTATION, shapes, attrs=attrs, provenance_record=provenance(config or {})) as f:
        f["frames"][:] = np.asarray(frames, dtype=np.int64)
        f["camera_names"][:] = names
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            imgs = np.stack([read_image(session.image_path(c, frame), expect_size=(W, H)) for c in names])
            masks = subtract_background(imgs, plate_imgs, params, names=[f"camera {c} frame {frame}" for c in names])
            f["masks"][i] = masks
            log.info("frame %d (%d/%d): %d silhouettes in %.2f s", frame, i + 1, len(frames), len(names), time.perf_counter() - t0)
