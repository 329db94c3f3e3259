"""Occupancy stage: per chunk, an occupancy grid per frame (``occupancy/<chunk>.h5``).

``occupancy.method: visual_hull`` carves the silhouettes (:mod:`humanrecon.occupancy`): the bounding
volume is found from silhouettes and cameras, then a coarse-to-fine (octree) evaluation refines only
cells near the surface up to ``resolution``. ``implicit`` evaluates the learned multi-view implicit
network (:mod:`humanrecon.implicit.infer`, weights ``occupancy.model``) inside that hull, same grid;
a body-conditioned network also reads the SMPL stage's fitted bodies (``occupancy.body: true``).
Grids are stored quantised to uint8 (value x 255).

A camera whose silhouette is empty in a frame (the person outside its view, or a segmentation that
found nobody) is left out of that frame's reconstruction with a warning naming it: an empty silhouette
would carve the whole volume. ``views_used`` (F, C) records which cameras took part; a frame with fewer
than ``min_views`` cameras left fails with an error naming the frame and the empty cameras.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from humanrecon.io.hdf5 import OCCUPANCY, SEGMENTATION, h5_writer, read_h5
from humanrecon.occupancy import VisualHullError, bounding_box, octree_occupancy
from humanrecon.pipeline.calibration import read_calibration
from humanrecon.provenance import provenance

log = logging.getLogger(__name__)

METHODS = ("visual_hull", "implicit")


def occupancy_chunk(
    segmentation: str | os.PathLike,
    calibration: str | os.PathLike,
    output: str | os.PathLike,
    method: str = "visual_hull",
    resolution: int = 256,
    coarse_resolution: int = 32,
    margin: float = 0.05,
    session: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    config: dict | None = None,
    smpl: str | os.PathLike | None = None,
    body_model: str | os.PathLike | None = None,
    min_views: int = 2,
) -> None:
    """Occupancy grids of every frame of a segmentation chunk.

    Parameters
    ----------
    resolution : int
        Samples per axis of the final grid (``R``; default 256).
    coarse_resolution : int
        First octree level.
    margin : float
        Metres added around the automatic bounding box.
    session, model : paths
        For ``implicit``: the session folder (its images) and the network weights (``occupancy.model``).
    device : str, optional
        Torch device for ``implicit`` (default: ``cuda`` when available, else ``cpu``).
    smpl, body_model : paths
        For a body-conditioned implicit network: the chunk's SMPL file (``smpl/<chunk>.h5``) and the body
        model folder that posed it.
    min_views : int
        Fewest cameras with a non-empty silhouette a frame needs (module docstring).
    """
    if method not in METHODS:
        raise VisualHullError(f"occupancy.method must be one of {METHODS}, got {method!r}")
    net = None
    attrs = {"method": method, "resolution": int(resolution)}
    if method == "implicit":
        import torch

        from humanrecon.implicit.infer import ImplicitWeightsError, implicit_occupancy, load_implicit
        from humanrecon.io.images import read_image
        from humanrecon.session import load_session

        if not model or session is None:
            raise ImplicitWeightsError(
                f"{segmentation}: occupancy.method is 'implicit' but occupancy.model (network weights) or the session is not set"
            )
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        net, digest = load_implicit(model, device)
        sess = load_session(session)
        attrs.update(model=str(model), model_sha256=digest)
        if net.config.body_features != (smpl is not None):
            raise ImplicitWeightsError(
                f"{model}: the network is {'' if net.config.body_features else 'not '}conditioned on the fitted body, "
                f"but occupancy.body is {'false' if smpl is None else 'true'}: set occupancy.body: "
                f"{'true (with body_fit.enabled)' if net.config.body_features else 'false'} or use matching weights"
            )
        if smpl is not None:
            attrs.update(smpl=str(smpl))
    seg, _ = read_h5(segmentation, SEGMENTATION, names=["frames", "camera_names"])
    rig = read_calibration(calibration)
    if list(seg["camera_names"]) != list(rig.names):
        raise VisualHullError(f"{segmentation}: cameras {list(seg['camera_names'])} differ from the calibration's {list(rig.names)}")
    frames = seg["frames"]
    bodies = _fitted_bodies(smpl, body_model, frames) if smpl is not None else None
    F, R, C = len(frames), int(resolution), len(rig.names)
    if isinstance(min_views, bool) or not isinstance(min_views, int | np.integer) or not 1 <= min_views <= C:
        raise VisualHullError(f"occupancy.min_views must be an integer in [1, {C}] (the cameras), got {min_views!r}")
    shapes = {"frames": (F,), "occupancy": (F, R, R, R), "origin": (F, 3), "voxel_size": (F,), "num_queries": (F,),
              "views_used": (F, C)}  # fmt: skip
    import h5py

    with h5py.File(segmentation, "r") as src, h5_writer(
        output, OCCUPANCY, shapes, attrs=attrs, provenance_record=provenance(config or {})
    ) as f:
        f["frames"][:] = frames
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            masks = src["masks"][i]  # (C, H, W)
            seen = masks.reshape(C, -1).any(axis=1)
            empty = [rig.names[c] for c in np.flatnonzero(~seen)]
            if seen.sum() < min_views:
                raise VisualHullError(
                    f"{segmentation}: frame {int(frame)}: only {int(seen.sum())} of {C} cameras have a non-empty silhouette "
                    f"(empty: {', '.join(empty)}); the reconstruction needs at least occupancy.min_views = {min_views}"
                )
            if empty:
                log.warning("frame %d: cameras %s have an empty silhouette (person outside the view, or not found): "
                            "left out of this frame's reconstruction", frame, ", ".join(empty))  # fmt: skip
            cams = [cam for cam, s in zip(rig, seen, strict=True) if s]
            masks = masks[seen]
            try:
                bbox = bounding_box(masks, cams, margin=margin)
                if net is None:
                    grid = octree_occupancy(masks, cams, bbox, resolution=R, coarse_resolution=coarse_resolution)
                else:
                    images = np.stack([read_image(sess.image_path(cam.name, int(frame)), expect_size=(cam.width, cam.height))
                                       for cam in cams])  # fmt: skip
                    grid = implicit_occupancy(images, masks, cams, net, bbox, R, coarse_resolution=coarse_resolution,
                                              device=device, body=None if bodies is None else bodies(i))  # fmt: skip
            except VisualHullError as exc:
                raise VisualHullError(f"{segmentation}: frame {int(frame)}: {exc}") from exc
            f["occupancy"][i] = np.round(np.clip(grid.values, 0.0, 1.0) * 255.0).astype(np.uint8)
            f["origin"][i] = grid.origin
            f["voxel_size"][i] = grid.voxel_size
            f["num_queries"][i] = grid.num_queries
            f["views_used"][i] = seen.astype(np.uint8)
            log.info(
                "frame %d (%d/%d): %d^3 grid, %.1f %% of dense queries, %.2f s",
                frame, i + 1, F, R, 100.0 * grid.num_queries / R**3, time.perf_counter() - t0,
            )  # fmt: skip


def _fitted_bodies(smpl: str | os.PathLike, body_model: str | os.PathLike | None, frames: np.ndarray):
    """``i -> BodySurface`` of the fitted body of ``frames[i]`` in an SMPL file (checked to cover them)."""
    from humanrecon.bodymodel.model import load_body_model
    from humanrecon.implicit.body import BODY_PARAMS, BodyPoser
    from humanrecon.io.hdf5 import SMPL

    fit, _ = read_h5(smpl, SMPL, names=["frames", *BODY_PARAMS])
    if list(fit["frames"]) != list(frames):
        raise VisualHullError(f"{smpl}: frames {list(fit['frames'])} differ from the segmentation's {list(frames)}")
    for i, frame in enumerate(frames):
        if not all(np.isfinite(fit[k][i]).all() for k in BODY_PARAMS):
            raise VisualHullError(f"{smpl}: frame {int(frame)} has no fitted body (NaN parameters)")
    if body_model is None:
        raise VisualHullError(f"{smpl}: a body-conditioned reconstruction needs the body model (body_model.path)")
    poser = BodyPoser(load_body_model(body_model))
    return lambda i: poser.surface({k: fit[k][i] for k in BODY_PARAMS})


def read_grid(path: str | os.PathLike, index: int):
    """The :class:`humanrecon.occupancy.OccupancyGrid` of the ``index``-th frame of an occupancy file."""
    import h5py

    from humanrecon.occupancy import OccupancyGrid

    read_h5(path, OCCUPANCY, names=["frames"])  # validates kind and version
    with h5py.File(path, "r") as f:
        values = f["occupancy"][index].astype(np.float32) / 255.0
        return int(f["frames"][index]), OccupancyGrid(
            values=values,
            origin=f["origin"][index],
            voxel_size=float(f["voxel_size"][index]),
            num_queries=int(f["num_queries"][index]),
            resolution=values.shape[0],
        )
