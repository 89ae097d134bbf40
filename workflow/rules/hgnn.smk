"""Track reconstruction with hierarchical GNNs (Liu et al. 2023): metric-learning graph construction -> four models
(ec, emb_in, emb_hgnn, bc_hgnn) and Truth CC -> evaluation with and without 20 % of the edges -> figures, summary.

The family's run registry (HGNN_VARIANTS, HGNN_MODELS, HGNN_EVENTS and their input functions) is in hgnn_runs.smk,
included before.
"""


wildcard_constraints:
    variant="|".join(map(re.escape, HGNN_VARIANTS)) or "(?!)",
    hgnn_events="train|val|test|real",


rule prepare_real_hgnn:
    input:
        raw=HGNN["real_events"] or [],
        code=code("stages/prepare_tracking"),
    output:
        HGNN_DIR / "{variant}" / "real_events.parquet",
    log:
        LOGS / "prepare_real_hgnn" / "{variant}.log",
    benchmark:
        BENCHMARKS / "prepare_real_hgnn" / "{variant}.tsv"
    params:
        pt_min=lambda w: DATA["trackml"]["variants"][w.variant],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    message:
        "Reading the real TrackML events of {input.raw} (particle pT > {params.pt_min} GeV)"
    shell:
        "python -m hepgraph.stages.prepare_tracking --input-dir {input.raw} --pt-min {params.pt_min}"
        " --output {output} > {log} 2>&1"


rule train_embedding_hgnn:
    input:
        train=hgnn_table("train"),
        val=hgnn_table("val"),
        code=code("stages/train_embedding_hgnn"),
    output:
        model=HGNN_DIR / "{variant}" / "embedding" / "model.pt",
        metrics=HGNN_DIR / "{variant}" / "embedding" / "metrics.csv",
    log:
        LOGS / "train_embedding_hgnn" / "{variant}.log",
    benchmark:
        BENCHMARKS / "train_embedding_hgnn" / "{variant}.tsv"
    params:
        embedding=HGNN["embedding"],
        overrides=json.dumps(HGNN["embedding"]["overrides"]),
        seed=HGNN["seed"],
        state=lambda w: HGNN_DIR / w.variant / "embedding" / "training",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=12 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the metric-learning embedding of the {wildcards.variant} tracking graphs"
    shell:
        "python -m hepgraph.stages.train_embedding_hgnn --train {input.train} --val {input.val}"
        " --set '{params.overrides}' --epochs {params.embedding[epochs]} --seed {params.seed}"
        " --state-dir {params.state} --model {output.model} --metrics-csv {output.metrics} > {log} 2>&1"


rule build_graphs_hgnn:
    input:
        embedding=HGNN_DIR / "{variant}" / "embedding" / "model.pt",
        events=hgnn_events_table,
        code=code("stages/build_graphs_hgnn"),
    output:
        graphs=HGNN_DIR / "{variant}" / "graphs" / "{hgnn_events}.pt",
        quality=HGNN_DIR / "{variant}" / "graphs" / "{hgnn_events}.json",
    log:
        LOGS / "build_graphs_hgnn" / "{variant}" / "{hgnn_events}.log",
    benchmark:
        BENCHMARKS / "build_graphs_hgnn" / "{variant}" / "{hgnn_events}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Building the {wildcards.variant} tracking graphs of the {wildcards.hgnn_events} events"
    shell:
        "python -m hepgraph.stages.build_graphs_hgnn --embedding {input.embedding} --events {input.events}"
        " --output {output.graphs} --quality {output.quality} > {log} 2>&1"


