"""Snakemake script: meshes of one chunk (rule meshing)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - log import errors too

from humanrecon.logutil import setup_logging  # noqa: E402
from humanrecon.pipeline.meshing import mesh_chunk  # noqa: E402

setup_logging()
mesh_chunk(
    occupancy=snakemake.input.occupancy,  # noqa: F821
    manifest=snakemake.output.manifest,  # noqa: F821
    mesh_dir=snakemake.params.mesh_dir,  # noqa: F821
    iso=snakemake.params.iso,  # noqa: F821
    clean=snakemake.params.clean,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
)
