"""The anomaly family's run registry (Kluettermann 2021): graph autoencoders (GAEs) and oneoff ensembles trained on
one dataset's jets each, for every seed. The `directions` backgrounds (QCD and top: the invertibility table) get every
GAE and every oneoff input; with `cross`, every other dataset of anomaly_datasets() gets the oneoff ensemble on
`cross_inputs` (raw inputs, or a GAE's latent space, that GAE included), for the 8 x 8 cross matrix. Rules in
anomaly.smk."""

ANOMALY = config["anomaly"]
ANOMALY_DIR = RESULTS / "anomaly"
ANOMALY_SETS = anomaly_datasets()  # {dataset: (table, label)}
GAE_MODELS = ANOMALY["gae"]["models"]
CROSS_INPUTS = ANOMALY["cross_inputs"]
CROSS_METHOD = f"oneoff_{CROSS_INPUTS}"


def check_anomaly_config():
    """Stop with the key to fix when the anomaly section names a model or dataset that does not exist."""
    names = {"anomaly.cross_inputs": [CROSS_INPUTS], "anomaly.oneoff.inputs": ANOMALY["oneoff"]["inputs"],
             "anomaly.baselines.latent_of": ANOMALY["baselines"]["latent_of"]}
    for key, values in names.items():
        unknown = sorted(set(values) - {*GAE_MODELS, *(["raw"] if key != "anomaly.baselines.latent_of" else [])})
        if unknown:
            raise WorkflowError(f"{key} names {unknown}, which are not GAE models; use names from anomaly.gae.models "
                                f"({sorted(GAE_MODELS)}){' or raw' if key != 'anomaly.baselines.latent_of' else ''}")
    missing = sorted(set(ANOMALY["directions"]) - set(ANOMALY_SETS))
    if missing:
        raise WorkflowError(f"anomaly.directions names {missing}, which are not datasets in use "
                            f"({sorted(ANOMALY_SETS)}); add their processes to datasets.anomaly.processes")


check_anomaly_config()
ANOMALY_BACKGROUNDS = list(dict.fromkeys([*ANOMALY["directions"], *(ANOMALY_SETS if ANOMALY["cross"] else [])]))


def anomaly_models(background):
    """(GAE names, oneoff input names) trained on ``background``."""
    if background in ANOMALY["directions"]:
        return list(GAE_MODELS), list(ANOMALY["oneoff"]["inputs"])
    return [CROSS_INPUTS] if CROSS_INPUTS in GAE_MODELS else [], [CROSS_INPUTS]


def anomaly_split(split, background=None):
    """Input function (or path, given ``background``): a background's table file of ``split``."""
    if background is not None:
        return str(GRAPHS / ANOMALY_SETS[background][0] / f"{split}.parquet")
    return lambda w: anomaly_split(split, w.bkg)


def anomaly_label(wildcards):
    label = ANOMALY_SETS[wildcards.bkg][1]
    return "none" if label is None else label


def gae_settings(wildcards):
    """JSON of the GAEConfig of GAE model ``wildcards.gae``."""
    gae = ANOMALY["gae"]
    keys = ("hidden", "layers", "k", "activation", "normalisation", "loss", "ln_power", "lr")
    image = {f"image_{k}": v for k, v in gae["image"].items()}
    return json.dumps({**GAE_MODELS[wildcards.gae], **{k: gae[k] for k in keys}, **image})


def oneoff_source(wildcards):
    """The GAE model a oneoff ensemble trains on ({} for raw inputs)."""
    if wildcards.inputs == "raw":
        return {}
    return {"gae": str(ANOMALY_DIR / wildcards.bkg / f"seed{wildcards.seed}" / wildcards.inputs / "model.pt")}


def oneoff_source_option(wildcards, input):
    if "gae" in input.keys():
        return f"--gae {input.gae}"
    return f"--n-nodes {ANOMALY['oneoff']['raw_nodes']} --normalisation {ANOMALY['oneoff']['raw_normalisation']}"


def score_inputs(wildcards):
    """The models trained on a background for one seed and the test tables of every dataset."""
    gaes, inputs = anomaly_models(wildcards.bkg)
    run = ANOMALY_DIR / wildcards.bkg / f"seed{wildcards.seed}"
    return {"gaes": [str(run / g / "model.pt") for g in gaes],
            "oneoffs": [str(run / f"oneoff_{i}" / "model.pt") for i in inputs],
            "tests": sorted({anomaly_split("test", d) for d in ANOMALY_SETS})}


def score_options(wildcards):
    gaes, inputs = anomaly_models(wildcards.bkg)
    run = ANOMALY_DIR / wildcards.bkg / f"seed{wildcards.seed}"
    datasets = " ".join(f"--dataset {d} {anomaly_split('test', d)} {'none' if label is None else label}"
                        for d, (_, label) in ANOMALY_SETS.items())
    models = " ".join(f"--gae {g} {run / g / 'model.pt'}" for g in gaes)
    oneoffs = " ".join(f"--oneoff oneoff_{i} {run / f'oneoff_{i}' / 'model.pt'} {i}" for i in inputs)
    latent = " ".join(g for g in ANOMALY["baselines"]["latent_of"] if g in gaes)
    return f"{datasets} {models} {oneoffs}" + (f" --latent-baselines {latent}" if latent else "")


ANOMALY_SCORES = [str(ANOMALY_DIR / bkg / f"seed{seed}" / "scores.npz")
                  for bkg in ANOMALY_BACKGROUNDS for seed in ANOMALY["seeds"]]
ANOMALY_PLOT_SCORES = [str(ANOMALY_DIR / bkg / f"seed{ANOMALY['seeds'][0]}" / "scores.npz")
                       for bkg in ANOMALY["directions"]]
ANOMALY_CURVES = {f"{gae}/{bkg}": str(ANOMALY_DIR / bkg / f"seed{ANOMALY['seeds'][0]}" / gae / "metrics.csv")
                  for bkg in ANOMALY["directions"] for gae in GAE_MODELS}
ANOMALY_PLOTS = ("roc", "scores", "auc_maps", "cross_matrix", "training_curves")

TARGETS += [str(ANOMALY_DIR / "metrics.json")]
TARGETS += [str(ANOMALY_DIR / "plots" / f"{name}.png") for name in ANOMALY_PLOTS]
TARGETS.append(report_page(ANOMALY_DIR / "summary.md", "Anomaly detection", "summary",
                           "AUCs of every detector trained on QCD (top as anomaly) and on top (QCD as anomaly), mean "
                           "and standard deviation over seeds, beside the thesis's numbers and the baselines (jet "
                           "width, multiplicity, scikit-learn detectors); below, the cross matrix over the datasets "
                           "and its count of invertible pairs. A detector is invertible on a pair when both AUCs "
                           "exceed 0.5; a trivial feature such as the jet width is not."))
