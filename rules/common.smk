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
    """Everything `snakemake` (rule all) builds: body model, synthetic sessions, every session's results."""
    out = list(body_model_input())
    out += [f"data/sessions/{name}" for name in config.get("synth", {})]
    for name in config["sessions"]:
        out += get_session_outputs(name)
    return out


# ---- sessions and chunks -------------------------------------------------------------------------
from humanrecon.pipeline.chunks import chunk_frames, chunk_of, session_frames
from humanrecon.curation import dvc_file_for

SESSIONS = config["sessions"]
CHUNK_SIZE = int(config.get("chunk_size", 10))


wildcard_constraints:
    session="[A-Za-z0-9_-]+",
    chunk=r"c\d{5}",
    name="[A-Za-z0-9_-]+",


def session_path(name):
    """Folder of session ``name`` (config key sessions.<name>)."""
    return SESSIONS[name]


def _synth_settings(name):
    """Studio settings when the workflow generates this session itself (data/sessions/<name>)."""
    synth = config.get("synth", {})
    if name in synth and Path(SESSIONS[name]).resolve() == Path(f"data/sessions/{name}").resolve():
        return synth[name]
    return None


CHUNKS = {name: chunk_frames(session_frames(SESSIONS[name], _synth_settings(name)), CHUNK_SIZE) for name in SESSIONS}


def session_input(wildcards):
    """A rule's dependency on its session: the studio's output folder, or the session.yaml plus, for a
    DVC-tracked session, its .dvc file: the content hash of every file, so `dvc checkout` (new mtimes,
    same content) reruns nothing and a change recorded by `dvc add` reruns (docs/data-versioning.md)."""
    name = wildcards.session
    if _synth_settings(name) is not None:
        return f"data/sessions/{name}"
    dvc_file = dvc_file_for(SESSIONS[name])
    return [f"{SESSIONS[name]}/session.yaml"] + ([str(dvc_file)] if dvc_file else [])


def chunk_frame_list(wildcards):
    """Frame numbers of chunk ``wildcards.chunk`` of session ``wildcards.session``."""
    return list(chunk_of(CHUNKS[wildcards.session], wildcards.chunk).frames)


def session_chunk_files(pattern):
    """Input function: ``pattern`` formatted for every chunk of the session."""

    def files(wildcards):
        return [pattern.format(session=wildcards.session, chunk=c.name) for c in CHUNKS[wildcards.session]]

    return files


def stage_config(key):
    """The config section of a stage (recorded as provenance in its outputs)."""
    return config.get(key, {})


def session_has_gt(name):
    """True for sessions with GT masks, part maps and SMPL parameters (every synthetic session)."""
    if _synth_settings(name) is not None:
        return True
    from humanrecon.session import load_session

    s = load_session(SESSIONS[name])
    return None not in (s.gt_mask_template, s.gt_part_template, s.gt_smpl_template)


def get_session_outputs(name):
    """What the DAG produces for one session: the metrics table and report figures (with the SMPL stage,
    its overlays, and for sessions with ground truth the body-vs-segmentation curve)."""
    out = [f"results/{name}/metrics.csv", f"results/{name}/report/summary.png"]
    if body_fit_enabled():
        out += [f"results/{name}/smpl/{c.name}.json" for c in CHUNKS[name]]  # a primary product, not only the report's input
        out.append(f"results/{name}/report/smpl_overlays.png")
        if session_has_gt(name):
            out.append(f"results/{name}/report/body_vs_segmentation.png")
    return out


# ---- learned stages -------------------------------------------------------------------------------
def segmenter_input(wildcards):
    """The segmenter weights a segmentation job reads (segmentation.model), when its source uses them."""
    seg = config.get("segmentation", {})
    return [seg["model"]] if seg.get("source", "plates") in ("network", "both") and seg.get("model") else []


def segmenter_gpus(wildcards):
    """GPUs requested by a segmentation job: one when the learned segmenter runs (used when present)."""
    return 1 if segmenter_input(wildcards) else 0


def implicit_input(wildcards):
    """The implicit-network weights an occupancy job reads (occupancy.model), with method implicit."""
    occ = config.get("occupancy", {})
    return [occ["model"]] if occ.get("method", "visual_hull") == "implicit" and occ.get("model") else []


def occupancy_session_input(wildcards):
    """The session an occupancy job reads images from (implicit method only)."""
    return session_input(wildcards) if implicit_input(wildcards) else []


def occupancy_body():
    """True when the implicit network is conditioned on the fitted body (config occupancy.body)."""
    occ = config.get("occupancy", {})
    return bool(occ.get("body", False)) and occ.get("method", "visual_hull") == "implicit"


def occupancy_body_input(wildcards):
    """The chunk's fitted bodies and the body model, for a body-conditioned implicit network."""
    if not occupancy_body():
        return []
    return [f"results/{wildcards.session}/smpl/{wildcards.chunk}.h5", *body_model_input()]


def occupancy_smpl_param(wildcards):
    """The SMPL file the occupancy script passes on (None without body conditioning)."""
    return f"results/{wildcards.session}/smpl/{wildcards.chunk}.h5" if occupancy_body() else None


def implicit_gpus(wildcards):
    """GPUs requested by an occupancy job: one for the implicit network (used when present)."""
    return 1 if implicit_input(wildcards) else 0


def body_fit_enabled():
    """True when the SMPL stage runs (config body_fit.enabled)."""
    return bool(config.get("body_fit", {}).get("enabled", False))


if body_fit_enabled() and config.get("segmentation", {}).get("source", "plates") == "plates":
    raise ValueError(
        "config.yaml: body_fit.enabled is true but segmentation.source is 'plates': the SMPL stage regresses the body "
        "from the learned segmenter's 12-part maps and 2D joints. Set segmentation.source to 'both' (plates for the "
        "silhouettes, the network for parts and joints) or 'network', or set body_fit.enabled: false."
    )


if occupancy_body() and not body_fit_enabled():
    raise ValueError(
        "config.yaml: occupancy.body is true (the implicit network conditioned on the fitted body) but "
        "body_fit.enabled is false: enable the SMPL stage or set occupancy.body: false."
    )


def smpl_input(pattern):
    """Input function: the SMPL stage's output for a chunk when the stage runs, else nothing."""

    def files(wildcards):
        return [pattern.format(session=wildcards.session, chunk=wildcards.chunk)] if body_fit_enabled() else []

    return files
