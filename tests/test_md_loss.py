import itertools

import numpy as np
import pytest
import torch

from mdlm_core import DiffusionTransformer, MaskRatio, ModelConfig, mask_tokens, md_loss, md_loss_terms, sample_mask, subs_log_probs

V, L, MASK = 2, 3, 2


class ExactConditionals(torch.nn.Module):
    """A 'denoiser' that returns log p(x_i | visible tokens) of a known joint over {0,1}^3."""

    def __init__(self, probs: np.ndarray):
        super().__init__()
        self.seqs = torch.tensor(list(itertools.product(range(V), repeat=L)))
        self.probs = torch.tensor(probs, dtype=torch.float64)

    def forward(self, noisy, t=None, output_mask=None):
        out = torch.zeros(*noisy.shape, V, dtype=torch.float64)
        for b in range(noisy.shape[0]):
            visible = noisy[b] != MASK
            consistent = (self.seqs[:, visible] == noisy[b, visible]).all(-1)
            weight = self.probs * consistent
            for i in range(L):
                marg = torch.stack([weight[self.seqs[:, i] == v].sum() for v in range(V)])
                out[b, i] = torch.log(marg / marg.sum())
        return out if output_mask is None else out[output_mask]


class Uniform(torch.nn.Module):
    def forward(self, noisy, t=None, output_mask=None):
        out = torch.zeros(*noisy.shape, V, dtype=torch.float64)
        return out if output_mask is None else out[output_mask]


def elbo_by_enumeration(model, x: torch.Tensor, n_nodes: int = 8) -> float:
    """L(x) = int_0^1 E_mask[sum_i terms] dt, with every mask enumerated and Gauss-Legendre in t."""
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    nodes, weights = (nodes + 1) / 2, weights / 2
    total = 0.0
    for t, w in zip(nodes, weights):
        for bits in itertools.product([False, True], repeat=L):
            mask = torch.tensor([bits])
            prob = np.prod([t if b else 1 - t for b in bits])
            noisy = mask_tokens(x[None], mask, MASK)
            log_probs = subs_log_probs(model(noisy), noisy, MASK)
            terms = md_loss_terms(log_probs, x[None], mask, torch.tensor([t], dtype=torch.float64))
            total += w * prob * terms.sum().item()
    return total


def test_elbo_is_tight_with_exact_conditionals():
    probs = np.random.default_rng(0).dirichlet(np.ones(V ** L))
    model = ExactConditionals(probs)
    for idx, x in enumerate(itertools.product(range(V), repeat=L)):
        nll = -np.log(probs[idx])
        assert elbo_by_enumeration(model, torch.tensor(x)) == pytest.approx(nll, rel=1e-9)


def test_elbo_is_a_strict_bound_for_a_wrong_model():
    probs = np.random.default_rng(1).dirichlet(np.ones(V ** L))
    exact, uniform = ExactConditionals(probs), Uniform()
    seqs = list(itertools.product(range(V), repeat=L))
    expected_nll = -sum(p * np.log(p) for p in probs)
    expected_exact = sum(p * elbo_by_enumeration(exact, torch.tensor(x)) for p, x in zip(probs, seqs))
    expected_uniform = sum(p * elbo_by_enumeration(uniform, torch.tensor(x)) for p, x in zip(probs, seqs))
    assert expected_exact == pytest.approx(expected_nll, rel=1e-9)
    assert expected_uniform == pytest.approx(L * np.log(2), rel=1e-9)  # each token costs log 2
    assert expected_uniform > expected_nll + 1e-3


def test_subs_rules():
    logits = torch.randn(2, 4, 5)
    noisy = torch.tensor([[5, 1, 5, 3], [0, 5, 4, 5]])  # mask_id = 5
    lp = subs_log_probs(logits, noisy, mask_id=5)
    visible = noisy != 5
    # carry-over: a point mass on the visible token
    assert torch.all(lp[visible].exp().argmax(-1) == noisy[visible])
    assert torch.allclose(lp[visible].exp().sum(-1), torch.ones(int(visible.sum())))
    assert torch.all(lp[visible].exp().max(-1).values == 1.0)
    # masked: a proper distribution over the 5 real tokens, no MASK entry at all
    assert lp.shape[-1] == 5
    assert torch.allclose(lp[~visible].exp().sum(-1), torch.ones(int((~visible).sum())), atol=1e-6)
    # unmasked positions contribute no loss, whatever the target's logits
    terms = md_loss_terms(lp, noisy.clamp(max=4), ~visible, torch.tensor([0.5, 0.5]))
    assert torch.all(terms[visible] == 0)
    with pytest.raises(ValueError, match="outside"):
        subs_log_probs(logits, noisy, mask_id=3)


def test_fast_masked_head_equals_full_subs_computation():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=7, block_size=12, n_layer=2, n_head=2, n_embd=32)
    model = DiffusionTransformer(cfg).eval()
    tokens = torch.randint(0, 7, (4, 12))
    out = md_loss(model, tokens, MaskRatio.window(0.2, 0.8), cfg.mask_id, torch.Generator().manual_seed(5))
    noisy = mask_tokens(tokens, out.mask, cfg.mask_id)
    slow = md_loss_terms(subs_log_probs(model(noisy), noisy, cfg.mask_id), tokens, out.mask, out.t)
    assert torch.allclose(out.terms, slow, atol=1e-5)
    assert out.loss.item() == pytest.approx(slow.sum().item() / tokens.numel(), rel=1e-5)
    # reproducible under the seed
    again = md_loss(model, tokens, MaskRatio.window(0.2, 0.8), cfg.mask_id, torch.Generator().manual_seed(5))
    assert torch.equal(out.terms, again.terms)


def test_sample_mask_respects_rate_and_maskable():
    gen = torch.Generator().manual_seed(0)
    t = torch.tensor([0.1, 0.9])
    mask = sample_mask((2, 20_000), t, gen)
    assert mask[0].float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert mask[1].float().mean().item() == pytest.approx(0.9, abs=0.01)
    maskable = torch.zeros(2, 20_000, dtype=torch.bool)
    maskable[:, 10_000:] = True
    mask = sample_mask((2, 20_000), t, gen, maskable=maskable)
    assert not mask[:, :10_000].any() and mask[:, 10_000:].any()
