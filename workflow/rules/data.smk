"""Data stages: download | simulate -> raw files in their real layouts -> parquet graph shards -> splits."""

localrules:
    download,


wildcard_constraints:
    seed=r"\d+",
    shard=r"[A-Za-z0-9_.-]+",
    split="|".join(SPLITS),


rule download:
    output:
        RAW / "{dataset}" / "download" / "{file}",
    log:
        LOGS / "download" / "{dataset}" / "{file}.log",
    benchmark:
        BENCHMARKS / "download" / "{dataset}" / "{file}.tsv"
    wildcard_constraints:
        dataset="|".join(registry.datasets()),
    retries: 2
    conda:
        ENV
    message:
        "Downloading {wildcards.dataset} file {wildcards.file}"
    shell:
        "python -m hepgraph.stages.fetch --dataset {wildcards.dataset} --file {wildcards.file}"
        " --output {output} > {log} 2>&1"


rule simulate_jets:
    input:
        code("stages/simulate_jets"),
    output:
        RAW / "{dataset}" / "simulate" / "{process}_{seed}.{ext}",
    log:
        LOGS / "simulate_jets" / "{dataset}" / "{process}_{seed}.{ext}.log",
    benchmark:
        BENCHMARKS / "simulate_jets" / "{dataset}" / "{process}_{seed}.{ext}.tsv"
    wildcard_constraints:
        dataset="|".join(JET_FORMATS),
        process="|".join(["g", "q", "t", "w", "z", "qcd", "top", *ANOMALY_PROCESSES]),
        ext="|".join(ext for _, ext in JET_FORMATS.values()),
    params:
        format=lambda w: JET_FORMATS[w.dataset][0],
        process=lambda w: ANOMALY_PROCESSES[w.process] if w.dataset == "anomaly" else w.process,
        sim=lambda w: simulation(w.dataset, w.process),
        options=simulate_options,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        ENV
    message:
        "Simulating {params.sim[jets_per_shard]} {wildcards.dataset} {wildcards.process} jets, seed {wildcards.seed}"
    shell:
        "python -m hepgraph.stages.simulate_jets --process {params.process} --seed {wildcards.seed}"
        " --n-jets {params.sim[jets_per_shard]} --format {params.format} --pt-min {params.sim[pt_min]}"
        " --pt-max {params.sim[pt_max]} --eta-max {params.sim[eta_max]} --jet-r {params.sim[jet_r]}"
        " {params.options} --output {output} > {log} 2>&1"


rule simulate_calo:
    input:
        code("stages/simulate_calo"),
    output:
        RAW / "calo" / "simulate" / "{process}_{seed}.parquet",
    log:
        LOGS / "simulate_calo" / "{process}_{seed}.log",
    benchmark:
        BENCHMARKS / "simulate_calo" / "{process}_{seed}.tsv"
    wildcard_constraints:
        process="q|g",
    params:
        sim=DATA["calo"]["simulate"],
        detector=" ".join(f"--{k.replace('_', '-')} {v}" for k, v in DATA["calo"]["simulate"]["detector"].items()),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    conda:
        ENV
    message:
        "Simulating {params.sim[jets_per_shard]} {wildcards.process} jet images (pile-up {params.sim[pileup]}),"
        " seed {wildcards.seed}"
    shell:
        "python -m hepgraph.stages.simulate_calo --process {wildcards.process} --seed {wildcards.seed}"
        " --n-jets {params.sim[jets_per_shard]} --pt-min {params.sim[pt_min]} --pt-max {params.sim[pt_max]}"
        " --eta-max {params.sim[eta_max]} --jet-r {params.sim[jet_r]} --sqrt-s {params.sim[sqrt_s]}"
        " --pthat-min-fraction {params.sim[pthat_min_fraction]} --pileup {params.sim[pileup]} {params.detector}"
        " --output {output} > {log} 2>&1"


