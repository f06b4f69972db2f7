"""Candidate cluster centres: 0 and signed sums of at most ``terms`` powers of two.

The powers run from ``2^-b`` up to the largest power below ``max|w|`` of the weights still free,
and sums above ``max|w|`` are dropped. Few terms mean cheap multiplications (shifts and adds),
so PWF tries one term first and allows more only when no one-term centre fits any weight.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations_with_replacement

import torch


@lru_cache(maxsize=64)
def _positive_sums(terms: int, top_exponent: int, lowest_exponent: int) -> tuple[float, ...]:
    powers = [0.0] + [2.0**exponent for exponent in range(-lowest_exponent, top_exponent)]
    # 0 among the powers makes sums of fewer than ``terms`` powers part of the set.
    return tuple(sorted({sum(chosen) for chosen in combinations_with_replacement(powers, terms)}))


def candidate_centres(terms: int, max_abs: float, lowest_exponent: int = 7) -> torch.Tensor:
    """Sorted float64 centres (symmetric about 0, 0 included) for weights with magnitude <= ``max_abs``."""
    if max_abs <= 0.0 or not math.isfinite(max_abs):
        return torch.zeros(1, dtype=torch.float64)
    top_exponent = math.ceil(math.log2(max_abs))
    sums = torch.tensor(_positive_sums(terms, top_exponent, lowest_exponent), dtype=torch.float64)
    sums = sums[sums <= max_abs]
    return torch.cat([-sums[sums > 0].flip(0), sums])
