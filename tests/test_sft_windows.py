import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.collections import LineCollection

from mdlm_core import DiffusionTransformer, ModelConfig
from mdlm_core import MaskRatio
from mdlm_core.companion import Outputs, config_for_profile, figure_names
from mdlm_core.companion.report import gate_failed, verdict_cell
from mdlm_core.companion.verdicts import Claim, apply_fdr, in_fdr_family, spearman_rho
from mdlm_core.experiments import sft_windows
from mdlm_core.experiments.sft_windows import (MID, PROFILES, SFT_WINDOWS, STANDARD, HIGH_NOISE, ArithmeticSpec, Config,
                                              GSM8KSpec, NextWordSpec, ScoringSpec, SFTTrainSpec, SST2Spec, TaskSpecs,
                                              base_model, candidate_log_likelihoods, eos_id, prepare_sft_data, ranking,
                                              sft_claims, tokenize_task, train_sft_run, window_difference)
from mdlm_core.lm import LM_QUICK, LM_SMOKE
from mdlm_core.training import config_hash
from shared_data import needs_data
from mdlm_core.data.tasks import make_arithmetic
from mdlm_core.data.text import train_bpe_tokenizer


def tiny_model(vocab=12, block=16):
    torch.manual_seed(0)
    return DiffusionTransformer(ModelConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=16)).eval()


def test_candidate_scores_are_the_mc_elbo_on_common_draws():
    """Each candidate is scored by sft.answer_elbo_mc on the same masks (drawn once from the seed): the scores
    equal that estimator column by column, do not depend on the batch size, and change only with the seed."""
    from mdlm_core.sft import answer_elbo_mc, answer_masks
    model = tiny_model()
    prompts = torch.randint(0, 12, (5, 4), generator=torch.Generator().manual_seed(1))
    candidates = torch.tensor([[3, 0, 0], [7, 8, 0]])
    got = candidate_log_likelihoods(model, prompts, candidates, draws=3, seed=7, batch_size=2)
    masks = answer_masks(5, 3, 3, torch.Generator().manual_seed(7))
    for c, cand in enumerate(candidates):
        torch.testing.assert_close(got[:, c], answer_elbo_mc(model, prompts, cand, masks, model.mask_id))
    torch.testing.assert_close(got, candidate_log_likelihoods(model, prompts, candidates, draws=3, seed=7,
                                                              batch_size=64))
    assert not torch.allclose(got, candidate_log_likelihoods(model, prompts, candidates, draws=3, seed=8))


def test_per_example_candidates_are_scored_on_the_same_draws():
    """Multiple choice with candidates of its own per example ([N, C, A]): column c is the MC ELBO of each
    example's c-th candidate, and a [C, A] candidate set is the same as that set repeated for every example."""
    from mdlm_core.sft import answer_elbo_mc, answer_masks
    model = tiny_model()
    prompts = torch.randint(0, 12, (5, 4), generator=torch.Generator().manual_seed(1))
    candidates = torch.randint(0, 11, (5, 3, 3), generator=torch.Generator().manual_seed(2))
    got = candidate_log_likelihoods(model, prompts, candidates, draws=4, seed=7, batch_size=3)
    masks = answer_masks(5, 3, 4, torch.Generator().manual_seed(7))
    for c in range(3):
        torch.testing.assert_close(got[:, c], answer_elbo_mc(model, prompts, candidates[:, c], masks, model.mask_id))
    shared = candidates[0]
    torch.testing.assert_close(candidate_log_likelihoods(model, prompts, shared, draws=4, seed=7),
                               candidate_log_likelihoods(model, prompts, shared.expand(5, 3, 3), draws=4, seed=7))
    with pytest.raises(ValueError, match=r"\[N, C, A\]"):
        candidate_log_likelihoods(model, prompts, candidates[:4], draws=4, seed=7)


def write_wikitext(root, train: str, test: str):
    folder = root / "wikitext-2"
    folder.mkdir(parents=True)
    for split, text in (("train", train), ("valid", test), ("test", test)):
        (folder / f"wiki.{split}.tokens").write_text(text)
    return root


