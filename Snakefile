"""hepgraph: data -> parquet graphs -> models -> evaluation -> plots. Run `snakemake --cores N`."""

import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gan_runs.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/anomaly_runs.smk"
include: "workflow/rules/anomaly.smk"
include: "workflow/rules/hgnn_runs.smk"
include: "workflow/rules/hgnn.smk"
include: "workflow/rules/pid_runs.smk"
include: "workflow/rules/pid.smk"
include: "workflow/rules/report.smk"  # last: it renders the summaries every family registered


rule all:
    default_target: True
    input:
        TARGETS,