rule simulate_tracking:
    input:
        code("stages/simulate_tracking"),
    output:
        directory(RAW / "trackml" / "simulate" / "{seed}"),
    log:
        LOGS / "simulate_tracking" / "{seed}.log",
    benchmark:
        BENCHMARKS / "simulate_tracking" / "{seed}.tsv"
    params:
        sim=DATA["trackml"]["simulate"],
        resolution=" ".join(f"--resolution {region} {loc0} {loc1}"
                            for region, (loc0, loc1) in DATA["trackml"]["simulate"]["resolution"].items()),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        ENV
    message:
        "Simulating {params.sim[events_per_shard]} tracking events ({params.sim[process]}) with ACTS Fatras,"
        " seed {wildcards.seed}"
    shell:
        "python -m hepgraph.stages.simulate_tracking --seed {wildcards.seed}"
        " --n-events {params.sim[events_per_shard]} --process {params.sim[process]} --pileup {params.sim[pileup]}"
        " --pt-min {params.sim[pt_min]} --eta-max {params.sim[eta_max]} --n-particles {params.sim[gun][n_particles]}"
        " --pt-max {params.sim[gun][pt_max]} --pdg {params.sim[gun][pdg]}"
        " --noise-fraction {params.sim[noise_fraction]} {params.resolution} --output-dir {output} > {log} 2>&1"


rule prepare_jets:
    input:
        raw=shard_input,
        code=code("stages/prepare_jets"),
    output:
        GRAPHS / "{table}" / "shards" / "{shard}.parquet",
    log:
        LOGS / "prepare_jets" / "{table}" / "{shard}.log",
    benchmark:
        BENCHMARKS / "prepare_jets" / "{table}" / "{shard}.tsv"
    wildcard_constraints:
        table=tables_of("jets"),
    params:
        format=lambda w: TABLES[w.table]["format"],
        n_nodes=lambda w: DATA[TABLES[w.table]["dataset"]]["n_nodes"],
        label=lambda w: "" if TABLES[w.table]["label"] is None else f"--label {TABLES[w.table]['label']}",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    message:
        "Preprocessing {input.raw} into jet graphs"
    shell:
        "python -m hepgraph.stages.prepare_jets --input {input.raw} --format {params.format}"
        " --n-nodes {params.n_nodes} {params.label} --output {output} > {log} 2>&1"


rule prepare_calo:
    input:
        raw=shard_input,
        code=code("stages/prepare_calo"),
    output:
        GRAPHS / "{table}" / "shards" / "{shard}.parquet",
    log:
        LOGS / "prepare_calo" / "{table}" / "{shard}.log",
    benchmark:
        BENCHMARKS / "prepare_calo" / "{table}" / "{shard}.tsv"
    wildcard_constraints:
        table=tables_of("calo_images"),
    params:
        quark_label=lambda w: TABLES[w.table]["quark_label"],
        n_nodes=lambda w: TABLES[w.table]["n_nodes"],
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    message:
        "Preprocessing calorimeter images {input.raw}"
    shell:
        "python -m hepgraph.stages.prepare_calo --input {input.raw} --quark-label {params.quark_label}"
        " --n-nodes {params.n_nodes} --output {output} > {log} 2>&1"


