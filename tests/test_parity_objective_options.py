"""The parity objective's options added for notebook 02's grokking map (issue 27): the MD loss normalisation, the
label weight, plain SGD, online batches and the train-set regime split; and the run keys they leave alone."""

import dataclasses

import pytest
import torch

from mdlm_core import MaskRatio
from mdlm_core.data.parity import PARITY_MASK_ID
from mdlm_core.mlp import MLPEnsemble
from mdlm_core.parity import (LABEL_WEIGHTED, MD, MLP, SEQUENCE_SUM, SGD, SUPERVISED, TOKEN_MEAN, ParityDataSpec,
                              ParityMember, ParityModelSpec, ParitySpec, ParityTrainSpec, member_generator,
                              parity_objective, run_key, train_parity)
from mdlm_core.training import config_hash

SPEC = ParitySpec(ParityDataSpec(n=7, k=2, n_train=40, n_test=16), ParityModelSpec(family=MLP, mlp_width=12),
                  ParityTrainSpec(batch_size=6, lr=0.1, weight_decay=0.01, warmup_steps=0, grad_clip=None, steps=12,
                                  eval_every=4, log_train_regimes=False, optimizer=SGD))
MEMBERS = [ParityMember(SUPERVISED, 0), ParityMember(MD, 0, MaskRatio.fixed(1 / 3)),
           ParityMember(MD, 1, MaskRatio.window(0.0, 0.6))]


def _objective(normalisation, members=MEMBERS, **train):
    spec = dataclasses.replace(SPEC, train=dataclasses.replace(SPEC.train, md_normalisation=normalisation, **train))
    return parity_objective(members, [spec.data.for_seed(m.seed) for m in members], spec)


def _hand_terms(logits, batch, i):
    """Per-token 1/t-weighted CE of member i on its masked tokens, [B, L], by hand (float64)."""
    log_p = torch.log_softmax(logits[i].double(), -1)
    nll = -log_p.gather(-1, batch.tokens[i].unsqueeze(-1)).squeeze(-1)
    return torch.where(batch.mask[i], nll / batch.t[i].double().unsqueeze(-1), torch.zeros((), dtype=torch.float64))


@pytest.mark.parametrize("normalisation", [TOKEN_MEAN, SEQUENCE_SUM, LABEL_WEIGHTED])
def test_each_normalisation_equals_its_hand_computed_sum(normalisation):
    obj = _objective(normalisation)
    batch = obj.draw_batch(step=2)
    model = MLPEnsemble([m.seed for m in MEMBERS], SPEC.data.n + 1, 12)
    losses, logits = obj.member_losses(model, batch)
    batch_size, length = batch.tokens.shape[1:]
    for i in (1, 2):
        terms = _hand_terms(logits, batch, i)
        inputs, label = terms[:, :-1].sum().item(), terms[:, -1].sum().item()
        want = {TOKEN_MEAN: (inputs + label) / (batch_size * length),
                SEQUENCE_SUM: (inputs + label) / batch_size,
                LABEL_WEIGHTED: (inputs + length * label) / (batch_size * length)}[normalisation]
        assert losses[i].item() == pytest.approx(want, rel=1e-12)
    # the supervised member is CE on y, the mean over sequences, whatever MD's normalisation
    want = torch.nn.functional.cross_entropy(logits[0, :, -1].double(), batch.tokens[0, :, -1]).item()
    assert losses[0].item() == pytest.approx(want, rel=1e-12)
    assert batch.mask[1, :, -1].any() and batch.mask[1, :, :-1].any()   # the batch hides labels and inputs


def test_the_label_weight_changes_only_the_label_term():
    """label_weighted - token_mean = (n+1 - 1) x the label term / (B (n+1)): the inputs' terms are untouched, and
    a batch with no label hidden has the same loss under both."""
    batch_size, length = SPEC.train.batch_size, SPEC.data.n + 1
    model = MLPEnsemble([m.seed for m in MEMBERS], length, 12)
    mean_obj, weighted_obj = _objective(TOKEN_MEAN), _objective(LABEL_WEIGHTED)
    batch = mean_obj.draw_batch(step=5)
    mean, logits = mean_obj.member_losses(model, batch)
    weighted, _ = weighted_obj.member_losses(model, batch)
    assert weighted[0] == mean[0]                                    # supervised: unchanged
    for i in (1, 2):
        label = _hand_terms(logits, batch, i)[:, -1].sum().item()
        assert label > 0
        assert (weighted[i] - mean[i]).item() == pytest.approx((length - 1) * label / (batch_size * length), rel=1e-10)
    no_label = dataclasses.replace(batch, mask=batch.mask.clone())
    no_label.mask[..., -1] = False
    assert torch.equal(mean_obj.member_losses(model, no_label)[0], weighted_obj.member_losses(model, no_label)[0])


