"""Synthetic MR contrasts: per-tissue intensity models for T1w, T2w and FLAIR.

Intensities are in arbitrary units with white matter on T1w near 1 (skull-stripped, background 0). Means
follow the usual appearance at 3 T: T1w WM > GM > CSF; T2w CSF > GM > WM; FLAIR (CSF-nulled T2) GM > WM >
CSF; demyelinating lesions are hypointense on T1w and hyperintense on T2w and, most of all, FLAIR. Each
sample draws its own class means (``between_sd``, relative) so the network cannot memorise absolute values,
mixes them by the tissue probabilities (partial volume), and adds voxel texture (``within_sd``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tessera.core.errors import InvalidArgument

CONTRASTS = ("T1w", "T2w", "FLAIR")
MODEL_CLASSES = ("CSF", "GM", "WM", "lesion")


@dataclass(frozen=True)
class ClassIntensity:
    """Intensity of one tissue class on one contrast: ``mean``, ``between_sd`` (relative s.d. of the mean
    across samples, clipped at 2 s.d.), ``within_sd`` (absolute voxel-to-voxel s.d.)."""

    mean: float
    between_sd: float = 0.05
    within_sd: float = 0.03


INTENSITY_MODEL: dict[str, dict[str, ClassIntensity]] = {
    "T1w": {
        "CSF": ClassIntensity(0.25),
        "GM": ClassIntensity(0.60),
        "WM": ClassIntensity(0.90),
        "lesion": ClassIntensity(0.45, between_sd=0.10),
    },
    "T2w": {
        "CSF": ClassIntensity(1.00),
        "GM": ClassIntensity(0.55),
        "WM": ClassIntensity(0.40),
        "lesion": ClassIntensity(0.85, between_sd=0.08),
    },
    "FLAIR": {
        "CSF": ClassIntensity(0.10),
        "GM": ClassIntensity(0.60),
        "WM": ClassIntensity(0.45),
        "lesion": ClassIntensity(1.00, between_sd=0.08),
    },
}


def check_contrasts(contrasts: Sequence[str]) -> tuple[str, ...]:
    """``contrasts`` as a tuple; :class:`InvalidArgument` if empty, unknown or duplicated."""
    contrasts = tuple(contrasts)
    if not contrasts:
        raise InvalidArgument.field("contrasts", "at least one contrast is required")
    unknown = [c for c in contrasts if c not in INTENSITY_MODEL]
    if unknown:
        raise InvalidArgument.field("contrasts", f"unknown {unknown}; known: {', '.join(CONTRASTS)}")
    if len(set(contrasts)) != len(contrasts):
        raise InvalidArgument.field("contrasts", f"duplicated contrast in {list(contrasts)}")
    return contrasts


def sample_means(contrast: str, rng: np.random.Generator) -> dict[str, float]:
    """Class means of one sample on ``contrast``: the model means with their between-sample jitter."""
    model = INTENSITY_MODEL[contrast]
    return {k: v.mean * (1.0 + v.between_sd * float(np.clip(rng.normal(), -2, 2))) for k, v in model.items()}


def synthesize(
    tissue: np.ndarray,
    lesion_weight: np.ndarray | None,
    contrasts: Sequence[str],
    rng: np.random.Generator,
) -> np.ndarray:
    """Multi-contrast image (C, X, Y, Z) float32 of one sample.

    ``tissue``: (3, X, Y, Z) CSF/GM/WM probabilities (zero outside the brain, giving background 0).
    ``lesion_weight``: (X, Y, Z) in [0, 1], how much of each voxel is lesion (severity x partial volume);
    lesion replaces the tissue mix in that proportion.
    """
    contrasts = check_contrasts(contrasts)
    brain = tissue.sum(0)
    channels = []
    for contrast in contrasts:
        model = INTENSITY_MODEL[contrast]
        means = sample_means(contrast, rng)
        mix = sum(tissue[k] * means[name] for k, name in enumerate(MODEL_CLASSES[:3]))
        texture_sd = sum(tissue[k] * model[name].within_sd for k, name in enumerate(MODEL_CLASSES[:3]))
        image = mix + texture_sd * rng.standard_normal(brain.shape, dtype=np.float32)
        if lesion_weight is not None:
            lesion = means["lesion"] + model["lesion"].within_sd * rng.standard_normal(brain.shape, dtype=np.float32)
            image = (1.0 - lesion_weight) * image + lesion_weight * lesion * (brain > 0)
        channels.append(np.clip(image, 0.0, None))
    return np.stack(channels).astype(np.float32)
