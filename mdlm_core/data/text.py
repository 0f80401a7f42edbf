"""Text data for the language-model notebooks: find a corpus, train a BPE tokenizer, pack token streams.

Generic on purpose (notebook 03 pre-trains on WikiText-2, the SFT notebook reuses the same pieces):

* ``load_wikitext2(data_dir)`` reads the tokenized WikiText-2 v1 files from a folder the user names
  (argument, else ``$MDLM_DATA_DIR``, else the user data cache; see ``registry.py``); ``source="hub"`` is the
  explicit opt-in for the Hugging Face hub. Nothing downloads unless asked (``$MDLM_FETCH_DATA=1``, set by
  ``reproduce.sh``): with no local copy the error says exactly what to do.
* ``load_or_train_tokenizer(texts, vocab_size)`` trains a byte-level BPE tokenizer on any iterable of
  strings and caches it on disk under a key made of the texts' hash and the settings.
* ``encode_stream`` turns texts into one flat id stream; ``pack_sequences`` cuts a stream into fixed-length
  rows, padding only the last one and keeping a validity mask, so no token is dropped or duplicated.

``CharTokenizer.fit(texts, vocab_size)`` is the character-level alternative (notebook 03's quick profile):
``<pad>``, ``<unk>``, then the most frequent characters; it round-trips any text made of its characters.
``unigram_entropy(ids)`` is the entropy of a token stream's own unigram distribution, the loss a model
that ignores context cannot beat on that stream.

Byte-level BPE round-trips any string exactly (every byte is in the base alphabet), including WikiText's
``<unk>`` markers and its `` @-@ `` style escapes, which it simply learns as frequent merges.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from ..io import atomic_path, cache_dir
from .registry import DATA_ENV, FETCH_COMMAND, DataFetchError, data_dirs, locate, sha256_file

WIKITEXT2_DIRNAME = "wikitext-2"
WIKITEXT2_FILES = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens", "test": "wiki.test.tokens"}
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk-char>"
TOKENIZER_FORMAT = 1  # bump when the tokenizer recipe below changes, so old caches are not reused


class MissingDataError(FileNotFoundError):
    """The data set is not where the loader looked; the message says how to provide it."""


@dataclass(frozen=True)
class TextCorpus:
    """Lines of text per split, and where they came from (sha256 per file, for the run's results)."""

    name: str
    splits: Mapping[str, list[str]]   # split -> lines (newlines kept)
    sha256: Mapping[str, str]          # split -> sha256 of the file's bytes (or of the text, from the hub)
    source: str                        # a folder path or "hf-hub:<dataset>/<config>"

    def text(self, split: str) -> str:
        return "".join(self.splits[split])


def _missing_wikitext_message(looked_in: Sequence[Path], fetch_error: Exception | None = None) -> str:
    where = "\n".join(f"  - {p}" for p in looked_in)
    tried = "" if fetch_error is None else f"Fetching it failed:\n{fetch_error}\n"
    return (
        "WikiText-2 (tokenized v1: wiki.train.tokens, wiki.valid.tokens, wiki.test.tokens) was not found. Looked in:\n"
        f"{where}\n{tried}"
        "Do one of:\n"
        f"  1. if you are online: {FETCH_COMMAND} {WIKITEXT2_DIRNAME} (downloads and verifies it into ${DATA_ENV}, "
        "else the user cache; ./reproduce.sh does this unless --no-fetch-data);\n"
        f"  2. put the three files in <DIR>/{WIKITEXT2_DIRNAME}/ and set {DATA_ENV}=<DIR> "
        "(reproduce.sh sets it to ../shared/data when that folder exists), or pass data_dir=<DIR>;\n"
        "  3. pip install 'mdlm-core[hub]' and pass source='hub' "
        "(downloads Salesforce/wikitext, wikitext-2-v1, from the Hugging Face hub; nothing downloads unless you ask)."
    )


def find_wikitext2(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the three WikiText-2 files: ``data_dir``, else ``$MDLM_DATA_DIR`` then the user data cache
    (or their ``wikitext-2/``); fetched when ``$MDLM_FETCH_DATA=1`` (see ``registry.py``)."""
    try:
        folder = locate(WIKITEXT2_DIRNAME, data_dir)
    except DataFetchError as err:
        folder, fetch_error = None, err
    else:
        fetch_error = None
    if folder is not None:
        return folder
    candidates = [c for root in data_dirs(data_dir) for c in (root / WIKITEXT2_DIRNAME, root)]
    raise MissingDataError(_missing_wikitext_message(candidates, fetch_error))


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return f.readlines()


def _load_wikitext2_hub() -> TextCorpus:
    try:
        import datasets  # optional extra "hub", imported only when asked for
    except ImportError as err:
        raise MissingDataError("source='hub' needs the optional 'datasets' package: pip install 'mdlm-core[hub]' "
                               f"(or use a local copy: set {DATA_ENV}).") from err
    ds = datasets.load_dataset("Salesforce/wikitext", "wikitext-2-v1")
    # the hub stores one line per row, newline included; "validation" is our "valid"
    splits = {split: list(ds["validation" if split == "valid" else split]["text"]) for split in WIKITEXT2_FILES}
    sha = {split: hashlib.sha256("".join(lines).encode()).hexdigest() for split, lines in splits.items()}
    return TextCorpus("wikitext-2", splits, sha, "hf-hub:Salesforce/wikitext/wikitext-2-v1")


def load_wikitext2(data_dir: str | os.PathLike | None = None, source: str = "local") -> TextCorpus:
    """WikiText-2 (tokenized v1) from a local folder (default) or, with ``source='hub'``, the HF hub."""
    if source == "hub":
        return _load_wikitext2_hub()
    if source != "local":
        raise ValueError(f"source={source!r}: use 'local' (a folder, via data_dir or ${DATA_ENV}) or 'hub'")
    folder = find_wikitext2(data_dir)
    paths = {split: folder / name for split, name in WIKITEXT2_FILES.items()}
    return TextCorpus("wikitext-2", {s: _read_lines(p) for s, p in paths.items()},
                      {s: sha256_file(p) for s, p in paths.items()}, str(folder.resolve()))


def take_lines(lines: Sequence[str], max_chars: int | None) -> list[str]:
    """The leading whole lines of ``lines`` totalling at most ``max_chars`` characters (all if None)."""
    if max_chars is None:
        return list(lines)
    out, total = [], 0
    for line in lines:
        if total + len(line) > max_chars:
            break
        out.append(line)
        total += len(line)
    return out


# -- tokenizer ---------------------------------------------------------------------------------------
def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE tokenizer trained on ``texts``; id 0 is ``<pad>``, never produced by encoding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + 2:
        raise ValueError(f"vocab_size={vocab_size}: a byte-level BPE needs at least 258 ids (256 bytes, <pad>, one merge)")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


@dataclass(frozen=True)
class Encoding:
    ids: list[int]


class CharTokenizer:
    """Character-level tokenizer: id 0 pads, id 1 stands for any character outside the vocabulary, ids
    2.. are characters by decreasing training frequency (ties by code point, so the vocabulary is a pure
    function of the texts). Same duck type as a ``tokenizers.Tokenizer`` for ``encode_stream`` / ``decode_stream``.
    """

    PAD_ID, UNK_ID = 0, 1

    def __init__(self, chars: Sequence[str]):
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer needs distinct single characters")
        self.chars = list(chars)
        self.index = {c: i + 2 for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int) -> "CharTokenizer":
        """The (vocab_size - 2) most frequent characters of ``texts``."""
        if vocab_size < 3:
            raise ValueError(f"vocab_size={vocab_size}: a character tokenizer needs >= 3 ids (<pad>, <unk>, one character)")
        from collections import Counter
        counts = Counter()
        for text in texts:
            counts.update(text)
        ranked = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        return cls(ranked[:vocab_size - 2])

    def get_vocab_size(self) -> int:
        return len(self.chars) + 2

    def token_to_id(self, token: str) -> int | None:
        if token == PAD_TOKEN:
            return self.PAD_ID
        return self.UNK_ID if token == UNK_TOKEN else self.index.get(token)

    def encode(self, text: str) -> Encoding:
        return Encoding([self.index.get(c, self.UNK_ID) for c in text])

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> list[Encoding]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        out = []
        for i in ids:
            if i >= 2:
                out.append(self.chars[i - 2])
            elif not skip_special_tokens:
                out.append(PAD_TOKEN if i == self.PAD_ID else UNK_TOKEN)
            elif i == self.UNK_ID:
                out.append("\ufffd")   # the replacement character: an unknown character stays visible
        return "".join(out)

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.chars).encode()).hexdigest()[:16]


def unigram_entropy(ids: np.ndarray | torch.Tensor | Sequence[int]) -> float:
    """Entropy (nats) of the empirical unigram distribution of ``ids``: -sum_v p_v log p_v."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64).reshape(-1))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def texts_digest(texts: Iterable[str]) -> str:
    """sha256 over a sequence of strings (length-prefixed, so ["ab", "c"] and ["a", "bc"] differ)."""
    digest = hashlib.sha256()
    for text in texts:
        blob = text.encode("utf-8")
        digest.update(len(blob).to_bytes(8, "little"))
        digest.update(blob)
    return digest.hexdigest()


def tokenizer_key(texts_sha256: str, vocab_size: int, min_frequency: int) -> str:
    blob = json.dumps({"texts": texts_sha256, "vocab_size": vocab_size, "min_frequency": min_frequency,
                       "format": TOKENIZER_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_or_train_tokenizer(texts: Sequence[str], vocab_size: int, min_frequency: int = 2,
                            cache: str | os.PathLike | None = None):
    """Load the tokenizer trained on exactly these texts with these settings, training (and caching) it if new.

    The cache file is ``<cache>/bpe-<vocab>-<key>.json`` with key = hash(texts, settings); default cache
    folder ``cache_dir("tokenizers")``.
    """
    from tokenizers import Tokenizer

    folder = Path(cache) if cache is not None else cache_dir("tokenizers")
    path = folder / f"bpe-{vocab_size}-{tokenizer_key(texts_digest(texts), vocab_size, min_frequency)}.json"
    if path.exists():
        return Tokenizer.from_file(str(path))
    tokenizer = train_bpe_tokenizer(texts, vocab_size, min_frequency)
    with atomic_path(path) as tmp:
        tokenizer.save(str(tmp))
    return tokenizer


def encode_stream(tokenizer, texts: Sequence[str], batch: int = 4096) -> np.ndarray:
    """Encode ``texts`` and concatenate the ids into one int64 stream (decoding it gives ``"".join(texts)``)."""
    chunks = []
    for start in range(0, len(texts), batch):
        encodings = tokenizer.encode_batch(list(texts[start:start + batch]), add_special_tokens=False)
        chunks.extend(np.asarray(e.ids, dtype=np.int64) for e in encodings)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


def decode_stream(tokenizer, ids: Sequence[int] | np.ndarray | torch.Tensor) -> str:
    ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    return tokenizer.decode(ids, skip_special_tokens=True)


# -- packing -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackedSequences:
    tokens: torch.Tensor   # long [N, seq_len]; the last row is padded with pad_id when the stream runs out
    valid: torch.Tensor    # bool [N, seq_len]; False exactly on the padding

    @property
    def full_rows(self) -> torch.Tensor:
        """The rows without padding (all but possibly the last)."""
        return self.tokens[self.valid.all(dim=1)]

    def unpack(self) -> torch.Tensor:
        """The original stream: the valid tokens in row-major order."""
        return self.tokens[self.valid]


def pack_sequences(ids: np.ndarray | torch.Tensor | Sequence[int], seq_len: int, pad_id: int = 0) -> PackedSequences:
    """Cut a flat id stream into rows of ``seq_len`` tokens; the remainder forms a last, padded row."""
    if seq_len < 1:
        raise ValueError(f"seq_len={seq_len} must be >= 1")
    stream = torch.as_tensor(np.asarray(ids), dtype=torch.long).reshape(-1)
    n_rows = -(-stream.numel() // seq_len)
    tokens = torch.full((n_rows * seq_len,), pad_id, dtype=torch.long)
    valid = torch.zeros(n_rows * seq_len, dtype=torch.bool)
    tokens[:stream.numel()] = stream
    valid[:stream.numel()] = True
    return PackedSequences(tokens.view(n_rows, seq_len), valid.view(n_rows, seq_len))
