# Metrics against ground truth per chunk, then the session table metrics.csv.


rule metrics:
    input:
        session=session_input,
        manifest="results/{session}/meshes/{chunk}.json",
        segmentation="results/{session}/segmentation/{chunk}.h5",
        smpl=smpl_input("results/{session}/smpl/{chunk}.h5"),
        body_model=lambda w: body_model_input() if body_fit_enabled() else [],
    output:
        "results/{session}/metrics/{chunk}.json",
    params:
        session=lambda w: session_path(w.session),
        surface_samples=config.get("metrics", {}).get("surface_samples", 100000),
        iou_resolution=config.get("metrics", {}).get("iou_resolution", 128),
        seed=config.get("metrics", {}).get("seed", 0),
        body_model=config["body_model"]["path"],
    log:
        "logs/metrics/{session}/{chunk}.log",
    benchmark:
        "benchmarks/results/metrics/{session}/{chunk}.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "../workflow_scripts/metrics.py"


rule metrics_table:
    input:
        session_chunk_files("results/{session}/metrics/{chunk}.json"),
    output:
        report(
            "results/{session}/metrics.csv",
            caption="../report/metrics.rst",
            category="Metrics",
            labels={"session": "{session}", "table": "per frame"},
        ),
    log:
        "logs/metrics_table/{session}.log",
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../workflow_scripts/metrics_table.py"
