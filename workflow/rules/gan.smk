"""Graph GAN (Kansal et al. 2020): train -> generate -> evaluate against the published numbers -> plot."""


wildcard_constraints:
    run="|".join(GAN_RUNS) or "(?!)",


rule train_gan:
    input:
        train=lambda w: GRAPHS / GAN_RUNS[w.run]["table"] / "train.parquet",
        val=lambda w: GRAPHS / GAN_RUNS[w.run]["table"] / "val.parquet",
        code=code("stages/train_gan", "models/graph_gan", "train/loop", "train/checkpoint", "metrics/jets",
                  "data/tables"),
    output:
        model=GAN_DIR / "{run}" / "model.pt",
        metrics=GAN_DIR / "{run}" / "metrics.csv",
    log:
        LOGS / "train_gan" / "{run}.log",
    benchmark:
        BENCHMARKS / "train_gan" / "{run}.tsv"
    params:
        kind=lambda w: GAN_RUNS[w.run]["kind"],
        model=lambda w: GAN_RUNS[w.run]["model"],
        digit=digit_option,
        overrides=json.dumps(GAN["model_overrides"]),
        gan={k: GAN[k] for k in ("epochs", "batch_size", "n_val", "checkpoint_every", "seed")},
        state=lambda w: GAN_DIR / w.run / "training",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the graph GAN {wildcards.run} ({params.model}, {params.gan[epochs]} epochs)"
    shell:
        "python -m hepgraph.stages.train_gan --kind {params.kind} --train {input.train} --val {input.val}"
        " {params.digit} --model {params.model} --set '{params.overrides}' --epochs {params.gan[epochs]}"
        " --batch-size {params.gan[batch_size]} --n-val {params.gan[n_val]} --seed {params.gan[seed]}"
        " --checkpoint-every {params.gan[checkpoint_every]} --state-dir {params.state}"
        " --checkpoint {output.model} --metrics-csv {output.metrics} > {log} 2>&1"


rule generate_gan:
    input:
        model=GAN_DIR / "{run}" / "model.pt",
        counts=lambda w: GRAPHS / GAN_RUNS[w.run]["table"] / "test.parquet",
        code=code("stages/generate_gan", "models/graph_gan", "train/checkpoint", "data/tables"),
    output:
        GAN_DIR / "{run}" / "generated.parquet",
    log:
        LOGS / "generate_gan" / "{run}.log",
    benchmark:
        BENCHMARKS / "generate_gan" / "{run}.tsv"
    params:
        n=GAN["n_generate"],
        label=lambda w: GAN_RUNS[w.run]["label"],
        seed=GAN["seed"] + 1,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Generating {params.n} graphs with the graph GAN {wildcards.run}"
    shell:
        "python -m hepgraph.stages.generate_gan --checkpoint {input.model} --n {params.n} --label {params.label}"
        " --counts-from {input.counts} --seed {params.seed} --output {output} > {log} 2>&1"


rule train_classifier:
    input:
        train=GRAPHS / "{table}" / "train.parquet",
        val=GRAPHS / "{table}" / "val.parquet",
        test=GRAPHS / "{table}" / "test.parquet",
        code=code("stages/train_classifier", "models/monet", "train/loop", "train/checkpoint", "data/tables"),
    output:
        model=GAN_DIR / "classifier" / "{table}" / "training" / "best.pt",
        accuracy=GAN_DIR / "classifier" / "{table}" / "accuracy.json",
        metrics=GAN_DIR / "classifier" / "{table}" / "metrics.csv",
    log:
        LOGS / "train_classifier" / "{table}.log",
    benchmark:
        BENCHMARKS / "train_classifier" / "{table}.tsv"
    wildcard_constraints:
        table="|".join(GFD_CLASSIFIERS) or "(?!)",
    params:
        classifier=GAN["classifier"],
        seed=GAN["seed"],
        state=lambda w: GAN_DIR / "classifier" / w.table / "training",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=12 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the MoNet classifier of {wildcards.table} for the graph Frechet distance"
    shell:
        "python -m hepgraph.stages.train_classifier --train {input.train} --val {input.val} --test {input.test}"
        " --epochs {params.classifier[epochs]} --batch-size {params.classifier[batch_size]}"
        " --lr {params.classifier[lr]} --seed {params.seed}"
        " --checkpoint-dir {params.state} --metrics-csv {output.metrics}"
        " --output-json {output.accuracy} > {log} 2>&1"


