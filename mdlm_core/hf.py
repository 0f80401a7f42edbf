r"""Hugging Face masked LMs in mdlm_core: one adapter for the library, one masking function for your trainer.

**The adapter** (:class:`HFMaskedLM`) wraps a bidirectional HF model (``AutoModelForMaskedLM``: BERT, RoBERTa,
DistilBERT, ModernBERT, ...; LLaDA and Dream through ``AutoModel`` with remote code, whose output carries the same
``logits``) so that ``md_loss``, ``sft_loss``, ``elbo_eval``, ``answer_elbo_mc``, ``generate``,
``generate_blockwise``, ``ancestral_sample`` and every unmasking schedule run on it unchanged. It speaks the
library's convention, the one of ``DiffusionTransformer``: the V ids the model predicts (numbered as the tokenizer
numbers them, so tokenised text goes in and generated ids decode as they are) are the real vocabulary, and MASK
is the id one past them, ``adapter.mask_id = V``. Before each forward pass that id becomes the tokenizer's own
mask id m (what the model was trained to read), and the logit of m is set to -inf: MASK is never predicted
(the SUBS rule of ``loss.py``), so for a masked position i

.. math::  p_\theta(x^i = v \mid z) = \frac{e^{\ell_v}}{\sum_{u \ne m} e^{\ell_u}}, \quad v \ne m,

the HF model's softmax renormalised over the real tokens. An input that holds m itself is refused (in the
library's id space m is a real token that is never predicted, so its presence is always a mix-up of the two ids).

**The masking function** (:func:`mask_for_training`) is the forward process of ``md_loss`` for a training loop
that calls the HF model itself (an HF ``Trainer``, dllm): it draws t from any mask-ratio distribution (a window,
Beta, curriculum or adaptive sampler) and returns the noisy ``input_ids`` (with the tokenizer's mask id),
``labels`` (-100 where not masked, HF's convention) and the 1/t weights in dllm's [B, L] layout; its
``loss(logits)`` is the MD loss

.. math::  \mathcal{L} = \frac{1}{N} \sum_b \frac{1}{t_b}
           \sum_{i:\, z_b^i = \mathrm{MASK}} -\log p_\theta(x_b^i \mid z_b),

N the number of maskable tokens, whose expectation under t ~ U[0, 1] is the ELBO per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

try:   # fail at import, with the fix, rather than deep inside a check
    import transformers  # noqa: F401
except ImportError as err:   # the optional extra is missing
    raise ImportError('mdlm_core.hf needs Hugging Face transformers: pip install -e ".[hf]"') from err

from .loss import sample_mask
from .mask_ratio import MIN_MASK_RATIO

IGNORE_INDEX = -100   # the label HF and dllm losses skip


@dataclass(frozen=True)
class HFAdapterConfig:
    """What the library reads off ``model.cfg``: the vocabulary, the two mask ids, padding and time conditioning."""

    vocab_size: int              # V: the ids the model predicts (real tokens 0..V-1, numbered as by the tokenizer)
    hf_mask_id: int              # m: the tokenizer's mask id, what the wrapped model reads (never predicted)
    pad_id: int | None = None    # positions holding it are hidden from attention (None: every position attends)
    shift_logits: bool = False   # Dream: position i's logits predict token i + 1 (kept from its autoregressive start)
    time_conditioning: bool = False   # HF masked LMs read no t (the samplers check this flag)

    @property
    def mask_id(self) -> int:
        """The library's MASK: one past the real vocabulary, as ``ModelConfig.mask_id``."""
        return self.vocab_size


def _check_bidirectional(model: nn.Module) -> None:
    """Refuse a causal LM: masked diffusion needs every position to see the whole sequence."""
    from transformers.models.auto import modeling_auto

    name = type(model).__name__
    causal_names = set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    masked_names = set(modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES.values())
    causal = (getattr(model.config, "is_decoder", False) or name.endswith("ForCausalLM")
              or (name in causal_names and name not in masked_names))
    if causal:
        raise ValueError(f"{name} is a causal (left-to-right) language model: masked diffusion needs a bidirectional "
                         "denoiser that sees the whole sequence. Load a masked LM instead: "
                         "AutoModelForMaskedLM.from_pretrained(...) for BERT-style models, or "
                         "AutoModel.from_pretrained(..., trust_remote_code=True) for LLaDA / Dream")


