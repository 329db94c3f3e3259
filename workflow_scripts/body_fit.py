"""Snakemake script: SMPL bodies of one chunk (rule body_fit)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.bodyfit import fit_chunk  # noqa: E402

setup_logging()
fit_chunk(
    segmentation=snakemake.input.segmentation,  # noqa: F821
    calibration=snakemake.input.calibration,  # noqa: F821
    body_model=snakemake.params.body_model,  # noqa: F821
    model=snakemake.input.model,  # noqa: F821
    output=snakemake.output.smpl,  # noqa: F821
    manifest=snakemake.output.manifest,  # noqa: F821
    refine=snakemake.params.refine,  # noqa: F821
    fit=snakemake.params.fit,  # noqa: F821
    write_vertices=snakemake.params.write_vertices,  # noqa: F821
    batch_size=snakemake.params.batch_size,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    session=snakemake.wildcards.session,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
)
