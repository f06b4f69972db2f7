"""Training accuracy of a two-layer network on random two-class data, estimated without training.

Space-partitioning estimate (Guan & Loew, "The training accuracy of two-layer neural networks:
its estimation and understanding using random datasets", arXiv:2010.13380). The argument:

1. Each of the ``L`` hidden neurons of a two-layer fully connected network (ReLU or any other
   activation with one switching point) cuts the input space R^d with one hyperplane, where its
   pre-activation changes sign. ``L`` hyperplanes in general position split R^d into

       R(d, L) = sum_{i=0}^{min(d, L)} C(L, i)

   regions (Schläfli/Zaslavsky; ``2^L`` whenever ``L <= d``).
2. The ``N`` inputs are random, so with no structure to exploit each input lands in any region
   with the same probability ``1/R``: the other ``N - 1`` points sharing an input's region number
   ``M ~ Binomial(N - 1, 1/R)``.
3. The labels are random (two balanced classes, independent of position), and inside one region
   the network cannot do better than give every point the region's majority class: a region with
   ``n`` points classifies ``max(K, n - K)`` of them right, ``K ~ Binomial(n, 1/2)``, i.e. a fraction

       a(n) = 1/2 + ceil(n/2) * C(n, ceil(n/2)) / (n * 2^n)

   (``a(1) = 1``, ``a(2) = a(3) = 3/4``, ``a(n) -> 1/2 + 1/sqrt(2 pi n)``).
4. The training accuracy is the mean over inputs of their region's fraction:

       acc(d, N, L) = sum_{m=0}^{N-1} P(M = m) * a(m + 1).

Assumptions (where the estimate can be off): the network has trained to its maximum training
accuracy; hyperplanes are in general position and regions equally likely (real training places
them where the data are, which helps a little in low d); the output layer is a single threshold
on the hidden layer, so a region's points share one class (within a region the network is affine,
so for large d it can still split a region's points, which this estimate does not count: it is
a lower bound there); labels are independent of the inputs. Unit: a fraction in [0.5, 1].

Scope note: the paper's full text and code are not stored offline here; steps 1-4 are the
space-partitioning derivation its abstract describes (only d, N and L enter). The validation
harness (``estimation_harness``) trains such networks and reports how far the estimate is.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from tessera.core.errors import FieldViolation, InvalidArgument

# Bounds keep the computation well inside float64 and answer in milliseconds.
MAX_DIMENSION = 1_000_000
MAX_POINTS = 1_000_000_000
MAX_HIDDEN = 1_000_000
# Binomial tail mass ignored on each side when summing over region occupancies.
_TAIL = 1e-12


def validate_arguments(d: object, n: object, l_hidden: object, *,
                       names: tuple[str, str, str] = ("d", "n", "l")) -> None:
    """Raise :class:`InvalidArgument` naming each bad field (``names`` are the caller's field names)."""
    problems = []
    for name, value, upper in zip(names, (d, n, l_hidden), (MAX_DIMENSION, MAX_POINTS, MAX_HIDDEN), strict=True):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            problems.append(FieldViolation(name, f"must be an integer, got {value!r}"))
        elif not 1 <= int(value) <= upper:
            problems.append(FieldViolation(name, f"must be between 1 and {upper}, got {int(value)}"))
    if problems:
        raise InvalidArgument(problems)


def log_region_count(d: int, l_hidden: int) -> float:
    """Natural log of R(d, L), the number of regions L hyperplanes in general position make in R^d."""
    if l_hidden <= d:
        return l_hidden * math.log(2.0)  # every sign pattern of the L neurons is a region
    i = np.arange(min(d, l_hidden) + 1, dtype=np.float64)
    log_terms = special.gammaln(l_hidden + 1) - special.gammaln(i + 1) - special.gammaln(l_hidden - i + 1)
    return float(special.logsumexp(log_terms))


def region_count(d: int, l_hidden: int) -> int:
    """R(d, L) exactly, as an integer (``sum_{i<=min(d,L)} C(L, i)``)."""
    validate_arguments(d, 1, l_hidden)
    return sum(math.comb(l_hidden, i) for i in range(min(d, l_hidden) + 1))


def majority_fraction(n: np.ndarray) -> np.ndarray:
    """a(n): expected fraction of n random-labelled points that the majority class covers.

    ``n`` is an integer array (>= 1); the central binomial term is taken in log space so n may
    be large.
    """
    n = np.asarray(n, dtype=np.float64)
    half = np.ceil(n / 2)
    log_central = special.gammaln(n + 1) - special.gammaln(half + 1) - special.gammaln(n - half + 1) - n * np.log(2)
    return 0.5 + half * np.exp(log_central) / n


def estimate_training_accuracy(d: int, N: int, L: int) -> float:
    """Estimated maximum training accuracy of a two-layer fully connected network.

    Args:
        d: input dimensionality (>= 1).
        N: number of training points, two random balanced classes (>= 1).
        L: hidden-layer width (>= 1).

    Returns:
        The expected training accuracy, a fraction in [0.5, 1]:
        ``sum_m Binomial(m; N - 1, 1/R(d, L)) * a(m + 1)`` (see the module docstring for the
        derivation and its assumptions).

    Raises:
        InvalidArgument: naming ``d``, ``n`` or ``l`` when one is not an integer in range.
    """
    validate_arguments(d, N, L)
    d, N, L = int(d), int(N), int(L)
    p_share = math.exp(-log_region_count(d, L))  # chance another point shares a given region
    if N == 1 or p_share == 0.0:
        return 1.0
    occupancy = stats.binom(N - 1, p_share)
    lo, hi = int(occupancy.ppf(_TAIL)), int(occupancy.isf(_TAIL))
    others = np.arange(max(lo - 1, 0), min(hi + 1, N - 1) + 1)
    weights = occupancy.pmf(others)
    accuracy = float(np.dot(weights, majority_fraction(others + 1)) / weights.sum())
    return min(max(accuracy, 0.5), 1.0)
