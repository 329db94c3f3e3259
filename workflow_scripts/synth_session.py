"""Snakemake script: render one synthetic capture session (rule synth_session)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.synth.studio import StudioConfig, write_session  # noqa: E402

setup_logging()
write_session(
    out_dir=snakemake.output.session,  # noqa: F821
    config=StudioConfig.from_dict(snakemake.params.settings, name=snakemake.wildcards.name),  # noqa: F821
    body_model_path=snakemake.params.body_model,  # noqa: F821
    anny_cache_dir=snakemake.params.cache_dir,  # noqa: F821
)
