import math
from dataclasses import replace

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
    assert len(jobs) == len(set(jobs)) == 12 + 2


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


def test_lm_resume_after_kill_gives_identical_metrics_and_test_loss(tmp_path, monkeypatch):
    data = synthetic_data()
    reference = train_lm_run(CFG, data, "[0.4,0.5]", seed=3, root=tmp_path / "a", progress=False)

    original = lm.make_lm_step

    def killed_at_step_7(*args, **kwargs):
        step_fn = original(*args, **kwargs)

        def step(model, step, generator):
            if step == 7:
                raise KeyboardInterrupt("simulated kill")
            return step_fn(model, step, generator)
        return step

    monkeypatch.setattr(lm, "make_lm_step", killed_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        train_lm_run(CFG, data, "[0.4,0.5]", seed=3, root=tmp_path / "b", progress=False)
    (run_dir,) = (tmp_path / "b").iterdir()
    assert (run_dir / CHECKPOINT).exists() and not (run_dir / FINAL).exists()
    monkeypatch.setattr(lm, "make_lm_step", original)
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


def synthetic_u_curve(shape, seeds=(0, 1, 2), noise=0.005, seed=0):
    """UCurveResults with test loss = shape(bin centre) + per-run noise, per-sequence results from a shared draw."""
    from mdlm_core.experiments.u_curve import UCurveResults
    rng = np.random.default_rng(seed)
    rows, per_seq = [], {}
    for s in seeds:
        for label in WINDOWS:
            ratio = CFG.mask_ratio(label)
            centre = shape((ratio.low + ratio.high) / 2)
            if label == UNIFORM:   # a model trained on U[0, 1] is scored like the average of the bins
                centre = np.mean([shape(c) for c in np.arange(0.05, 1.0, 0.1)])
            loss = centre + rng.normal(0, noise)
            rows.append(dict(window=label, low=ratio.low, high=ratio.high, seed=s, test_loss=loss, test_stderr=0.02))
            per_seq[(label, s)] = loss + rng.normal(0, 0.05, size=64)
    return UCurveResults(pd.DataFrame(rows), None, None, per_seq, None)


def test_u_curve_claims_see_a_u_and_refuse_a_flat_curve():
    from mdlm_core.experiments.u_curve import u_curve_claims
    u = synthetic_u_curve(lambda x: 3.0 + 2.0 * (x - 0.45) ** 2)
    claims = {c.claim: c for c in u_curve_claims(u, 250_000, 100)}
    shape = claims["Test loss is U-shaped in the training mask-ratio bin"]
    assert shape.kind == "experiment" and shape.verdict == "reproduced" and shape.n_seeds == 3
    assert claims["The best bin beats uniform t ~ U[0,1]"].verdict == "reproduced"   # U[0,1] averages the U: worse
    flat = {c.claim: c for c in u_curve_claims(synthetic_u_curve(lambda x: 3.0), 250_000, 100)}
    assert flat["Test loss is U-shaped in the training mask-ratio bin"].verdict != "reproduced"
    assert flat["The window [0.45,0.55] beats uniform"].verdict in ("inconclusive", "partly")
    one_seed = {c.claim: c for c in u_curve_claims(synthetic_u_curve(lambda x: 3.0 + (x - 0.45) ** 2, seeds=(0,)),
                                                   250_000, 100)}
    assert one_seed["Test loss is U-shaped in the training mask-ratio bin"].verdict == "inconclusive"
