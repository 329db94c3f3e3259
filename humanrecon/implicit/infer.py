"""Implicit reconstruction of a frame: the trained network evaluated coarse-to-fine inside the visual hull.

The visual hull bounds where the surface can be (with correct silhouettes the person is inside it), so
the occupancy of a point is ``min(hull(p), sigmoid(logit(p)))``: the silhouette carve of
:mod:`humanrecon.occupancy` first (cheap, exact projection), the network only where the hull is
positive, in batches of ``batch_points`` (bounded memory), on the GPU when one is given. The grid is
filled by :func:`humanrecon.occupancy.octree_grid` (same geometry, refinement and bounding box as the
visual hull), so marching cubes and metrics are unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch

from humanrecon.calibration.camera import Camera
from humanrecon.implicit.body import BODY_FEATURES, BodySurface
from humanrecon.implicit.network import ImplicitNet, NetConfig
from humanrecon.implicit.views import ImplicitInputError, prepare_views
from humanrecon.occupancy import OccupancyGrid, hull_function, octree_grid

log = logging.getLogger(__name__)

#: Points per network batch at inference (about 8 cameras x 400 floats x 4 bytes each: ~0.8 GB at 64k).
DEFAULT_BATCH_POINTS = 32768


class ImplicitWeightsError(ValueError):
    """Implicit-network weights cannot be loaded; the message names the file and what to do."""


def load_implicit(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[ImplicitNet, str]:
    """The network stored at ``path`` (written by :func:`humanrecon.implicit.train.export_with_card`) and
    the file's SHA-256."""
    p = Path(path)
    if not p.is_file():
        raise ImplicitWeightsError(
            f"implicit weights {p} not found: set occupancy.model to the shipped models/implicit/implicit.pt "
            "or train them (snakemake models/implicit/trained/implicit.pt, docs/implicit.md)"
        )
    raw = p.read_bytes()
    try:
        import io

        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
        net = dict(state["net"])
        net["widths"] = tuple(net["widths"])
        model = ImplicitNet(NetConfig(**net))
        model.load_state_dict(state["model"])
    except Exception as exc:  # noqa: BLE001 - any unpickling/shape problem is a bad weights file
        raise ImplicitWeightsError(f"{p}: not implicit-network weights ({type(exc).__name__}: {exc})") from None
    model.eval().to(device)
    return model, hashlib.sha256(raw).hexdigest()


def implicit_occupancy(
    images: np.ndarray,
    masks: np.ndarray,
    cameras: list[Camera],
    model: ImplicitNet,
    bbox: tuple[np.ndarray, np.ndarray],
    resolution: int = 256,
    *,
    coarse_resolution: int = 32,
    batch_points: int = DEFAULT_BATCH_POINTS,
    device: str | torch.device = "cpu",
    body: BodySurface | None = None,
) -> OccupancyGrid:
    """Occupancy grid of one frame from V calibrated views.

    Parameters
    ----------
    images : (V, H, W, 3) uint8 RGB; masks : (V, H, W) uint8 {0, 1}; cameras : V :class:`Camera`
    bbox : (lo (3,), hi (3,)) metres, e.g. :func:`humanrecon.occupancy.bounding_box` of the masks.
    resolution, coarse_resolution : grid samples per axis, first octree level.
    body : the fitted body's :class:`humanrecon.implicit.body.BodySurface`, for a body-conditioned ``model``
        (required by one, refused by others).

    Returns
    -------
    OccupancyGrid with values ``min(hull, p_network)`` in [0, 1]; ``num_queries`` counts grid points
    evaluated (the network sees only those inside the hull).
    """
    if len(cameras) < 1:
        raise ImplicitInputError("the implicit reconstruction needs at least one camera, got none")
    if model.config.body_features != (body is not None):
        model._check_body(torch.zeros(1, 1, 3), None if body is None else torch.zeros(1, 1, BODY_FEATURES))
    views = prepare_views(images, masks, cameras, model.config.crop_size).to(device)
    carve = hull_function(masks, cameras)
    with torch.inference_mode():
        enc = model.encode(views)

        def evaluate(pts: np.ndarray) -> np.ndarray:
            hull = carve(pts)
            out = np.zeros(len(pts), np.float32)
            todo = np.flatnonzero(hull > 0)
            for s in range(0, todo.size, batch_points):
                idx = todo[s:s + batch_points]
                p = torch.from_numpy(pts[idx]).to(device=device, dtype=torch.float64)[None]
                feats = None if body is None else torch.from_numpy(body.features(pts[idx])).to(device)[None]
                logits, _ = model.query(enc, p, feats)
                out[idx] = np.minimum(hull[idx], torch.sigmoid(logits[0]).float().cpu().numpy())
            return out

        return octree_grid(evaluate, bbox, resolution, coarse_resolution=coarse_resolution)
