"""Variable-size sets as padded id matrices plus masks, batched by size.

The network reads ``ids`` (B, L) int64 where node ``g`` is ``g + 1`` and 0 is padding, and ``mask``
(B, L) float32 (1 = member, 0 = padding). Grouping sets of one size in a batch keeps padding at zero
during training; inference accepts mixed sizes in one padded batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

PAD = 0


def pad_sets(sets: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids (B, L) int64 with global id + 1, mask (B, L) float32) of sets of global ids; L = longest set."""
    width = length or max((len(s) for s in sets), default=0)
    ids = np.full((len(sets), width), PAD, dtype=np.int64)
    mask = np.zeros((len(sets), width), dtype=np.float32)
    for i, s in enumerate(sets):
        ids[i, : len(s)] = np.asarray(s, dtype=np.int64) + 1
        mask[i, : len(s)] = 1.0
    return ids, mask


def size_batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays of batches whose sets share one size; shuffled within and across sizes when ``rng`` is given."""
    batches: list[np.ndarray] = []
    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        if rng is not None:
            idx = rng.permutation(idx)
        batches.extend(idx[i: i + batch_size] for i in range(0, len(idx), batch_size))
    order = rng.permutation(len(batches)) if rng is not None else np.arange(len(batches))
    for b in order:
        yield batches[b]