def test_next_word_task_layout_and_scoring(tmp_path):
    """Next-word choice, tokenized: every eval example carries its candidates laid out as answers (a leading
    space, EOS padding), the true one among them; the gate's baseline is the best constant choice, and the
    scorer picks the candidate with the best MC ELBO."""
    from mdlm_core.data.text import CharTokenizer
    from mdlm_core.experiments.sft_windows import score_task
    rng = np.random.default_rng(0)
    vocab = ["ab", "cd", "ef", "gh", "abcd", "efgh", "bcde", "fgha"]
    words = lambda n: " " + " ".join(rng.choice(vocab, size=n)) + " "   # noqa: E731
    data_dir = write_wikitext(tmp_path, words(600), words(300))
    tokenizer = CharTokenizer.fit(["abcdefgh \n"], vocab_size=12)
    cfg = Config(base=LM_SMOKE, tasks=("next_word",),
                 task_specs=TaskSpecs(next_word=NextWordSpec(train=50, eval=40, choices=3, chars=(2, 4), context_chars=8,
                                                             prompt_tokens=8, answer_tokens=6)),
                 scoring=ScoringSpec(eval_batch_size=16))
    task = tokenize_task(cfg, "next_word", tokenizer, data_dir)
    eos = eos_id(tokenizer)
    assert task.discriminative and task.chance == pytest.approx(1 / 3) and task.candidates.shape == (40, 3, 6)
    assert task.dropped == {"train": 0, "eval": 0}
    for i, (names, target) in enumerate(zip(task.candidate_names, task.eval_targets)):
        assert len(names) == 3 and names.count(target) == 1
        c = names.index(target)
        assert torch.equal(task.candidates[i, c], task.eval_tokens[i, 8:])   # the true candidate is the answer region
        for name, cand in zip(names, task.candidates[i]):
            ids = tokenizer.encode(" " + name).ids
            assert cand[:len(ids)].tolist() == ids and set(cand[len(ids):].tolist()) == {eos}
    slots = [names.index(t) for names, t in zip(task.candidate_names, task.eval_targets)]
    assert task.baseline == pytest.approx(max(np.bincount(slots, minlength=3)) / 40)
    model = DiffusionTransformer(ModelConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    score = score_task(model, task, cfg.scoring, tokenizer, eos)
    chosen = candidate_log_likelihoods(model, task.eval_tokens[:, :8], task.candidates, cfg.scoring.score_draws,
                                       cfg.scoring.score_seed).argmax(-1)
    assert score["correct"] == [int(c == s) for c, s in zip(chosen.tolist(), slots)]


def test_arithmetic_choice_is_scored_on_the_arithmetic_sft(digit_tokenizer):
    """arithmetic_choice has no SFT data of its own (the step trains arithmetic only) and scores the arithmetic
    test problems, in arithmetic's layout, as a choice among the result and its one-digit variants."""
    from mdlm_core.experiments.sft_windows import SFTData, make_sft_step
    cfg = arithmetic_cfg(tasks=("arithmetic_choice", "arithmetic"), answer_tokens=8)
    choice, plain = (tokenize_task(cfg, t, digit_tokenizer) for t in cfg.tasks)
    assert choice.train_tokens.shape == (0, 22) and choice.discriminative and choice.chance == 0.25
    assert torch.equal(choice.eval_tokens, plain.eval_tokens) and choice.eval_targets == plain.eval_targets
    for i, names in enumerate(choice.candidate_names):
        assert torch.equal(choice.candidates[i, names.index(choice.eval_targets[i])], plain.eval_tokens[i, 14:])
    data = SFTData(lm=None, tasks={"arithmetic_choice": choice, "arithmetic": plain})
    step = make_sft_step(data, cfg, cfg.mask_ratio(STANDARD), torch.device("cpu"))
    _, logs = step(tiny_model(vocab=digit_tokenizer.get_vocab_size(), block=22), 0, torch.Generator().manual_seed(0))
    assert set(logs) == {"loss_arithmetic"}


def test_sft_steps_give_every_window_the_same_data_order():
    """Common random numbers across windows: the batch rows a seed draws do not depend on the window."""
    from types import SimpleNamespace
    from mdlm_core.experiments.sft_windows import TaskData, make_sft_step
    tokens = torch.arange(40 * 6).reshape(40, 6) % 12
    task = TaskData("arithmetic", tokens, tokens[:4], ["1"] * 4, prompt_tokens=3)
    data = SimpleNamespace(tasks={"arithmetic": task})
    cfg = arithmetic_cfg(batch_size=4)
    seen = {}
    for label in (STANDARD, MID, HIGH_NOISE):
        model, gen, rows = tiny_model(), torch.Generator().manual_seed(3), []
        step = make_sft_step(data, cfg, cfg.mask_ratio(label), torch.device("cpu"))
        for i in range(3):
            before = gen.get_state()
            step(model, i, gen)
            after = gen.get_state()
            gen.set_state(before)
            rows.append(torch.randint(0, 40, (4,), generator=gen).tolist())   # what the step drew first
            gen.set_state(after)
        seen[label] = rows
    assert seen[STANDARD] == seen[MID] == seen[HIGH_NOISE]


@pytest.fixture(scope="module")
def digit_tokenizer():
    texts = [f"{a} + {b} = {a + b}" for a in range(0, 100, 7) for b in range(0, 100, 11)]
    texts = [" ".join(t.replace(" ", "")) for t in texts] * 3
    return train_bpe_tokenizer(texts, vocab_size=280)


def arithmetic_cfg(tasks=("arithmetic",), batch_size=32, **spec):
    """The smoke base model and an arithmetic spec (its fields as keywords) over the defaults below."""
    spec = ArithmeticSpec(**{**dict(digits=2, train=40, eval=10, prompt_tokens=14, answer_tokens=8), **spec})
    return Config(base=LM_SMOKE, tasks=tasks, task_specs=TaskSpecs(arithmetic=spec),
                  train=SFTTrainSpec(batch_size=batch_size))


def test_tokenized_task_layout_is_prompt_then_answer_then_eos(digit_tokenizer):
    cfg = arithmetic_cfg()
    task = tokenize_task(cfg, "arithmetic", digit_tokenizer)
    eos = eos_id(digit_tokenizer)
    train, test = make_arithmetic(40, 10, 2, ("+",), seed=0)
    assert task.train_tokens.shape == (40, 22) and task.eval_tokens.shape == (10, 22) and task.prompt_tokens == 14
    assert task.dropped == {"train": 0, "eval": 0} and not task.discriminative
    for row, ex in zip(task.train_tokens, train):
        prompt, answer = row[:14].tolist(), row[14:].tolist()
        assert digit_tokenizer.decode([t for t in prompt if t != eos]) == ex.prompt   # left-padded with EOS only
        ids = digit_tokenizer.encode(" " + ex.answer).ids
        assert answer[:len(ids)] == ids and set(answer[len(ids):]) == {eos}
    assert task.eval_targets == [ex.target for ex in test]


def test_prompts_and_answers_that_do_not_fit(digit_tokenizer):
    with pytest.raises(ValueError, match=r"raise task_specs\.arithmetic\.prompt_tokens"):
        tokenize_task(arithmetic_cfg(prompt_tokens=5), "arithmetic", digit_tokenizer)
    cfg = arithmetic_cfg(answer_tokens=3)
    task = tokenize_task(cfg, "arithmetic", digit_tokenizer)
    train, _ = make_arithmetic(40, 10, 2, ("+",), seed=0)
    too_long = sum(len(digit_tokenizer.encode(" " + ex.answer).ids) >= 3 for ex in train)
    assert 0 < too_long < 40   # the test needs both kinds
    assert task.dropped["train"] == too_long and len(task.train_tokens) == 40 - too_long
    with pytest.raises(ValueError, match=r"raise task_specs\.arithmetic\.answer_tokens"):
        tokenize_task(arithmetic_cfg(answer_tokens=1), "arithmetic", digit_tokenizer)


def test_config_errors_say_what_to_change():
    with pytest.raises(ValueError, match="unknown task"):
        Config(tasks=("mmlu",))
    with pytest.raises(ValueError, match="a > b"):
        Config(windows=("[0.6,0.4]",))
    with pytest.raises(ValueError, match="unknown mask-ratio spec"):
        Config(windows=("mid",))
    with pytest.raises(ValueError, match="block size"):
        Config(base=LM_SMOKE, tasks=("sst2",), task_specs=TaskSpecs(sst2=SST2Spec(prompt_tokens=100)))
    with pytest.raises(ValueError, match="a > b"):
        Config(base_window="[0.6,0.4]")
    with pytest.raises(ValueError, match="add 'arithmetic'"):
        Config(tasks=("arithmetic_choice",))
    with pytest.raises(ValueError, match=r"shorten task_specs\.arithmetic\.prompt_tokens"):   # the field to change
        Config(base=LM_SMOKE, task_specs=TaskSpecs(arithmetic=ArithmeticSpec(prompt_tokens=40)))
    with pytest.raises(KeyError, match="no task spec"):
        TaskSpecs()["mmlu"]
    assert set(SFT_WINDOWS) == {STANDARD, MID, "[0.2,1]", "[0.3,1]", HIGH_NOISE}


def test_task_specs_are_a_frozen_mapping_and_scored_on_tasks_share_their_spec():
    cfg = PROFILES["quick"]
    assert list(cfg.task_specs) == ["next_word", "sst2", "arithmetic", "gsm8k", "comparison"]
    assert len(cfg.task_specs) == 5
    assert cfg.spec("arithmetic_choice") is cfg.task_specs["arithmetic"] is cfg.task_specs.arithmetic
    assert cfg.sequence_length("arithmetic_choice") == 7 + 5
    assert cfg.task_batch_size("arithmetic") == 48 and cfg.task_batch_size("next_word") == cfg.train.batch_size == 16
    assert cfg.sequence_length("comparison") == cfg.sequence_length("arithmetic") == 12   # one forward pass per step
    assert hash(cfg) == hash(replace(cfg))    # hashable, and equal configs are equal
    for name, profile in PROFILES.items():   # the base is the named LM spec of notebook 03's same profile
        assert profile.base is REGISTRY_U_CURVE().PROFILES[name].lm


def REGISTRY_U_CURVE():
    from mdlm_core.experiments import REGISTRY
    return REGISTRY["u_curve"]


def test_the_notebook_parameters_reach_the_nested_config():
    cfg = config_for_profile(PROFILES, "smoke", windows=[MID], seeds=[3], train__steps=2, train__lr=0.01,
                             train__batch_size=4, task_specs__arithmetic__digits=3, gen_order="random",
                             score_draws=5, workers=1, tasks=["arithmetic"])
    assert (cfg.windows, cfg.seeds, cfg.tasks) == ((MID,), (3,), ("arithmetic",))
    assert (cfg.train.steps, cfg.train.lr, cfg.train.batch_size) == (2, 0.01, 4)
    assert cfg.task_specs.arithmetic.digits == 3 and cfg.scoring.gen_order == "random" and cfg.scoring.score_draws == 5
    assert cfg.base == PROFILES["smoke"].base     # the base LM's own steps are untouched
    with pytest.raises(ValueError, match="ambiguous"):   # the base LM and the SFT both have steps: say which
        config_for_profile(PROFILES, "smoke", steps=2)


def synthetic_runs(choice: dict, arithmetic: dict, seeds=(0, 1, 2), jitter=0.002, n=20_000,
                   baselines=(("comparison", 0.5), ("arithmetic", 0.01))) -> pd.DataFrame:
    baselines = dict(baselines)
    rows = []
    for task, means in (("comparison", choice), ("arithmetic", arithmetic)):
        for window, mean in means.items():
            for s in seeds:
                ratio = MaskRatio.parse(window)
                rows.append(dict(window=window, low=ratio.low, high=ratio.high, seed=s, task=task,
                                 discriminative=task == "comparison", accuracy=mean + jitter * (s - 1) ** 2, n=n,
                                 baseline=baselines[task], base_model="synthetic"))
    return pd.DataFrame(rows)


PAPER_ORDER = {HIGH_NOISE: 0.5, "[0.3,1]": 0.45, STANDARD: 0.4, "[0.2,1]": 0.35, MID: 0.3}


def test_window_difference_is_paired_by_seed():
    runs = synthetic_runs({STANDARD: 0.7, MID: 0.75}, {STANDARD: 0.4})
    runs.loc[(runs.task == "comparison") & (runs.window == MID) & (runs.seed == 2), "accuracy"] += 0.03
    diffs, eval_se = window_difference(runs, "comparison", MID, STANDARD)
    np.testing.assert_allclose(diffs, [0.05, 0.05, 0.08])
    # no per-example scores given: the unpaired binomial s.e. of one difference
    p_mid, p_std = 0.75 + 0.03 / 3 + 0.002 * 2 / 3, 0.70 + 0.002 * 2 / 3
    assert eval_se == pytest.approx(math.sqrt((p_mid * (1 - p_mid) + p_std * (1 - p_std)) / 20_000))


EIGHT_SEEDS = tuple(range(8))   # the exact sign-flip test needs >= 5 agreeing seeds to reach p <= 0.05 (2^-5)


def test_claims_see_the_crossover_only_when_it_is_there():
    cfg = PROFILES["quick"]
    crossover = synthetic_runs({STANDARD: 0.70, MID: 0.75, "[0.2,1]": 0.7, "[0.3,1]": 0.7, HIGH_NOISE: 0.7},
                               PAPER_ORDER, seeds=EIGHT_SEEDS)
    claims = sft_claims(crossover, cfg)
    verdicts = {c.claim: c.verdict for c in claims}
    checks = ("Gate", "Two skills")
    assert all(v == ("checked" if c.startswith(checks) else "reproduced") for c, v in verdicts.items()), verdicts
    assert sum(c.startswith("Gate") for c in verdicts) == 2 and any("ranking" in c for c in verdicts)
    assert sum(c.startswith("Two skills") for c in verdicts) == 1
    [cross] = [c for c in claims if c.claim.startswith("Crossover")]
    assert "crossover" in cross.test and cross.z > 2
    experiment = [c for c in claims if c.kind == "experiment"]
    assert all(c.gate_passed is True and "SFT learned" in c.gate and c.p_opposite is not None for c in experiment)
    # every claim judged here survives the report's false-discovery control (q <= 0.05)
    assert all(row["verdict"] == "reproduced" and row["q_value"] <= 0.05
               for row in apply_fdr([c.to_dict() for c in experiment]))
    reversed_ = synthetic_runs({STANDARD: 0.75, MID: 0.70, "[0.2,1]": 0.7, "[0.3,1]": 0.7, HIGH_NOISE: 0.8},
                               {w: 1 - v for w, v in PAPER_ORDER.items()}, seeds=EIGHT_SEEDS)
    verdicts = {c.claim: c.verdict for c in sft_claims(reversed_, cfg)}
    assert all(v == "not reproduced" for c, v in verdicts.items() if not c.startswith(checks)), verdicts
    # three seeds, however clear: the exact sign-flip floor (2^-3 = 0.125) keeps the paired claims from a verdict
    three = {c.claim: c for c in sft_claims(synthetic_runs({STANDARD: 0.70, MID: 0.75}, PAPER_ORDER), cfg)}
    assert three["Discriminative (comparison): [0.45,0.55] beats [0,1]"].verdict == "inconclusive"
    assert three["Discriminative (comparison): [0.45,0.55] beats [0,1]"].p_value == pytest.approx(1 / 8)


def test_the_ranking_is_pages_trend_test_with_seeds_as_blocks():
    """The generative ranking claim is Page's L over seeds as blocks, the windows in GSM8K's order: a ranking that
    holds on every seed passes, one that holds only in the means (two of five seeds reversed) does not, and the order of
    the windows in the config does not matter."""
    cfg = PROFILES["quick"]
    assert sft_windows.PAPER_GSM8K_ORDER == (MID, "[0.2,1]", STANDARD, "[0.3,1]", HIGH_NOISE)
    runs = synthetic_runs({STANDARD: 0.7, MID: 0.75}, PAPER_ORDER, seeds=tuple(range(5)))
    rank = lambda runs: next(c for c in sft_claims(runs, cfg) if "ranking" in c.claim)  # noqa: E731
    claim = rank(runs)
    assert "Page's L" in claim.test and claim.n_seeds == 5 and claim.verdict == "reproduced"
    assert claim.effect == pytest.approx(1.0)            # every seed ranks the windows exactly as GSM8K
    assert claim.p_value == pytest.approx((1 / 120) ** 5)  # exact: the one best ordering on each of 5 seeds
    shuffled = runs.sample(frac=1.0, random_state=0)
    assert rank(shuffled).p_value == pytest.approx(claim.p_value)
    # the means keep GSM8K's order, but on seeds 0 and 1 the order is reversed: Page's test sees the seeds
    flipped = runs.copy()
    on = (flipped.task == "arithmetic") & flipped.seed.isin([0, 1])
    flipped.loc[on, "accuracy"] = 0.8 - flipped.loc[on, "accuracy"]
    means = flipped[flipped.task == "arithmetic"].groupby("window").accuracy.mean()
    assert list(means.sort_values().index) == list(sft_windows.PAPER_GSM8K_ORDER)
    # Spearman's rho over these means is 1 (exact p = 1/120); Page's L: mean rho (3 - 2) / 5, p well above 0.05
    assert rank(flipped).effect == pytest.approx(1 / 5) and rank(flipped).p_value > 0.1
    assert rank(flipped).verdict == "inconclusive"


def test_a_task_below_its_baseline_makes_its_window_claims_inconclusive():
    """The gate: the multiple choice at its baseline (the arithmetic crossover half is clear) -> its claims and the crossover
    are inconclusive and say why; the arithmetic claims keep their verdicts."""
    cfg = PROFILES["quick"]
    runs = synthetic_runs({STANDARD: 0.50, MID: 0.51, "[0.2,1]": 0.5, "[0.3,1]": 0.5, HIGH_NOISE: 0.49},
                          PAPER_ORDER, n=872, seeds=EIGHT_SEEDS)
    found = sft_claims(runs, cfg)
    claims = {c.claim.split(":")[0]: c for c in found}
    gate = [c for name, c in claims.items() if name.startswith("Gate (comparison)")][0]
    assert gate.verdict == "fails check" and gate.kind == "derived"
    gated_names = [name for name, c in claims.items() if c.kind == "experiment"
                   and ("comparison" in name or name.startswith("Crossover"))]
    assert len(gated_names) == 2
    for name in gated_names:
        claim = claims[name]
        assert claim.verdict == "inconclusive" and "gated" in claim.test and "comparison" in claim.test, name
        assert claim.gate_passed is False and sft_windows.task_gate_name("comparison") in claim.gate, name
        assert not in_fdr_family(claim.to_dict())           # a failed gate keeps the claim out of the FDR family
        assert gate_failed(claim.to_dict()) and "gate:" in verdict_cell(claim.to_dict())
    arithmetic = [c for c in found if c.claim.startswith("Generative")]
    assert len(arithmetic) == 3 and all(c.verdict == "reproduced" and c.gate_passed for c in arithmetic)


def test_claims_are_inconclusive_when_the_seeds_disagree():
    cfg = PROFILES["quick"]
    runs = synthetic_runs({STANDARD: 0.70, MID: 0.70}, {STANDARD: 0.4, HIGH_NOISE: 0.4})
    runs.loc[(runs.task == "comparison") & (runs.window == MID), "accuracy"] += [0.02, -0.02, 0.005]
    [claim] = [c for c in sft_claims(runs, cfg) if c.claim.startswith("Discriminative")]
    assert claim.kind == "experiment" and claim.verdict == "inconclusive" and claim.n_seeds == 3
    assert abs(claim.z) < 1 and "paired difference" in claim.test


def test_exact_and_bootstrap_intervals_stay_inside_0_1():
    from mdlm_core.experiments.sft_windows import clopper_pearson, seed_bootstrap_interval
    low, high = clopper_pearson(np.array([0, 5, 10]), np.array([10, 10, 10]))
    np.testing.assert_allclose(low, [0.0, 0.18709, 0.69150], atol=1e-4)   # the textbook 95% values
    np.testing.assert_allclose(high, [0.30850, 0.81291, 1.0], atol=1e-4)
    bimodal = [0.02, 0.98, 1.0, 0.0, 0.99]        # mean + s.d. = 1.13: an s.d. bar runs past 1
    assert np.mean(bimodal) + np.std(bimodal, ddof=1) > 1
    low, high = seed_bootstrap_interval(bimodal)
    assert 0.0 <= low < np.mean(bimodal) < high <= 1.0
    assert seed_bootstrap_interval(bimodal) == (low, high)          # a fixed generator: the figure is stable
    assert seed_bootstrap_interval([0.4]) == (0.4, 0.4)


def test_the_window_figure_draws_seeds_and_intervals_inside_0_1(tmp_path, monkeypatch):
    """Per-seed points with their exact interval, the mean with its seed-bootstrap interval: on bimodal seeds near
    0 and 1 (where mean +- s.d. bars run past both ends) every drawn interval stays inside [0, 1]."""
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    seeds = tuple(range(5))
    cfg = replace(PROFILES["quick"], seeds=seeds)
    runs = synthetic_runs({w: 0.9 for w in SFT_WINDOWS}, {w: 0.1 for w in SFT_WINDOWS}, seeds=seeds, n=500)
    bimodal = {0: 0.0, 1: 1.0, 2: 0.98, 3: 0.01, 4: 1.0}
    runs.loc[runs.window == HIGH_NOISE, "accuracy"] = runs.seed.map(bimodal)
    metrics = pd.DataFrame([dict(window=w, seed=s, step=step, comparison_acc=0.5 + step / 400, arithmetic_acc=0.1,
                                 train_loss=1.0) for w in SFT_WINDOWS for s in seeds for step in (0, 100)])
    layout = pd.DataFrame(dict(task=["comparison", "arithmetic"], discriminative=[True, False],
                               chance=[0.5, None], baseline=[0.5, 0.01]))
    runs = runs.merge(pd.concat([sft_windows.steps_to_threshold(metrics, task, threshold, 100)
                                 for task, threshold in (("comparison", 0.75), ("arithmetic", 0.5))]),
                      on=["window", "seed", "task"])
    results = sft_windows.Results(runs, metrics, {}, pd.DataFrame(), pd.DataFrame(), cfg,
                                  {"comparison": {"accuracy": 0.3}, "arithmetic": {"accuracy": 0.0}}, layout)
    figs = sft_windows.figures(results, Outputs("smoke"))
    intervals = sft_windows.accuracy_intervals(runs)
    for ax in figs[figure_names.SFT_WINDOWS].axes:
        collections = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(collections) >= 2            # the means' intervals and the single seeds' intervals
        ys = [seg[:, 1] for c in collections for seg in c.get_segments()]
        ys += [np.asarray(line.get_ydata(), float) for line in ax.lines]
        assert all(np.all((y >= 0) & (y <= 1)) for y in ys)
    curves = figs[figure_names.SFT_TRAINING_CURVES].axes[0]   # the threshold drawn, every run's crossing ticked
    assert any(np.allclose(line.get_ydata(), 0.75) for line in curves.lines)
    assert "reached by 25 of 25 runs" in curves.get_legend_handles_labels()[1][-1]
    high_noise = intervals[(intervals.task == "comparison") & (intervals.window == HIGH_NOISE)].iloc[0]
    assert 0 < high_noise.low < high_noise.accuracy < high_noise.high < 1
    # the drawn interval of that window is the seed bootstrap's
    ax = figs[figure_names.SFT_WINDOWS].axes[0]
    drawn = [seg[:, 1] for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()
             if np.isclose(seg[0, 0], SFT_WINDOWS.index(HIGH_NOISE))]
    assert any(np.allclose(sorted(y), [high_noise.low, high_noise.high]) for y in drawn)
    import matplotlib.pyplot as plt
    plt.close("all")


def test_ranking_and_spearman():
    assert ranking({"a": 0.2, "b": 0.5, "c": 0.2}) in ("b > a = c", "b > c = a")
    assert spearman_rho([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


@needs_data("wikitext-2", "sst2")
def test_sft_run_is_deterministic_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path))
    smoke = PROFILES["smoke"]
    cfg = replace(smoke, windows=(MID,), seeds=(0,), train=replace(smoke.train, steps=3))
    data = prepare_sft_data(cfg)
    base = base_model(cfg, data, progress=False)
    assert base.name.startswith("lm-[0,1]-s0-")     # notebook 03's uniform run, seed 0: always a pretrained base
    assert not hasattr(cfg, "pretrained")           # no random-initialisation path
    first = train_sft_run(cfg, data, MID, 0, base, progress=False)
    assert (first.run_dir / "final.pt").exists() and list(first.run_dir.glob("eval-scores-*.json"))
    again = train_sft_run(cfg, data, MID, 0, base, progress=False)           # from the cache
    pd.testing.assert_frame_equal(first.metrics, again.metrics)
    assert first.scores == again.scores
    for path in tmp_path.rglob("*"):
        if path.name.startswith("sft-"):
            import shutil
            shutil.rmtree(path)
    fresh = train_sft_run(cfg, data, MID, 0, base, progress=False)           # retrained: bit-identical
    pd.testing.assert_frame_equal(first.metrics, fresh.metrics)
    assert {t: s["correct"] for t, s in first.scores.items()} == {t: s["correct"] for t, s in fresh.scores.items()}
    assert set(first.scores) == set(cfg.tasks)


@needs_data("gsm8k")
def test_gsm8k_is_scored_on_the_number_after_the_marks():
    from mdlm_core.experiments.sft_windows import score_task
    from mdlm_core.data.tasks import load_gsm8k
    train = load_gsm8k("train", limit=200)
    tokenizer = train_bpe_tokenizer([ex.prompt + " " + ex.answer for ex in train], vocab_size=1200)
    cfg = Config(base=LM_QUICK, tasks=("gsm8k",),
                 task_specs=TaskSpecs(gsm8k=GSM8KSpec(train=40, eval=6, prompt_tokens=48, answer_tokens=80)),
                 scoring=ScoringSpec(eval_batch_size=4))
    task = tokenize_task(cfg, "gsm8k", tokenizer)
    assert task.dropped["train"] + len(task.train_tokens) == 40 and len(task.eval_tokens) > 0
    assert all(target.replace("-", "").replace(".", "").isdigit() for target in task.eval_targets)
    model = tiny_model(vocab=tokenizer.get_vocab_size(), block=128)
    score = score_task(model, task, cfg.scoring, tokenizer, eos_id(tokenizer))
    assert score["n"] == len(task.eval_tokens) and len(score["correct"]) == score["n"]
    # a random model writes no '#### <number>' line: its extracted answers are empty, never the raw text
    assert all(ex["answer"] == "" or ex["answer"].replace("-", "").replace(".", "").isdigit()
               for ex in score["examples"])


def test_window_difference_includes_the_test_set_uncertainty():
    runs = synthetic_runs({STANDARD: 0.70, MID: 0.71}, {STANDARD: 0.4}, jitter=0.0, n=100)
    rng = np.random.default_rng(0)
    correct = {}
    for s in (0, 1, 2):
        base = rng.random(100) < 0.7
        correct[(STANDARD, s, "comparison")] = base.astype(int)
        flipped = base.copy()
        flipped[:1] = ~flipped[:1]   # one example differs: the accuracies barely differ
        correct[(MID, s, "comparison")] = flipped.astype(int)
    _, unpaired = window_difference(runs, "comparison", MID, STANDARD)
    diffs, eval_se = window_difference(runs, "comparison", MID, STANDARD, correct)
    # paired over the same examples, one flipped example in 100: s.e. 0.01, far below the unpaired 0.064
    assert np.all(diffs == pytest.approx(0.01)) and eval_se == pytest.approx(0.01) and unpaired > 0.06
    # the seeds agree exactly (s.e. 0): only the pooled-in test-set s.e. keeps the verdict honest
    [claim] = [c for c in sft_claims(runs, PROFILES["quick"], correct) if c.claim.startswith("Discriminative")]
    assert claim.verdict in ("partly", "inconclusive") and claim.z < 2


# Cache keys recorded with the code before the refactor (PYTHONPATH=/work/cachebuild): the base model is the same
# run as notebook 03's, and the SFT runs and their scores keep their keys.
OLD_KEYS = {
    "smoke": {"base": "lm-[0,1]-s0-c5a304dc884a", "scoring": "2060bc010fe5",
              "runs": {(STANDARD, 0): "sft-[0,1]-s0-918724e0388c", (MID, 0): "sft-[0.45,0.55]-s0-dfb0e52484b7"}},
    "quick": {"base": "lm-[0,1]-s0-63ed3f4dfa93", "scoring": "46959927d6c2",
              "runs": {(STANDARD, 0): "sft-[0,1]-s0-1171ed5f955f", (MID, 0): "sft-[0.45,0.55]-s0-86e33a23cc48",
                       (HIGH_NOISE, 4): "sft-[0.5,1]-s4-97ee401af329"}},
}


# The designs those keys were recorded with (notebook 04 before the comparison task): a config equal to one of them
# keeps its keys, because a task spec added later (comparison) is keyed only where it is run.
OLD_DESIGNS = {
    "smoke": {"tasks": ("arithmetic_choice", "next_word", "sst2", "arithmetic"), "extra_seeds": ()},
    "quick": {"tasks": ("arithmetic_choice", "arithmetic"), "train.eval_every": 200, "seeds": (0, 1, 2, 3, 4),
              "extra_seeds": (), "task_specs.arithmetic.prompt_tokens": 6, "task_specs.arithmetic.batch_size": 64},
}


@needs_data("wikitext-2", "sst2")
@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_cache_keys_are_those_of_before_the_refactor(profile, tmp_path, monkeypatch):
    from mdlm_core import lm
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path))
    from mdlm_core.companion.profiles import apply_overrides
    old = OLD_KEYS[profile]
    cfg = apply_overrides(PROFILES[profile], **OLD_DESIGNS[profile])   # the design those runs were cached with
    assert config_hash(sft_windows.key_fields(cfg)) != config_hash(sft_windows.key_fields(PROFILES[profile]))
    data = prepare_sft_data(cfg)
    base = f"lm-{cfg.base_window}-s{cfg.base_seed}-{config_hash(lm.run_config(cfg.base, data.lm, cfg.base_window, cfg.base_seed))}"
    assert base == old["base"]
    for (window, seed), name in old["runs"].items():
        assert f"sft-{window}-s{seed}-{config_hash(sft_windows.run_key(cfg, data, window, seed, base))}" == name
    assert config_hash(sft_windows.scoring_key(cfg, data)) == old["scoring"]


