import json

import numpy as np
import pytest

from mdlm_core.data.tasks import (COMPARISON_LABELS, arithmetic_choices, exact_match, gsm8k_final_answer, load_gsm8k,
                                  load_sst2, make_comparison,
                                  make_arithmetic, make_next_word_choice, one_digit_variants)

from shared_data import ROOT as SHARED, needs_data


def write_sst2(root, rows, header="sentence\tlabel"):
    (root / "sst2").mkdir(parents=True, exist_ok=True)
    (root / "sst2" / "train.tsv").write_text(header + "\n" + "".join(f"{s}\t{l}\n" for s, l in rows))


def test_sst2_gives_one_word_label_answers(tmp_path):
    write_sst2(tmp_path, [("a charming , \"quiet\" film ", 1), ("dull ", 0), ("fine ", 1)])
    examples = load_sst2("train", data_dir=tmp_path)
    assert [e.answer for e in examples] == ["positive", "negative", "positive"]
    assert all(e.target == e.answer for e in examples)
    assert '"quiet"' in examples[0].prompt and examples[0].prompt.endswith("sentiment :")
    assert len(load_sst2("train", data_dir=tmp_path, limit=2, seed=1)) == 2


def test_sst2_errors_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("MDLM_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="MDLM_DATA_DIR"):
        load_sst2("train")
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_sst2("dev", data_dir=tmp_path)
    monkeypatch.setenv("MDLM_DATA_DIR", str(tmp_path))
    write_sst2(tmp_path, [("ok ", 2)])
    with pytest.raises(ValueError, match="0 or 1"):
        load_sst2("train")
    write_sst2(tmp_path, [("ok ", 1)], header="text\tlabel")
    with pytest.raises(ValueError, match="header"):
        load_sst2("train")
    with pytest.raises(ValueError, match="split"):
        load_sst2("test")


def synthetic_text(counts: dict, seed: int = 0) -> str:
    words = [w for w, n in counts.items() for _ in range(n)]
    np.random.default_rng(seed).shuffle(words)
    return " " + " ".join(words) + " "


def test_next_word_items_hold_the_true_word_among_same_length_distractors():
    text = synthetic_text({"alpha": 40, "bravo": 30, "cello": 20, "delta": 10, "echo": 30, "fire": 20, "gold": 10,
                           "hike": 5, "Upper": 50, "a": 50})
    items = make_next_word_choice(text, 60, context_chars=12, choices=3, word_chars=(4, 5), seed=3)
    assert items == make_next_word_choice(text, 60, context_chars=12, choices=3, word_chars=(4, 5), seed=3)
    assert items != make_next_word_choice(text, 60, context_chars=12, choices=3, word_chars=(4, 5), seed=4)
    positions = set()
    for item in items:
        assert item.answer == item.target and item.choices.count(item.answer) == 1 and len(set(item.choices)) == 3
        assert {len(c) for c in item.choices} == {len(item.answer)} and all(c.islower() for c in item.choices)
        assert len(item.prompt) == 12 and item.prompt + " " + item.answer + " " in text   # the text right before it
        positions.add(item.choices.index(item.answer))
    assert positions == {0, 1, 2}                      # the true word's slot is shuffled
    with pytest.raises(ValueError, match="too small"):
        make_next_word_choice(text, 60, context_chars=12, choices=5, word_chars=(4, 5))   # only 4 four-letter words
    with pytest.raises(ValueError, match="choices >= 2"):
        make_next_word_choice(text, 5, context_chars=12, choices=1)


def test_next_word_distractors_follow_the_word_frequencies():
    """Distractors are drawn in proportion to their frequency among same-length words other than the answer,
    so the true word is one more draw from the same distribution. A chi-square test accepts that law and,
    on the same draws, rejects uniform distractors (the test has the power to tell)."""
    from scipy.stats import chisquare
    counts = {"aaaa": 500, "bbbb": 300, "cccc": 150, "dddd": 50}
    text = "Q" * 12 + synthetic_text(counts)   # every word is a site (none within the first context_chars)
    items = make_next_word_choice(text, 990, context_chars=10, choices=2, word_chars=(4, 4), seed=0)
    seen = {w: 0 for w in counts}
    expected = dict.fromkeys(counts, 0.0)
    total = sum(counts.values())
    for item in items:
        [distractor] = [c for c in item.choices if c != item.answer]
        seen[distractor] += 1
        for w, n in counts.items():   # given the answer, P(distractor = w) = n / (total - n_answer)
            if w != item.answer:
                expected[w] += n / (total - counts[item.answer])
    observed = np.array(list(seen.values()))
    assert chisquare(observed, np.array(list(expected.values()))).pvalue > 1e-3
    uniform = np.full(4, observed.sum() / 4)
    assert chisquare(observed, uniform).pvalue < 1e-6


def test_one_digit_variants_by_enumeration():
    rng = np.random.default_rng(0)
    assert sorted(one_digit_variants(5, 9, rng)) == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    # 10: the tens digit to 2..9 (never 0: no leading zero), the units digit to 1..9
    assert sorted(one_digit_variants(10, 17, rng)) == [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 30, 40, 50, 60, 70, 80, 90]
    for number in (7, 48, 132, 905):
        for v in one_digit_variants(number, 3, rng):
            a, b = str(number), str(v)
            assert len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1
    with pytest.raises(ValueError, match="one-digit variants"):
        one_digit_variants(5, 10, rng)
    with pytest.raises(ValueError, match="non-negative"):
        one_digit_variants(-5, 2, rng)


def test_arithmetic_choices_keep_the_problems_and_hide_the_answer_among_variants():
    train, test = make_arithmetic(10, 200, digits=2, seed=0, spaced_digits=False)
    items = arithmetic_choices(test, choices=4, seed=0, spaced_digits=False)
    assert items == arithmetic_choices(test, choices=4, seed=0, spaced_digits=False)
    assert [(i.prompt, i.answer, i.target) for i in items] == [(e.prompt, e.answer, e.target) for e in test]
    slots = []
    for item in items:
        assert item.choices.count(item.target) == 1 and len(set(item.choices)) == 4
        assert {len(c) for c in item.choices} == {len(item.target)}
        slots.append(item.choices.index(item.target))
    assert set(slots) == {0, 1, 2, 3}
    spaced_items = arithmetic_choices(make_arithmetic(10, 20, digits=2, seed=0)[1], choices=3, seed=0)
    assert all(c.replace(" ", "").isdigit() and " " in c or len(c) == 1 for i in spaced_items for c in i.choices)


def test_arithmetic_is_seeded_correct_and_disjoint():
    train, test = make_arithmetic(300, 100, digits=3, ops=("+", "-", "*"), seed=0)
    again, _ = make_arithmetic(300, 100, digits=3, ops=("+", "-", "*"), seed=0)
    assert train == again and make_arithmetic(300, 100, seed=1)[0] != make_arithmetic(300, 100, seed=0)[0]
    assert len(train) == 300 and len(test) == 100
    assert not {e.prompt for e in train} & {e.prompt for e in test}
    for e in train + test:
        expression = e.prompt.rstrip("=").replace(" ", "")
        assert int(e.answer.replace(" ", "")) == eval(expression, {}, {})   # the answer is right
        assert e.answer == e.target and int(e.answer.replace(" ", "")) >= 0
    assert max(len(e.answer.split()) for e in train) >= 4   # several tokens to generate
    with pytest.raises(ValueError, match="ops"):
        make_arithmetic(1, 1, ops=("/",))
    with pytest.raises(ValueError, match="too many"):
        make_arithmetic(100, 0, digits=1)


def test_exact_match_ignores_whitespace_only():
    assert exact_match("1 0 4 7", "1047") and exact_match(" positive", "positive")
    assert not exact_match("1 0 4", "1 0 4 7") and not exact_match("Positive", "positive")


def test_gsm8k_final_answer_and_loader(tmp_path):
    assert gsm8k_final_answer("so 2+2=4\n#### 1,000") == "1000"
    assert gsm8k_final_answer("#### 3\nthen\n#### 18.") == "18"
    assert gsm8k_final_answer("no answer here") is None
    (tmp_path / "gsm8k").mkdir()
    record = {"question": "Ann has 2 apples and buys 3. How many? ", "answer": "2+3=<<2+3=5>>5\n#### 5"}
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps(record) + "\n")
    [example] = load_gsm8k("test", data_dir=tmp_path)
    assert example.answer == "2+3=5\n#### 5" and example.target == "5"
    assert example.prompt.startswith("Question : Ann") and example.prompt.endswith("Answer :")
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "5"}) + "\n")
    with pytest.raises(ValueError, match="####"):
        load_gsm8k("test", data_dir=tmp_path)


