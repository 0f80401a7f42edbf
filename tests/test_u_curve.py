import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import mdlm_core.experiments.u_curve as lm
from mdlm_core.evaluation import elbo_eval, paired_difference, stratified_mask_ratios
from mdlm_core.experiments.u_curve import (BINS, CENTER, LM_PROFILES, UNIFORM, WINDOWS, LMConfig, LMData, build_lm_model,
                                          evaluation_se, pooled_seed_sd, prepare_lm_data, seed_differences, train_lm_run)
from mdlm_core.mask_ratio import MIN_MASK_RATIO
from mdlm_core.data.text import WIKITEXT2_FILES, pack_sequences
from mdlm_core.training import CHECKPOINT, FINAL, config_hash

VOCAB = 50
CFG = LMConfig(vocab_size=VOCAB, seq_len=16, n_layer=1, n_head=2, n_embd=16, batch_size=4, steps=9, lr=3e-3,
               warmup_steps=2, eval_every=3, valid_seqs=4, valid_draws=2, test_seqs=6, test_draws=10,
               eval_batch_size=4, device="cpu")


def synthetic_data(seed=0) -> LMData:
    """Packed random token rows with the LMData shape (no tokenizer needed to exercise training and eval)."""
    g = torch.Generator().manual_seed(seed)
    stream = lambda n: torch.randint(1, VOCAB, (n,), generator=g)
    return LMData(pack_sequences(stream(40 * 16), 16).full_rows, pack_sequences(stream(5 * 16 + 7), 16),
                  pack_sequences(stream(6 * 16), 16), tokenizer=None, vocab_size=VOCAB,
                  sha256={"train": "x"}, tokenizer_key="synthetic", source="test")


def test_the_twelve_training_windows():
    ratios = {label: CFG.mask_ratio(label) for label in WINDOWS}
    assert len(ratios) == 12 and (ratios[UNIFORM].low, ratios[UNIFORM].high) == (0.0, 1.0)
    assert (ratios[CENTER].low, ratios[CENTER].high) == (0.45, 0.55) and ratios[CENTER].stratified
    assert (ratios[BINS[4]].low, ratios[BINS[4]].high) == (0.4, 0.5)
    assert ratios["[0,0.1]"].support == (MIN_MASK_RATIO, 0.1)
    assert not replace(CFG, stratified=False).mask_ratio(CENTER).stratified
    with pytest.raises(ValueError, match="unknown mask-ratio spec"):
        LMConfig(windows=("[0.4,0.6", ))
    with pytest.raises(ValueError, match="multiple of t_bins"):
        LMConfig(test_draws=15, t_bins=10)


def test_jobs_cover_every_window_then_the_extra_seeds():
    jobs = LM_PROFILES["quick"].jobs
    assert jobs[:12] == [(w, 0) for w in WINDOWS]
    assert len(jobs) == len(set(jobs)) == 12 * 2     # every window with >= 2 seeds (paired)
    jobs = LM_PROFILES["smoke"].jobs
    assert len(jobs) == 12 + 2


def test_stratified_mask_ratios_put_one_draw_in_each_stratum():
    ts = stratified_mask_ratios(500, 20, torch.Generator().manual_seed(0))
    u = (ts.double() - MIN_MASK_RATIO) / (1 - MIN_MASK_RATIO)
    strata = torch.arange(20, dtype=torch.float64).reshape(-1, 1)
    assert torch.all(u >= strata / 20 - 1e-6) and torch.all(u < (strata + 1) / 20 + 1e-6)


def test_elbo_is_deterministic_under_its_seed_and_changes_with_it():
    data = synthetic_data()
    model = build_lm_model(CFG, VOCAB, seed=0, device=torch.device("cpu"))
    a, b = (elbo_eval(model, data.valid, 10, seed=5, batch_size=3) for _ in range(2))
    assert a.loss == b.loss and a.stderr == b.stderr
    np.testing.assert_array_equal(a.per_sequence, b.per_sequence)
    pd.testing.assert_frame_equal(a.per_bin, b.per_bin)
    assert elbo_eval(model, data.valid, 10, seed=6, batch_size=3).loss != a.loss


def test_elbo_of_a_uniform_predictor_is_log_vocab_and_bins_average_to_it():
    """Zero logits predict every token with probability 1/V: the ELBO is log V at every t."""
    data = synthetic_data()
    model = build_lm_model(CFG, VOCAB, seed=0, device=torch.device("cpu"))
    torch.nn.init.zeros_(model.head.weight)
    assert bool(data.test.valid.all())  # every row full, so the bins weigh equally
    result = elbo_eval(model, data.test, 20, seed=0, t_bins=10, batch_size=4)
    assert abs(result.loss - math.log(VOCAB)) < 4 * result.stderr + 1e-3
    assert result.per_bin.loss.mean() == pytest.approx(result.loss, rel=1e-9)
    assert result.perplexity == pytest.approx(math.exp(result.loss))
    assert list(result.per_bin.t_low.round(4))[:2] == [MIN_MASK_RATIO, round(MIN_MASK_RATIO + 0.0999, 4)]


