"""Snakemake script: calibration ingest (rule calibration)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.calibration import ingest_calibration  # noqa: E402

setup_logging()
ingest_calibration(session_path=snakemake.params.session, output=snakemake.output[0])  # noqa: F821