@needs_data("wikitext-2", "sst2")
def test_smoke_run_in_process_writes_every_table_figure_and_well_formed_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    out = Outputs("smoke")
    cfg = PROFILES["smoke"]
    results = sft_windows.run(cfg, out, progress=False)
    tables = {p.stem for p in (out.directory / "data").glob("04_*.csv")}
    assert tables == {"04_sft_data", "04_sft_runs", "04_sft_summary", "04_sft_training_curves", "04_timing"}
    assert len(results.runs) == len(cfg.jobs) * len(cfg.tasks) == (len(cfg.windows) * 2 + 1) * len(cfg.tasks)
    assert not results.runs.duplicated(["window", "seed", "task"]).any()       # tidy: one row per run x task
    assert results.runs.steps_to_threshold.between(0, cfg.train.steps).all() and "reached" in results.runs
    assert set(results.runs.base_model) == {OLD_KEYS["smoke"]["base"]} and set(results.base_scores) == set(cfg.tasks)
    claims = sft_windows.claims(results)
    assert claims and all(isinstance(c, Claim) and c.verdict for c in claims)
    assert sum(c.claim.startswith("Gate") for c in claims) == len(cfg.tasks)
    figs = sft_windows.figures(results, out)
    assert set(figs) == {figure_names.SFT_WINDOWS, figure_names.SFT_TRAINING_CURVES}
    assert len(figs[figure_names.SFT_WINDOWS].axes) == len(cfg.tasks)
    for name in figs:
        assert (out.directory / f"{name}.png").is_file()
    sft_windows.explorer(results)
    shown = sft_windows.answers_shown(results)
    assert set(shown.window) == {cfg.windows[0], cfg.windows[-1]} and set(shown.seed) == {cfg.seeds[0]}
    with pytest.raises(ValueError, match="two logged steps"):
        sft_windows.sft_curves_explorer(results.metrics[results.metrics.step == 0])
    import matplotlib.pyplot as plt
    plt.close("all")


