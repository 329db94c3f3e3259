"""Snakemake script: a synthetic training set of HDF5 shards (rule training_set)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.synth.shards import ShardConfig, write_training_set  # noqa: E402

setup_logging()
write_training_set(
    out_dir=snakemake.output.shards,  # noqa: F821
    config=ShardConfig.from_dict(snakemake.params.settings),  # noqa: F821
    body_model_path=snakemake.params.body_model,  # noqa: F821
    anny_cache_dir=snakemake.params.cache_dir,  # noqa: F821
)
