# Marching cubes + cleanup per chunk -> meshes/{frame:06d}.ply, listed in meshes/<chunk>.json.


rule meshing:
    input:
        occupancy="results/{session}/occupancy/{chunk}.h5",
    output:
        manifest="results/{session}/meshes/{chunk}.json",
    params:
        mesh_dir=lambda w: f"results/{w.session}/meshes",
        iso=config.get("meshing", {}).get("iso", 0.5),
        clean=config.get("meshing", {}).get("clean", {}),
        config=stage_config("meshing"),
    log:
        "logs/meshing/{session}/{chunk}.log",
    benchmark:
        "benchmarks/results/meshing/{session}/{chunk}.tsv"
    conda:
        "../envs/reconstruction.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "../workflow_scripts/meshing.py"