def test_padding_is_never_masked_nor_counted():
    """A row with 7 tokens and 9 pads under a uniform predictor: ELBO log V per *valid* token (pads masked or
    counted would move it to ~16/7 log V or ~7/16 log V)."""
    model = build_lm_model(CFG, VOCAB, seed=0, device=torch.device("cpu"))
    torch.nn.init.zeros_(model.head.weight)
    row = pack_sequences(torch.arange(1, 8), 16)
    result = elbo_eval(model, row, 400, seed=0, t_bins=10)
    assert result.loss == pytest.approx(math.log(VOCAB), rel=0.1)


def kill_lm_run_at_step(monkeypatch, cfg, data, label, root, kill_step=7, seed=3):
    """Start train_lm_run and kill it (KeyboardInterrupt) at ``kill_step``: a checkpoint is left, no final state.
    The step function keeps its ``state`` (an adaptive sampler's), so the checkpoint holds it as a real run's would."""
    original = lm.make_lm_step

    def killed(*args, **kwargs):
        step_fn = original(*args, **kwargs)

        def step(model, step, generator):
            if step == kill_step:
                raise KeyboardInterrupt("simulated kill")
            return step_fn(model, step, generator)
        if hasattr(step_fn, "state"):
            step.state = step_fn.state
        return step

    monkeypatch.setattr(lm, "make_lm_step", killed)
    with pytest.raises(KeyboardInterrupt):
        train_lm_run(cfg, data, label, seed=seed, root=root, progress=False)
    (run_dir,) = Path(root).iterdir()
    assert (run_dir / CHECKPOINT).exists() and not (run_dir / FINAL).exists()
    monkeypatch.setattr(lm, "make_lm_step", original)


def test_lm_resume_after_kill_gives_identical_metrics_and_test_loss(tmp_path, monkeypatch):
    data = synthetic_data()
    reference = train_lm_run(CFG, data, "[0.4,0.5]", seed=3, root=tmp_path / "a", progress=False)

    kill_lm_run_at_step(monkeypatch, CFG, data, "[0.4,0.5]", tmp_path / "b")
    resumed = train_lm_run(CFG, data, "[0.4,0.5]", seed=3, root=tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(reference.metrics, resumed.metrics, check_exact=True)
    assert resumed.test.loss == reference.test.loss
    np.testing.assert_array_equal(resumed.test.per_sequence, reference.test.per_sequence)

    cached = train_lm_run(CFG, data, "[0.4,0.5]", seed=3, root=tmp_path / "b", progress=False)
    # a cached run trains nothing: same weights, same evaluation, and the wall time of the session that finished it
    assert cached.seconds == pytest.approx(resumed.seconds, rel=1e-6)
    assert cached.test.loss == reference.test.loss
    for p, q in zip(cached.model.parameters(), reference.model.parameters()):
        assert torch.equal(p, q)


def test_runs_are_keyed_by_window_seed_and_data():
    data = synthetic_data()
    key = lambda **kw: config_hash(lm.run_config(CFG, kw.get("data", data), kw.get("w", UNIFORM), kw.get("s", 0)))
    other_data = replace(data, sha256={"train": "y"})
    assert len({key(), key(w=CENTER), key(s=1), key(data=other_data)}) == 4


def test_seed_statistics():
    runs = pd.DataFrame({"window": ["a", "a", "b", "b", "c"], "seed": [0, 1, 0, 1, 0],
                         "test_loss": [1.0, 3.0, 2.0, 2.0, 5.0]})
    assert pooled_seed_sd(runs) == pytest.approx(1.0)   # ((1 + 1) + 0) / 2 dof
    assert seed_differences(runs, "c", "a").to_dict() == {0: 4.0}        # paired: only seed 0 has both
    assert seed_differences(runs, "b", "a").to_dict() == {0: 1.0, 1: -1.0}
    per_seq = {("a", 0): np.array([1.0, 2.0, 3.0]), ("b", 0): np.array([1.0, 1.0, 1.0])}
    assert evaluation_se(per_seq, "a", "b", [0]) == pytest.approx(np.std([0, 1, 2], ddof=1) / math.sqrt(3))
    mean, se = paired_difference(np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.5, 2.5]))
    assert mean == pytest.approx(0.5) and se == 0.0