rule train_hgnn:
    input:
        train=HGNN_DIR / "{variant}" / "graphs" / "train.pt",
        val=HGNN_DIR / "{variant}" / "graphs" / "val.pt",
        code=code("stages/train_hgnn"),
    output:
        model=HGNN_DIR / "{variant}" / "models" / "{model}" / "model.pt",
        metrics=HGNN_DIR / "{variant}" / "models" / "{model}" / "metrics.csv",
    log:
        LOGS / "train_hgnn" / "{variant}" / "{model}.log",
    benchmark:
        BENCHMARKS / "train_hgnn" / "{variant}" / "{model}.tsv"
    wildcard_constraints:
        model="|".join(HGNN_MODELS) or "(?!)",
    params:
        epochs=HGNN["epochs"],
        overrides=lambda w: json.dumps({**HGNN["model_overrides"].get("all", {}),
                                              **HGNN["model_overrides"].get(w.model, {})}),
        cuts=hgnn_cuts_option(),
        seed=HGNN["seed"],
        state=lambda w: HGNN_DIR / w.variant / "models" / w.model / "training",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Training the tracking model {wildcards.model} on the {wildcards.variant} graphs ({params.epochs} epochs)"
    shell:
        "OMP_NUM_THREADS={threads} python -m hepgraph.stages.train_hgnn --kind {wildcards.model} --train {input.train} --val {input.val}"
        " --set '{params.overrides}' --epochs {params.epochs} --seed {params.seed} {params.cuts}"
        " --state-dir {params.state} --model {output.model} --metrics-csv {output.metrics} > {log} 2>&1"


rule evaluate_hgnn:
    input:
        unpack(hgnn_model_input),
        events=HGNN_DIR / "{variant}" / "graphs" / "{hgnn_events}.pt",
        code=code("stages/evaluate_hgnn"),
    output:
        json=HGNN_DIR / "{variant}" / "{hgnn_events}" / "{model}.json",
        tracks=HGNN_DIR / "{variant}" / "{hgnn_events}" / "{model}_tracks.npz",
    log:
        LOGS / "evaluate_hgnn" / "{variant}" / "{hgnn_events}" / "{model}.log",
    benchmark:
        BENCHMARKS / "evaluate_hgnn" / "{variant}" / "{hgnn_events}" / "{model}.tsv"
    wildcard_constraints:
        model="|".join(HGNN_SCORED),
    params:
        model=hgnn_model_option,
        drop=HGNN["drop_fraction"],
        cuts=hgnn_cuts_option(),
        seed=HGNN["seed"],
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    message:
        "Scoring {wildcards.model} on the {wildcards.variant} {wildcards.hgnn_events} events"
    shell:
        "OMP_NUM_THREADS={threads} python -m hepgraph.stages.evaluate_hgnn --kind {wildcards.model} {params.model} --events {input.events}"
        " --drop-fraction {params.drop} --seed {params.seed} {params.cuts} --output-json {output.json}"
        " --output-tracks {output.tracks} > {log} 2>&1"


rule plot_hgnn:
    input:
        tracks=expand(HGNN_DIR / "{{variant}}" / "{{hgnn_events}}" / "{model}_tracks.npz", model=HGNN_SCORED),
        code=code("stages/plot_hgnn"),
    output:
        efficiency=report(HGNN_DIR / "{variant}" / "{hgnn_events}" / "efficiency.png",
                          caption="../report/hgnn/efficiency.rst", category="Track reconstruction",
                          subcategory="{variant} {hgnn_events}"),
        displays=[report(HGNN_DIR / "{variant}" / "{hgnn_events}" / f"display_{model}.png",
                         caption="../report/hgnn/display.rst", category="Track reconstruction",
                         subcategory="{variant} {hgnn_events}") for model in HGNN_SCORED],
    log:
        LOGS / "plot_hgnn" / "{variant}" / "{hgnn_events}.log",
    benchmark:
        BENCHMARKS / "plot_hgnn" / "{variant}" / "{hgnn_events}.tsv"
    params:
        min_hits=HGNN_CUTS["min_hits"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    message:
        "Drawing tracking efficiency and track displays of the {wildcards.variant} {wildcards.hgnn_events} events"
    shell:
        "python -m hepgraph.stages.plot_hgnn --tracks {input.tracks} --min-hits {params.min_hits}"
        " --efficiency {output.efficiency} --displays {output.displays} > {log} 2>&1"


rule summarize_hgnn:
    input:
        results=HGNN_RESULTS,
        quality=HGNN_QUALITY,
        code=code("stages/summarize_hgnn"),
    output:
        HGNN_DIR / "summary.md",
    log:
        LOGS / "summarize_hgnn.log",
    benchmark:
        BENCHMARKS / "summarize_hgnn.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    message:
        "Putting the tracking models side by side with the published numbers"
    shell:
        "python -m hepgraph.stages.summarize_hgnn --results {input.results} --graph-quality {input.quality}"
        " --output-md {output} > {log} 2>&1"
