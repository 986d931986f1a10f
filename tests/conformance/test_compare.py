"""The comparisons of results that are not unique (unstable sort, top-k at ties) and the summation bound of
dot_general accept what JAX may differ in and reject wrong results."""

from __future__ import annotations

import numpy as np
import pytest

from .runner import compare, compare_top_k_ties, compare_unstable_sort, summation_bound

KEYS, OTHER, THIRD = np.array([1, 0, 1, 0], np.int32), np.array([5.0, 6.0, 7.0, 8.0], np.float32), np.arange(4)
# JAX's unstable sort of (KEYS, OTHER, THIRD) by the first key: rows 1 and 3, then rows 0 and 2.
WANT = [np.array([0, 0, 1, 1], np.int32), np.array([6.0, 8.0, 5.0, 7.0], np.float32), np.array([1, 3, 0, 2])]


def _sorted(keys, other, third):
    return [np.array(keys, np.int32), np.array(other, np.float32), np.array(third)]


def test_unstable_sort_accepts_another_order_of_equal_keys():
    assert compare_unstable_sort(_sorted([0, 0, 1, 1], [8.0, 6.0, 7.0, 5.0], [3, 1, 2, 0]), WANT, 0, 1) is None


@pytest.mark.parametrize("got, why", [
    (_sorted([0, 0, 1, 1], [8.0, 6.0, 7.0, 5.0], [1, 3, 2, 0]), "one array permuted apart from the others"),
    (_sorted([0, 0, 1, 1], [6.0, 6.0, 5.0, 7.0], [1, 1, 0, 2]), "an entry doubled, another lost"),
    (_sorted([0, 0, 1, 1], [6.0, 5.0, 8.0, 7.0], [1, 0, 3, 2]), "entries moved across different keys"),
    (_sorted([0, 1, 0, 1], [6.0, 5.0, 8.0, 7.0], [1, 0, 3, 2]), "keys not sorted"),
])
def test_unstable_sort_rejects_a_wrong_permutation(got, why):
    assert compare_unstable_sort(got, WANT, 0, 1) is not None, why


def test_unstable_sort_checks_every_line_along_the_dimension():
    keys = np.array([[1, 1], [0, 0]], np.int32)
    want = [np.array([[0, 0], [1, 1]], np.int32), np.array([[2.0, 3.0], [0.0, 1.0]], np.float32)]
    swapped = [want[0], np.array([[3.0, 2.0], [0.0, 1.0]], np.float32)]  # column 0 takes column 1's entry
    assert compare_unstable_sort([keys[::-1], want[1]], want, 0, 1) is None
    assert compare_unstable_sort(swapped, want, 0, 1) is not None


OPERAND = np.array([[3.0, 1.0, 3.0, 2.0], [0.0, 4.0, 4.0, 4.0]], np.float32)
TOP2 = [np.array([[3.0, 3.0], [4.0, 4.0]], np.float32), np.array([[0, 2], [1, 2]], np.int32)]


def test_top_k_ties_accept_other_indices_of_equal_values():
    got = [TOP2[0], np.array([[2, 0], [3, 1]], np.int32)]
    assert compare_top_k_ties(OPERAND, got, TOP2, axis=-1) is None


@pytest.mark.parametrize("indices, why", [
    ([[0, 0], [1, 2]], "an index repeated"),
    ([[0, 1], [1, 2]], "an index whose value is not the top value"),
    ([[0, 2], [1, 4]], "an index out of range"),
    ([[0, 2], [-3, 2]], "a negative index"),
])
def test_top_k_ties_reject_a_wrong_index(indices, why):
    got = [TOP2[0], np.array(indices, np.int32)]
    assert compare_top_k_ties(OPERAND, got, TOP2, axis=-1) is not None, why


def test_top_k_ties_reject_wrong_values():
    got = [np.array([[3.0, 2.0], [4.0, 4.0]], np.float32), np.array([[0, 3], [1, 2]], np.int32)]
    assert compare_top_k_ties(OPERAND, got, TOP2, axis=-1) is not None


def _dot_case():
    rng = np.random.default_rng(0)
    lhs, rhs = rng.standard_normal((4, 64)).astype(np.float32), rng.standard_normal((64, 3)).astype(np.float32)
    forward = np.zeros((4, 3), np.float32)
    for k in range(64):  # float32 sums in two orders
        forward += lhs[:, k:k + 1] * rhs[k:k + 1, :]
    backward = np.zeros((4, 3), np.float32)
    for k in reversed(range(64)):
        backward += lhs[:, k:k + 1] * rhs[k:k + 1, :]
    return lhs, rhs, forward, backward, summation_bound(lhs, rhs, (((1,), (0,)), ((), ())), np.dtype(np.float32))


def test_dot_summation_bound_accepts_another_order():
    lhs, rhs, forward, backward, bound = _dot_case()
    assert compare("dot_general", [backward], [forward], bound) is None


@pytest.mark.parametrize("how", ["one element off by 1e-3", "rows swapped", "one product left out"])
def test_dot_summation_bound_rejects_a_wrong_result(how):
    lhs, rhs, forward, _, bound = _dot_case()
    wrong = forward.copy()
    if how == "one element off by 1e-3":
        wrong[1, 2] += 1e-3  # the worst-case bound for 64 terms is ~3e-4 here
    elif how == "rows swapped":
        wrong[[0, 1]] = wrong[[1, 0]]
    else:
        wrong -= lhs[:, 5:6] * rhs[5:6, :]
    assert compare("dot_general", [wrong], [forward], bound) is not None
