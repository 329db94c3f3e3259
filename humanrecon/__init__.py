"""humanrecon: calibrated multi-camera captures of a person -> SMPL bodies, surface meshes, metrics.

All pipeline logic lives in this package; the Snakemake workflow (``Snakefile``, ``rules/``) and the
thin ``workflow_scripts/`` only call into it. Conventions (axes, units, camera model, rotation format,
dimension letters) are written down once in :mod:`humanrecon.conventions`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("humanrecon")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
