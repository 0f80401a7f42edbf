"""The data sets this project reads, where to download them, and a verified, atomic fetch.

Each :class:`DataSet` names its folder under the data directory, its files with their canonical download
locations, byte sizes and sha256 (the provenance is in ``mdlm_core/data/SOURCES.md``). The data directory is
``$MDLM_DATA_DIR`` if set, else a cache in the user's home (``$XDG_CACHE_HOME/mdlm_core/data`` or
``~/.cache/mdlm_core/data``). Loaders look in ``$MDLM_DATA_DIR`` first, then in that cache; they download a
missing data set only when ``$MDLM_FETCH_DATA=1`` (``reproduce.sh`` sets it unless ``--no-fetch-data``).

A download goes to a temporary name beside its target, is checked against the expected size and sha256, and
only then renamed into place: an interrupted or corrupt download never leaves a file that passes as data.

    python -m mdlm_core.data fetch [NAME ...]      # all three when no name is given
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

DATA_ENV = "MDLM_DATA_DIR"
FETCH_ENV = "MDLM_FETCH_DATA"
FETCH_COMMAND = "python -m mdlm_core.data fetch"
PARTIAL = ".partial-"  # same marker as companion.outputs, so the pipeline's sweep removes stale downloads


class DataFetchError(RuntimeError):
    """A download failed or did not match its expected sha256; nothing was left at the target name."""


@dataclass(frozen=True)
class DataFile:
    name: str                  # the file's name inside the data set's folder
    urls: tuple[str, ...]      # canonical download locations, tried in order
    size: int                  # bytes
    sha256: str


@dataclass(frozen=True)
class DataSet:
    name: str                  # registry key and folder name under the data directory
    files: tuple[DataFile, ...]
    source: str                # one line of provenance; the full account is in SOURCES.md
    licence: str


def _raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_PYTORCH_EXAMPLES = ("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8")
_AUTOPROMPT = ("eyalbd2/Reproducing-AutoPrompt", "6288fb5bec9c572f2492875ae0111df5b6daed11")
_GSM8K = ("openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c")

DATASETS: dict[str, DataSet] = {ds.name: ds for ds in (
    DataSet("wikitext-2", (
        DataFile("wiki.train.tokens", (_raw(*_PYTORCH_EXAMPLES, "word_language_model/data/wikitext-2/train.txt"),),
                 10797148, "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"),
        DataFile("wiki.valid.tokens", (_raw(*_PYTORCH_EXAMPLES, "word_language_model/data/wikitext-2/valid.txt"),),
                 1121681, "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
        DataFile("wiki.test.tokens", (_raw(*_PYTORCH_EXAMPLES, "word_language_model/data/wikitext-2/test.txt"),),
                 1256449, "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
    ), source="WikiText-2 v1 (tokenized), byte-identical to pytorch/examples word_language_model/data/wikitext-2",
        licence="CC BY-SA 3.0 (Merity et al. 2016, from Wikipedia)"),
    DataSet("sst2", (
        DataFile("train.tsv", (_raw(*_AUTOPROMPT, "glue_data/SST-2/train_full.tsv"),),
                 3806081, "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1"),
        DataFile("dev.tsv", (_raw(*_AUTOPROMPT, "glue_data/SST-2/dev.tsv"),),
                 94931, "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"),
    ), source="GLUE SST-2 train (full) and dev, as redistributed in eyalbd2/Reproducing-AutoPrompt",
        licence="no explicit licence (Stanford Sentiment Treebank via GLUE); research use with attribution"),
    DataSet("gsm8k", (
        DataFile("train.jsonl", (_raw(*_GSM8K, "grade_school_math/data/train.jsonl"),),
                 4166206, "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"),
        DataFile("test.jsonl", (_raw(*_GSM8K, "grade_school_math/data/test.jsonl"),),
                 749738, "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"),
    ), source="openai/grade-school-math grade_school_math/data/{train,test}.jsonl",
        licence="MIT (c) 2021 OpenAI"),
)}


def default_cache() -> Path:
    """The per-user data cache: ``$XDG_CACHE_HOME/mdlm_core/data``, else ``~/.cache/mdlm_core/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mdlm_core" / "data"


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where loaders look, in order: ``data_dir`` if given, else ``$MDLM_DATA_DIR`` then the user cache."""
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get(DATA_ENV)
    return ([Path(env)] if env else []) + [default_cache()]


def fetch_target(data_dir: str | os.PathLike | None = None) -> Path:
    """Where a fetch writes: ``data_dir``, else ``$MDLM_DATA_DIR``, else the user cache."""
    return data_dirs(data_dir)[0]


def fetch_allowed() -> bool:
    return os.environ.get(FETCH_ENV, "") == "1"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _lookup(name: str, registry: Mapping[str, DataSet]) -> DataSet:
    if name not in registry:
        raise KeyError(f"unknown data set {name!r}: choose from {', '.join(registry)}")
    return registry[name]


def _download(file: DataFile, target: Path, timeout: float) -> None:
    """Download ``file`` to ``target`` through a temporary beside it; verified before the rename."""
    from tqdm.auto import tqdm

    errors = []
    for url in file.urls:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{PARTIAL}")
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response, \
                    tqdm(total=file.size, unit="B", unit_scale=True, desc=file.name, leave=False,
                         disable=None) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
                    bar.update(len(block))
            if size != file.size or digest.hexdigest() != file.sha256:
                raise DataFetchError(f"got {size} bytes with sha256 {digest.hexdigest()}, expected "
                                     f"{file.size} bytes with sha256 {file.sha256} (corrupt or truncated download; "
                                     f"run `{FETCH_COMMAND}` again, or place a verified copy by hand)")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            return
        except Exception as err:  # noqa: BLE001 - HTTP 404 / offline (URLError), IncompleteRead, bad sha: try the next
            errors.append(f"{url}: {err if isinstance(err, DataFetchError) else f'{type(err).__name__}: {err}'}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataFetchError(f"could not fetch {file.name}:\n  " + "\n  ".join(errors) +
                         f"\nNothing was written to {target}. Check the connection and run `{FETCH_COMMAND}` again, "
                         f"or place the files by hand and set {DATA_ENV} (see mdlm_core/data/SOURCES.md).")


def fetch(names: Sequence[str] | None = None, data_dir: str | os.PathLike | None = None,
          registry: Mapping[str, DataSet] | None = None, timeout: float = 60.0, quiet: bool = False) -> Path:
    """Download and verify the named data sets (all when None) into the data directory; returns it.

    Files already present with the right sha256 are kept; any other file at a target name is replaced only
    by a verified download.
    """
    registry = DATASETS if registry is None else registry
    root = fetch_target(data_dir)
    for name in names or list(registry):
        dataset = _lookup(name, registry)
        folder = root / dataset.name
        folder.mkdir(parents=True, exist_ok=True)
        for file in dataset.files:
            target = folder / file.name
            if target.is_file() and target.stat().st_size == file.size and sha256_file(target) == file.sha256:
                continue
            if not quiet:
                print(f"fetching {dataset.name}/{file.name} ({file.size / 1e6:.1f} MB) -> {target}", flush=True)
            _download(file, target, timeout)
    return root


def with_mirror(base_url: str, registry: Mapping[str, DataSet] | None = None) -> dict[str, DataSet]:
    """The registry with every file fetched from ``<base_url>/<data set>/<file>`` (a copy laid out like the data
    directory, e.g. ``python -m http.server`` run inside one) instead of its canonical location."""
    base, registry = base_url.rstrip("/"), DATASETS if registry is None else registry
    return {name: DataSet(ds.name, tuple(DataFile(f.name, (f"{base}/{ds.name}/{f.name}",), f.size, f.sha256)
                                          for f in ds.files), ds.source, ds.licence)
            for name, ds in registry.items()}


def locate(name: str, data_dir: str | os.PathLike | None = None, registry: Mapping[str, DataSet] | None = None,
           needed: Sequence[str] | None = None) -> Path | None:
    """The folder holding the ``needed`` files (default: all) of data set ``name``, searched in :func:`data_dirs`;
    fetched into the first of them when ``$MDLM_FETCH_DATA=1``; None when missing and not to be fetched."""
    registry = DATASETS if registry is None else registry
    dataset = _lookup(name, registry)
    needed = [f.name for f in dataset.files] if needed is None else needed
    for root in data_dirs(data_dir):
        for folder in (root / dataset.name, root):
            if all((folder / f).is_file() for f in needed):
                return folder
    if fetch_allowed():
        return fetch([name], data_dir, registry) / dataset.name
    return None
