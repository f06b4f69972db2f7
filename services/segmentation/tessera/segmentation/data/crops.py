"""Class-balanced random crops: how stage 2 (and any patch-trained network) sees its training volumes.

Stage 2 of the cascade only ever classifies the candidate region, window by window, so it trains on
window-sized crops rather than whole volumes. Uniform crops almost never contain a lesion (0.1% of the
voxels), so crop centres are drawn per class with given ratios (MONAI ``RandCropByLabelClassesd``, the
nnU-Net-style foreground oversampling): e.g. ``ratios=(1, 1, 1, 1, 4)`` centres half of the crops on a
lesion voxel and the rest evenly on the other classes. A class absent from a sample is skipped for it; a
ratio of 0 is kept as a negligible weight, so a sample holding none of the favoured classes still yields a crop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import RandCropByLabelClassesd, SpatialPadd
from torch.utils.data import Dataset

from tessera.core.errors import InvalidArgument


def focus_ratios(num_classes: int, focus: Sequence[int], share: float) -> tuple[float, ...]:
    """Crop-centre ratios: ``share`` of the crops centred on the ``focus`` classes (split evenly), the rest
    evenly on every other class, background included. ``focus_ratios(5, [4], 0.5)`` -> (0.125,) * 4 + (0.5,)."""
    if not focus or any(not 0 <= k < num_classes for k in focus):
        raise InvalidArgument.field("focus", f"need class indices in 0..{num_classes - 1}, got {tuple(focus)}")
    if not 0.0 <= share <= 1.0:
        raise InvalidArgument.field("share", f"must be in [0, 1], got {share}")
    others = num_classes - len(set(focus))
    if others == 0:
        return tuple(1.0 / num_classes for _ in range(num_classes))
    return tuple(share / len(set(focus)) if k in focus else (1.0 - share) / others for k in range(num_classes))


class ClassBalancedCrops(Dataset[dict[str, torch.Tensor]]):
    """Random ``roi`` crops of ``samples`` (mappings with ``"image"`` [C, X, Y, Z] and ``"label"`` [1, X, Y, Z]
    integer classes 0..K-1), one per item, centred on a voxel of a class drawn with probability proportional to
    ``ratios`` (one per class, background first). Items: ``{"image": [C, *roi], "label": [1, *roi]}``; a crop
    never leaves the volume (its centre is moved inward); an axis shorter than ``roi`` is zero-padded first.

    Deterministic for a given ``seed`` and sequence of ``__getitem__`` calls (the MONAI transform owns one
    random state).
    """

    def __init__(self, samples: Sequence[Mapping[str, Any]] | Dataset[Any], roi: Sequence[int],
                 ratios: Sequence[float], seed: int = 0):
        if len(roi) != 3 or min(roi) < 1:
            raise InvalidArgument.field("roi", f"need three positive voxel counts, got {tuple(roi)}")
        if len(ratios) < 2 or min(ratios) < 0 or sum(ratios) <= 0:
            raise InvalidArgument.field("ratios", f"need one ratio >= 0 per class (>= 2 classes, not all 0), "
                                        f"got {tuple(ratios)}")
        self.samples = samples
        self.roi = tuple(int(r) for r in roi)
        self.ratios = tuple(float(r) for r in ratios)
        floor = 1e-9 * sum(self.ratios)  # MONAI fails when every class it may pick is absent from a sample
        self._crop = RandCropByLabelClassesd(keys=["image", "label"], label_key="label", spatial_size=self.roi,
                                             ratios=[max(r, floor) for r in self.ratios],
                                             num_classes=len(self.ratios), num_samples=1, warn=False)
        self._crop.set_random_state(seed=seed)
        self._pad = SpatialPadd(keys=["image", "label"], spatial_size=self.roi)

    def __len__(self) -> int:
        return len(self.samples)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        image, label = torch.as_tensor(sample["image"]), torch.as_tensor(sample["label"])
        if label.dim() == 3:
            label = label[None]
        # Zero-pad (background) any axis shorter than the window, centred, as centre_crop_or_pad does.
        data = self._pad({"image": image, "label": label})
        crop = self._crop(data)[0]
        return {"image": torch.as_tensor(np.asarray(crop["image"])).float().contiguous(),
                "label": torch.as_tensor(np.asarray(crop["label"])).long().contiguous()}
