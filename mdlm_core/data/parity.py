"""k-sparse parity data.

Inputs are n uniform bits; a secret set S of k positions (fixed by the seed) defines the label
y = XOR_{i in S} x_i. Masked-diffusion training sees the sequence [x_1 .. x_n, y] over the vocabulary
{0, 1} with MASK = 2; the relevant tokens for the Signal regime are S and the label position n.
Train and test inputs are distinct: the test set is fresh data, never a re-draw of a training input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PARITY_VOCAB = 2          # real tokens {0, 1}
PARITY_MASK_ID = 2        # MASK


@dataclass(frozen=True)
class ParityData:
    n: int
    k: int
    secret: tuple[int, ...]       # sorted positions of S
    train_x: torch.Tensor         # long [n_train, n]
    train_y: torch.Tensor         # long [n_train]
    test_x: torch.Tensor          # long [n_test, n]
    test_y: torch.Tensor          # long [n_test]

    @property
    def relevant_positions(self) -> tuple[int, ...]:
        """S plus the label position n in the sequence [x, y]."""
        return self.secret + (self.n,)

    @staticmethod
    def as_sequence(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[x_1 .. x_n, y] as one token sequence, long [N, n + 1]."""
        return torch.cat([x, y.unsqueeze(-1)], dim=-1)

    def train_sequences(self) -> torch.Tensor:
        return self.as_sequence(self.train_x, self.train_y)

    def test_sequences(self) -> torch.Tensor:
        return self.as_sequence(self.test_x, self.test_y)


def parity_labels(x: torch.Tensor, secret) -> torch.Tensor:
    """y = XOR of the bits of x at the secret positions; x: long [N, n]."""
    idx = torch.as_tensor(list(secret), dtype=torch.long, device=x.device)
    return x.index_select(-1, idx).sum(-1) % 2


def make_parity_data(n: int, k: int, n_train: int, n_test: int, seed: int = 0) -> ParityData:
    """A seeded k-parity problem with ``n_train`` train and ``n_test`` distinct test inputs."""
    for name, value in (("n", n), ("k", k), ("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    if k > n:
        raise ValueError(f"k={k} > n={n}: the secret set S picks k of the n input bits, so k <= n")
    if n < 63 and n_train + n_test > 2 ** n:
        raise ValueError(f"n={n} bits give only {2 ** n} distinct inputs, fewer than n_train + n_test "
                         f"= {n_train + n_test}: raise n or shrink the sets")
    rng = np.random.default_rng(seed)
    secret = tuple(sorted(int(i) for i in rng.choice(n, size=k, replace=False)))
    need = n_train + n_test
    rows = np.empty((0, n), dtype=np.int64)
    while len(rows) < need:  # draw, de-duplicate (keeping draw order), repeat until enough distinct inputs
        fresh = rng.integers(0, 2, size=(2 * (need - len(rows)) + 16, n), dtype=np.int64)
        stacked = np.concatenate([rows, fresh])
        _, first = np.unique(stacked, axis=0, return_index=True)
        rows = stacked[np.sort(first)]
    x = torch.from_numpy(rows[:need])
    y = parity_labels(x, secret)
    return ParityData(n, k, secret, x[:n_train], y[:n_train], x[n_train:], y[n_train:])
