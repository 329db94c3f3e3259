# Resources: the SMPL-format body model exported from Anny (humanrecon.bodymodel.build).


rule body_model:
    output:
        model=BODY_MODEL_FILE,
        report="resources/body_models/smpl/SMPL_NEUTRAL.report.json",
    params:
        num_samples=config["body_model"].get("build", {}).get("num_samples", 4000),
        seed=config["body_model"].get("build", {}).get("seed", 0),
        cache_dir=f"{CACHE_DIR}/anny",
    log:
        "logs/body_model.log",
    benchmark:
        "benchmarks/results/body_model.tsv"
    conda:
        "../envs/body_model.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=30,
    script:
        "../workflow_scripts/build_body_model.py"
