"""SFT tasks as text: (prompt, answer, target) triples, independent of any tokenizer.

* ``load_sst2``: SST-2 sentiment (discriminative), answered with one label word.
* ``make_next_word_choice``: HellaSwag-style multiple choice on running text (discriminative): the true next
  word after a context against distractor words of the same length drawn from the same text.
* ``make_arithmetic``: seeded multi-digit arithmetic (generative): the answer is several digit tokens
  that a sampler must generate; scored by exact match.
* ``arithmetic_choices``: the same problems as multiple choice (discriminative): the true result against
  same-length numbers that differ from it in one digit.
* ``make_comparison``: which of two numbers is larger (discriminative, a skill of its own: no addition), answered
  ``<`` or ``>`` with the labels exactly balanced, so the best constant choice is chance.
* ``load_gsm8k``: grade-school maths word problems (generative, ``paper`` profile only); the answer is
  the worked solution ending in ``#### <number>``, scored on that final number.

Data is read from ``data_dir`` or ``$MDLM_DATA_DIR``, else the user data cache (the folder holding ``sst2/`` and
``gsm8k/``); it is downloaded only when asked (see ``registry.py``). ``exact_match`` ignores whitespace because tokenizers decode spaces differently.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .registry import DATA_ENV, FETCH_COMMAND, DataFetchError, data_dirs, locate
from .text import MissingDataError

SST2_LABELS = ("negative", "positive")   # GLUE label 0, 1
SST2_SPLITS = {"train": "train.tsv", "dev": "dev.tsv"}
GSM8K_SPLITS = {"train": "train.jsonl", "test": "test.jsonl"}
ARITHMETIC_OPS = ("+", "-", "*")


@dataclass(frozen=True)
class SFTExample:
    prompt: str   # what the model is conditioned on
    answer: str   # what it is trained to generate (followed by EOS padding)
    target: str   # what a generated or chosen answer is scored against (exact match)
    choices: tuple[str, ...] = ()   # multiple choice: the candidate answers, ``target`` among them


def data_file(subdir: str, filename: str, data_dir: str | os.PathLike | None = None) -> Path:
    """``<dir>/<subdir>/<filename>`` for the first data directory holding the data set (``data_dir``, else
    ``$MDLM_DATA_DIR`` then the user data cache), fetched when ``$MDLM_FETCH_DATA=1``; else an error that says how
    to provide it."""
    fetch_error = None
    try:
        folder = locate(subdir, data_dir, needed=[filename])
    except DataFetchError as err:
        folder, fetch_error = None, err
    if folder is not None:
        return folder / filename
    looked_in = ", ".join(str(root / subdir) for root in data_dirs(data_dir))
    raise MissingDataError(f"{subdir}/{filename} not found (looked in {looked_in})"
                           + ("" if fetch_error is None else f"; fetching it failed:\n{fetch_error}\n") +
                           f". If you are online: {FETCH_COMMAND} {subdir} (or ./reproduce.sh, which fetches unless "
                           f"--no-fetch-data); else put the files there by hand (see mdlm_core/data/SOURCES.md) and "
                           f"point {DATA_ENV} / data_dir= at the folder holding {subdir}/; nothing is downloaded at run time "
                           "unless asked")


def _subsample(items: list, limit: int | None, seed: int) -> list:
    """A seeded random subset of ``limit`` items (all of them, in file order, when limit is None)."""
    if limit is None or limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]


def most_common_answer_accuracy(train_targets: list[str], test_targets: list[str]) -> float:
    """The trivial baseline of a generative task: the test accuracy of always answering the commonest train
    target (exact match)."""
    if not train_targets or not test_targets:
        raise ValueError("the trivial baseline needs train and test targets")
    answer = Counter(normalize(t) for t in train_targets).most_common(1)[0][0]
    return sum(normalize(t) == answer for t in test_targets) / len(test_targets)


def normalize(text: str) -> str:
    return "".join(text.split())


def exact_match(prediction: str, target: str) -> bool:
    """True when ``prediction`` equals ``target`` up to whitespace."""
    return normalize(prediction) == normalize(target)


# -- SST-2 ------------------------------------------------------------------------------------------
def sst2_prompt(sentence: str) -> str:
    return f"review : {sentence.strip()} sentiment :"


def load_sst2(split: str = "train", data_dir: str | os.PathLike | None = None, limit: int | None = None,
              seed: int = 0, labels: tuple[str, str] = SST2_LABELS) -> list[SFTExample]:
    """SST-2 (GLUE TSV with header ``sentence<TAB>label``) as examples answered by ``labels[label]``
    ('negative' / 'positive' by default; a small tokenizer may prefer one-token answers)."""
    if len(labels) != 2 or len(set(labels)) != 2:
        raise ValueError(f"labels={labels!r}: give two distinct answers, for GLUE labels 0 and 1")
    if split not in SST2_SPLITS:
        raise ValueError(f"SST-2 split {split!r}: choose one of {list(SST2_SPLITS)} (GLUE's test has no labels)")
    path = data_file("sst2", SST2_SPLITS[split], data_dir)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != ["sentence", "label"]:
        raise ValueError(f"{path}: expected a GLUE SST-2 TSV with header 'sentence<TAB>label', got {rows[:1]}")
    examples = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or row[1] not in ("0", "1"):
            raise ValueError(f"{path}:{line}: expected '<sentence><TAB><0 or 1>', got {row!r}")
        label = labels[int(row[1])]
        examples.append(SFTExample(sst2_prompt(row[0]), label, label, tuple(labels)))
    return _subsample(examples, limit, seed)


# -- next-word multiple choice on running text ---------------------------------------------------------
WORD = re.compile(r"(?<= )[a-z]+(?= )")   # a lower-case word between spaces (WikiText splits off punctuation)


def make_next_word_choice(text: str, n: int, context_chars: int, choices: int = 4, word_chars: tuple[int, int] = (4, 9),
                          seed: int = 0) -> list[SFTExample]:
    """``n`` seeded multiple-choice items from running ``text``: the prompt is the ``context_chars`` characters
    before a lower-case word of ``word_chars`` letters (the space before the word excluded), the answer that word,
    and the other ``choices - 1`` candidates distinct words of the same length drawn from the text's own word
    frequencies (so length and a frequency prior carry no information: the true word is one more draw from the
    same distribution), in a seeded random order.

    Scored like HellaSwag: the candidate with the best likelihood given the prompt; chance is 1 / ``choices``.
    """
    low, high = word_chars
    if choices < 2 or low < 1 or high < low or context_chars < 1 or n < 0:
        raise ValueError(f"make_next_word_choice needs choices >= 2, 1 <= word_chars[0] <= word_chars[1] and "
                         f"context_chars >= 1; got choices={choices}, word_chars={word_chars}, context_chars={context_chars}")
    sites = [m for m in WORD.finditer(text) if low <= len(m.group()) <= high and m.start() > context_chars]
    counts = Counter(m.group() for m in sites)
    by_length: dict[int, list[str]] = {}
    for word in sorted(counts):
        by_length.setdefault(len(word), []).append(word)
    too_few = sorted(length for length, words in by_length.items() if len(words) < choices)
    if too_few or len(sites) < n:
        raise ValueError(f"the text is too small for {n} items with {choices} choices (words of length {too_few} have "
                         f"fewer than {choices} distinct forms; {len(sites)} sites): use more text or fewer choices")
    # per length, once: the words, their frequencies and each word's position (not re-derived per item)
    weights = {length: np.array([counts[w] for w in words], float) for length, words in by_length.items()}
    position = {w: i for words in by_length.values() for i, w in enumerate(words)}
    rng = np.random.default_rng(seed)
    examples = []
    for i in np.sort(rng.choice(len(sites), size=n, replace=False)):
        site = sites[i]
        word = site.group()
        words = by_length[len(word)]
        p = weights[len(word)].copy()
        p[position[word]] = 0.0
        distractors = [words[j] for j in rng.choice(len(words), size=choices - 1, replace=False, p=p / p.sum())]
        options = [word, *distractors]
        order = rng.permutation(choices)
        prompt = text[site.start() - 1 - context_chars:site.start() - 1]
        examples.append(SFTExample(prompt, word, word, tuple(options[k] for k in order)))
    return examples


# -- multi-digit arithmetic -------------------------------------------------------------------------
def spaced(number: int) -> str:
    """Digits separated by spaces ('-' kept in front), so each digit is its own word under any tokenizer."""
    return ("- " if number < 0 else "") + " ".join(str(abs(number)))


def arithmetic_example(a: int, op: str, b: int, spaced_digits: bool = True) -> SFTExample:
    """'4 7 + 8 5 =' -> '1 3 2' (digits as words, for subword tokenizers), or with ``spaced_digits=False``
    '47+85=' -> '132' (a character tokenizer already splits digits)."""
    result = {"+": a + b, "-": a - b, "*": a * b}[op]
    if spaced_digits:
        answer = spaced(result)
        return SFTExample(f"{spaced(a)} {op} {spaced(b)} =", answer, answer)
    return SFTExample(f"{a}{op}{b}=", str(result), str(result))


def make_arithmetic(n_train: int, n_test: int, digits: int = 3, ops: tuple[str, ...] = ("+",),
                    seed: int = 0, spaced_digits: bool = True) -> tuple[list[SFTExample], list[SFTExample]]:
    """Seeded, disjoint train and test sets of ``a op b = c`` with operands in [0, 10^digits).

    Subtraction draws a >= b so answers stay non-negative. A problem never appears in both sets.
    """
    if digits < 1 or n_train < 0 or n_test < 0:
        raise ValueError("digits must be >= 1 and the set sizes >= 0")
    if not ops or any(op not in ARITHMETIC_OPS for op in ops):
        raise ValueError(f"ops={ops!r}: choose from {ARITHMETIC_OPS}")
    base = 10 ** digits
    if n_train + n_test > len(ops) * base * base // 4:
        raise ValueError(f"{n_train + n_test} problems requested: too many for {digits}-digit operands "
                         "(at most a quarter of the problem space); ask for fewer or raise digits")
    rng = np.random.default_rng(seed)
    problems: dict[tuple[int, str, int], None] = {}   # insertion-ordered set of distinct problems
    while len(problems) < n_train + n_test:
        a, b = (int(x) for x in rng.integers(0, base, size=2))
        op = ops[int(rng.integers(len(ops)))]
        problems.setdefault((max(a, b), op, min(a, b)) if op == "-" else (a, op, b), None)
    examples = [arithmetic_example(*problem, spaced_digits=spaced_digits) for problem in problems]
    return examples[:n_train], examples[n_train:]


def one_digit_variants(number: int, k: int, rng: np.random.Generator) -> list[int]:
    """``k`` distinct non-negative numbers with as many digits as ``number``, each differing from it in exactly one
    digit (a leading digit stays non-zero): wrong answers that a model must know every digit to reject."""
    if number < 0:   # checked first: a '-' is not a digit to vary
        raise ValueError(f"{number}: one-digit variants need a non-negative number")
    digits = str(number)
    pool = sorted({int(digits[:i] + d + digits[i + 1:]) for i in range(len(digits)) for d in "0123456789"
                   if d != digits[i] and not (i == 0 and d == "0" and len(digits) > 1)})
    if len(pool) < k:
        raise ValueError(f"{number}: need a non-negative number with at least {k} one-digit variants")
    return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]


def arithmetic_choices(examples: list[SFTExample], choices: int = 4, seed: int = 0,
                       spaced_digits: bool = True) -> list[SFTExample]:
    """Arithmetic problems as multiple choice: the true result and ``choices - 1`` one-digit variants of it
    (``one_digit_variants``), in a seeded random order. Every candidate has the answer's length and format, so
    only the digits tell them apart; chance is 1 / ``choices``."""
    if choices < 2:
        raise ValueError(f"choices={choices}: a multiple choice needs >= 2 candidates")
    rng = np.random.default_rng([seed, 1])   # its own stream: the problems themselves come from make_arithmetic
    out = []
    for ex in examples:
        result = int(normalize(ex.target))
        options = [result, *one_digit_variants(result, choices - 1, rng)]
        texts = [spaced(n) if spaced_digits else str(n) for n in options]
        out.append(SFTExample(ex.prompt, ex.answer, ex.target, tuple(texts[k] for k in rng.permutation(choices))))
    return out


# -- number comparison ------------------------------------------------------------------------------
COMPARISON_LABELS = ("<", ">")   # a < b, a > b (the candidates, in this order)


def comparison_example(a: int, b: int, spaced_digits: bool = True) -> SFTExample:
    """'4 7 ? 8 5' -> '<' (digits as words, for subword tokenizers), or with ``spaced_digits=False`` '47?85' -> '<'.
    The prompt is the same for both answers but for the numbers: the '?' says nothing about the order."""
    if a == b:
        raise ValueError(f"{a} ? {b}: a comparison needs two different numbers")
    label = COMPARISON_LABELS[int(a > b)]
    prompt = f"{spaced(a)} ? {spaced(b)}" if spaced_digits else f"{a}?{b}"
    return SFTExample(prompt, label, label, COMPARISON_LABELS)


def make_comparison(n_train: int, n_test: int, digits: int = 2, seed: int = 0, spaced_digits: bool = True,
                    one_digit_apart: bool = False) -> tuple[list[SFTExample], list[SFTExample]]:
    """Seeded train and test sets of "which is larger", ``a ? b`` -> ``<`` / ``>``, both numbers with exactly
    ``digits`` digits (no leading zero, so the length never tells) and different. With ``one_digit_apart`` the two
    numbers differ in exactly one digit (``one_digit_variants``): the model must find that digit and compare it,
    not read the first one.

    The two splits share no pair of numbers in either order (a test item is never a train item read backwards),
    and within each split exactly half the items (the odd one out of an odd count: ``>``) are ``<``, in a seeded
    order: the best constant choice is chance, 1/2.
    """
    if digits < 1 or n_train < 0 or n_test < 0:
        raise ValueError("digits must be >= 1 and the set sizes >= 0")
    low, high = (10 ** (digits - 1) if digits > 1 else 0), 10 ** digits
    numbers = high - low
    # unordered pairs: one-digit variants of a number (the first digit has 8 others, each other digit 9)
    pairs_available = (numbers * (8 + 9 * (digits - 1) if digits > 1 else numbers * 9) // 2 if one_digit_apart
                       else numbers * (numbers - 1) // 2)
    if n_train + n_test > 3 * pairs_available // 4:   # rejection sampling stays fast below 3/4 of the pairs
        raise ValueError(f"{n_train + n_test} comparisons requested: too many for {digits}-digit numbers (at most "
                         f"3/4 of the {pairs_available} pairs); ask for fewer or raise digits")
    rng = np.random.default_rng([seed, 2])   # its own stream, apart from make_arithmetic's
    pairs: dict[tuple[int, int], None] = {}  # insertion-ordered set of unordered pairs (smaller, larger)
    while len(pairs) < n_train + n_test:
        a = int(rng.integers(low, high))
        b = one_digit_variants(a, 1, rng)[0] if one_digit_apart else int(rng.integers(low, high))
        if a != b:
            pairs.setdefault((min(a, b), max(a, b)), None)
    ordered = list(pairs)
    splits = []
    for chunk in (ordered[:n_train], ordered[n_train:]):
        smaller_first = rng.permutation(np.arange(len(chunk)) < len(chunk) // 2)   # exactly half '<'
        splits.append([comparison_example(*((s, l) if first else (l, s)), spaced_digits=spaced_digits)
                       for (s, l), first in zip(chunk, smaller_first)])
    return splits[0], splits[1]


# -- GSM8K --------------------------------------------------------------------------------------------
CALCULATOR = re.compile(r"<<[^>]*>>")
FINAL_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)


def gsm8k_final_answer(text: str) -> str | None:
    """The number after the last ``####`` (commas and a trailing period dropped), or None if absent."""
    found = FINAL_ANSWER.findall(text)
    return found[-1].replace(",", "").rstrip(".").strip() if found else None


def load_gsm8k(split: str = "train", data_dir: str | os.PathLike | None = None, limit: int | None = None,
               seed: int = 0) -> list[SFTExample]:
    """GSM8K JSONL as examples: the answer is the worked solution (calculator annotations <<...>> removed)
    ending in '#### <number>', the target is that number."""
    if split not in GSM8K_SPLITS:
        raise ValueError(f"GSM8K split {split!r}: choose one of {list(GSM8K_SPLITS)}")
    path = data_file("gsm8k", GSM8K_SPLITS[split], data_dir)
    examples = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            solution = CALCULATOR.sub("", record["answer"]).strip()
            target = gsm8k_final_answer(solution)
            if target is None:
                raise ValueError(f"{path}:{line_no}: the answer has no final '#### <number>' line")
            examples.append(SFTExample(f"Question : {record['question'].strip()}\nAnswer :", solution, target))
    return _subsample(examples, limit, seed)