@needs_data("wikitext-2", "sst2")
def test_generative_curves_only_at_the_end_when_curve_generate_every_is_0(tmp_path, monkeypatch):
    from mdlm_core.companion.profiles import apply_overrides

    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path / "cache"))
    cfg = apply_overrides(PROFILES["smoke"], windows=("[0,1]",), seeds=(0,), **{"scoring.curve_generate_every": 0})
    assert config_hash(sft_windows.key_fields(cfg)) != config_hash(sft_windows.key_fields(PROFILES["smoke"]))
    metrics = sft_windows.run(cfg, Outputs("smoke"), progress=False).metrics
    last = metrics.step == cfg.train.steps
    for task in cfg.tasks:
        column = metrics[f"{task}_acc"]
        if task in sft_windows.DISCRIMINATIVE:
            assert column.notna().all(), f"{task}: a discriminative curve is scored at every evaluation"
        else:
            assert column[~last].isna().all() and column[last].notna().all(), f"{task}: generated at the end only"


def test_extra_seeds_train_the_crossover_windows_only():
    cfg = PROFILES["quick"]
    jobs = cfg.jobs
    assert len(jobs) == len(set(jobs)) == 5 * 3 + 3 * 5
    per_window = pd.Series([w for w, _ in jobs]).value_counts()
    assert all(per_window[w] >= 8 for w in (STANDARD, MID, HIGH_NOISE)) and per_window["[0.2,1]"] == 3
    assert jobs[:5] == [(w, 0) for w in cfg.windows]             # the first pass covers every window
    assert replace(cfg, windows=("[0.2,1]",)).jobs == [("[0.2,1]", s) for s in cfg.seeds]
    overlap = replace(cfg, seeds=(0, 1, 2, 3, 4)).jobs                 # a seed in both is run once
    assert len(overlap) == len(set(overlap)) == 5 * 5 + 3 * 3


