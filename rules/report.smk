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
