# humanrecon: calibrated multi-camera captures -> SMPL bodies, surface meshes, metrics.
# This file is the table of contents; each stage lives in rules/<stage>.smk and calls humanrecon/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/resources.smk"
include: "rules/synth.smk"
include: "rules/calibration.smk"
include: "rules/segmentation.smk"
include: "rules/body_fit.smk"
include: "rules/occupancy.smk"
include: "rules/meshing.smk"
include: "rules/metrics.smk"
include: "rules/report.smk"
include: "rules/curation.smk"
include: "rules/training.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