def test_steps_to_threshold_is_the_first_crossing_censored_at_the_budget():
    metrics = pd.DataFrame(dict(window=["a"] * 4 + ["b"] * 4, seed=0, step=[0, 100, 200, 300] * 2,
                                comparison_acc=[0.5, 0.8, 0.7, 0.9, 0.5, 0.6, np.nan, 0.74]))
    got = sft_windows.steps_to_threshold(metrics, "comparison", 0.75, budget=300).set_index("window")
    assert (got.loc["a", "steps_to_threshold"], got.loc["a", "reached"]) == (100, True)     # first, not last
    assert (got.loc["b", "steps_to_threshold"], got.loc["b", "reached"]) == (300, False)    # censored
    assert sft_windows.task_threshold(0.5) == 0.75 and sft_windows.task_threshold(0.0) == 0.5


def test_paired_gehan_test_by_enumeration():
    """Per seed +1 / -1 where one window's run certainly reached the threshold first, 0 where censoring leaves it
    open or they tie; the p-value is the exact sign-flip distribution of the sum over all 2^n patterns."""
    test = sft_windows.paired_gehan_test
    six = test([100] * 6, [True] * 6, [300] * 6, [True] * 6)
    assert six.p_value == pytest.approx(1 / 64) and six.p_opposite == 1 and six.effect == 1
    assert six.verdict == "reproduced" and six.n_seeds == 6 and six.mde is not None
    # reached at the budget vs censored there: certainly first; both censored, or tied: open
    fast = [1600, 1600, 200, 200, 100]
    res = test(fast, [True, False, True, True, True], [1600, 1600, 200, 400, 1600], [False, False, True, True, False])
    scores = np.array([1, 0, 0, 1, 1])
    patterns = np.array([[1 - 2 * ((k >> i) & 1) for i in range(5)] for k in range(32)])
    sums = patterns @ scores
    assert res.p_value == pytest.approx(np.mean(sums >= 3)) and res.p_opposite == pytest.approx(np.mean(sums <= 3))
    assert res.effect == pytest.approx(3 / 5) and "on 3 of 5 seeds" in res.summary
    assert res.mde is None and res.verdict == "inconclusive"     # 3 informative seeds: p >= 1/8 whatever happens
    slower = test([300] * 6, [True] * 6, [100] * 6, [True] * 6)
    assert slower.p_opposite == pytest.approx(1 / 64) and slower.verdict == "not reproduced"
    with pytest.raises(ValueError, match="one time and one event"):
        test([1, 2], [True], [1, 2], [True, True])


