"""Aggregation over seeds, for the reports and the app: one place for mean, spread and error bars."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class SeedStats:
    """Mean of n runs, their sample standard deviation and the standard error of the mean
    (std and se are None for one run: no spread to report)."""

    mean: float
    std: float | None
    n: int

    @property
    def se(self) -> float | None:
        return None if self.std is None else self.std / math.sqrt(self.n)


def seed_stats(values: Sequence[float]) -> SeedStats:
    """Mean, sample std and n of per-seed values.

    >>> seed_stats([1.0, 2.0, 3.0])
    SeedStats(mean=2.0, std=1.0, n=3)
    """
    if not values:
        raise ValueError("seed_stats: no values")
    return SeedStats(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


def mean_matrix(matrices: Sequence[Sequence[Sequence[float]]]) -> list[list[float]]:
    """Element-wise mean of equally shaped matrices (one per seed).

    >>> mean_matrix([[[0.0, 1.0]], [[1.0, 1.0]]])
    [[0.5, 1.0]]
    """
    return [[statistics.fmean(m[j][i] for m in matrices) for i in range(len(matrices[0][0]))]
            for j in range(len(matrices[0]))]
