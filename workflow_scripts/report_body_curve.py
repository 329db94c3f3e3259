"""Snakemake script: the body-vs-segmentation curve figure (rule report_body_curve)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.report import quality_curve_figure  # noqa: E402

setup_logging()
quality_curve_figure(curve_json=snakemake.input[0], output=snakemake.output[0])  # noqa: F821
