"""Snakemake script: the session metrics table (rule metrics_table)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.evaluation import metrics_table  # noqa: E402

setup_logging()
metrics_table(chunk_files=list(snakemake.input), output=snakemake.output[0])  # noqa: F821