@needs_data("sst2", "gsm8k")
def test_the_shared_data_sets_load_in_full():
    assert len(load_sst2("dev", data_dir=SHARED)) == 872
    assert len(load_sst2("train", data_dir=SHARED)) == 67349
    test = load_gsm8k("test", data_dir=SHARED)
    assert len(test) == 1319 and test[0].target == "18"


@pytest.mark.parametrize("one_digit_apart", [False, True])
def test_comparison_by_enumeration(one_digit_apart):
    """Every item: two different numbers of exactly ``digits`` digits (one digit apart where asked), the answer
    the true order, the same two candidates, no label in the prompt; each split exactly half '<' (odd count: the
    extra one '>'); no pair of numbers in both splits, in either order; seeded."""
    train, test = make_comparison(301, 100, digits=2, seed=3, spaced_digits=False, one_digit_apart=one_digit_apart)
    assert (train, test) == make_comparison(301, 100, digits=2, seed=3, spaced_digits=False,
                                            one_digit_apart=one_digit_apart)
    assert train != make_comparison(301, 100, digits=2, seed=4, spaced_digits=False,
                                    one_digit_apart=one_digit_apart)[0]
    pairs = {}
    for split, items in (("train", train), ("test", test)):
        for item in items:
            a, b = item.prompt.split("?")
            assert len(a) == len(b) == 2 and a[0] != "0" and b[0] != "0" and a != b
            assert item.answer == item.target == ("<" if int(a) < int(b) else ">")
            assert item.choices == COMPARISON_LABELS and not set("<>") & set(item.prompt)
            if one_digit_apart:
                assert sum(x != y for x, y in zip(a, b)) == 1
            pairs.setdefault(frozenset((a, b)), set()).add(split)
        labels = [item.answer for item in items]
        assert labels.count("<") == len(items) // 2 and labels.count(">") == len(items) - len(items) // 2
    assert len(pairs) == 401 and all(len(splits) == 1 for splits in pairs.values())
    if not one_digit_apart:   # both orders and both kinds of first digit occur
        assert any(item.prompt[0] == item.prompt[3] for item in train)
    spaced_item = make_comparison(4, 2, digits=3, seed=0)[0][0]
    assert spaced_item.prompt.count(" ") == 6 and " ? " in spaced_item.prompt


def test_comparison_errors_say_what_to_change():
    with pytest.raises(ValueError, match="raise digits"):
        make_comparison(3000, 500, digits=2)              # 4,005 pairs of 2-digit numbers: at most 3/4 of them
    with pytest.raises(ValueError, match="raise digits"):
        make_comparison(600, 0, digits=2, one_digit_apart=True)   # 765 pairs one digit apart
    from mdlm_core.data.tasks import comparison_example
    with pytest.raises(ValueError, match="two different numbers"):
        comparison_example(12, 12)