def timed_runs(runs: pd.DataFrame, steps: dict) -> pd.DataFrame:
    """``runs`` with steps to threshold per (task, window): (steps, reached) for every seed."""
    times = runs.apply(lambda r: steps[r.task][r.window], axis=1)
    return runs.assign(threshold=0.5, steps_to_threshold=[t for t, _ in times], reached=[e for _, e in times])


def test_steps_claims_sit_beside_the_accuracy_claims_and_follow_the_curves():
    cfg = PROFILES["quick"]
    runs = synthetic_runs({STANDARD: 0.70, MID: 0.75, "[0.2,1]": 0.7, "[0.3,1]": 0.7, HIGH_NOISE: 0.7},
                          PAPER_ORDER, seeds=EIGHT_SEEDS)
    fast, slow, never = (200, True), (800, True), (1600, False)
    steps = {"comparison": {w: fast if w == MID else slow for w in SFT_WINDOWS},
             "arithmetic": {STANDARD: slow, MID: never, "[0.2,1]": slow, "[0.3,1]": slow, HIGH_NOISE: fast}}
    claims = {c.claim: c for c in sft_claims(timed_runs(runs, steps), cfg)}
    summary = sft_windows.summarize_sft(timed_runs(runs, steps)).set_index(["task", "window"])
    assert tuple(summary.loc[("comparison", MID), ["reached_threshold", "median_steps_reached"]]) == (8, 200)
    assert summary.loc[("arithmetic", MID), "reached_threshold"] == 0
    assert np.isnan(summary.loc[("arithmetic", MID), "median_steps_reached"])
    timed = {name: c for name, c in claims.items() if "sooner" in name or "steps to threshold" in name}
    assert len(timed) == 4 and all(c.kind == "experiment" for c in timed.values())
    assert all(c.verdict == "reproduced" and c.p_value == pytest.approx(1 / 256) for c in timed.values()), timed
    assert "Gehan" in claims[f"Generative (arithmetic): {HIGH_NOISE} reaches the threshold sooner than {STANDARD}"].test
    cross = claims[f"Crossover in steps to threshold: {MID} reaches it sooner than {HIGH_NOISE} on discriminative "
                   "tasks and later on generative ones"]
    assert "crossover" in cross.test and "two skills" in cross.gate
    # the accuracy says one thing, the speed the other: each claim reports its own
    steps["comparison"] = {w: slow if w == MID else fast for w in SFT_WINDOWS}
    claims = {c.claim: c for c in sft_claims(timed_runs(runs, steps), cfg)}
    assert claims[f"Discriminative (comparison): {MID} beats {STANDARD}"].verdict == "reproduced"
    assert claims[f"Discriminative (comparison): {MID} reaches the threshold sooner than {STANDARD}"].verdict == \
        "not reproduced"


