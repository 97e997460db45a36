"""Published IsoFLOP data, downloaded from pinned upstream addresses and verified.

The registry (``data/registry.csv``, shipped as package data) names each external file,
its upstream address pinned to a commit, its sha256 and its citation. Files are fetched
with :mod:`pooch`, checked against the hash and cached; when the environment variable
``SCALING_LAB_DATA`` names a folder, files are read from there instead (an offline
mirror, for example ``../shared/data`` in CI), still checked against the hash. No
external file is committed to the repository.

Every loader returns the fitters' schema (``budget, params, tokens, loss``) plus its
source columns, following two conventions: Epoch's Chinchilla runs take the run's
training FLOP as the budget and ``tokens = FLOP/(6 N)``; Llama 3 points take
``params = budget/(6 tokens)``. The training-run sets without an IsoFLOP design
(``"gemstones"``, ``"olmo_ladder"``, ``"gadre2024"``) take ``budget = 6 N D`` and say
which parameter count ``params`` is (``params_count``; ``params_nonembedding`` beside it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

#: Environment variable naming a local mirror folder of the external files.
MIRROR_VARIABLE = "SCALING_LAB_DATA"
#: Environment variable overriding the download cache folder (pooch's default otherwise).
CACHE_VARIABLE = "SCALING_LAB_CACHE"


class DatasetError(RuntimeError):
    """An external dataset could not be obtained or failed its integrity check."""


@dataclass(frozen=True)
class RegistryEntry:
    """One external file: where it lives upstream, its hash and whom to cite."""

    name: str
    filename: str
    url: str
    sha256: str
    citation: str
    description: str


def project_file(filename: str) -> Path:
    """Path of a project-authored table in ``data/`` (package data ``scaling_lab.data``)."""
    path = Path(str(resources.files("scaling_lab.data").joinpath(filename)))
    if not path.is_file():
        raise FileNotFoundError(f"no project data file {filename!r} (looked in {path.parent})")
    return path


def registry() -> dict[str, RegistryEntry]:
    """The external files this package knows, by dataset name."""
    table = pd.read_csv(project_file("registry.csv"), dtype=str)
    return {row["name"]: RegistryEntry(**row) for row in table.to_dict("records")}


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted([*_LOADERS, *_SETS])


def citation(name: str) -> str:
    """Whom to cite for dataset ``name``."""
    if name in _SETS:
        return _entry(_set_files(name)[0]).citation
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    return _entry(_LOADERS[name][0]).citation


def fetch(name: str) -> Path:
    """Local path of registry file ``name``: from the mirror if set, else downloaded and cached.

    Raises :class:`DatasetError` when the file cannot be had (naming the file, its
    address and the variable to set) or when its sha256 does not match (nothing is
    cached then).
    """
    entry = _entry(name)
    mirror = os.environ.get(MIRROR_VARIABLE)
    if mirror:
        path = Path(mirror).expanduser() / entry.filename
        if not path.is_file():
            raise DatasetError(
                f"{MIRROR_VARIABLE}={mirror} has no {entry.filename}; put the file from "
                f"{entry.url} there, or unset {MIRROR_VARIABLE} to download it"
            )
        _check_hash(path, entry, where=f"the mirror {mirror}")
        return path
    return _download(entry)


def _download(entry: RegistryEntry) -> Path:
    import pooch

    cache = Path(os.environ.get(CACHE_VARIABLE) or pooch.os_cache("scaling_lab"))
    relative = Path(entry.filename)  # files of a multi-file set live in a sub-folder
    try:
        path = pooch.retrieve(
            url=entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=relative.name,
            path=cache / relative.parent,
            progressbar=False,
        )
    except ValueError as exc:
        if "hash" not in str(exc).lower():
            raise DatasetError(
                f"could not download {entry.filename} from {entry.url}: {exc}"
            ) from None
        # pooch deletes a download that fails its hash check, so nothing stays cached.
        raise DatasetError(
            f"{entry.filename} downloaded from {entry.url} failed its sha256 check "
            f"(expected {entry.sha256}); nothing was cached ({exc})"
        ) from None
    except Exception as exc:  # network failures come in many exception types
        raise DatasetError(
            f"could not download {entry.filename} from {entry.url} "
            f"({type(exc).__name__}: {exc}); with no network, set {MIRROR_VARIABLE} to a "
            f"folder that holds {entry.filename}"
        ) from None
    return Path(path)


def _check_hash(path: Path, entry: RegistryEntry, where: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry.sha256:
        raise DatasetError(
            f"{entry.filename} in {where} has sha256 {digest}, expected {entry.sha256} "
            f"(the file at {entry.url}); replace it with the published file"
        )


def _entry(name: str) -> RegistryEntry:
    entries = registry()
    if name not in entries:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(entries))}")
    return entries[name]


def load(name: str) -> pd.DataFrame:
    """Dataset ``name`` as a DataFrame: ``budget, params, tokens, loss`` plus source columns."""
    if name in _SETS:
        return _SETS[name]()
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    file_name, reader = _LOADERS[name]
    return reader(pd.read_csv(fetch(file_name)))


def _chinchilla_epoch(raw: pd.DataFrame) -> pd.DataFrame:
    params = raw["Model Size"].astype(float)
    flop = raw["Training FLOP"].astype(float)
    return pd.DataFrame(
        {
            "budget": flop,
            "params": params,
            "tokens": flop / (6.0 * params),
            "loss": raw["loss"].astype(float),
            "source": "epochai_chinchilla",
        }
    )


def _llama3(raw: pd.DataFrame) -> pd.DataFrame:
    budget = raw["compute_budget"].astype(float)
    tokens = raw["training_tokens"].astype(float)
    return pd.DataFrame(
        {
            "budget": budget,
            "params": budget / (6.0 * tokens),
            "tokens": tokens,
            "loss": raw["validation_loss"].astype(float),
            "source": "llama_3",
        }
    )


def _consolidated(raw: pd.DataFrame) -> pd.DataFrame:
    first = ["budget", "params", "tokens", "loss"]
    return raw[first + [c for c in raw.columns if c not in first]].reset_index(drop=True)


_LOADERS: dict[str, tuple[str, Callable[[pd.DataFrame], pd.DataFrame]]] = {
    "chinchilla_epoch": ("chinchilla_epoch", _chinchilla_epoch),
    "llama3": ("llama3", _llama3),
    "isoflops": ("isoflops", _consolidated),
    "isoflops_raw": ("isoflops_raw", _consolidated),
}


# --- training-run sets without a fixed IsoFLOP design ----------------------------------
#
# Each returns the fitters' schema with ``budget = 6 * params * tokens`` (each run is its
# own budget unless runs share a compute), ``params`` the total parameter count where the
# source gives one, ``params_nonembedding`` beside it, ``params_count`` naming the count
# used, and ``flop_convention`` saying how the budget is counted (``flops_reported``
# holds the source's own FLOP count where it has one).

#: Gemstones' vocabulary size: its "no_embeds" count subtracts one 50304 x width matrix.
GEMSTONES_VOCAB = 50304
#: OLMo ladder: the in-loop validation loss used (C4-en, nats per token).
OLMO_LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"
#: Gadre et al.: the evaluation used (their C4 validation shard, nats per token).
GADRE_VAL_DATA = "c4_val"


def _set_files(prefix: str) -> list[str]:
    return sorted(name for name in registry() if name.startswith(f"{prefix}/"))


def _schema(params, params_nonembedding, tokens, loss, count: str, source: str) -> dict:
    params = pd.Series(params, dtype=float).reset_index(drop=True)
    tokens = pd.Series(tokens, dtype=float).reset_index(drop=True)
    return {
        "budget": 6.0 * params * tokens,
        "params": params,
        "tokens": tokens,
        "loss": pd.Series(loss, dtype=float).reset_index(drop=True),
        "params_nonembedding": pd.Series(params_nonembedding, dtype=float).reset_index(drop=True),
        "params_count": count,
        "flop_convention": "6 * params * tokens",
        "source": source,
    }


def _gemstones() -> pd.DataFrame:
    """Gemstones' cooled-down runs: one end-of-schedule loss per (shape, token count)."""
    raw = pd.read_json(fetch("gemstones/wandb_df_for_fitting_cool_end"), lines=True)
    nonemb = raw["params_active_precise"] - GEMSTONES_VOCAB * raw["width"]
    out = _schema(
        raw["params_active_precise"], nonemb, raw["tokens"], raw["final_loss"], "total", "gemstones"
    )
    return pd.DataFrame(out | {"run": raw["run_name"].to_numpy(), "width": raw["width"].to_numpy()})


