"""Calibration ingest stage: session calibration (any supported format) -> validated ``calibration.h5``."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from humanrecon.calibration import Camera, CameraRig, validate_camera
from humanrecon.io.hdf5 import CALIBRATION, read_h5, write_h5
from humanrecon.provenance import provenance
from humanrecon.session import load_session

log = logging.getLogger(__name__)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def ingest_calibration(session_path: str | os.PathLike, output: str | os.PathLike, config: dict | None = None) -> CameraRig:
    """Load, validate and store the calibration of a session.

    Validation (errors name the file and camera): every listed camera present, rotations orthonormal with
    det +1, positive focal lengths, finite numbers, image sizes equal to the images' sizes.
    """
    session = load_session(session_path)
    rig = session.rig()  # fills/validates image sizes against the first image of every camera
    for cam in rig:
        validate_camera(cam)
    write_h5(
        output,
        CALIBRATION,
        {
            "camera_names": np.array(rig.names),
            "K": rig.Ks(),
            "dist": rig.dists(),
            "R": rig.Rs(),
            "t": rig.ts(),
            "image_size": np.array([[c.width, c.height] for c in rig], dtype=np.int64),
            "centers": rig.centers(),
        },
        attrs={
            "session": session.name,
            "calibration_format": session.calibration_format,
            "calibration_digest": _digest(Path(session.calibration_path)),
        },
        provenance_record=provenance(config or {}),
    )
    log.info("%s: %d cameras validated -> %s", session.name, len(rig), output)
    return rig


def read_calibration(path: str | os.PathLike) -> CameraRig:
    """The :class:`CameraRig` stored in a ``calibration.h5``."""
    a, _ = read_h5(path, CALIBRATION)
    cams = tuple(
        Camera(name=str(n), K=a["K"][i], dist=a["dist"][i], R=a["R"][i], t=a["t"][i],
               width=int(a["image_size"][i, 0]), height=int(a["image_size"][i, 1]))
        for i, n in enumerate(a["camera_names"])
    )  # fmt: skip
    return CameraRig(cams)
