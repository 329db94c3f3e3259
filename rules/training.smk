# Training of the learned stages: synthetic training sets (humanrecon.synth.shards, humanrecon.implicit.data),
# the segmenter (humanrecon.segmenter.train), the SMPL regressor (humanrecon.regressor.train, data rendered on
# the fly) and the implicit network (humanrecon.implicit.train). Not part of `rule all`: the DAG uses the
# shipped weights (segmentation.model, body_fit.model, occupancy.model); `snakemake
# models/{segmenter,regressor,implicit}/trained/<name>.pt` retrains them (docs/segmenter.md, docs/regressor.md,
# docs/implicit.md).


rule training_set:
    input:
        body_model=body_model_input(),
    output:
        shards=directory("data/training/{dataset}"),
    params:
        settings=lambda w: config["training"]["datasets"][w.dataset],
        body_model=config["body_model"]["path"],
        cache_dir=f"{CACHE_DIR}/anny",
    log:
        "logs/training_set/{dataset}.log",
    benchmark:
        "benchmarks/results/training_set/{dataset}.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 4  # worker processes for segmenter shards (capped at --cores)
    resources:
        mem_mb=8000,
        runtime=600,
    script:
        "../workflow_scripts/training_set.py"


rule train_segmenter:
    input:
        train=lambda w: f"data/training/{config['training']['segmenter']['train']}",
        test=lambda w: f"data/training/{config['training']['segmenter']['test']}",
    output:
        weights="models/segmenter/trained/segmenter.pt",
        card="models/segmenter/trained/segmenter.pt.json",
    params:
        settings=config.get("training", {}).get("segmenter", {}),
        workdir="work/segmenter",
    log:
        "logs/train_segmenter.log",
    benchmark:
        "benchmarks/results/train_segmenter.tsv"
    conda:
        "../envs/learning.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=1440,
        gpu=1,
    script:
        "../workflow_scripts/train_segmenter.py"


rule train_implicit:
    # models/implicit/trained/implicit.pt (training.implicit) or implicit_body.pt (training.implicit_body,
    # the body-conditioned network)
    input:
        train=lambda w: f"data/training/{config['training'][w.model]['train']}",
        test=lambda w: f"data/training/{config['training'][w.model]['test']}",
        body_model=body_model_input(),  # poses the samples' SMPL bodies (net.body_features)
        init=lambda w: config["training"][w.model].get("init_weights") or [],  # fine-tuning start, if any
    output:
        weights="models/implicit/trained/{model}.pt",
        card="models/implicit/trained/{model}.pt.json",
    wildcard_constraints:
        model="implicit|implicit_body",
    params:
        settings=lambda w: {"body_model": config["body_model"]["path"], **config["training"][w.model]},
        workdir="work/{model}",
    log:
        "logs/train_{model}.log",
    benchmark:
        "benchmarks/results/train_{model}.tsv"
    conda:
        "../envs/learning.yaml"
    threads: 2
    resources:
        mem_mb=12000,
        runtime=1440,
        gpu=1,
    script:
        "../workflow_scripts/train_implicit.py"


rule train_regressor:
    input:
        body_model=body_model_input(),
    output:
        weights="models/regressor/trained/regressor.pt",
        card="models/regressor/trained/regressor.pt.json",
    params:
        settings=config.get("training", {}).get("regressor", {}),
        body_model=config["body_model"]["path"],
        workdir="work/regressor",
    log:
        "logs/train_regressor.log",
    benchmark:
        "benchmarks/results/train_regressor.tsv"
    conda:
        "../envs/learning.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=1440,
        gpu=1,
    script:
        "../workflow_scripts/train_regressor.py"
