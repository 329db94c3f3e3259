"""Per-vertex 12-part labels derived from skinning weights (table in :mod:`humanrecon.bodymodel.skeleton`)."""

from __future__ import annotations

import numpy as np

from humanrecon.bodymodel import skeleton


def part_weights(weights: np.ndarray) -> np.ndarray:
    """Sum SMPL skinning weights per part.

    Parameters
    ----------
    weights : (V, 24) float
        SMPL skinning weights.

    Returns
    -------
    (V, 12) float
        Column ``p - 1`` holds the weight of part id ``p``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != skeleton.NUM_JOINTS:
        raise ValueError(f"skinning weights must be (V, 24), got {weights.shape}")
    out = np.zeros((weights.shape[0], skeleton.NUM_PARTS))
    np.add.at(out.T, np.asarray(skeleton.JOINT_TO_PART) - 1, weights.T)
    return out


def vertex_part_labels(weights: np.ndarray) -> np.ndarray:
    """Part id (1..12, uint8) of each vertex: the part with the largest summed skinning weight.

    Parameters
    ----------
    weights : (V, 24) float
        SMPL skinning weights.

    Returns
    -------
    (V,) uint8 in 1..12
    """
    return (part_weights(weights).argmax(axis=1) + 1).astype(np.uint8)


def face_part_labels(faces: np.ndarray, vertex_labels: np.ndarray) -> np.ndarray:
    """Part id of each triangle: the majority label of its three vertices (first vertex on ties).

    Parameters
    ----------
    faces : (T, 3) int
    vertex_labels : (V,) uint8

    Returns
    -------
    (T,) uint8
    """
    lab = np.asarray(vertex_labels)[np.asarray(faces)]  # (T, 3)
    out = lab[:, 0].copy()
    agree12 = lab[:, 1] == lab[:, 2]
    out[agree12] = lab[agree12, 1]
    return out.astype(np.uint8)
