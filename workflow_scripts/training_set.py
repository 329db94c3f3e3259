"""Snakemake script: a synthetic training set of HDF5 shards (rule training_set)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.training import build_training_set  # noqa: E402

setup_logging()
build_training_set(
    out_dir=snakemake.output.shards,  # noqa: F821
    settings=snakemake.params.settings,  # noqa: F821
    body_model_path=snakemake.params.body_model,  # noqa: F821
    anny_cache_dir=snakemake.params.cache_dir,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
)