def _resolve_mask_id(config, tokenizer, mask_token_id: int | None) -> int:
    """m from the argument, else the tokenizer, else the config; a disagreement or no mask token is an error."""
    from_tokenizer = getattr(tokenizer, "mask_token_id", None) if tokenizer is not None else None
    from_config = getattr(config, "mask_token_id", None)
    if mask_token_id is not None:
        return int(mask_token_id)
    if from_tokenizer is not None and from_config is not None and from_tokenizer != from_config:
        raise ValueError(f"the tokenizer's mask id {from_tokenizer} differs from the config's mask_token_id "
                         f"{from_config}: pass the one the model was trained with, HFMaskedLM(..., mask_token_id=)")
    found = from_tokenizer if from_tokenizer is not None else from_config
    if found is None:
        raise ValueError("no mask token: neither the tokenizer (tokenizer.mask_token_id) nor the config "
                         "(config.mask_token_id) names one. Pass it, HFMaskedLM(model, mask_token_id=...), or add "
                         "one and train it: tokenizer.add_special_tokens({'mask_token': '[MASK]'}) then "
                         "model.resize_token_embeddings(len(tokenizer))")
    return int(found)


def _output_vocab(model: nn.Module, tokenizer) -> int:
    """V, the number of logits; the output layer, the config and the tokenizer must agree on it."""
    vocab = int(model.config.vocab_size)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    rows = head.weight.shape[0] if getattr(head, "weight", None) is not None else None
    if rows is not None and int(rows) != vocab:
        raise ValueError(f"the model's output layer has {rows} rows but config.vocab_size = {vocab}: call "
                         "model.resize_token_embeddings(n) so that embeddings, head and config agree")
    if tokenizer is not None and len(tokenizer) > vocab:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the model predicts only {vocab}: ids "
                         f"{vocab}..{len(tokenizer) - 1} have no logit. Use the tokenizer the model was trained "
                         "with, or model.resize_token_embeddings(len(tokenizer)) (and train the new rows)")
    return vocab


