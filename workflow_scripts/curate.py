"""Snakemake script: a dataset release from every configured session (rule curate)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.curation import SessionSource, curate_release  # noqa: E402
from humanrecon.logutil import setup_logging  # noqa: E402

setup_logging()
curate_release(
    snakemake.output[0],  # noqa: F821
    [
        SessionSource(name, s["session"], s["results"], tuple(s["chunks"]))
        for name, s in snakemake.params.sessions.items()  # noqa: F821
    ],
    name=snakemake.wildcards.release,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
    models=snakemake.params.models,  # noqa: F821
    crop_size=snakemake.params.crop_size,  # noqa: F821
    dvc=snakemake.params.dvc,  # noqa: F821
)
