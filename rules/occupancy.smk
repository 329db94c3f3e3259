# Occupancy per chunk: visual hull or the learned implicit network inside it (coarse-to-fine octree)
# -> occupancy/<chunk>.h5.


rule occupancy:
    input:
        segmentation="results/{session}/segmentation/{chunk}.h5",
        calibration="results/{session}/calibration.h5",
        session=occupancy_session_input,
        model=implicit_input,
        body=occupancy_body_input,
    output:
        "results/{session}/occupancy/{chunk}.h5",
    params:
        method=config.get("occupancy", {}).get("method", "visual_hull"),
        resolution=config.get("occupancy", {}).get("resolution", 256),
        coarse_resolution=config.get("occupancy", {}).get("coarse_resolution", 32),
        margin=config.get("occupancy", {}).get("margin", 0.05),
        min_views=config.get("occupancy", {}).get("min_views", 2),
        session=lambda w: session_path(w.session),
        model=config.get("occupancy", {}).get("model"),
        smpl=occupancy_smpl_param,
        body_model=config["body_model"]["path"],
        config=stage_config("occupancy"),
    log:
        "logs/occupancy/{session}/{chunk}.log",
    benchmark:
        "benchmarks/results/occupancy/{session}/{chunk}.tsv"
    conda:
        "../envs/reconstruction.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=implicit_gpus,
    script:
        "../workflow_scripts/occupancy.py"