class HFMaskedLM(nn.Module):
    """An HF masked LM seen as a ``DiffusionTransformer``: ``mask_id``, ``cfg`` and the same ``forward``.

    ``mask_token_id`` overrides the tokenizer's / config's mask id. ``pad_id`` (opt-in: LLaDA-style SFT trains on
    its EOS padding, which must stay visible) hides every position holding it from attention, as an HF
    ``attention_mask`` of ``tokens != pad_id`` does; an explicit ``attention_mask`` in ``forward`` wins.
    ``shift_logits=True`` is for Dream, whose logits at position i - 1 predict token i: they move one position
    right, as Dream's own sampler does, so the first token (its BOS) must stay visible.
    """

    def __init__(self, model: nn.Module, tokenizer=None, *, mask_token_id: int | None = None,
                 pad_id: int | None = None, shift_logits: bool = False):
        super().__init__()
        if not hasattr(model, "config"):
            raise TypeError(f"HFMaskedLM wraps a transformers model (with a .config), got {type(model).__name__}; "
                            "for a DiffusionTransformer or a plain z -> logits callable use the library directly")
        _check_bidirectional(model)
        vocab = _output_vocab(model, tokenizer)
        hf_mask_id = _resolve_mask_id(model.config, tokenizer, mask_token_id)
        if not 0 <= hf_mask_id < vocab:
            raise ValueError(f"mask id {hf_mask_id} lies outside the model's vocabulary 0..{vocab - 1}: the model "
                             "cannot read it; pass the id of the mask token it was trained with (mask_token_id=)")
        self.model = model
        self.cfg = HFAdapterConfig(vocab, hf_mask_id, pad_id, shift_logits)
        self.train(model.training)   # a new Module starts in training mode; keep the model's (eval after loading)

    @property
    def mask_id(self) -> int:
        return self.cfg.mask_id

    def forward(self, tokens: torch.Tensor, t: torch.Tensor | None = None, output_mask: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, L, V] over the real tokens (MASK's logit -inf), or [n_true, V] at ``output_mask``.

        tokens: long [B, L], MASK = ``self.mask_id``; ``t`` is accepted for the library's signature and ignored
        (the number of MASKs already tells the model t).
        """
        if bool((tokens == self.cfg.hf_mask_id).any()):
            raise ValueError(f"tokens hold the tokenizer's mask id {self.cfg.hf_mask_id}; in mdlm_core MASK is "
                             f"adapter.mask_id = {self.mask_id} (one past the real vocabulary): write "
                             f"torch.where(ids == {self.cfg.hf_mask_id}, adapter.mask_id, ids)")
        if self.cfg.shift_logits and bool((tokens[:, 0] == self.mask_id).any()):
            raise ValueError("with shift_logits=True no logits predict the first token: keep it visible (a BOS or "
                             "prompt; in md_loss pass maskable= without position 0)")
        if attention_mask is None and self.cfg.pad_id is not None:
            attention_mask = (tokens != self.cfg.pad_id).long()
        hf_ids = torch.where(tokens == self.mask_id, self.cfg.hf_mask_id, tokens)
        out = self.model(input_ids=hf_ids, attention_mask=attention_mask)
        logits = out.logits if hasattr(out, "logits") else out[0]
        if logits.shape[-1] != self.cfg.vocab_size:
            raise ValueError(f"the model returned {logits.shape[-1]} logits per position, not config.vocab_size = "
                             f"{self.cfg.vocab_size}: call model.resize_token_embeddings so head and config agree")
        if self.cfg.shift_logits:
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        if output_mask is not None:
            logits = logits[output_mask]
        if logits.requires_grad:   # out of place: some heads (e.g. soft-capping) save their output for backward
            return logits.index_fill(-1, torch.tensor([self.cfg.hf_mask_id], device=logits.device), float("-inf"))
        logits[..., self.cfg.hf_mask_id] = float("-inf")   # sampling and evaluation: no copy of [B, L, V]
        return logits


# -- the forward process for other people's training loops ----------------------------------------------------
@dataclass
class MaskedBatch:
    """One draw of the forward process, laid out for an HF / dllm trainer."""

    input_ids: torch.Tensor     # long [B, L]: z_t, ``mask_id`` where masked
    labels: torch.Tensor        # long [B, L]: the clean token where masked, -100 elsewhere (HF's convention)
    loss_weights: torch.Tensor  # float32 [B, L]: 1/t_b on every position of row b (dllm's layout; labels pick)
    t: torch.Tensor             # float32 [B]: the mask ratios drawn
    maskable: torch.Tensor      # bool [B, L]: positions the forward process could mask (the loss's token count)
    mask_id: int

    @property
    def mask(self) -> torch.Tensor:
        return self.labels != IGNORE_INDEX

    def terms(self, logits: torch.Tensor, subs: bool = True) -> torch.Tensor:
        """[B, L] per-token integrand -log p(x^i | z) / t on masked positions, 0 elsewhere (``md_loss``'s terms).

        ``logits`` [B, L, V] from the model called on ``input_ids``. ``subs=True`` drops the MASK token from the
        softmax (the SUBS rule, as ``md_loss`` and ``HFMaskedLM``); ``subs=False`` keeps it, as LLaDA's and dllm's
        cross-entropy do: a looser bound, since removing a wrong class can only raise the target's probability.
        """
        mask = self.mask
        picked = logits[mask].float()
        if subs and self.mask_id < picked.shape[-1]:
            picked = picked.index_fill(-1, torch.tensor([self.mask_id], device=picked.device), float("-inf"))
        nll = F.cross_entropy(picked, self.labels[mask], reduction="none")
        terms = torch.zeros(mask.shape, device=nll.device, dtype=nll.dtype)
        terms[mask] = nll * self.loss_weights[mask]
        return terms

    def per_sequence_loss(self, logits: torch.Tensor, subs: bool = True) -> torch.Tensor:
        """[B]: each row's terms summed over its maskable tokens, per maskable token (what ``AdaptiveBins`` reads)."""
        return self.terms(logits, subs).sum(-1) / self.maskable.sum(-1).clamp(min=1)

    def loss(self, logits: torch.Tensor, per: str = "token", subs: bool = True) -> torch.Tensor:
        """The scalar to minimise. ``per="token"``: sum of terms / maskable tokens in the batch (``md_loss``'s
        loss when every position is maskable; ``elbo_eval``'s normalisation). ``per="sequence"``: each row per
        its own maskable tokens, then the batch mean (``sft_loss``'s loss, its answer region as ``maskable``)."""
        if per == "token":
            return self.terms(logits, subs).sum() / self.maskable.sum().clamp(min=1)
        if per == "sequence":
            return self.per_sequence_loss(logits, subs).mean()
        raise ValueError(f"per={per!r}: choose 'token' or 'sequence'")


def mask_for_training(input_ids: torch.Tensor, mask_ratio, mask_id: int, generator: torch.Generator | None = None,
                      *, maskable: torch.Tensor | None = None, step: int | None = None,
                      t: torch.Tensor | None = None) -> MaskedBatch:
    r"""Mask ``input_ids`` [B, L] for one training step: t_b ~ ``mask_ratio``, each maskable token -> ``mask_id``
    with probability t_b; returns a :class:`MaskedBatch` (noisy ids, labels, 1/t weights).

    ``mask_ratio``: a ``MaskRatio`` window, ``BetaRatio``, ``CurriculumRatio`` (pass ``step``) or the sampler of
    an ``AdaptiveBins`` (``spec.new_sampler()``; feed it ``sampler.update(batch.t, batch.per_sequence_loss(logits),
    step)``). ``mask_id`` is the id the called model reads: the tokenizer's mask id for a raw HF model,
    ``adapter.mask_id`` for an ``HFMaskedLM``. ``maskable`` (bool [B, L]) excludes prompts and padding, e.g.
    ``labels != -100`` of a dllm SFT collator or ``attention_mask.bool()``. ``t`` overrides the draw.

    The draws come from ``generator`` in ``md_loss``'s order (t, then the mask), so with one seed this batch and
    ``md_loss`` (or ``sft_loss``, or a replay of ``elbo_eval``) mask the same positions with the same t. Since
    P(z^i = MASK | t) = t, every maskable token's weight averages to E[1(masked) / t] = 1 for any t: under
    t ~ U[0, 1] the loss is an unbiased estimate of the ELBO per token; under a window it is the paper's objective.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.dtype.is_floating_point:
        raise ValueError(f"input_ids must be a [batch, length] integer tensor, got "
                         f"{getattr(input_ids, 'shape', type(input_ids).__name__)}")
    batch, length = input_ids.shape
    if t is None:
        rng_device = generator.device if generator is not None else input_ids.device
        t = mask_ratio.sample(batch, generator=generator, device=rng_device, step=step)
    t = torch.as_tensor(t, dtype=torch.float32).to(input_ids.device)
    if t.shape != (batch,) or bool(t.isnan().any()) or float(t.min()) < MIN_MASK_RATIO * (1 - 1e-6) \
            or float(t.max()) > 1:
        raise ValueError(f"t must be one mask ratio per row in [{MIN_MASK_RATIO}, 1], shape ({batch},), got "
                         f"{tuple(t.shape)}: draw it from a MaskRatio")
    if bool((input_ids == mask_id).any()):
        raise ValueError(f"input_ids already hold the mask id {mask_id}: pass clean tokens, masking inserts MASK")
    maskable = torch.ones_like(input_ids, dtype=torch.bool) if maskable is None else maskable.to(torch.bool)
    mask = sample_mask((batch, length), t, generator=generator, maskable=maskable)
    return MaskedBatch(input_ids=torch.where(mask, mask_id, input_ids),
                       labels=torch.where(mask, input_ids, IGNORE_INDEX),
                       loss_weights=(1.0 / t).reshape(-1, 1).expand(batch, length).contiguous(),
                       t=t, maskable=maskable, mask_id=int(mask_id))


__all__ = ["HFAdapterConfig", "HFMaskedLM", "IGNORE_INDEX", "MaskedBatch", "mask_for_training"]
