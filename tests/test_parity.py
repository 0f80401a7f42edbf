import pytest
import torch

from mdlm_core import make_parity_data
from mdlm_core.data import parity_labels


def test_labels_are_the_xor_of_the_secret_bits():
    data = make_parity_data(n=10, k=3, n_train=200, n_test=100, seed=4)
    assert len(data.secret) == 3 and len(set(data.secret)) == 3
    for x, y in zip(data.train_x, data.train_y):
        assert y.item() == sum(int(x[i]) for i in data.secret) % 2
    # flipping any secret bit flips the label; flipping any other bit does not
    x = data.test_x[:1].clone()
    y = parity_labels(x, data.secret)
    for i in range(10):
        flipped = x.clone()
        flipped[0, i] ^= 1
        assert (parity_labels(flipped, data.secret) != y).item() == (i in data.secret)


def test_train_and_test_are_disjoint_and_seeded():
    data = make_parity_data(n=8, k=2, n_train=150, n_test=100, seed=0)
    train = {tuple(r.tolist()) for r in data.train_x}
    test = {tuple(r.tolist()) for r in data.test_x}
    assert len(train) == 150 and len(test) == 100 and not train & test
    again = make_parity_data(n=8, k=2, n_train=150, n_test=100, seed=0)
    assert torch.equal(data.train_x, again.train_x) and data.secret == again.secret
    other = make_parity_data(n=8, k=2, n_train=150, n_test=100, seed=1)
    assert not torch.equal(data.train_x, other.train_x)


def test_sequence_layout():
    data = make_parity_data(n=6, k=2, n_train=10, n_test=10)
    seq = data.train_sequences()
    assert seq.shape == (10, 7) and torch.equal(seq[:, -1], data.train_y)
    assert data.relevant_positions == data.secret + (6,)


@pytest.mark.parametrize("kwargs,match", [(dict(n=5, k=6), "k=6 > n=5"), (dict(n=5, k=0), "k=0"),
                                          (dict(n=3, k=2, n_train=8), "distinct inputs")])
def test_bad_arguments(kwargs, match):
    args = dict(n_train=4, n_test=4) | kwargs
    with pytest.raises(ValueError, match=match):
        make_parity_data(**args)
