"""Snakemake script: the fitted SMPL body over the input images (rule report_body)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.report import smpl_overlay_figure  # noqa: E402

setup_logging()
smpl_overlay_figure(
    session_path=snakemake.params.session,  # noqa: F821
    calibration=snakemake.input.calibration,  # noqa: F821
    smpl_manifests=snakemake.input.smpl_manifests,  # noqa: F821
    output=snakemake.output.overlays,  # noqa: F821
)