def test_prepare_lm_data_from_a_named_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "wikitext-2"
    folder.mkdir(parents=True)
    text = " = Title = \n \n The cat sat on the mat , and the <unk> sat too .\n" * 40
    for name in WIKITEXT2_FILES.values():
        (folder / name).write_text(text, encoding="utf-8")
    cfg = replace(CFG, vocab_size=300, seq_len=8)
    data = prepare_lm_data(cfg, tmp_path / "data")
    assert data.train.shape[1] == 8 and data.vocab_size <= 300
    assert set(data.sha256) == {"train", "valid", "test"} and data.source.endswith("wikitext-2")
    from mdlm_core.data.text import decode_stream
    assert decode_stream(data.tokenizer, data.test.unpack()) == text
    assert len(list((tmp_path / "cache" / "tokenizers").glob("bpe-300-*.json"))) == 1
    chars = prepare_lm_data(replace(cfg, tokenizer="char", vocab_size=64), tmp_path / "data")
    assert chars.vocab_size == len(set(text)) + 2 and chars.tokenizer_key.startswith("char-")
    assert decode_stream(chars.tokenizer, chars.test.unpack()) == text and chars.test.unpack().numel() == len(text)


def _synthetic_results(bin_losses, seeds=(0, 1, 2), noise=0.002, uniform=3.0, center=2.9, seed=0):
    """UCurveResults with given mean loss per bin, small per-seed noise, and flat per-sequence losses."""
    rng = np.random.default_rng(seed)
    rows, per_seq = [], {}
    for label, mean in [*zip(BINS, bin_losses), (UNIFORM, uniform), (CENTER, center)]:
        r = lm.MaskRatio.parse(label)
        for s in seeds:
            loss = mean + noise * rng.standard_normal()
            rows.append(dict(window=label, low=r.low, high=r.high, seed=s, test_loss=loss, test_stderr=0.01,
                             perplexity=math.exp(loss), run_dir=""))
            per_seq[(label, s)] = loss + 0.05 * rng.standard_normal(64)
    runs = pd.DataFrame(rows)
    return lm.UCurveResults(runs, pd.DataFrame(), pd.DataFrame(), per_seq, pd.DataFrame())


def _u_verdict(results):
    return next(c for c in lm.u_curve_claims(results, 350_000, 128) if c.claim.startswith("Test loss is U-shaped"))


def test_u_shape_claim_says_no_on_flat_data_and_yes_on_a_u():
    centres = np.arange(0.05, 1.0, 0.1)
    flat = _synthetic_results(np.full(10, 3.0))
    u_shape = _synthetic_results(3.0 + 2.0 * (centres - 0.45) ** 2)
    assert _u_verdict(flat).verdict in ("inconclusive", "not reproduced")
    assert _u_verdict(u_shape).verdict == "reproduced"
    assert _u_verdict(_synthetic_results(3.0 - 2.0 * (centres - 0.45) ** 2)).verdict == "not reproduced"
    one_seed = _synthetic_results(3.0 + 2.0 * (centres - 0.45) ** 2, seeds=(0,))
    assert _u_verdict(one_seed).verdict == "inconclusive"


def test_flat_noise_passes_the_u_test_rarely():
    """Power check of the pre-declared rule on pure noise: 'reproduced' at most a few % of 200 flat draws."""
    hits = sum(_u_verdict(_synthetic_results(np.full(10, 3.0), noise=0.02, seed=i)).verdict == "reproduced"
               for i in range(200))
    assert hits <= 10


def test_masked_tokens_per_step_follow_the_window():
    cfg = LM_PROFILES["quick"]
    tokens = cfg.batch_size * cfg.seq_len
    assert lm.masked_tokens_per_step(cfg, "[0,0.1]") == pytest.approx(0.05 * tokens, rel=0.03)
    assert lm.masked_tokens_per_step(cfg, UNIFORM) == pytest.approx(0.5 * tokens, rel=0.01)
    assert lm.masked_tokens_per_step(cfg, "[0.9,1]") == pytest.approx(0.95 * tokens, rel=0.01)


def test_learning_gate_passes_a_model_that_uses_context_and_fails_loudly_otherwise():
    data = synthetic_data()
    cfg = replace(CFG, windows=(UNIFORM,))
    entropy = lm.unigram_entropy(lm.scored_test_rows(cfg, data).tokens.numpy())
    t_mid = np.linspace(0.05, 0.95, 10)

    def results(test_loss, low, high):
        runs = pd.DataFrame([dict(window=UNIFORM, low=0.0, high=1.0, seed=s, test_loss=test_loss) for s in (0, 1)])
        curve = pd.DataFrame(dict(window=UNIFORM, seed=0, t_mid=t_mid, loss=np.linspace(low, high, 10)))
        return lm.UCurveResults(runs, curve, pd.DataFrame(), {}, pd.DataFrame())

    good = lm.learning_gate(results(0.7 * entropy, 1.5, 3.0), data, cfg)
    assert good.passed and good.unigram_entropy == pytest.approx(entropy)
    good.enforce()
    near_unigram = lm.learning_gate(results(0.97 * entropy, 1.5, 3.0), data, cfg)
    no_context = lm.learning_gate(results(0.7 * entropy, 2.9, 3.0), data, cfg)
    for gate in (near_unigram, no_context):
        assert not gate.passed
        with pytest.raises(RuntimeError, match="did not learn"):
            gate.enforce()
