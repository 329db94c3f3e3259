"""Multi-view SMPL fitting: robust triangulation of 2D joints and SMPLify-style optimisation (``docs/bodyfit.md``)."""

from humanrecon.bodyfit.fit import (
    LIMB_HYPOTHESES,
    TERM_NAMES,
    FitConfig,
    FitResult,
    bone_outliers,
    fit_limb_hypotheses,
    fit_smpl,
    vertex_subset,
)
from humanrecon.bodyfit.triangulate import (
    COLLAPSIBLE_JOINTS,
    LR_JOINTS,
    BodyFitError,
    CameraTensors,
    TriangulationConfig,
    camera_tensors,
    drop_collapsed_pairs,
    project_torch,
    resolve_left_right,
    triangulate_points,
)

__all__ = [
    "COLLAPSIBLE_JOINTS",
    "LR_JOINTS",
    "TERM_NAMES",
    "BodyFitError",
    "CameraTensors",
    "FitConfig",
    "FitResult",
    "TriangulationConfig",
    "camera_tensors",
    "drop_collapsed_pairs",
    "fit_smpl",
    "project_torch",
    "resolve_left_right",
    "bone_outliers",
    "fit_limb_hypotheses",
    "LIMB_HYPOTHESES",
    "triangulate_points",
    "vertex_subset",
]
