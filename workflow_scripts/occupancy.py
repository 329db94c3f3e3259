"""Snakemake script: occupancy grids of one chunk (rule occupancy)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.occupancy import occupancy_chunk  # noqa: E402

setup_logging()
occupancy_chunk(
    segmentation=snakemake.input.segmentation,  # noqa: F821
    calibration=snakemake.input.calibration,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
    method=snakemake.params.method,  # noqa: F821
    resolution=snakemake.params.resolution,  # noqa: F821
    coarse_resolution=snakemake.params.coarse_resolution,  # noqa: F821
    margin=snakemake.params.margin,  # noqa: F821
    min_views=snakemake.params.min_views,  # noqa: F821
    session=snakemake.params.session,  # noqa: F821
    model=snakemake.params.model,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
    smpl=snakemake.params.smpl,  # noqa: F821
    body_model=snakemake.params.body_model,  # noqa: F821
)
