"""Per-view SMPL regression of a batch of calibrated images from their part maps and silhouettes.

Each view's person crop is the square of :data:`humanrecon.segmenter.crops.BOX_SCALE` x the silhouette
box's longer side, resampled (nearest) to the regressor's input size. The crop is treated as a pinhole
camera ``K_crop = A K`` (``A`` the image->crop affine map), as in training; the predicted root position is
mapped back through the real lens: crop pixel -> image pixel -> undistorted ray x predicted depth.
Everything runs in batches on the regressor's device (GPU when present).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from humanrecon.bodymodel.skeleton import NUM_JOINTS
from humanrecon.calibration.camera import Camera
from humanrecon.regressor.network import SMPLRegressor, pelvis_camera_position
from humanrecon.regressor.synthetic import encode_inputs

log = logging.getLogger(__name__)


class RegressorError(ValueError):
    """Bad regressor weights or inputs; the message names the file or view."""


def load_regressor(path: str | Path, device: torch.device | str | None = None) -> SMPLRegressor:
    """The regressor stored at ``path`` (weights + hyper-parameters, :func:`humanrecon.regressor.train.export_with_card`)."""
    from humanrecon.bodyfit.priors import gaussian_prior_params

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no regressor weights (train them with `snakemake models/regressor/trained/regressor.pt`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        hp = dict(state["hparams"])
        model = SMPLRegressor(hp["input_size"], tuple(hp["widths"]), hp["hidden"], hp["iterations"], gaussian_prior_params()[0])
        model.load_state_dict(state["model"])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its path
        raise RegressorError(f"{path}: not a humanrecon regressor weights file ({type(exc).__name__}: {exc})") from None
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(dev).eval()


@dataclass
class ViewRegression:
    """Per-view regression results (numpy float64), ``N`` views.

    Attributes
    ----------
    rotmat : (N, 24, 3, 3)
        Root orientation in the view's *camera* frame, joints 1..23 local rotations.
    betas : (N, 10)
    pelvis_cam : (N, 3)
        Root joint in the camera frame, metres (ray through the predicted pixel, lens model included, at
        the predicted depth).
    pelvis_uv : (N, 2)
        Predicted root joint, distorted image pixels.
    valid : (N,) bool
        False where the view's silhouette is empty (no person): its other fields are NaN.
    seconds : float
    """

    rotmat: np.ndarray
    betas: np.ndarray
    pelvis_cam: np.ndarray
    pelvis_uv: np.ndarray
    valid: np.ndarray
    seconds: float


def regress_views(
    model: SMPLRegressor,
    parts: np.ndarray,
    masks: np.ndarray,
    cameras: list[Camera],
    batch_size: int = 64,
) -> ViewRegression:
    """Regress SMPL from every view.

    Parameters
    ----------
    parts : (N, H, W) uint8
        12-part maps (0 background), full images; zeros where there are none (silhouette-only input).
    masks : (N, H, W) uint8
        Silhouettes {0, 1}; empty = no person in the view.
    cameras : list of N Camera
        The camera of each view (full-image intrinsics and lens).
    """
    import time

    from humanrecon.segmenter.crops import crop_matrix, person_box, to_image, warp

    t0 = time.perf_counter()
    parts, masks = np.asarray(parts), np.asarray(masks)
    if parts.shape != masks.shape or parts.ndim != 3:
        raise RegressorError(f"parts {parts.shape} and masks {masks.shape} must both be (N, H, W)")
    N = len(masks)
    if len(cameras) != N:
        raise RegressorError(f"got {len(cameras)} cameras for {N} views")
    S = model.input_size
    dev = next(model.parameters()).device
    valid = masks.reshape(N, -1).any(axis=1)
    rot = np.full((N, NUM_JOINTS, 3, 3), np.nan)
    betas = np.full((N, 10), np.nan)
    pel_cam = np.full((N, 3), np.nan)
    pel_uv = np.full((N, 2), np.nan)
    idx = np.flatnonzero(valid)
    for start in range(0, idx.size, batch_size):
        sel = idx[start:start + batch_size]
        cp, cm, Ms, Kc = [], [], [], []
        for i in sel:
            cx, cy, side = person_box(masks[i])
            M = crop_matrix(cx, cy, side, S)
            cp.append(warp(parts[i], M, S, nearest=True))
            cm.append(warp(masks[i], M, S, nearest=True))
            A = np.vstack([M, [0.0, 0.0, 1.0]])
            Ms.append(M)
            Kc.append(A @ cameras[i].K)
        x = encode_inputs(torch.from_numpy(np.stack(cp)), torch.from_numpy(np.stack(cm))).to(dev)
        with torch.inference_mode():
            out = model(x)
            K_t = torch.as_tensor(np.stack(Kc), dtype=torch.float32, device=dev)
            uv_c, z = pelvis_camera_position(out.cam[-1], K_t, S)
        rot[sel] = out.rotmat.double().cpu().numpy()
        betas[sel] = out.betas[-1].double().cpu().numpy()
        uv_c, z = uv_c.double().cpu().numpy(), z.double().cpu().numpy()
        for k, i in enumerate(sel):
            uv = to_image(uv_c[k], Ms[k])
            pel_uv[i] = uv
            xy = _normalised(cameras[i], uv)
            pel_cam[i] = np.array([xy[0] * z[k], xy[1] * z[k], z[k]])
    return ViewRegression(rot, betas, pel_cam, pel_uv, valid, time.perf_counter() - t0)


def _normalised(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """Undistorted normalised coordinates (2,) of one distorted pixel (2,)."""
    return cam.undistort_pixels(np.asarray(uv, dtype=np.float64)[None])[0]
