"""Aggregation over seeds (fastbert.tools.seeds), shared by the app and the reports."""
import math

import pytest

from fastbert.tools.seeds import mean_matrix, seed_stats


def test_seed_stats_mean_std_and_standard_error():
    s = seed_stats([80.0, 82.0, 84.0, 86.0])
    assert s.mean == 83.0 and s.n == 4
    assert s.std == pytest.approx(math.sqrt(20 / 3))  # sample std: divides by n - 1
    assert s.se == pytest.approx(s.std / 2)
    one = seed_stats([0.9])
    assert one.std is None and one.se is None
    with pytest.raises(ValueError):
        seed_stats([])


def test_mean_matrix_is_element_wise():
    assert mean_matrix([[[0.0, 1.0], [2.0, 3.0]], [[2.0, 1.0], [0.0, 5.0]]]) == [[1.0, 1.0], [1.0, 4.0]]
