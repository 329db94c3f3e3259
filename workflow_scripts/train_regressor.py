"""Snakemake script: train the SMPL regressor and write weights + model card (rule train_regressor)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.regressor.train import TrainConfig, train_and_export  # noqa: E402

setup_logging()
train_and_export(
    body_model_path=snakemake.params.body_model,  # noqa: F821
    workdir=snakemake.params.workdir,  # noqa: F821
    output=snakemake.output.weights,  # noqa: F821
    config=TrainConfig.from_dict(snakemake.params.settings),  # noqa: F821
)
