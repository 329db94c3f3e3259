"""Snakemake script: export Anny as the SMPL-format body model (rule body_model)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.bodymodel.build import build_body_model  # noqa: E402
from humanrecon.logutil import setup_logging  # noqa: E402

setup_logging()
build_body_model(
    output=snakemake.output.model,  # noqa: F821
    report=snakemake.output.report,  # noqa: F821
    num_samples=snakemake.params.num_samples,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    cache_dir=snakemake.params.cache_dir,  # noqa: F821
)
