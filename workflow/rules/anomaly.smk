"""Anomaly detection (Kluettermann 2021): train graph autoencoders and oneoff ensembles on one dataset's jets ->
score every dataset's test jets -> AUCs, invertibility, the cross matrix -> figures.

The family's run registry (ANOMALY_SETS, ANOMALY_BACKGROUNDS and the input functions) is in anomaly_runs.smk."""


wildcard_constraints:
    bkg="|".join(ANOMALY_BACKGROUNDS) or "(?!)",
    gae="|".join(GAE_MODELS) or "(?!)",
    inputs="|".join(["raw", *GAE_MODELS]),
    seed=r"\d+",


rule train_gae:
    input:
        train=anomaly_split("train"),
        val=anomaly_split("val"),
        code=code("stages/train_gae"),
    output:
        model=ANOMALY_DIR / "{bkg}" / "seed{seed}" / "{gae}" / "model.pt",
        metrics=ANOMALY_DIR / "{bkg}" / "seed{seed}" / "{gae}" / "metrics.csv",
    log:
        LOGS / "train_gae" / "{bkg}_{gae}_seed{seed}.log",
    benchmark:
        BENCHMARKS / "train_gae" / "{bkg}_{gae}_seed{seed}.tsv"
    params:
        label=anomaly_label,
        settings=gae_settings,
        gae={k: ANOMALY["gae"][k] for k in ("epochs", "batch_size", "grad_clip_norm")},
        sizes={k: ANOMALY[k] for k in ("n_train", "n_val")},
        state=lambda w: ANOMALY_DIR / w.bkg / f"seed{w.seed}" / w.gae / "training",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=12 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the graph autoencoder {wildcards.gae} on {wildcards.bkg} jets (seed {wildcards.seed})"
    shell:
        "python -m hepgraph.stages.train_gae --train {input.train} --val {input.val} --label {params.label}"
        " --config '{params.settings}' --epochs {params.gae[epochs]} --batch-size {params.gae[batch_size]}"
        " --n-train {params.sizes[n_train]} --n-val {params.sizes[n_val]} --seed {wildcards.seed}"
        " --grad-clip-norm {params.gae[grad_clip_norm]} --state-dir {params.state}"
        " --checkpoint {output.model} --metrics-csv {output.metrics} > {log} 2>&1"


rule train_oneoff:
    input:
        unpack(oneoff_source),
        train=anomaly_split("train"),
        val=anomaly_split("val"),
        code=code("stages/train_oneoff"),
    output:
        model=ANOMALY_DIR / "{bkg}" / "seed{seed}" / "oneoff_{inputs}" / "model.pt",
        metrics=ANOMALY_DIR / "{bkg}" / "seed{seed}" / "oneoff_{inputs}" / "metrics.csv",
    log:
        LOGS / "train_oneoff" / "{bkg}_{inputs}_seed{seed}.log",
    benchmark:
        BENCHMARKS / "train_oneoff" / "{bkg}_{inputs}_seed{seed}.tsv"
    params:
        label=anomaly_label,
        source=oneoff_source_option,
        settings=json.dumps({k: ANOMALY["oneoff"][k] for k in ("members", "hidden", "feature_fraction", "lr")}),
        oneoff={k: ANOMALY["oneoff"][k] for k in ("epochs", "batch_size")},
        sizes={k: ANOMALY[k] for k in ("n_train", "n_val")},
        state=lambda w: ANOMALY_DIR / w.bkg / f"seed{w.seed}" / f"oneoff_{w.inputs}" / "training",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training {params.oneoff[epochs]} epochs of oneoff networks on {wildcards.inputs} inputs of {wildcards.bkg}"
        " jets (seed {wildcards.seed})"
    shell:
        "python -m hepgraph.stages.train_oneoff --train {input.train} --val {input.val} --label {params.label}"
        " {params.source} --config '{params.settings}' --epochs {params.oneoff[epochs]}"
        " --batch-size {params.oneoff[batch_size]} --n-train {params.sizes[n_train]} --n-val {params.sizes[n_val]}"
        " --seed {wildcards.seed} --state-dir {params.state}"
        " --checkpoint {output.model} --metrics-csv {output.metrics} > {log} 2>&1"


rule score_anomaly:
    input:
        unpack(score_inputs),
        train=anomaly_split("train"),
        code=code("stages/score_anomaly"),
    output:
        ANOMALY_DIR / "{bkg}" / "seed{seed}" / "scores.npz",
    log:
        LOGS / "score_anomaly" / "{bkg}_seed{seed}.log",
    benchmark:
        BENCHMARKS / "score_anomaly" / "{bkg}_seed{seed}.tsv"
    params:
        label=anomaly_label,
        models=score_options,
        sizes={k: ANOMALY[k] for k in ("n_train", "n_test")},
        baselines=ANOMALY["baselines"],
        normalisation=ANOMALY["gae"]["normalisation"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Scoring every dataset's test jets with the detectors trained on {wildcards.bkg} (seed {wildcards.seed})"
    shell:
        "python -m hepgraph.stages.score_anomaly --background {wildcards.bkg} --seed {wildcards.seed}"
        " --train {input.train} --label {params.label} --n-train {params.sizes[n_train]}"
        " --n-test {params.sizes[n_test]} {params.models} --baseline-nodes {params.baselines[n_nodes]}"
        " --normalisation {params.normalisation} --knn-k {params.baselines[knn_k]}"
        " --max-svm {params.baselines[max_svm]} --output {output} > {log} 2>&1"


rule evaluate_anomaly:
    input:
        scores=ANOMALY_SCORES,
        code=code("stages/evaluate_anomaly"),
    output:
        json=ANOMALY_DIR / "metrics.json",
        md=ANOMALY_DIR / "summary.md",
    log:
        LOGS / "evaluate_anomaly.log",
    benchmark:
        BENCHMARKS / "evaluate_anomaly.tsv"
    params:
        cross_method=CROSS_METHOD,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Evaluating {params.cross_method} and every other anomaly detector: AUCs, invertibility, cross matrix"
    shell:
        "python -m hepgraph.stages.evaluate_anomaly --scores {input.scores} --cross-method {params.cross_method}"
        " --output-json {output.json} --output-md {output.md} > {log} 2>&1"


rule plot_anomaly:
    input:
        metrics=ANOMALY_DIR / "metrics.json",
        scores=ANOMALY_PLOT_SCORES,
        curves=list(ANOMALY_CURVES.values()),
        code=code("stages/plot_anomaly"),
    output:
        **{name: report(ANOMALY_DIR / "plots" / f"{name}.png", caption=f"../report/anomaly/{name}.rst",
                        category="Anomaly detection", subcategory="figures") for name in ANOMALY_PLOTS},
    log:
        LOGS / "plot_anomaly.log",
    benchmark:
        BENCHMARKS / "plot_anomaly.tsv"
    params:
        curves=" ".join(f"--curves {label} {path}" for label, path in ANOMALY_CURVES.items()),
        cross_method=CROSS_METHOD,
        directory=ANOMALY_DIR / "plots",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Drawing the anomaly-detection figures"
    shell:
        "python -m hepgraph.stages.plot_anomaly --metrics {input.metrics} --scores {input.scores} {params.curves}"
        " --cross-method {params.cross_method} --output-dir {params.directory} > {log} 2>&1"
