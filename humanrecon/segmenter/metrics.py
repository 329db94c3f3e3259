"""Segmentation metrics shared by training and the DAG's metrics stage (numpy only)."""

from __future__ import annotations

import numpy as np


def iou_f1(pred: np.ndarray, gt: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU and F1 over all pixels ((N, H, W) int labels); classes absent from both are NaN."""
    cm = np.bincount(gt.reshape(-1).astype(np.int64) * classes + pred.reshape(-1), minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)
    return iou, f1
