# Config validation and input functions shared by every rule file (no rules here).
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

CACHE_DIR = config.get("cache_dir", ".cache")
DEFAULT_BODY_MODEL = "resources/body_models"
BODY_MODEL_FILE = "resources/body_models/smpl/SMPL_NEUTRAL.pkl"


def body_model_is_built():
    """True when body_model.path is the folder the body_model rule builds from Anny."""
    return Path(config["body_model"]["path"]).resolve() == Path(DEFAULT_BODY_MODEL).resolve()


def body_model_input():
    """The body model file a rule depends on: the built export, or nothing for licensed files."""
    return [BODY_MODEL_FILE] if body_model_is_built() else []


def synth_params(wildcards):
    """Studio settings of synthetic session ``wildcards.name`` (config key synth.<name>)."""
    return config["synth"][wildcards.name]


def get_final_outputs():
    """Everything `snakemake` (rule all) builds: the body model and every synthetic session."""
    out = list(body_model_input())
    out += [f"data/sessions/{name}" for name in config.get("synth", {})]
    return out
