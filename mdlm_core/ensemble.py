"""Train E independent copies of one model as a single module: a batched ensemble.

At the sizes of the parity experiments a training step is dominated by per-operation overhead, not
arithmetic, so E small models cost far less trained together than one after another. ``Ensemble``
keeps ONE model definition: it stacks the members' parameters on a new leading dimension
(``torch.func.stack_module_state``) and runs the unchanged module on each slice with
``torch.func.vmap(functional_call(...))``.

Each member trains as if it were alone, given the shared loop in ``training.py``:
* the caller's loss is the SUM of the members' losses, so each slice of a gradient is that member's gradient;
* AdamW is elementwise (its bias correction depends only on the step), so stacked moments are per member;
  ``leading_member_dims = 1`` tells ``train.make_optimizer`` which parameters are matrices per member;
* ``clip_grad_norm_`` clips each member's gradient by its own norm, as ``torch.nn.utils.clip_grad_norm_``
  would in a solo run.
Learning rate, schedule and weight decay are shared: members differ in seed, data and objective.
"""

from __future__ import annotations

import copy
from typing import Iterable, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel


@torch.no_grad()
def clip_member_grad_norms_(parameters: Iterable[torch.Tensor], max_norm: float, members: int) -> torch.Tensor:
    """Clip each member's gradient (slice e of every parameter's leading axis) to global norm ``max_norm`` on
    its own, with torch.nn.utils.clip_grad_norm_'s coefficient; returns the ``members`` pre-clip norms."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(members)
    norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)   # max_norm / (norm + 1e-6), capped at 1
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.dim() - 1)).to(g.dtype))
    return norms


class Ensemble(nn.Module):
    """E members of one architecture; ``forward(x)`` takes and returns tensors with a leading member dim E."""

    leading_member_dims = 1   # read by train.make_optimizer: parameter shapes are [E, *member_shape]

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise ValueError("an Ensemble needs at least one member model")
        kinds = {type(m) for m in members}
        if len(kinds) != 1:
            raise ValueError(f"ensemble members must share one architecture, got {sorted(k.__name__ for k in kinds)}")
        params, _ = stack_module_state(list(members))
        self.names = list(params)
        self.stacked = nn.ParameterList(nn.Parameter(params[name].detach().clone()) for name in self.names)
        # The template runs each member's slice; kept outside the module tree so that parameters(),
        # state_dict() and the optimizer see only the stacked tensors.
        object.__setattr__(self, "template", copy.deepcopy(members[0]))

    def _apply(self, fn, *args, **kwargs):
        # .to(device) / .double() must reach the template's buffers too: it is outside the module tree
        self.template._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    @property
    def size(self) -> int:
        return self.stacked[0].shape[0]

    def train(self, mode: bool = True) -> "Ensemble":
        self.template.train(mode)
        return super().train(mode)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Every input carries a leading member dimension [E, ...]; so does the output."""
        for x in inputs:
            if x.shape[0] != self.size:
                raise ValueError(f"input has leading size {x.shape[0]}, expected one slice per member ({self.size})")
        params = dict(zip(self.names, self.stacked))

        def run_member(member_params, *member_inputs):
            return functional_call(self.template, member_params, member_inputs)

        # the fused CPU attention kernel has no vmap rule (it would loop over members); the math kernel does
        with sdpa_kernel(SDPBackend.MATH):
            return vmap(run_member, randomness="different")(params, *inputs)

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip each member's gradient to norm ``max_norm`` on its own; returns the E pre-clip norms."""
        return clip_member_grad_norms_(self.stacked, max_norm, self.size)

    @torch.no_grad()
    def member(self, index: int) -> nn.Module:
        """A standalone copy of member ``index`` (e.g. to inspect or save it)."""
        model = copy.deepcopy(self.template)
        model.load_state_dict({name: p[index].clone() for name, p in zip(self.names, self.stacked)}, strict=False)
        return model
