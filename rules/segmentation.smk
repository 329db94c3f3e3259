# Silhouettes per chunk of frames: background plates (or the learned segmenter) -> segmentation/<chunk>.h5.


rule segmentation:
    input:
        session=session_input,
        calibration="results/{session}/calibration.h5",
        model=segmenter_input,
    output:
        "results/{session}/segmentation/{chunk}.h5",
    params:
        session=lambda w: session_path(w.session),
        frames=chunk_frame_list,
        source=config.get("segmentation", {}).get("source", "plates"),
        plates=config.get("segmentation", {}).get("plates", {}),
        batch_size=config.get("segmentation", {}).get("batch_size", 32),
        config=stage_config("segmentation"),
    log:
        "logs/segmentation/{session}/{chunk}.log",
    benchmark:
        "benchmarks/results/segmentation/{session}/{chunk}.tsv"
    conda:
        "../envs/reconstruction.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=segmenter_gpus,
    script:
        "../workflow_scripts/segmentation.py"
