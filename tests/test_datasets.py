"""The datasets registry: mirror, download, hash check and the fitters' schema."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl
from scaling_lab import datasets

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason="the offline mirror ../shared/data is not beside this checkout"
)


LADDERS = ("gemstones", "olmo_ladder", "gadre2024")


@pytest.fixture
def mirror(monkeypatch):
    monkeypatch.setenv(datasets.MIRROR_VARIABLE, str(MIRROR))
    return MIRROR


def test_registry_names_and_hashes_are_well_formed():
    entries = datasets.registry()
    single = {"chinchilla_epoch", "llama3", "isoflops", "isoflops_raw"}
    assert single <= set(entries)
    sets = {prefix: [n for n in entries if n.startswith(f"{prefix}/")] for prefix in LADDERS}
    # Three Gemstones files; 25 OLMo (N, D) runs plus 5 reruns; Gadre et al.'s 104 models.
    assert {k: len(v) for k, v in sets.items()} == {
        "gemstones": 3,
        "olmo_ladder": 30,
        "gadre2024": 104,
    }
    assert set(entries) == single | {n for v in sets.values() for n in v}
    for entry in entries.values():
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
        # Pinned to a commit: a 40-hex path segment, never a branch name.
        assert any(len(part) == 40 for part in entry.url.split("/")), entry.url
        assert entry.citation


def test_available_lists_loadable_names():
    assert set(datasets.available()) >= {"chinchilla_epoch", "llama3", "isoflops"}


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*llama3"):
        datasets.load("nope")


@needs_mirror
def test_mirror_files_match_the_registry_hashes(mirror):
    for entry in datasets.registry().values():
        digest = hashlib.sha256((mirror / entry.filename).read_bytes()).hexdigest()
        assert digest == entry.sha256, entry.filename


@needs_mirror
def test_chinchilla_epoch_follows_the_conventions(mirror):
    df = datasets.load("chinchilla_epoch")
    raw = pd.read_csv(mirror / "epoch_chinchilla_svg_extracted_data.csv")
    assert len(df) == 245
    np.testing.assert_array_equal(df["budget"], raw["Training FLOP"])
    np.testing.assert_allclose(6 * df["params"] * df["tokens"], df["budget"], rtol=1e-14)


@needs_mirror
def test_llama3_follows_the_conventions(mirror):
    df = datasets.load("llama3")
    assert len(df) == 133 and df["budget"].nunique() == 10
    np.testing.assert_allclose(6 * df["params"] * df["tokens"], df["budget"], rtol=1e-14)
    assert df["budget"].min() == 6e18 and df["budget"].max() == 1e22


@needs_mirror
def test_consolidated_file_has_qc_columns_and_fits(mirror):
    df = datasets.load("isoflops")
    assert len(df) == 947
    assert {"outlier", "reason", "source", "dataset", "experiment"} <= set(df.columns)
    assert df["outlier"].dtype == bool
    assert set(df.loc[~df["outlier"], "reason"]) == {"none"}
    llama = df[(df["experiment"] == "llama_3__raw_loss") & ~df["outlier"]]
    fit = sl.fit_approach2(llama)  # the schema is the fitters' schema
    assert 0.3 < fit.b < 0.7
    table = datasets.experiments(df)
    assert table["runs"].sum() == 947 and len(table) == 8


def test_mirror_without_the_file_names_file_address_and_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.MIRROR_VARIABLE, str(tmp_path))
    entry = datasets.registry()["llama3"]
    with pytest.raises(datasets.DatasetError) as info:
        datasets.load("llama3")
    message = str(info.value)
    assert entry.filename in message and entry.url in message
    assert datasets.MIRROR_VARIABLE in message


def test_corrupt_mirror_file_fails_the_hash_check(monkeypatch, tmp_path):
    entry = datasets.registry()["llama3"]
    (tmp_path / entry.filename).write_text(
        "compute_budget,training_tokens,validation_loss\n1,2,3\n"
    )
    monkeypatch.setenv(datasets.MIRROR_VARIABLE, str(tmp_path))
    with pytest.raises(datasets.DatasetError, match="sha256"):
        datasets.load("llama3")


@pytest.fixture
def upstream(monkeypatch, tmp_path):
    """Serve a folder over HTTP on 127.0.0.1 and point the llama3 entry at it."""
    folder = tmp_path / "upstream"
    folder.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/llama3.csv"
    real = datasets.registry

    def patched():
        entries = real()
        entries["llama3"] = dataclasses.replace(entries["llama3"], url=url)
        return entries

    monkeypatch.setattr(datasets, "registry", patched)
    monkeypatch.delenv(datasets.MIRROR_VARIABLE, raising=False)
    monkeypatch.setenv(datasets.CACHE_VARIABLE, str(tmp_path / "cache"))
    yield folder / "llama3.csv", tmp_path / "cache" / "llama3_isoflops_points.csv"
    server.shutdown()


@needs_mirror
def test_download_verifies_and_caches(upstream):
    served, cached = upstream
    good = (MIRROR / "llama3_isoflops_points.csv").read_bytes()
    served.write_bytes(good)
    assert len(datasets.load("llama3")) == 133
    assert cached.read_bytes() == good
    served.unlink()  # a second load comes from the cache, not the network
    assert len(datasets.load("llama3")) == 133


def test_download_hash_mismatch_caches_nothing(upstream):
    served, cached = upstream
    served.write_bytes(b"not,the,published,file\n")
    with pytest.raises(datasets.DatasetError, match="sha256") as info:
        datasets.load("llama3")
    assert "nothing was cached" in str(info.value)
    assert not cached.exists() and not any(cached.parent.glob("*"))


def test_no_network_and_no_mirror_names_file_address_and_variable(monkeypatch, tmp_path):
    entry = datasets.registry()["llama3"]
    monkeypatch.delenv(datasets.MIRROR_VARIABLE, raising=False)
    monkeypatch.setenv(datasets.CACHE_VARIABLE, str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise ConnectionError("network is unreachable")

    monkeypatch.setattr("pooch.retrieve", offline)
    with pytest.raises(datasets.DatasetError) as info:
        datasets.load("llama3")
    message = str(info.value)
    assert entry.filename in message and entry.url in message
    assert datasets.MIRROR_VARIABLE in message


def test_published_fits_table_has_citations_and_ratios():
    table = datasets.published_fits()
    assert table["citation"].notna().all() and table["bibkey"].notna().all()
    chin = table.loc["hoffmann2022"]
    assert chin["alpha/beta"] == pytest.approx(0.34 / 0.28, rel=1e-12)
    surfaces = table[table["kind"] == "surface"]
    np.testing.assert_allclose(surfaces["a"] + surfaces["b"], 1.0, rtol=1e-14)
    assert (table["alpha/beta"] < 1).any() and (table["alpha/beta"] > 1).any()


def test_project_file_is_reachable_from_an_installed_copy(tmp_path):
    """The package data resolves through importlib.resources, not the checkout layout."""
    path = datasets.project_file("registry.csv")
    assert path.is_file() and path.parent.name == "data"
    with pytest.raises(FileNotFoundError, match="no project data file"):
        datasets.project_file("missing.csv")
    copy = tmp_path / "copy.csv"
    shutil.copy(path, copy)
    assert pd.read_csv(copy).shape[0] == len(datasets.registry())


@needs_mirror
@pytest.mark.parametrize(
    ("name", "rows", "count"),
    [
        ("gemstones", 199, "total"),
        ("olmo_ladder", 30, "non-embedding (the ladder publishes no total count)"),
        ("gadre2024", 104, "total"),
    ],
)
def test_ladders_follow_the_schema_and_say_which_counts_they_use(mirror, name, rows, count):
    df = datasets.load(name)
    assert list(df.columns[:4]) == ["budget", "params", "tokens", "loss"] and len(df) == rows
    assert (df["params_count"] == count).all()
    assert (df["flop_convention"] == "6 * params * tokens").all()
    assert np.allclose(df["budget"], 6 * df["params"] * df["tokens"], rtol=1e-15)
    assert (df["params_nonembedding"] <= df["params"]).all()
    assert df[["params", "tokens", "loss"]].gt(0).all().all()
    assert datasets.citation(name) and name in datasets.available()


@needs_mirror
def test_ladder_values_match_the_manifest(mirror):
    """Spot values from ../shared/data/MANIFEST.md (its per-file descriptions)."""
    olmo = datasets.load("olmo_ladder").set_index("run")
    assert olmo.loc["190M-0.5xC", "loss"] == pytest.approx(3.7475, abs=5e-5)
    assert olmo.loc["3B-10xC", "tokens"] == pytest.approx(6.339e11, rel=1e-3)
    assert olmo.loc["3B-10xC", "flops_reported"] == pytest.approx(1.456e22, rel=1e-3)
    assert olmo.loc["1B-1xC", "params"] == 1_279_395_840 and olmo["rerun"].sum() == 5
    gadre = datasets.load("gadre2024").set_index("model")
    row = gadre.loc["rw_original-d=96_l=8_h=4-0.25"]
    assert (row["params"], row["params_nonembedding"]) == (10_569_312, 5_727_840)
    assert row["loss"] == pytest.approx(6.0254, abs=5e-5) and row["tokens"] == 52_846_560
    # Four small sizes at eight multipliers (C4 lacks 411M at 32x), a 1.4B at 1x and one
    # over-trained multiple, and a 6.9B at 1x, per training set (MANIFEST.md).
    sizes = {"c4_original": 34, "rpj": 35, "rw_original": 35}
    assert gadre.groupby("train_set").size().to_dict() == sizes
    gem = datasets.load("gemstones")
    assert gem["loss"].min() == pytest.approx(2.51, abs=5e-3)
    assert gem["loss"].max() == pytest.approx(3.51, abs=5e-3)
    assert np.allclose(gem["params"] - gem["params_nonembedding"], 50304 * gem["width"])


@needs_mirror
@pytest.mark.parametrize("name", LADDERS)
def test_ladders_fit_with_squared_and_huber_vpnls(mirror, name):
    df = datasets.load(name)
    if name == "gadre2024":
        df = df[df["train_set"] == "rw_original"]
    from scaling_lab.fitting.robust import huber

    fits = {loss: sl.fit_vpnls(df, loss=loss) for loss in ("squared", "huber")}
    for loss, fit in fits.items():
        assert fit.converged and 0.05 < fit.alpha < 0.95 and 0.05 < fit.beta < 0.95, (loss, fit)

    def objective(fit):
        r = df["loss"] - fit.loss(df["params"], df["tokens"])
        return huber(r.to_numpy(), 1e-3).sum()

    # Each fit is the best of the two on its own objective.
    assert fits["squared"].rss <= fits["huber"].rss
    assert objective(fits["huber"]) <= objective(fits["squared"])


@needs_mirror
def test_olmo_ladder_fits_end_to_end_through_the_cli(mirror, tmp_path, capsys):
    from scaling_lab.cli import main

    path = tmp_path / "olmo.csv"
    datasets.load("olmo_ladder")[["params", "tokens", "loss"]].to_csv(path, index=False)
    status = main(["fit", str(path), "--bootstrap", "50", "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 0 and err == "", err
    assert "30 runs" in out and "not an IsoFLOP grid" in out
