"""Graph GAN (Kansal et al. 2020): train -> generate -> evaluate against the published numbers -> plot.

The family's run registry (GAN_RUNS, GFD_TABLES and their input functions) is in gan_runs.smk, included before.
"""


wildcard_constraints:
    gan_run="|".join(GAN_RUNS) or "(?!)",


rule train_gan:
    input:
        train=gan_table_file("train"),
        val=gan_table_file("val"),
        code=code("stages/train_gan"),
    output:
        model=GAN_DIR / "{gan_run}" / "model.pt",
        metrics=GAN_DIR / "{gan_run}" / "metrics.csv",
    log:
        LOGS / "train_gan" / "{gan_run}.log",
    benchmark:
        BENCHMARKS / "train_gan" / "{gan_run}.tsv"
    params:
        kind=lambda w: GAN_RUNS[w.gan_run]["kind"],
        model=lambda w: GAN_RUNS[w.gan_run]["model"],
        digit=digit_option,
        overrides=lambda w: json.dumps({**GAN_RUNS[w.gan_run]["overrides"], **GAN["model_overrides"]}),
        gan={k: GAN[k] for k in ("epochs", "batch_size", "n_val", "checkpoint_every", "seed", "grad_clip_norm")},
        state=lambda w: GAN_DIR / w.gan_run / "training",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the graph GAN {wildcards.gan_run} ({params.model}, {params.gan[epochs]} epochs)"
    shell:
        "python -m hepgraph.stages.train_gan --kind {params.kind} --train {input.train} --val {input.val}"
        " {params.digit} --model {params.model} --set '{params.overrides}' --epochs {params.gan[epochs]}"
        " --batch-size {params.gan[batch_size]} --n-val {params.gan[n_val]} --seed {params.gan[seed]}"
        " --checkpoint-every {params.gan[checkpoint_every]} --grad-clip-norm {params.gan[grad_clip_norm]}"
        " --state-dir {params.state}"
        " --checkpoint {output.model} --metrics-csv {output.metrics} > {log} 2>&1"


rule generate_gan:
    input:
        model=GAN_DIR / "{gan_run}" / "model.pt",
        counts=gan_table_file("test"),
        code=code("stages/generate_gan"),
    output:
        GAN_DIR / "{gan_run}" / "generated.parquet",
    log:
        LOGS / "generate_gan" / "{gan_run}.log",
    benchmark:
        BENCHMARKS / "generate_gan" / "{gan_run}.tsv"
    params:
        n=GAN["n_generate"],
        label=lambda w: GAN_RUNS[w.gan_run]["label"],
        seed=GAN["seed"] + 1,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Generating {params.n} graphs with the graph GAN {wildcards.gan_run}"
    shell:
        "python -m hepgraph.stages.generate_gan --checkpoint {input.model} --n {params.n} --label {params.label}"
        " --counts-from {input.counts} --seed {params.seed} --output {output} > {log} 2>&1"


rule train_gfd_classifier:
    input:
        train=GRAPHS / "{table}" / "train.parquet",
        val=GRAPHS / "{table}" / "val.parquet",
        test=GRAPHS / "{table}" / "test.parquet",
        code=code("stages/train_gfd_classifier"),
    output:
        model=GFD_DIR / "{table}" / "model.pt",
        accuracy=GFD_DIR / "{table}" / "accuracy.json",
        metrics=GFD_DIR / "{table}" / "metrics.csv",
    log:
        LOGS / "train_gfd_classifier" / "{table}.log",
    benchmark:
        BENCHMARKS / "train_gfd_classifier" / "{table}.tsv"
    wildcard_constraints:
        table="|".join(GFD_TABLES) or "(?!)",
    params:
        classifier=GAN["classifier"],
        seed=GAN["seed"],
        state=lambda w: GFD_DIR / w.table / "training",
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
        "python -m hepgraph.stages.train_gfd_classifier --train {input.train} --val {input.val} --test {input.test}"
        " --epochs {params.classifier[epochs]} --batch-size {params.classifier[batch_size]}"
        " --lr {params.classifier[lr]} --seed {params.seed} --state-dir {params.state}"
        " --model {output.model} --metrics-csv {output.metrics} --output-json {output.accuracy} > {log} 2>&1"


rule evaluate_gan:
    input:
        unpack(classifier_input),
        generated=GAN_DIR / "{gan_run}" / "generated.parquet",
        real=gan_table_file("test"),
        real_train=gan_table_file("train"),
        code=code("stages/evaluate_gan"),
    output:
        json=GAN_DIR / "{gan_run}" / "metrics.json",
        md=GAN_DIR / "{gan_run}" / "summary.md",
    log:
        LOGS / "evaluate_gan" / "{gan_run}.log",
    benchmark:
        BENCHMARKS / "evaluate_gan" / "{gan_run}.tsv"
    params:
        kind=lambda w: GAN_RUNS[w.gan_run]["kind"],
        table=lambda w: GAN_RUNS[w.gan_run]["table"],
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
        "Evaluating the graph GAN {wildcards.gan_run} against real data and the published numbers"
    shell:
        "python -m hepgraph.stages.evaluate_gan --kind {params.kind} --real {input.real}"
        " --real-train {input.real_train} --generated {input.generated} --dataset {params.table} {params.digit}"
        " {params.classifier} --w1-table {params.evaluation[w1_table]}"
        " --num-eval-samples {params.evaluation[num_eval_samples]} --num-batches {params.evaluation[num_batches]}"
        " --seed {params.seed} --output-json {output.json} --output-md {output.md} > {log} 2>&1"


rule plot_gan:
    input:
        generated=GAN_DIR / "{gan_run}" / "generated.parquet",
        real=gan_table_file("test"),
        metrics=GAN_DIR / "{gan_run}" / "metrics.csv",
        code=code("stages/plot_gan"),
    output:
        samples=report(GAN_DIR / "{gan_run}" / "plots" / "samples.png", caption="../report/gan/samples.rst",
                       category="Graph GAN", subcategory="{gan_run}"),
        curves=report(GAN_DIR / "{gan_run}" / "plots" / "training_curves.png",
                      caption="../report/gan/training_curves.rst", category="Graph GAN", subcategory="{gan_run}"),
    log:
        LOGS / "plot_gan" / "{gan_run}.log",
    benchmark:
        BENCHMARKS / "plot_gan" / "{gan_run}.tsv"
    params:
        kind=lambda w: GAN_RUNS[w.gan_run]["kind"],
        digit=digit_option,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Plotting the graph GAN {wildcards.gan_run}"
    shell:
        "python -m hepgraph.stages.plot_gan --kind {params.kind} --real {input.real} --generated {input.generated}"
        " {params.digit} --samples {output.samples} --metrics-csv {input.metrics} --curves {output.curves}"
        " > {log} 2>&1"


rule summarize_gan:
    input:
        metrics=expand(GAN_DIR / "{gan_run}" / "metrics.json", gan_run=GAN_RUNS),
        code=code("stages/summarize_gan"),
    output:
        md=GAN_DIR / "runs.md",
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
