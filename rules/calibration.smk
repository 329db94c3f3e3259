# Calibration ingest: the session's calibration (EasyMocap, COLMAP, P-matrices, JSON) -> calibration.h5.


rule calibration:
    input:
        session=session_input,
    output:
        "results/{session}/calibration.h5",
    params:
        session=lambda w: session_path(w.session),
    log:
        "logs/calibration/{session}.log",
    benchmark:
        "benchmarks/results/calibration/{session}.tsv"
    conda:
        "../envs/reconstruction.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/calibration.py"
