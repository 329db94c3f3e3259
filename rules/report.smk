# Report figures of a session (collected by `snakemake --report`).


rule report_figures:
    input:
        session=session_input,
        metrics="results/{session}/metrics.csv",
        calibration="results/{session}/calibration.h5",
        manifests=session_chunk_files("results/{session}/meshes/{chunk}.json"),
    output:
        summary=report(
            "results/{session}/report/summary.png",
            caption="../report/summary.rst",
            category="Metrics",
            labels={"session": "{session}", "figure": "per-frame metrics"},
        ),
        overlays=report(
            "results/{session}/report/overlays.png",
            caption="../report/overlays.rst",
            category="Reconstruction",
            labels={"session": "{session}", "figure": "mesh over input images"},
        ),
        turntable=report(
            "results/{session}/report/turntable.png",
            caption="../report/turntable.rst",
            category="Reconstruction",
            labels={"session": "{session}", "figure": "turntable"},
        ),
    params:
        session=lambda w: session_path(w.session),
    log:
        "logs/report_figures/{session}.log",
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/report_figures.py"


rule report_body:
    input:
        session=session_input,
        calibration="results/{session}/calibration.h5",
        smpl_manifests=session_chunk_files("results/{session}/smpl/{chunk}.json"),
        curve=lambda w: [f"results/{w.session}/report/body_vs_segmentation.json"] if session_has_gt(w.session) else [],
    output:
        overlays=report(
            "results/{session}/report/smpl_overlays.png",
            caption="../report/smpl_overlays.rst",
            category="SMPL",
            labels={"session": "{session}", "figure": "SMPL fit over input images"},
        ),
    params:
        session=lambda w: session_path(w.session),
    log:
        "logs/report_body/{session}.log",
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/report_body.py"


rule report_body_curve:
    input:
        "results/{session}/report/body_vs_segmentation.json",
    output:
        report(
            "results/{session}/report/body_vs_segmentation.png",
            caption="../report/body_vs_segmentation.rst",
            category="SMPL",
            labels={"session": "{session}", "figure": "body error vs segmentation quality"},
        ),
    log:
        "logs/report_body_curve/{session}.log",
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/report_body_curve.py"
