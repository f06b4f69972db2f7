"""One PWF clustering round over the flattened weights of the whole network.

Each step picks, among the candidate centres, the one within ``delta`` sigmas of the most weights
(``|c - mu| <= delta * sigma``), fixes the free ones among them to it (nearest first, never more than
the round still needs) and removes it from the candidates. With ``count_fixed`` (the default) weights
fixed in earlier rounds count for the centre they sit on, as in the reference code, which re-clusters
all weights every round and finds each fixed weight at distance 0 from its own centre: centres already
in use are preferred, so free weights join them before a new value is opened. A centre's votes are
spent once it is chosen in the round: in the reference its fixed weights are then assigned and no
longer counted, so after the search widens the popular centres have no head start. (Votes that stayed
would let a popular centre win every widened search with a single far-away weight and take every free
weight within the widened reach, nearest or not: large weights collapsed onto small popular values.)
Fixed weights never move (the reference could re-assign one to a neighbouring centre; the paper
freezes them).

When no candidate fits any free weight, the search widens alternately: one more power-of-two term
per centre (up to ``max_terms``), then ``delta`` times ``delta_growth``; this repeats until the round's
share of weights is fixed.

Counting is done on sorted interval ends (``mu - delta sigma``, ``mu + delta sigma``), so each step
costs O(n + m log n) for n free weights and m candidates instead of an m x n distance matrix:
DeiT-Tiny's 5M weights fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tessera.compression.pwf.centres import candidate_centres

# Sigmas below this are treated as this when measuring distances (as the reference code).
_DISTANCE_SIGMA_FLOOR = 2.0**-20


@dataclass
class FixingState:
    """Flat float64 views of all shared tensors: means, sigmas and which entries are fixed."""

    means: torch.Tensor
    sigmas: torch.Tensor
    fixed: torch.Tensor


@dataclass
class RoundOutcome:
    """Centres chosen in the round (in order, with how many weights each took) and where the search ended."""

    centres: list[tuple[float, int]] = field(default_factory=list)
    delta: float = 0.0
    terms: int = 1


def _join_sigma(member_means: torch.Tensor, member_sigmas: torch.Tensor, how: str) -> torch.Tensor:
    if how == "std_mu":  # the spread of the weights that joined: one value for the whole group
        return torch.full_like(member_sigmas, float(member_means.std(unbiased=False)))
    if how == "divide_by_10":
        return member_sigmas / 10.0
    return member_sigmas  # allow_retraining: sigma stays as learnt and keeps training


def _count_within(
    lower_sorted: torch.Tensor, lower_order: torch.Tensor, upper_sorted: torch.Tensor, upper_order: torch.Tensor,
    alive: torch.Tensor, centres: torch.Tensor,
) -> torch.Tensor:
    """Per centre c: #alive weights with lower <= c <= upper (from prefix sums over the sort orders)."""
    alive_lower = torch.cat([torch.zeros(1, dtype=torch.long), alive[lower_order].long().cumsum(0)])
    alive_upper = torch.cat([torch.zeros(1, dtype=torch.long), alive[upper_order].long().cumsum(0)])
    starts_before = alive_lower[torch.searchsorted(lower_sorted, centres, right=True)]
    ends_before = alive_upper[torch.searchsorted(upper_sorted, centres, right=False)]
    return starts_before - ends_before


def _fixed_votes(state: FixingState, centres: torch.Tensor) -> torch.Tensor:
    """Per candidate centre: how many already-fixed weights sit exactly on it."""
    values, counts = torch.unique(state.means[state.fixed], return_counts=True)
    votes = torch.zeros(len(centres), dtype=torch.long)
    if len(values) == 0:
        return votes
    where = torch.searchsorted(values, centres).clamp_max(len(values) - 1)
    hit = values[where] == centres
    votes[hit] = counts[where[hit]]
    return votes


def fix_round(
    state: FixingState,
    target_fixed: int,
    *,
    delta: float = 1.0,
    delta_growth: float = 2.0,
    max_terms: int = 4,
    lowest_exponent: int = 7,
    zero_fix: bool = True,
    sigma_join: str = "std_mu",
    count_fixed: bool = True,
) -> RoundOutcome:
    """Fix free weights of ``state`` in place until ``target_fixed`` of them are fixed."""
    left = target_fixed - int(state.fixed.sum())
    outcome = RoundOutcome(delta=delta, terms=1)
    small = 2.0**-lowest_exponent
    counter = 1
    spent: set[float] = set()  # centres chosen this round: their fixed weights no longer vote
    while left > 0:
        free = torch.nonzero(~state.fixed).squeeze(1)
        means = state.means[free]
        sigmas = state.sigmas[free].clamp_min(_DISTANCE_SIGMA_FLOOR)
        # The reference builds candidates up to the largest weight of the round (fixed ones included).
        largest = state.means.abs().max() if count_fixed else means.abs().max()
        centres = candidate_centres(outcome.terms, float(largest), lowest_exponent)
        votes = _fixed_votes(state, centres) if count_fixed else torch.zeros(len(centres), dtype=torch.long)
        if spent:
            votes[torch.tensor([float(c) in spent for c in centres.tolist()], dtype=torch.bool)] = 0
        available = torch.ones(len(centres), dtype=torch.bool)
        zero_index = int(torch.searchsorted(centres, torch.zeros(1, dtype=torch.float64)))
        alive = torch.ones(len(free), dtype=torch.bool)
        lower, lower_order = torch.sort(means - outcome.delta * sigmas)
        upper, upper_order = torch.sort(means + outcome.delta * sigmas)
        near_zero = means.abs() < small if zero_fix else torch.zeros_like(alive)
        while left > 0 and bool(available.any()):
            counts = _count_within(lower, lower_order, upper, upper_order, alive, centres)
            if zero_fix:
                counts[zero_index] = int((alive & ((means.abs() <= outcome.delta * sigmas) | near_zero)).sum())
            counts += votes
            counts[~available] = 0
            best = int(torch.argmax(counts))
            if int(counts[best]) == 0:
                break
            centre = centres[best]
            spent.add(float(centre))
            votes[best] = 0
            distance = (means - centre).abs() / sigmas
            if zero_fix and best == zero_index:
                distance[near_zero] = 0.0
            distance[~alive] = torch.inf
            members = torch.nonzero(distance <= outcome.delta).squeeze(1)
            available[best] = False
            if len(members) == 0:  # rounding put an interval end on the centre: try the next one
                continue
            if len(members) > left:  # the round needs fewer: take the nearest in sigmas
                members = members[torch.topk(distance[members], left, largest=False).indices]
            chosen = free[members]
            state.means[chosen] = centre
            state.sigmas[chosen] = _join_sigma(means[members], state.sigmas[chosen], sigma_join)
            state.fixed[chosen] = True
            alive[members] = False
            left -= len(members)
            outcome.centres.append((float(centre), len(members)))
        if left <= 0:
            break
        # Nothing (more) fits: alternate one more term per centre and a wider delta (the reference's order).
        if outcome.terms < max_terms and counter % 2 == 1:
            outcome.terms += 1
        else:
            outcome.delta *= delta_growth
        counter += 1
    return outcome
