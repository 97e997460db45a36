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
``params = budget/(6 tokens)``.
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
    return sorted(_LOADERS)


def citation(name: str) -> str:
    """Whom to cite for dataset ``name``."""
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
    try:
        path = pooch.retrieve(
            url=entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=entry.filename,
            path=cache,
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
