"""Label sets of the two segmentation tasks.

* ``tissue``: background, CSF, grey matter, white matter, lesion (synthetic lesions, see ``lesions.py``).
* ``deep``: background plus six small deep structures of the AAL atlas. Left and right are merged into
  one class each: the structures are mirror images with the same appearance, merging halves the class count
  (each class gets twice the voxels to learn from) and keeps labels valid under left-right flips. The
  cascade's point (small, hard structures) survives: the largest merged class (thalamus) is ~1.6% of the
  brain and the smallest (amygdala) ~0.2%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tessera.core.errors import InvalidArgument

TISSUE_CLASSES = ("background", "CSF", "GM", "WM", "lesion")
LESION_CLASS = TISSUE_CLASSES.index("lesion")

DEEP_STRUCTURES = ("hippocampus", "amygdala", "caudate", "putamen", "pallidum", "thalamus")
DEEP_CLASSES = ("background", *DEEP_STRUCTURES)

# AAL label-name prefix of each deep structure; "Hippocampus" must not match "ParaHippocampal"
_AAL_PREFIX = {
    "hippocampus": "Hippocampus_",
    "amygdala": "Amygdala_",
    "caudate": "Caudate_",
    "putamen": "Putamen_",
    "pallidum": "Pallidum_",
    "thalamus": "Thalamus_",
}

TASKS = ("tissue", "deep")


@dataclass(frozen=True)
class LabelSet:
    """Class names of one task, index = label value (0 = background)."""

    task: str
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def hard_classes(self) -> tuple[int, ...]:
        """The small, hard classes the cascade's stage 2 is there for: the lesion class of ``tissue``, every
        structure of ``deep``. Training crops are centred on them more often (``data.crops``)."""
        if self.task == "tissue":
            return (LESION_CLASS,)
        return tuple(range(1, self.num_classes))


def label_set(task: str) -> LabelSet:
    """The :class:`LabelSet` of ``task`` (``"tissue"`` or ``"deep"``)."""
    if task == "tissue":
        return LabelSet(task, TISSUE_CLASSES)
    if task == "deep":
        return LabelSet(task, DEEP_CLASSES)
    raise InvalidArgument.field("task", f"unknown task {task!r}; known: {', '.join(TASKS)}")


def aal_indices(names: Mapping[int, str]) -> dict[str, tuple[int, ...]]:
    """Deep structure -> the AAL indices (left and right) that make it up."""
    found = {s: tuple(i for i, n in names.items() if n.startswith(p)) for s, p in _AAL_PREFIX.items()}
    missing = [s for s, idx in found.items() if len(idx) != 2]
    if missing:
        raise InvalidArgument.field("aal.nii.txt", f"expected a left and a right label for {missing}")
    return found


def merge_aal_labels(aal: np.ndarray, names: Mapping[int, str]) -> np.ndarray:
    """uint8 deep-structure labels (1..6 in :data:`DEEP_STRUCTURES` order, 0 = other) from an AAL label volume."""
    lut = np.zeros(max(int(aal.max()), max(names)) + 1, dtype=np.uint8)
    for k, structure in enumerate(DEEP_STRUCTURES, start=1):
        for index in aal_indices(names)[structure]:
            lut[index] = k
    return lut[aal]


def tissue_labels(tissue: np.ndarray, mask: np.ndarray, lesion: np.ndarray | None = None) -> np.ndarray:
    """uint8 tissue labels: argmax of CSF/GM/WM probabilities (3, X, Y, Z) inside ``mask``, lesion on top."""
    labels = (np.argmax(tissue, axis=0) + 1).astype(np.uint8)
    labels[~mask] = 0
    if lesion is not None:
        labels[lesion] = LESION_CLASS
    return labels
