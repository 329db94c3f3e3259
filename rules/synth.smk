# Synthetic capture studio: writes a session folder (humanrecon.synth.studio).


rule synth_session:
    input:
        body_model=body_model_input(),
    output:
        session=directory("data/sessions/{name}"),
    params:
        settings=synth_params,
        body_model=config["body_model"]["path"],
        cache_dir=f"{CACHE_DIR}/anny",
    log:
        "logs/synth_session/{name}.log",
    benchmark:
        "benchmarks/results/synth_session/{name}.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    script:
        "../workflow_scripts/synth_session.py"