def test_two_skill_criterion_gates_the_crossover():
    """One skill read twice (the accuracies move together across runs, |r| >= 0.8): the crossover is inconclusive
    and says so, whatever its tests find; the two-skill row records r. Two skills (r near 0): it is judged."""
    cfg = PROFILES["quick"]
    rng = np.random.default_rng(0)
    gen = {STANDARD: 0.4, MID: 0.3, "[0.2,1]": 0.35, "[0.3,1]": 0.45, HIGH_NOISE: 0.5}
    one_skill = synthetic_runs(gen, gen, seeds=EIGHT_SEEDS)
    flip = one_skill.task == "comparison"
    one_skill.loc[flip, "accuracy"] = 1 - one_skill.loc[flip, "accuracy"]   # r = -1, the mid window first on comparison
    gate, r, n_runs = sft_windows.two_skill_gate(one_skill, "comparison", "arithmetic")
    assert r == pytest.approx(-1) and n_runs == 5 * 8 and not gate.passed and "r = -1.000" in gate.detail
    claims = {c.claim.split(":")[0]: c for c in sft_claims(one_skill, cfg)}
    assert claims["Two skills"].verdict == "fails check" and "-1.000" in claims["Two skills"].ours
    cross = claims["Crossover"]
    assert cross.verdict == "inconclusive" and cross.gate_passed is False and "two skills" in cross.test
    assert cross.p_value is not None and cross.p_value < 0.05        # its numbers stay, the verdict does not
    two = one_skill.copy()
    two.loc[flip, "accuracy"] = np.where(two.loc[flip, "window"] == MID, 0.8, 0.7) + rng.normal(0, 0.01, flip.sum())
    gate, r, _ = sft_windows.two_skill_gate(two, "comparison", "arithmetic")
    table = two.pivot_table(index=["window", "seed"], columns="task", values="accuracy")
    assert r == pytest.approx(np.corrcoef(table.comparison, table.arithmetic)[0, 1]) and gate.passed
    claims = {c.claim.split(":")[0]: c for c in sft_claims(two, cfg)}
    assert claims["Two skills"].verdict == "checked" and claims["Crossover"].verdict == "reproduced"
    flat = two.copy()
    flat.loc[flip, "accuracy"] = 0.9                                   # a readout that never varies shows nothing
    assert not sft_windows.two_skill_gate(flat, "comparison", "arithmetic")[0].passed


