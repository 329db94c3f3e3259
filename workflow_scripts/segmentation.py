"""Snakemake script: silhouettes of one chunk (rule segmentation)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.segmentation import segment_chunk  # noqa: E402

setup_logging()
segment_chunk(
    session_path=snakemake.params.session,  # noqa: F821
    calibration=snakemake.input.calibration,  # noqa: F821
    frames=snakemake.params.frames,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
    source=snakemake.params.source,  # noqa: F821
    plates=snakemake.params.plates,  # noqa: F821
    model=next(iter(snakemake.input.model), None),  # noqa: F821 - [] when source is plates
    batch_size=snakemake.params.batch_size,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
)
