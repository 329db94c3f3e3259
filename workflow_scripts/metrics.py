"""Snakemake script: metrics of one chunk (rule metrics)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.evaluation import evaluate_chunk  # noqa: E402

setup_logging()
evaluate_chunk(
    session_path=snakemake.params.session,  # noqa: F821
    manifest=snakemake.input.manifest,  # noqa: F821
    segmentation=snakemake.input.segmentation,  # noqa: F821
    smpl=snakemake.input.smpl[0] if snakemake.input.smpl else None,  # noqa: F821
    body_model=snakemake.params.body_model,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
    surface_samples=snakemake.params.surface_samples,  # noqa: F821
    iou_resolution=snakemake.params.iou_resolution,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
)