rule evaluate_gan:
    input:
        unpack(classifier_input),
        generated=GAN_DIR / "{run}" / "generated.parquet",
        real=lambda w: GRAPHS / GAN_RUNS[w.run]["table"] / "test.parquet",
        real_train=lambda w: GRAPHS / GAN_RUNS[w.run]["table"] / "train.parquet",
        code=code("stages/evaluate_gan", "evaluation/gan", "evaluation/published", "metrics/jets", "metrics/efp",
                  "metrics/distances", "metrics/gfd", "data/tables"),
    output:
        json=GAN_DIR / "{run}" / "metrics.json",
        md=report(GAN_DIR / "{run}" / "summary.md", category="Graph GAN", subcategory="{run}"),
    log:
        LOGS / "evaluate_gan" / "{run}.log",
    benchmark:
        BENCHMARKS / "evaluate_gan" / "{run}.tsv"
    params:
        kind=lambda w: GAN_RUNS[w.run]["kind"],
        table=lambda w: GAN_RUNS[w.run]["table"],
        digit=digit_option,
        classifier=classifier_option,
        evaluation=GAN["evaluation"],
        seed=GAN["seed"],
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        ENV
    message:
        "Evaluating the graph GAN {wildcards.run} against real data and the published numbers"
    shell:
        "python -m hepgraph.stages.evaluate_gan --kind {params.kind} --real {input.real}"
        " --real-train {input.real_train} --generated {input.generated} --dataset {params.table} {params.digit}"
        " {params.classifier} --w1-table {params.evaluation[w1_table]}"
        " --num-eval-samples {params.evaluation[num_eval_samples]} --num-batches {params.evaluation[num_batches]}"
        " --seed {params.seed} --output-json {output.json} --output-md {output.md} > {log} 2>&1"


rule plot_gan:
    input:
        generated=GAN_DIR / "{run}" / "generated.parquet",
        real=lambda w: GRAPHS / GAN_RUNS[w.run]["table"] / "test.parquet",
        metrics=GAN_DIR / "{run}" / "metrics.csv",
        code=code("stages/plot_gan", "plots/__init__", "plots/gan", "evaluation/gan", "data/tables"),
    output:
        samples=report(GAN_DIR / "{run}" / "plots" / "samples.png", category="Graph GAN", subcategory="{run}"),
        curves=report(GAN_DIR / "{run}" / "plots" / "training_curves.png", category="Graph GAN",
                      subcategory="{run}"),
    log:
        LOGS / "plot_gan" / "{run}.log",
    benchmark:
        BENCHMARKS / "plot_gan" / "{run}.tsv"
    params:
        kind=lambda w: GAN_RUNS[w.run]["kind"],
        digit=digit_option,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Plotting the graph GAN {wildcards.run}"
    shell:
        "python -m hepgraph.stages.plot_gan --kind {params.kind} --real {input.real} --generated {input.generated}"
        " {params.digit} --samples {output.samples} --metrics-csv {input.metrics} --curves {output.curves}"
        " > {log} 2>&1"


rule summarize_gan:
    input:
        metrics=expand(GAN_DIR / "{run}" / "metrics.json", run=GAN_RUNS),
        code=code("stages/summarize_gan", "evaluation/gan"),
    output:
        md=report(GAN_DIR / "runs.md", category="Graph GAN", subcategory="all runs"),
        csv=GAN_DIR / "runs.csv",
    log:
        LOGS / "summarize_gan.log",
    benchmark:
        BENCHMARKS / "summarize_gan.tsv"
    params:
        n=len(GAN_RUNS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    message:
        "Putting the {params.n} graph GAN runs side by side"
    shell:
        "python -m hepgraph.stages.summarize_gan --metrics {input.metrics} --output-md {output.md}"
        " --output-csv {output.csv} > {log} 2>&1"
