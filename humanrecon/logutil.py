"""Logging set-up for the CLI and workflow scripts (messages go to stderr, which rules send to their log)."""

from __future__ import annotations

import logging
import sys
import warnings


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped ``humanrecon`` log lines on stderr; quiet third-party chatter."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for noisy in ("trimesh", "matplotlib", "PIL", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*You are using a SMPL model.*")