def test_candidate_scores_match_exact_enumeration_on_a_toy_model():
    """The scorer's choice between ' <' and ' >' (answer regions of 3 tokens: space, symbol, EOS) is the MC ELBO:
    with a one-token answer every draw masks it, so the score is exactly log p(a | prompt); with three tokens its
    mean over many rows of one prompt converges to the exact ELBO over all 2^3 - 1 masks, candidate by candidate."""
    from mdlm_core.sft import answer_elbo_exact
    model = tiny_model()
    prompt = torch.tensor([1, 2, 3, 4])
    one = torch.tensor([[5], [6]])
    got = candidate_log_likelihoods(model, prompt[None], one, draws=3, seed=0)[0]
    exact = [answer_elbo_exact(model, prompt, c, model.mask_id) for c in one]
    assert got.tolist() == pytest.approx(exact, rel=1e-6)
    three = torch.tensor([[7, 5, 0], [7, 6, 0]])
    rows = prompt.expand(3000, 4)
    scores = candidate_log_likelihoods(model, rows, three, draws=3, seed=0)
    exact = torch.tensor([answer_elbo_exact(model, prompt, c, model.mask_id) for c in three], dtype=torch.float64)
    se = scores.std(0) / math.sqrt(len(rows))
    assert torch.all((scores.mean(0) - exact).abs() < 4 * se) and torch.all(scores.mean(0) <= 0)
    assert scores.mean(0).argmax() == exact.argmax()


def test_tasks_of_one_length_share_a_pass_and_a_task_alone_keeps_its_own_draws():
    """A task alone at its sequence length draws its rows and masks as a pass of its own (the step before
    tasks shared passes: sft_loss per task, in task order); two tasks of one length share one pass whose
    per-task losses are the means of their own rows."""
    from types import SimpleNamespace
    from mdlm_core.experiments.sft_windows import TaskData, make_sft_step
    from mdlm_core.sft import sft_loss
    short = TaskData("comparison", torch.arange(30 * 6).reshape(30, 6) % 11, torch.zeros(1, 6, dtype=torch.long),
                     ["<"], prompt_tokens=4)
    long_ = TaskData("arithmetic", torch.arange(40 * 8).reshape(40, 8) % 11, torch.zeros(1, 8, dtype=torch.long),
                     ["1"], prompt_tokens=5)
    cfg = arithmetic_cfg(batch_size=4)
    ratio, model = cfg.mask_ratio(STANDARD), tiny_model()
    loss, logs = make_sft_step(SimpleNamespace(tasks={"comparison": short, "arithmetic": long_}), cfg, ratio,
                               torch.device("cpu"))(model, 0, torch.Generator().manual_seed(5))
    gen, expected = torch.Generator().manual_seed(5), {}
    for name, task in (("comparison", short), ("arithmetic", long_)):
        idx = torch.randint(0, len(task.train_tokens), (4,), generator=gen)
        expected[name] = sft_loss(model, task.train_tokens[idx], torch.full((4,), task.prompt_tokens), ratio,
                                  model.mask_id, gen).loss
    assert logs == pytest.approx({f"loss_{n}": v.item() for n, v in expected.items()}, rel=1e-6)
    assert loss.item() == pytest.approx((expected["comparison"].item() + expected["arithmetic"].item()) / 2, rel=1e-6)
    same = TaskData("comparison", torch.arange(30 * 8).reshape(30, 8) % 11, torch.zeros(1, 8, dtype=torch.long),
                    ["<"], prompt_tokens=6)
    data = SimpleNamespace(tasks={"comparison": same, "arithmetic": long_})
    calls = []
    model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    loss, logs = make_sft_step(data, cfg, ratio, torch.device("cpu"))(model, 0, torch.Generator().manual_seed(5))
    assert calls == [torch.Size([8, 8])] and set(logs) == {"loss_comparison", "loss_arithmetic"}
    assert loss.item() == pytest.approx((logs["loss_comparison"] + logs["loss_arithmetic"]) / 2, rel=1e-6)