rule prepare_mnist:
    input:
        raw=mnist_raw,
        code=code("stages/prepare_mnist"),
    output:
        GRAPHS / "{table}" / "shards" / "{shard}.parquet",
    log:
        LOGS / "prepare_mnist" / "{table}" / "{shard}.log",
    benchmark:
        BENCHMARKS / "prepare_mnist" / "{table}" / "{shard}.tsv"
    wildcard_constraints:
        table=tables_of("image_graphs"),
    params:
        source=DATA["mnist"]["source"],
        path=mnist_path_option,
        graph=lambda w: TABLES[w.table]["graph"],
        n_shards=DATA["mnist"]["shards"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    message:
        "Building {params.graph} MNIST graphs, shard {wildcards.shard} of {params.n_shards}"
    shell:
        "python -m hepgraph.stages.prepare_mnist --source {params.source} {params.path} --graph {params.graph}"
        " --shard {wildcards.shard} --n-shards {params.n_shards} --output {output} > {log} 2>&1"


rule prepare_tracking:
    input:
        raw=shard_input,
        code=code("stages/prepare_tracking"),
    output:
        GRAPHS / "{table}" / "shards" / "{shard}.parquet",
    log:
        LOGS / "prepare_tracking" / "{table}" / "{shard}.log",
    benchmark:
        BENCHMARKS / "prepare_tracking" / "{table}" / "{shard}.tsv"
    wildcard_constraints:
        table=tables_of("tracking_events"),
    params:
        pt_min=lambda w: TABLES[w.table]["pt_min"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    message:
        "Preprocessing tracking events {input.raw} (particle pT > {params.pt_min} GeV)"
    shell:
        "python -m hepgraph.stages.prepare_tracking --input-dir {input.raw} --pt-min {params.pt_min}"
        " --output {output} > {log} 2>&1"


rule summarize_tracking:
    input:
        splits=expand(GRAPHS / "{{table}}" / "{split}.parquet", split=SPLITS),
        code=code("stages/summarize_tracking"),
    output:
        GRAPHS / "{table}" / "summary.md",
    log:
        LOGS / "summarize_tracking" / "{table}.log",
    benchmark:
        BENCHMARKS / "summarize_tracking" / "{table}.tsv"
    wildcard_constraints:
        table=tables_of("tracking_events"),
    params:
        cuts=DATA["trackml"]["reconstructable"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    message:
        "Counting hits, noise and particles per event of {wildcards.table}"
    shell:
        "python -m hepgraph.stages.summarize_tracking --inputs {input.splits} --title 'Events of {wildcards.table}'"
        " --pt-min {params.cuts[pt_min]} --min-hits {params.cuts[min_hits]} --output {output} > {log} 2>&1"


rule split:
    input:
        shards=lambda w: expand(GRAPHS / w.table / "shards" / "{shard}.parquet", shard=TABLES[w.table]["shards"]),
        code=code("stages/split"),
    output:
        **{split: GRAPHS / "{table}" / f"{split}.parquet" for split in SPLITS},
    log:
        LOGS / "split" / "{table}.log",
    benchmark:
        BENCHMARKS / "split" / "{table}.tsv"
    wildcard_constraints:
        table="|".join(map(re.escape, TABLES)),  # not a table's shards/ (the official files are named as splits)
    params:
        kind=lambda w: TABLES[w.table]["kind"],
        splits=config["splits"],
        stratify=lambda w: f"--stratify {TABLES[w.table]['stratify']}" if TABLES[w.table].get("stratify") else "",
        input_splits=lambda w: " ".join(["--input-splits", *TABLES[w.table]["input_splits"]])
        if TABLES[w.table].get("input_splits") else "",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        ENV
    message:
        "Splitting {wildcards.table} into train/val/test"
    shell:
        "python -m hepgraph.stages.split --kind {params.kind} --inputs {input.shards}"
        " --fractions {params.splits[fractions]} --seed {params.splits[seed]} {params.stratify}"
        " {params.input_splits} --train {output.train} --val {output.val} --test {output.test} > {log} 2>&1"


TARGETS += [report_page(GRAPHS / name / "summary.md", "Data", name,
                        "Events of this tracking table, per split: hits, noise hits (particle id 0), particles with "
                        "hits and reconstructable particles (datasets.trackml.reconstructable: pT and hit cuts) per "
                        "event, mean [min-max], and the share of noise hits. Simulated events are Pythia 8 top pairs "
                        "with pile-up through ACTS Fatras, digitised and with noise as in TrackML; the pt1-like "
                        "variants keep only hits of particles above their pT cut (no noise).")
            for name, table in TABLES.items() if table["kind"] == "tracking_events"]


rule summarize_anomaly_data:
    input:
        splits=list(dict.fromkeys(path for table, _ in anomaly_datasets().values() for path in split_paths(table))),
        code=code("stages/summarize_anomaly_data"),
    output:
        GRAPHS / "anomaly_datasets.md",
    log:
        LOGS / "summarize_anomaly_data.log",
    benchmark:
        BENCHMARKS / "summarize_anomaly_data.tsv"
    params:
        datasets=" ".join(f"--dataset {name} {GRAPHS / table} {'all' if label is None else label}"
                          for name, (table, label) in anomaly_datasets().items()),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    message:
        "Summarising the jets of the anomaly datasets"
    shell:
        "python -m hepgraph.stages.summarize_anomaly_data {params.datasets} --output {output} > {log} 2>&1"


TARGETS += [report_page(GRAPHS / "anomaly_datasets.md", "Data", "anomaly datasets",
                        "The jets of the anomaly thesis's eight datasets (Kluettermann 2021, Table 8.1) side by side: "
                        "jets per split, pT and mass, constituent multiplicity and the share of jets with fewer than "
                        "4 constituents, which the 4-node anomaly models see padded. qcd and top are the toptag "
                        "table's labels 0 and 1; the others are simulated here (datasets.anomaly). Datasets that "
                        "differ only in a trivial feature (pT window, multiplicity) are easy to tell apart for the "
                        "wrong reason: read the cross matrix with this table beside it.")]
