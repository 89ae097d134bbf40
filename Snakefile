"""hepgraph: data -> parquet graphs -> models -> evaluation -> plots. Run `snakemake --cores N`."""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    default_target: True
    input:
        TARGETS,
