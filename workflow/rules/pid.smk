"""Quark/gluon identification (CMS E2E task): train each run once per seed -> score the test jets -> summary beside
baselines and published numbers -> figures.

The family's run registry (PID_RUNS, PID_SEEDS and their input functions) is in pid_runs.smk, included before.
"""


wildcard_constraints:
    pid_run="|".join(PID_RUNS) or "(?!)",
    pid_seed=r"\d+",


rule train_pid:
    input:
        train=pid_table_file("train"),
        val=pid_table_file("val"),
        test=pid_table_file("test"),
        code=code("stages/train_pid"),
    output:
        model=PID_DIR / "{pid_run}" / "seed_{pid_seed}" / "model.pt",
        metrics=PID_DIR / "{pid_run}" / "seed_{pid_seed}" / "metrics.csv",
        scores=PID_DIR / "{pid_run}" / "seed_{pid_seed}" / "scores.parquet",
    log:
        LOGS / "train_pid" / "{pid_run}" / "seed_{pid_seed}.log",
    benchmark:
        BENCHMARKS / "train_pid" / "{pid_run}" / "seed_{pid_seed}.tsv"
    params:
        model=lambda w: PID_RUNS[w.pid_run]["model"],
        settings=lambda w: json.dumps(PID["models"].get(PID_RUNS[w.pid_run]["model"], {})),
        pid={k: PID[k] for k in ("epochs", "batch_size", "lr")},
        state=lambda w: PID_DIR / w.pid_run / f"seed_{w.pid_seed}" / "training",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the quark/gluon tagger {wildcards.pid_run}, seed {wildcards.pid_seed} ({params.pid[epochs]} epochs)"
    shell:
        "python -m hepgraph.stages.train_pid --model {params.model} --train {input.train} --val {input.val}"
        " --test {input.test} --set '{params.settings}' --epochs {params.pid[epochs]}"
        " --batch-size {params.pid[batch_size]} --lr {params.pid[lr]} --seed {wildcards.pid_seed}"
        " --threads {threads} --state-dir {params.state} --checkpoint {output.model} --metrics-csv {output.metrics}"
        " --scores {output.scores} > {log} 2>&1"


rule summarize_pid:
    input:
        scores=pid_run_files("scores.parquet"),
        tests=pid_test_tables().values(),
        code=code("stages/summarize_pid"),
    output:
        json=PID_DIR / "metrics.json",
        md=PID_DIR / "summary.md",
    log:
        LOGS / "summarize_pid.log",
    benchmark:
        BENCHMARKS / "summarize_pid.tsv"
    params:
        pid_dir=PID_DIR,
        runs=list(PID_RUNS),
        seeds=PID_SEEDS,
        tests=[f"{dataset}={path}" for dataset, path in pid_test_tables().items()],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Scoring {params.runs} over seeds {params.seeds} beside the baselines and the published numbers"
    shell:
        "python -m hepgraph.stages.summarize_pid --pid-dir {params.pid_dir} --runs {params.runs}"
        " --seeds {params.seeds} --test {params.tests} --output-json {output.json} --output-md {output.md}"
        " > {log} 2>&1"


rule plot_pid:
    input:
        scores=pid_run_files("scores.parquet"),
        metrics=pid_run_files("metrics.csv"),
        tests=pid_test_tables().values(),
        code=code("stages/plot_pid"),
    output:
        **{Path(name).stem: report(PID_DIR / "plots" / name, caption=pid_caption(name),
                                   category="Quark/gluon ID", subcategory="figures") for name in PID_PLOTS},
    log:
        LOGS / "plot_pid.log",
    benchmark:
        BENCHMARKS / "plot_pid.tsv"
    params:
        pid_dir=PID_DIR,
        runs=list(PID_RUNS),
        seeds=PID_SEEDS,
        tests=[f"{dataset}={path}" for dataset, path in pid_test_tables().items()],
        out=PID_DIR / "plots",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Drawing ROC curves, training curves, score distributions and mean jet images of the quark/gluon taggers"
    shell:
        "python -m hepgraph.stages.plot_pid --pid-dir {params.pid_dir} --runs {params.runs}"
        " --seeds {params.seeds} --test {params.tests} --output-dir {params.out} > {log} 2>&1"
