"""Training a whole cascade: both stages on synthetic brains, measured, exported, published.

Stage 1 learns on the coarse grid (``coarse_spacing_mm``), stage 2 at full resolution
(``spacing_mm``) on random crops the size of its sliding window, ``stage2_focus`` of them centred on the
task's small, hard classes (lesion; deep structures) so it sees them often enough to learn them, for
``stage2_steps_factor`` times stage 1's steps (a crop is cheap) with batch Dice. Both
are :class:`MultiContrastUNet3D` trained by :func:`training.train` (balanced or plain). After training the
card records the validation Dice, the conditional utilisation rates and the Dice with each contrast missing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.core.inference import ModelRepository
from tessera.segmentation.data import CONTRASTS
from tessera.segmentation.data.crops import ClassBalancedCrops, focus_ratios
from tessera.segmentation.data.dataset import SyntheticBrainDataset
from tessera.segmentation.export import export_cascade
from tessera.segmentation.model_card import ModelCard, publish_model
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig
from tessera.segmentation.training import TrainConfig, dice_with_missing, train, utilisation_from_dice

Progress = Callable[[float, str], None]
HEAD_FOV_MM = (176.0, 208.0, 176.0)


class NamedContrastUNet(nn.Module):
    """:class:`MultiContrastUNet3D` seen through the ``MultiBranchModel`` protocol (contrasts by name)."""

    def __init__(self, net: MultiContrastUNet3D, contrasts: Sequence[str]):
        super().__init__()
        self.net = net
        self._contrasts = tuple(contrasts)

    @property
    def contrasts(self) -> Sequence[str]:
        return self._contrasts

    def branch_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {name: list(self.net.contrast_parameters(k)) for k, name in enumerate(self._contrasts)}

    def fusion_parameters(self) -> dict[str, list[torch.Tensor]]:
        """Per contrast, the decoder weight slices reading its skip features (``net.fusion_weights``), detached,
        each carrying the matching slice of its weight's current gradient as ``.grad`` (None before backward)."""
        return {name: [_slice_with_grad(view) for view in self.net.fusion_weights(k)]
                for k, name in enumerate(self._contrasts)}

    def forward(self, x: torch.Tensor, drop_contrasts: Collection[str] = (),
                contrast_present: torch.Tensor | None = None) -> torch.Tensor:
        drop = {self._contrasts.index(name) for name in drop_contrasts}
        return self.net(x, contrast_present=contrast_present, drop_contrasts=drop or None)  # type: ignore[no-any-return]


def _slice_with_grad(view: torch.Tensor) -> torch.Tensor:
    """Detached, copy-free slice ``view`` of a parameter, with ``.grad`` set to the same slice of the parameter's
    gradient (the view's own ``.grad`` is never populated: it is not a leaf)."""
    base = view._base
    if not isinstance(base, nn.Parameter) or not base.is_contiguous() or base.storage_offset() != 0:
        raise TypeError("fusion weight is not a view of a contiguous parameter")
    sliced = view.detach()
    if base.grad is not None:
        # Same layout as the (contiguous) weight, so the view's strides and offset address the same entries.
        sliced.grad = base.grad.contiguous().as_strided(view.size(), view.stride(), view.storage_offset())
    return sliced


@dataclass(frozen=True)
class CascadeTrainSpec:
    task: str = "tissue"
    contrasts: tuple[str, ...] = CONTRASTS
    balanced: bool = False
    epochs: int = 4
    steps_per_epoch: int = 20
    train_samples: int = 40
    val_samples: int = 4
    spacing_mm: float = 2.0
    coarse_spacing_mm: float = 4.0
    roi: int = 48
    depth: int = 3
    base_width: int = 8
    contrast_dropout: float = 0.2
    stage2_focus: float = 0.5
    stage2_steps_factor: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.stage2_focus <= 1.0:
            problems.append(FieldViolation("stage2_focus", f"must be in [0, 1], got {self.stage2_focus}"))
        if self.stage2_steps_factor < 1:
            problems.append(FieldViolation("stage2_steps_factor", f"must be >= 1, got {self.stage2_steps_factor}"))
        if problems:
            raise InvalidArgument(problems)


def _stage(spec: CascadeTrainSpec, num_classes: int) -> MultiContrastUNet3D:
    return MultiContrastUNet3D(UNetConfig(in_contrasts=len(spec.contrasts), num_classes=num_classes,
                                          depth=spec.depth, base_width=spec.base_width))


