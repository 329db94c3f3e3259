"""Snakemake script: report figures of a session (rule report_figures)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.report import write_report_figures  # noqa: E402

setup_logging()
write_report_figures(
    session_path=snakemake.params.session,  # noqa: F821
    metrics_csv=snakemake.input.metrics,  # noqa: F821
    calibration=snakemake.input.calibration,  # noqa: F821
    manifests=list(snakemake.input.manifests),  # noqa: F821
    summary=snakemake.output.summary,  # noqa: F821
    overlays=snakemake.output.overlays,  # noqa: F821
    turntable=snakemake.output.turntable,  # noqa: F821
)
