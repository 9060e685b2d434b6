"""The validation split: stratified, exact in size, disjoint, the same for every run seed, clear errors."""

import pytest
import torch

from vit_lessons.data import default_val_size, stratified_split, with_validation


def test_split_is_stratified_exact_disjoint_and_fixed():
    labels = torch.arange(10).repeat_interleave(torch.tensor([600, 600, 600, 600, 600, 600, 600, 600, 600, 600]))
    tr, va = stratified_split(labels, 500)
    assert len(va) == 500 and len(tr) == 5500
    assert set(tr.tolist()).isdisjoint(va.tolist()) and len(set(tr.tolist()) | set(va.tolist())) == 6000
    assert torch.bincount(labels[va], minlength=10).tolist() == [50] * 10  # each class in proportion
    tr2, va2 = stratified_split(labels, 500)
    assert torch.equal(va, va2)  # fixed: independent of any run seed
    _, va3 = stratified_split(labels, 500, seed=7)
    assert not torch.equal(va, va3)


def test_uneven_classes_round_to_exactly_the_size_asked():
    labels = torch.tensor([0] * 7 + [1] * 5 + [2] * 3)
    _, va = stratified_split(labels, 4)
    counts = torch.bincount(labels[va], minlength=3).tolist()
    assert sum(counts) == 4 and counts[0] >= counts[1] >= counts[2]


def test_fashion_mnist_default_is_5000_of_60000_and_digits_in_proportion(digits):
    assert default_val_size(60_000) == 5_000 and default_val_size(len(digits.train_y)) == 120
    d = with_validation(digits, 120)
    assert len(d.val_y) == 120 and len(d.train_y) == len(digits.train_y) - 120
    assert torch.equal(d.test_y, digits.test_y)  # the test split is never touched
    assert "validation (120, 1, 8, 8)" in repr(d)


@pytest.mark.parametrize("n", [-1, 10, 2.5, True])
def test_bad_sizes_name_the_flag(n):
    with pytest.raises(ValueError, match="--val-size between 0 and 9"):
        stratified_split(torch.zeros(10, dtype=torch.long), n)