def train_cascade(spec: CascadeTrainSpec, repo: ModelRepository, name: str,
                  progress: Progress = lambda f, m: None) -> ModelCard:
    """Train, measure, export (checked against PyTorch) and publish both stages; returns the card."""
    torch.manual_seed(spec.seed)
    common: dict[str, Any] = {"task": spec.task, "contrasts": spec.contrasts, "seed": spec.seed}
    # Stage 1 sees the whole head on its coarse grid: one fixed box (a 176 x 208 x 176 mm field of
    # view holds either template brain) so samples of different brains batch together.
    head = tuple(int(np.ceil(mm / spec.coarse_spacing_mm)) for mm in HEAD_FOV_MM)
    coarse_train = SyntheticBrainDataset(spacing_mm=spec.coarse_spacing_mm, size=head, split="train",
                                         n=spec.train_samples, **common)
    coarse_val = SyntheticBrainDataset(spacing_mm=spec.coarse_spacing_mm, size=head, split="test",
                                       n=spec.val_samples, augment=False, **common)
    crop = (spec.roi, spec.roi, spec.roi)
    whole = SyntheticBrainDataset(spacing_mm=spec.spacing_mm, split="train", n=spec.train_samples, **common)
    fine_train = ClassBalancedCrops(whole, crop, focus_ratios(whole.labels.num_classes, whole.labels.hard_classes,
                                                              spec.stage2_focus), seed=spec.seed)
    fine_val = SyntheticBrainDataset(spacing_mm=spec.spacing_mm, size=crop, split="test", n=spec.val_samples,
                                     augment=False, **common)
    classes = coarse_train.labels.classes
    config = TrainConfig(epochs=spec.epochs, steps_per_epoch=spec.steps_per_epoch, balance=spec.balanced,
                         contrast_dropout=spec.contrast_dropout, seed=spec.seed, lr=2e-3)
    # Stage 2's crops cost a fraction of a whole volume: it takes more (cheaper) steps, with Dice over the batch
    # so a crop without a lesion does not push the lesion class to zero on its own (tools/bench/segmentation.py).
    config2 = config.model_copy(update={"steps_per_epoch": spec.steps_per_epoch * spec.stage2_steps_factor,
                                        "batch_dice": True})
    results: dict[str, dict[str, Any]] = {}
    stages: dict[str, NamedContrastUNet] = {}
    for label, train_set, val_set, stage_config, start in (("stage1", coarse_train, coarse_val, config, 0.0),
                                                           ("stage2", fine_train, fine_val, config2, 0.45)):
        model = NamedContrastUNet(_stage(spec, len(classes)), spec.contrasts)
        result = train(model, train_set, val_set, stage_config, progress=_scaled(progress, start, 0.45, label))
        stages[label] = model
        missing = dice_with_missing(model, val_set)
        results[label] = {
            "val_mean_dice": result.epochs[-1].val_mean_dice if result.epochs else float("nan"),
            "epochs": [{"epoch": e.epoch, "loss": e.train_loss, "val_mean_dice": e.val_mean_dice}
                       for e in result.epochs],
            "rebalancing_steps": result.rebalancing_steps,
            "dice_with_missing": {k: _mean(v) for k, v in missing.items()},
            "conditional_utilisation": utilisation_from_dice(missing),
        }
    progress(0.92, "exporting both stages to ONNX")
    with tempfile.TemporaryDirectory(prefix="tessera-seg-export-") as tmp:
        exported = export_cascade(stages["stage1"].net.eval(), stages["stage2"].net.eval(), Path(tmp))
        card = ModelCard(
            name=name, task=spec.task, contrasts=list(spec.contrasts), class_names=dict(enumerate(classes)),
            spacing_mm=spec.spacing_mm,
            cascade={"coarse_spacing_mm": spec.coarse_spacing_mm, "margin_mm": 2 * spec.coarse_spacing_mm,
                     "roi_size": [spec.roi] * 3, "candidate_threshold": 0.5},
            network={"depth": spec.depth, "base_width": spec.base_width, "fusion": "concat"},
            training={"spec": spec.__dict__ | {"contrasts": list(spec.contrasts)}, "config": config.model_dump(),
                      "stage2_config": config2.model_dump(),
                      "data": "tessera.segmentation.data.SyntheticBrainDataset (MNI152/Colin27 templates, synthetic "
                              "contrasts and lesions); validation on the held-out test split"},
            metrics={"stage1": results["stage1"], "stage2": results["stage2"],
                     "dice_with_missing": results["stage2"]["dice_with_missing"]},
            export_max_abs_diff={"stage1": exported.stage1_check.worst, "stage2": exported.stage2_check.worst},
        )
        published = publish_model(repo, card, exported.stage1_path.read_bytes(), exported.stage2_path.read_bytes())
    progress(1.0, f"published {name} v{published.version}")
    return published


def _scaled(progress: Progress, start: float, span: float, label: str) -> Progress:
    def report(fraction: float, message: str) -> None:
        progress(start + span * fraction, f"{label}: {message}")

    return report


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v == v]
    return float(sum(finite) / len(finite)) if finite else float("nan")