def test_an_ensemble_member_equals_a_solo_run_under_sgd():
    """SGD with weight decay on every parameter is elementwise: members trained together match solo runs, and the
    SGD run differs from the AdamW one (the option is used)."""
    spec = dataclasses.replace(SPEC, train=dataclasses.replace(SPEC.train, md_normalisation=SEQUENCE_SUM,
                                                                log_trainset_regimes=True))
    together = train_parity(MEMBERS, spec, ensemble=True, cache=False, progress=False)
    alone = train_parity(MEMBERS, spec, ensemble=False, cache=False, progress=False)
    assert (together.loss.diff().abs() > 0).any()
    for column in ("loss", "train_acc", "test_acc", "heldout_noise_sq_margin", "trainset_noise_sq_margin",
                   "test_label_ce"):
        torch.testing.assert_close(torch.tensor(together[column].to_numpy()), torch.tensor(alone[column].to_numpy()),
                                   rtol=1e-5, atol=1e-6, equal_nan=True)
    adamw = dataclasses.replace(spec, train=dataclasses.replace(spec.train, optimizer="adamw", lr=1e-3))
    other = train_parity(MEMBERS, adamw, cache=False, progress=False)
    assert not torch.allclose(torch.tensor(other.loss.to_numpy()[1:]), torch.tensor(together.loss.to_numpy()[1:]))


def test_online_batches_are_fresh_labelled_inputs_drawn_from_the_members_generator():
    obj = _objective(SEQUENCE_SUM, online=True)
    batch = obj.draw_batch(step=7)
    train_rows = {tuple(r) for r in obj.train_seq[0].tolist()}
    for i, member in enumerate(MEMBERS):
        data = obj.data[i]
        x = torch.randint(0, 2, (SPEC.train.batch_size, data.n), generator=member_generator(member.seed, 7))
        assert torch.equal(batch.tokens[i, :, :-1], x)
        assert torch.equal(batch.tokens[i, :, -1], x[:, list(data.secret)].sum(-1) % 2)
    assert torch.equal(batch.tokens, _objective(SEQUENCE_SUM, online=True).draw_batch(step=7).tokens)
    assert not torch.equal(batch.tokens, obj.draw_batch(step=8).tokens)
    assert not all(tuple(r) in train_rows for r in batch.tokens[0].tolist())   # not the train set's rows


def test_the_train_set_split_uses_fixed_train_masks_and_is_off_by_default():
    obj = _objective(SEQUENCE_SUM, log_trainset_regimes=True)
    assert obj.trainset is not None and torch.equal(obj.trainset.tokens, obj.train_seq[:, :SPEC.data.n_test])
    assert not torch.equal(obj.trainset.mask, obj.heldout.mask[:, :obj.trainset.mask.shape[1]])
    model = MLPEnsemble([m.seed for m in MEMBERS], SPEC.data.n + 1, 12)
    row = obj.eval_fn(model, 0)
    assert {"trainset_noise_sq_margin_sum.m1", "ce_test_label.m0"} <= set(row)
    assert _objective(TOKEN_MEAN).trainset is None
    assert not any(name.startswith(("trainset_", "ce_test")) for name in _objective(TOKEN_MEAN).eval_fn(model, 0))


def test_new_options_enter_the_run_key_only_when_set():
    """Notebook 06's cached parity runs keep their keys: the default options add nothing to run_key."""
    base = ParitySpec(model=ParityModelSpec(family=MLP))
    legacy = {"members", "model", "train", "float64_loss", "log_train_regimes", "data", "batch_size"}
    assert set(run_key(MEMBERS, base)) == legacy
    hashes = {config_hash(run_key(MEMBERS, base))}
    for change in ({"optimizer": SGD}, {"md_normalisation": SEQUENCE_SUM}, {"online": True},
                   {"log_trainset_regimes": True}, {"train_eval_size": 10}):
        spec = dataclasses.replace(base, train=dataclasses.replace(base.train, **change))
        key = run_key(MEMBERS, spec)
        assert set(key) == legacy | set(change) and key[next(iter(change))] == next(iter(change.values()))
        hashes.add(config_hash(key))
    assert len(hashes) == 6


def test_bad_options_name_the_fix():
    with pytest.raises(ValueError, match="optimizer='sgdm'"):
        ParityTrainSpec(optimizer="sgdm")
    with pytest.raises(ValueError, match="md_normalisation='mean'.*token_mean"):
        ParityTrainSpec(md_normalisation="mean")
    with pytest.raises(ValueError, match="train_eval_size=0"):
        ParityTrainSpec(train_eval_size=0)
    assert PARITY_MASK_ID == 2
