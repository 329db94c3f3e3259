"""Provenance recorded in every output: package versions and a stable hash of the producing config."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import humanrecon

#: Packages whose versions change numerical results; recorded in every output's provenance.
TRACKED_PACKAGES = ("numpy", "torch", "smplx", "anny", "trimesh", "embreex", "opencv-python-headless", "scipy")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def config_hash(config: Any) -> str:
    """SHA-256 (hex, first 16 chars) of a config's canonical JSON form (sorted keys, no whitespace)."""
    blob = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of humanrecon and :data:`TRACKED_PACKAGES` (``"absent"`` when missing)."""
    out = {"humanrecon": humanrecon.__version__}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(config: Any) -> dict[str, str]:
    """Flat ``{key: str}`` provenance record: producer version, config hash, package versions."""
    rec = {"producer": f"humanrecon {humanrecon.__version__}", "config_hash": config_hash(config)}
    rec.update({f"version.{k}": v for k, v in package_versions().items()})
    return rec
