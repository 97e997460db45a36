"""Published figures for Cerebras-GPT and Pythia, read from the project's ``data/`` tables.

The parameter counts in the vendors' size labels are nominal ("13B" is 12.85e9 total
parameters). :func:`param_counts` derives the exact counts from each architecture, so the
fits never use a rounded label; :func:`load_families` checks that the stored derived
columns agree with that formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..datasets import project_file

FAMILIES_FILE = "model_families.csv"
PYTHIA_SCORES_FILE = "pythia_zero_shot_step143000.csv"
SOURCES_FILE = "model_families_sources.csv"

GPT2_VOCAB = 50257  # Cerebras-GPT: GPT-2 BPE, tied input/output embedding
NEOX_VOCAB = 50304  # Pythia: GPT-NeoX-20B tokenizer padded to 50304, untied embed_in/out
PYTHIA_PADDED_VOCAB = {6.9e9: 50432, 12e9: 50688}  # the two largest pad further (model cards)
CEREBRAS_POSITIONS = 2048  # learned position embeddings; Pythia uses rotary (no parameters)
PYTHIA_TOKENS_EXACT = 143_000 * 2_097_152  # steps × tokens per step
# Model-card training tokens; the shared table rounds the two smallest (2.2e9, 5.1e9).
CEREBRAS_TOKENS = {
    "111M": 2.22e9,
    "256M": 5.12e9,
    "590M": 1.18e10,
    "1.3B": 2.63e10,
    "2.7B": 5.30e10,
    "6.7B": 1.33e11,
    "13B": 2.57e11,
}

# (layers, d_model) from the model cards.
ARCHITECTURES: dict[str, dict[str, tuple[int, int]]] = {
    "Cerebras-GPT": {
        "111M": (10, 768),
        "256M": (14, 1088),
        "590M": (18, 1536),
        "1.3B": (24, 2048),
        "2.7B": (32, 2560),
        "6.7B": (32, 4096),
        "13B": (40, 5120),
    },
    "Pythia": {
        "70M": (6, 512),
        "160M": (12, 768),
        "410M": (24, 1024),
        "1B": (16, 2048),
        "1.4B": (24, 2048),
        "2.8B": (32, 2560),
        "6.9B": (32, 4096),
        "12B": (36, 5120),
    },
}


@dataclass(frozen=True)
class Benchmark:
    """A zero-shot benchmark: its column, the accuracy of guessing, and its test-set size."""

    name: str
    label: str
    chance: float
    items: int


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("lambada", "LAMBADA", 0.0, 5153),
        Benchmark("hellaswag", "HellaSwag", 0.25, 10042),
        Benchmark("piqa", "PIQA", 0.5, 1838),
        Benchmark("winogrande", "WinoGrande", 0.5, 1267),
        Benchmark("arc_easy", "ARC-Easy", 0.25, 2376),
        Benchmark("arc_challenge", "ARC-Challenge", 0.25, 1172),
        Benchmark("openbookqa", "OpenBookQA", 0.25, 500),
    )
}

# Pythia eval-file task names for the benchmarks both families share.
PYTHIA_TASKS = {
    "lambada": "lambada_openai",
    "piqa": "piqa",
    "winogrande": "winogrande",
    "arc_easy": "arc_easy",
    "arc_challenge": "arc_challenge",
}


def param_counts(
    family: str, layers: int, d_model: int, vocab: int | None = None
) -> tuple[int, int]:
    """Exact (total, non-embedding) parameters of one model of ``family``.

    Every block of both families has 12·d² + 13·d parameters (attention and MLP weights
    and biases, two layer norms); a final layer norm adds 2·d. Embeddings are excluded
    from the non-embedding count, as in Kaplan et al. (2020). ``vocab`` overrides the
    family's (padded) vocabulary size.
    """
    if layers < 1 or d_model < 1:
        raise ValueError(f"layers and d_model must be positive, got {layers}, {d_model}")
    non_embedding = layers * (12 * d_model**2 + 13 * d_model) + 2 * d_model
    if family == "Cerebras-GPT":
        embedding = ((vocab or GPT2_VOCAB) + CEREBRAS_POSITIONS) * d_model
    elif family == "Pythia":
        embedding = 2 * (vocab or NEOX_VOCAB) * d_model
    else:
        raise ValueError(f"unknown family {family!r}; expected one of {sorted(ARCHITECTURES)}")
    return non_embedding + embedding, non_embedding


def load_families() -> pd.DataFrame:
    """The 15-row table of published figures, with exact counts checked against the architecture.

    Adds columns ``N_nominal``, ``N_total`` and ``N_nonembedding`` (exact counts).
    """
    df = pd.read_csv(project_file(FAMILIES_FILE))
    required = {"family", "model", "params", "training_tokens", "pile_test_loss"}
    missing = required - set(df.columns)
    if missing:
        raise ValueError(f"{FAMILIES_FILE}: missing columns {sorted(missing)}")
    rows = []
    for i, row in df.iterrows():
        arch = ARCHITECTURES.get(row["family"], {}).get(row["model"])
        if arch is None:
            raise ValueError(
                f"{FAMILIES_FILE} row {i}: unknown model {row['family']} {row['model']}"
            )
        vocab = PYTHIA_PADDED_VOCAB.get(row["params"]) if row["family"] == "Pythia" else None
        total, non_emb = param_counts(row["family"], *arch, vocab=vocab)
        stored = (row["params_total_derived"], row["non_embedding_params_derived"])
        if stored != (total, non_emb):
            raise ValueError(
                f"{FAMILIES_FILE} row {i} ({row['model']}): derived counts {stored} differ "
                f"from the architecture formula {(total, non_emb)}"
            )
        rows.append((total, non_emb))
    out = df.copy()
    out["N_nominal"] = df["params"].astype(float)
    out["N_total"] = np.array([r[0] for r in rows], dtype=float)
    out["N_nonembedding"] = np.array([r[1] for r in rows], dtype=float)
    return out


def cerebras() -> pd.DataFrame:
    """Cerebras-GPT: sizes, exact tokens (from the model cards), Pile test loss, accuracies."""
    df = load_families()
    df = df[df["family"] == "Cerebras-GPT"].reset_index(drop=True)
    out = df[["model", "N_nominal", "N_total", "N_nonembedding", "pile_test_loss"]].copy()
    out = out.rename(columns={"pile_test_loss": "loss"})
    out["tokens"] = out["model"].map(CEREBRAS_TOKENS).astype(float)
    for name in BENCHMARKS:
        out[name] = df[f"{name}_acc"].astype(float)
    return out


def pythia_scores() -> pd.DataFrame:
    """Pythia zero-shot scores at step 143000 at full precision (acc, acc_norm, standard errors)."""
    df = pd.read_csv(project_file(PYTHIA_SCORES_FILE))
    needed = {"model", "task", "acc", "acc_stderr", "acc_norm", "acc_norm_stderr"}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"{PYTHIA_SCORES_FILE}: missing columns {sorted(missing)}")
    return df


def pythia(arc_metric: str = "acc") -> pd.DataFrame:
    """Pythia sizes (exact counts, exact tokens) and accuracies with their published errors.

    ``arc_metric`` picks raw ``acc`` (comparable with Cerebras-GPT's table) or ``acc_norm``
    for ARC-Challenge; every other benchmark uses raw ``acc``.
    """
    if arc_metric not in ("acc", "acc_norm"):
        raise ValueError(f"arc_metric must be 'acc' or 'acc_norm', got {arc_metric!r}")
    fam = load_families()
    fam = fam[fam["family"] == "Pythia"].reset_index(drop=True)
    scores = pythia_scores()
    out = fam[["model", "N_nominal", "N_total", "N_nonembedding"]].copy()
    out["tokens"] = float(PYTHIA_TOKENS_EXACT)
    for name, task in PYTHIA_TASKS.items():
        metric = arc_metric if name == "arc_challenge" else "acc"
        part = scores[scores["task"] == task].set_index("model").reindex(out["model"])
        if part[metric].isna().any():
            raise ValueError(f"{PYTHIA_SCORES_FILE}: {task} {metric} missing for some sizes")
        out[name] = part[metric].to_numpy(float)
        out[f"{name}_se"] = part[f"{metric}_stderr"].to_numpy(float)
    return out


def binomial_se(acc: np.ndarray, items: int) -> np.ndarray:
    """Binomial standard error of an accuracy measured on ``items`` questions.

    Clipped away from 0 and 1 by half a question so that a perfect or zero score still
    gets a finite weight.
    """
    p = np.clip(np.asarray(acc, float), 0.5 / items, 1 - 0.5 / items)
    return np.sqrt(p * (1 - p) / items)


def sources() -> pd.DataFrame:
    """Where each column of each family's table comes from (paper, file or URL, caveat)."""
    return pd.read_csv(project_file(SOURCES_FILE))
