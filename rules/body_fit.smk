# SMPL bodies per chunk: per-view regression from part maps, multi-view fusion, refinement by fitting
# -> smpl/<chunk>.h5 + per-frame exports listed in smpl/<chunk>.json (docs/regressor.md). For sessions with
# ground truth, body_fit_curve refits the first chunk from GT, degraded and predicted segmentations.


rule body_fit:
    input:
        segmentation="results/{session}/segmentation/{chunk}.h5",
        calibration="results/{session}/calibration.h5",
        model=config.get("body_fit", {}).get("model", []),
        body_model=body_model_input(),
    output:
        smpl="results/{session}/smpl/{chunk}.h5",
        manifest="results/{session}/smpl/{chunk}.json",
    params:
        body_model=config["body_model"]["path"],
        refine=config.get("body_fit", {}).get("refine", True),
        fit=config.get("body_fit", {}).get("fit", {}),
        write_vertices=config.get("body_fit", {}).get("write_vertices", True),
        batch_size=config.get("body_fit", {}).get("batch_size", 64),
        config=stage_config("body_fit"),
    log:
        "logs/body_fit/{session}/{chunk}.log",
    benchmark:
        "benchmarks/results/body_fit/{session}/{chunk}.tsv"
    conda:
        "../envs/reconstruction.yaml"
    threads: config.get("body_fit", {}).get("threads", 1)
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1,
    script:
        "../workflow_scripts/body_fit.py"


rule body_fit_curve:
    input:
        session=session_input,
        segmentation=lambda w: f"results/{w.session}/segmentation/{CHUNKS[w.session][0].name}.h5",
        calibration="results/{session}/calibration.h5",
        model=config.get("body_fit", {}).get("model", []),
        body_model=body_model_input(),
    output:
        "results/{session}/report/body_vs_segmentation.json",
    params:
        session=lambda w: session_path(w.session),
        body_model=config["body_model"]["path"],
        fit=config.get("body_fit", {}).get("fit", {}),
        config=stage_config("body_fit"),
    log:
        "logs/body_fit_curve/{session}.log",
    benchmark:
        "benchmarks/results/body_fit_curve/{session}.tsv"
    conda:
        "../envs/reconstruction.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1,
    script:
        "../workflow_scripts/body_fit_curve.py"
