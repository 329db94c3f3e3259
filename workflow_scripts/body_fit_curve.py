"""Snakemake script: body error against segmentation quality on a session's first chunk (rule body_fit_curve)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.bodyfit import quality_curve  # noqa: E402

setup_logging()
quality_curve(
    session_path=snakemake.params.session,  # noqa: F821
    segmentation=snakemake.input.segmentation,  # noqa: F821
    calibration=snakemake.input.calibration,  # noqa: F821
    body_model=snakemake.params.body_model,  # noqa: F821
    model=snakemake.input.model,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
    fit=snakemake.params.fit,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
)