def _olmo_ladder() -> pd.DataFrame:
    """OLMo's ladder: the last (end-of-schedule) row of each run's evaluation history."""
    rows = []
    for name in _set_files("olmo_ladder"):
        last = pd.read_csv(fetch(name)).iloc[-1]
        run = name.split("/", 1)[1]
        rows.append(
            {
                "run": run,
                "size": run.split("-")[0],
                "rerun": run.endswith("-rerun"),
                "params": OLMO_NONEMBEDDING[run.split("-")[0]],
                "tokens": float(last["throughput/total_tokens"]),
                "loss": float(last[OLMO_LOSS_COLUMN]),
                "flops_reported": 1e9 * float(last["throughput/total_training_Gflops"]),
            }
        )
    raw = pd.DataFrame(rows)
    out = _schema(
        raw["params"],
        raw["params"],
        raw["tokens"],
        raw["loss"],
        "non-embedding (the ladder publishes no total count)",
        "olmo_ladder",
    )
    keep = raw[["run", "size", "rerun", "flops_reported"]]
    return pd.DataFrame(out | {c: keep[c].to_numpy() for c in keep.columns})


#: OLMo ladder sizes to non-embedding parameter counts (``MODEL_PARAMS`` in its code).
OLMO_NONEMBEDDING: dict[str, int] = {
    "190M": 190_354_176,
    "370M": 371_262_464,
    "760M": 758_220_288,
    "1B": 1_279_395_840,
    "3B": 3_169_537_280,
}


