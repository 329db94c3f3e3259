# Dataset release (not part of `rule all`): every configured session's images, silhouettes, ground truth
# and meshes -> releases/<release>/ (HDF5 shards + manifest.json with SHA-256 and provenance), registered
# with `dvc add` when the working directory is a DVC project (docs/data-versioning.md).
#   .venv/bin/snakemake --cores 2 releases/demo-v1
from types import SimpleNamespace


def release_inputs(wildcards):
    """Every session input, calibration, segmentation chunk and mesh manifest, plus the body model."""
    files = list(body_model_input())
    for name in SESSIONS:
        session = session_input(SimpleNamespace(session=name))
        files += session if isinstance(session, list) else [session]
        files.append(f"results/{name}/calibration.h5")
        for c in CHUNKS[name]:
            files += [f"results/{name}/segmentation/{c.name}.h5", f"results/{name}/meshes/{c.name}.json"]
    return files


rule curate:
    input:
        release_inputs,
    output:
        directory("releases/{release}"),
    params:
        sessions={
            name: {"session": session_path(name), "results": f"results/{name}", "chunks": [c.name for c in CHUNKS[name]]}
            for name in SESSIONS
        },
        models={"body_model": config["body_model"]["path"]},
        crop_size=config.get("curation", {}).get("crop_size"),
        dvc=Path(".dvc").is_dir(),
        config={key: stage_config(key) for key in ("segmentation", "occupancy", "meshing")},
    wildcard_constraints:
        release=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    conda:
        "../envs/curation.yaml"
    log:
        "logs/curate/{release}.log",
    benchmark:
        "benchmarks/results/curate/{release}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/curate.py"
