"""Snakemake script: train the implicit network and write weights + model card (rule train_implicit)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.training import train_implicit  # noqa: E402

setup_logging()
train_implicit(
    train_shards=snakemake.input.train,  # noqa: F821
    test_shards=snakemake.input.test,  # noqa: F821
    workdir=snakemake.params.workdir,  # noqa: F821
    output=snakemake.output.weights,  # noqa: F821
    settings=snakemake.params.settings,  # noqa: F821
)