def _gadre2024() -> pd.DataFrame:
    """Gadre et al.'s 104 models: final C4-validation loss, total and non-embedding counts."""
    import json

    rows = []
    for name in _set_files("gadre2024"):
        record = json.loads(fetch(name).read_text())
        hp = record["hyperparameters"]
        loss = [r["loss"] for r in record["results"] if GADRE_VAL_DATA in str(r["val_data"])]
        if len(loss) != 1:
            raise DatasetError(f"{name}: expected one {GADRE_VAL_DATA} evaluation, got {len(loss)}")
        rows.append(
            {
                "model": record["name"],
                "train_set": record["dataset_name"],
                "multiplier": float(hp["chinchilla_multiplier"]),
                "params": float(hp["params"]),
                "params_nonembedding": float(hp["params_no_embed"]),
                "tokens": float(hp["tokens"]),
                "loss": float(loss[0]),
            }
        )
    raw = pd.DataFrame(rows)
    out = _schema(
        raw["params"], raw["params_nonembedding"], raw["tokens"], raw["loss"], "total", "gadre2024"
    )
    keep = raw[["model", "train_set", "multiplier"]]
    return pd.DataFrame(out | {c: keep[c].to_numpy() for c in keep.columns})


_SETS: dict[str, Callable[[], pd.DataFrame]] = {
    "gemstones": _gemstones,
    "olmo_ladder": _olmo_ladder,
    "gadre2024": _gadre2024,
}


def published_fits() -> pd.DataFrame:
    """Published loss-surface and allocation fits with citations (``data/published_fits.csv``).

    ``kind`` is ``"surface"`` (all five parameters published) or ``"allocation"`` (only
    the exponents ``a, b`` of ``N*`` and ``D*`` against compute). The exponent ratio
    ``alpha/beta`` equals ``b/a`` in both cases, so it is filled for every row.
    """
    table = pd.read_csv(project_file("published_fits.csv")).set_index("name")
    surface = table["kind"] == "surface"
    total = table["alpha"] + table["beta"]
    table.loc[surface, "a"] = table["beta"] / total
    table.loc[surface, "b"] = table["alpha"] / total
    table["alpha/beta"] = table["b"] / table["a"]
    return table


def experiments(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per experiment of the consolidated file: source, dataset, runs, budgets, flagged."""
    df = load("isoflops") if df is None else df
    return (
        df.groupby("experiment", sort=True)
        .agg(
            source=("source", "first"),
            dataset=("dataset", "first"),
            runs=("loss", "size"),
            budgets=("budget", "nunique"),
            flagged=("outlier", "sum"),
        )
        .astype({"flagged": int})
    )


#: Readable names of the consolidated file's IsoFLOP experiments, for tables and figures.
EXPERIMENT_LABELS: dict[str, str] = {
    "epochai_chinchilla__massivetext__chinchilla": "Chinchilla (Epoch)",
    "ml_scalefit__massivetext__chinchilla": "Chinchilla (ml-scalefit)",
    "llama_3__raw_loss": "Llama 3 (raw loss)",
    "llama_3__exp_loss": "Llama 3 (exp loss)",
    "misfitting__fineweb_c4__transformer": "(Mis)fitting",
    "marin_202603__comma__llama_2": "Marin (comma)",
    "marin_202603__dclm__llama_2": "Marin (DCLM)",
    "marin_202603__nemotron__llama_2": "Marin (Nemotron)",
}


def set_label(name: str) -> str:
    """A readable name for a backtest set: ``"<experiment> (no outliers)"`` or a dataset."""
    base, _, rest = name.partition(" (")
    label = EXPERIMENT_LABELS.get(base, base)
    return f"{label}, flagged runs removed" if rest.startswith("no outliers") else label
