"""Training loop for multi-branch segmentation networks, plain or balanced (Wu et al. 2022), and its evaluators.

Data: any sequence/``torch.utils.data.Dataset`` whose items are mappings with ``"image"`` a float tensor
[C, D, H, W] (channels in ``model.contrasts`` order, z-scored) and ``"label"`` an integer tensor [1, D, H, W]
or [D, H, W] (class indices 0..K-1, 0 = background). Loss: MONAI ``DiceCELoss``; metric: MONAI ``DiceMetric``
per foreground class. CPU-friendly; the model is trained in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import torch
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.networks.utils import one_hot
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import DataLoader, Dataset

from tessera.core.errors import InvalidArgument
from tessera.segmentation.balance import (
    BalancedScheduler,
    ConditionalLearningSpeed,
    MultiBranchModel,
    SpeedSnapshot,
    conditional_utilisation,
    fill_absent_contrasts,
    fill_missing_contrasts,
    freeze_grads_outside,
    fusion_parameters_of,
    sample_contrast_dropout,
)

ProgressFn = Callable[[float, str], None]
"""progress(fraction in [0, 1], message); fractions never decrease."""

MetricFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""metric(logits [B, K, ...], labels [B, 1, ...]) -> score per sample and foreground class [B, K-1], NaN = undefined."""

NO_MISSING = "none"


class TrainConfig(BaseModel):
    """Training hyper-parameters. ``threshold`` is in log10 units of the learning-speed ratio."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(10, ge=1)
    steps_per_epoch: int = Field(20, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(2, ge=1)
    balance: bool = False
    threshold: float = Field(0.1, ge=0)
    rebalance_window: int = Field(5, ge=1, description="re-balancing steps per window (paper's Q)")
    balance_warmup_epochs: int = Field(1, ge=0, description="regular epochs before balancing may start")
    rebalance_drop_faster: bool = Field(
        False, description="re-balancing steps also feed the faster contrasts as missing (cut their flow)"
    )
    contrast_dropout: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="missing-contrast augmentation: probability, per sample and contrast, that a regular step "
                    "feeds the contrast as missing (never all contrasts of a sample)",
    )
    batch_dice: bool = Field(
        False, description="Dice over the whole batch rather than per sample (nnU-Net's batch Dice): a crop "
                           "without a small class no longer pushes that class to zero on its own")
    class_weights: tuple[Annotated[float, Field(gt=0)], ...] | None = Field(
        None, description="per-class weights (background first) of the Dice and cross-entropy terms; None = equal")
    seed: int = 0


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation Dice per foreground class (index 1..K-1) and their mean."""

    epoch: int
    train_loss: float
    val_dice: list[float]
    val_mean_dice: float
    rebalancing_steps: int


@dataclass
class TrainResult:
    """What :func:`train` returns: per-epoch records, learning-speed history, re-balancing step count."""

    epochs: list[EpochRecord] = field(default_factory=list)
    speed_history: list[SpeedSnapshot] = field(default_factory=list)
    rebalancing_steps: int = 0
    rebalancing_focus: dict[str, int] = field(default_factory=dict)
    total_steps: int = 0


def per_class_dice(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Dice of the argmax prediction per sample and foreground class: [B, K-1], NaN where the class is absent
    from both prediction and label (MONAI ``DiceMetric``, background excluded)."""
    num_classes = logits.shape[1]
    pred = one_hot(logits.argmax(dim=1, keepdim=True), num_classes)
    truth = one_hot(labels.long(), num_classes)
    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    return cast(torch.Tensor, metric(pred, truth))


def _labels_with_channel(label: torch.Tensor) -> torch.Tensor:
    """[B, D, H, W] or [B, 1, D, H, W] -> [B, 1, D, H, W] integer labels."""
    return (label.unsqueeze(1) if label.dim() == 4 else label).long()


def _batches(dataset: Dataset[Any] | Sequence[Any], batch_size: int, shuffle: bool,
             generator: torch.Generator | None = None) -> DataLoader[Any]:
    return DataLoader(cast(Dataset[Any], dataset), batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=0)


def _check_model(model: MultiBranchModel, balance: bool) -> dict[str, list[torch.nn.Parameter]]:
    branches = model.branch_parameters()
    if sorted(branches) != sorted(model.contrasts):
        raise InvalidArgument.field(
            "model", f"branch_parameters() keys {sorted(branches)} must match contrasts {list(model.contrasts)}"
        )
    if balance and len(branches) < 2:
        raise InvalidArgument.field("model", "balanced training needs at least two contrast branches")
    return branches


@torch.no_grad()
def evaluate_dice(model: MultiBranchModel, dataset: Dataset[Any] | Sequence[Any], missing: Sequence[str] = (),
                  metric_fn: MetricFn = per_class_dice, batch_size: int = 2) -> list[float]:
    """Per-foreground-class score over ``dataset`` (NaN-mean over samples) with ``missing`` contrasts filled."""
    was_training = model.training if hasattr(model, "training") else False
    model.eval()
    rows: list[torch.Tensor] = []
    try:
        for batch in _batches(dataset, batch_size, shuffle=False):
            image = fill_missing_contrasts(batch["image"].float(), model.contrasts, missing)
            logits: torch.Tensor = model(image, drop_contrasts=frozenset(missing))
            rows.append(metric_fn(logits, _labels_with_channel(batch["label"])).float())
    finally:
        model.train(was_training)
    if not rows:
        raise InvalidArgument.field("dataset", "evaluation dataset is empty")
    scores = torch.cat(rows).nanmean(dim=0)
    return [float(v) for v in scores]


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def dice_with_missing(model: MultiBranchModel, dataset: Dataset[Any] | Sequence[Any],
                      contrasts: Sequence[str] | None = None, metric_fn: MetricFn = per_class_dice,
                      ) -> dict[str, list[float]]:
    """Dice per foreground class with nothing missing (key ``"none"``) and with each of ``contrasts`` missing
    in turn (default: every contrast of the model). A missing contrast is filled with zeros after z-scoring
    (its mean intensity), the same fill used for the conditional utilisation rate."""
    names = list(model.contrasts if contrasts is None else contrasts)
    result = {NO_MISSING: evaluate_dice(model, dataset, (), metric_fn)}
    for name in names:
        result[name] = evaluate_dice(model, dataset, (name,), metric_fn)
    return result


def utilisation_from_dice(dice: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Conditional utilisation rate per contrast from :func:`dice_with_missing` output (mean foreground Dice)."""
    without = {name: _nanmean(scores) for name, scores in dice.items() if name != NO_MISSING}
    return conditional_utilisation(_nanmean(dice[NO_MISSING]), without)


def train(model: MultiBranchModel, dataset_train: Dataset[Any] | Sequence[Any],
          dataset_val: Dataset[Any] | Sequence[Any], config: TrainConfig,
          progress: ProgressFn | None = None, metric_fn: MetricFn = per_class_dice) -> TrainResult:
    """Train ``model`` in place with Adam on ``DiceCELoss``; balanced (re-balancing steps) when ``config.balance``.

    Every regular step feeds the per-branch gradients (and, for a :class:`~tessera.segmentation.balance.FusionModel`,
    the gradients of the fusion parameters reading each contrast) to :class:`ConditionalLearningSpeed` (so the
    speed history is recorded for plain training too); with balancing on, :class:`BalancedScheduler` turns the
    following steps into re-balancing steps when the imbalance passes ``config.threshold``. With
    ``config.contrast_dropout`` > 0, regular steps feed randomly chosen contrasts of each sample as missing (filled
    as for the utilisation rate, passed to the model as ``contrast_present``). Validation Dice
    (``metric_fn``) after every epoch. ``progress`` receives non-decreasing fractions ending at 1.0.
    """
    branches = _check_model(model, config.balance)
    if len(dataset_train) == 0:  # type: ignore[arg-type]
        raise InvalidArgument.field("dataset_train", "training dataset is empty")
    report: ProgressFn = progress or (lambda _f, _m: None)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    dropout_generator = torch.Generator().manual_seed(config.seed + 1)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=config.batch_dice,
                         weight=None if config.class_weights is None else torch.tensor(config.class_weights))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    # Learning speeds compare branches: a single-contrast model has nothing to compare or balance.
    warmup = config.balance_warmup_epochs * config.steps_per_epoch
    # Speeds skip the first half of the warm-up (the initialisation transient) and accumulate over its second
    # half, so the scheduler's first decision rests on a settled estimate.
    speed = ConditionalLearningSpeed(list(branches), warmup=warmup // 2) if len(branches) > 1 else None
    scheduler = BalancedScheduler(branches, config.threshold, config.rebalance_window,
                                  start_step=warmup) if speed is not None else None
    total = config.epochs * config.steps_per_epoch
    result = TrainResult(total_steps=total)
    loader = _batches(dataset_train, config.batch_size, shuffle=True, generator=generator)
    stream = iter(loader)
    report(0.0, "training started")
    step = 0
    for epoch in range(config.epochs):
        model.train()
        losses: list[float] = []
        rebalanced_before = scheduler.rebalancing_steps if scheduler is not None else 0
        for _ in range(config.steps_per_epoch):
            try:
                batch = next(stream)
            except StopIteration:  # cycle the data: an epoch is a fixed number of steps
                stream = iter(loader)
                batch = next(stream)
            plan = scheduler.next_step() if config.balance and scheduler is not None else None
            rebalancing = plan is not None and plan.rebalancing
            drop = plan.drop if plan is not None and rebalancing and config.rebalance_drop_faster else frozenset()
            image = fill_missing_contrasts(batch["image"].float(), model.contrasts, drop)
            optimiser.zero_grad(set_to_none=True)
            if config.contrast_dropout > 0.0 and not rebalancing and len(model.contrasts) > 1:
                present = sample_contrast_dropout(image.shape[0], model.contrasts, config.contrast_dropout,
                                                  dropout_generator)
                logits: torch.Tensor = model(fill_absent_contrasts(image, present), drop_contrasts=drop,
                                             contrast_present=present)
            else:
                logits = model(image, drop_contrasts=drop)
            if config.class_weights is not None and len(config.class_weights) != logits.shape[1]:
                raise InvalidArgument.field("config.class_weights", f"{len(config.class_weights)} weights for a "
                                            f"model with {logits.shape[1]} classes")
            loss = loss_fn(logits, _labels_with_channel(batch["label"]))
            loss.backward()
            if plan is not None and plan.focus is not None:
                freeze_grads_outside(model, plan.focus)
                result.rebalancing_focus[plan.focus] = result.rebalancing_focus.get(plan.focus, 0) + 1
            elif speed is not None and scheduler is not None:
                snapshot = speed.update(model.branch_parameters(), fusion_parameters_of(model))
                result.speed_history.append(snapshot)
                if config.balance:
                    scheduler.observe(snapshot)
            optimiser.step()
            losses.append(float(loss.detach()))
            step += 1
            report(step / total * 0.999, f"epoch {epoch + 1}/{config.epochs} step {step}/{total} loss {losses[-1]:.4f}")
        val = evaluate_dice(model, dataset_val, (), metric_fn, config.batch_size) if len(dataset_val) else []  # type: ignore[arg-type]
        rebalanced = scheduler.rebalancing_steps if scheduler is not None else 0
        record = EpochRecord(epoch, sum(losses) / len(losses), val, _nanmean(val), rebalanced - rebalanced_before)
        result.epochs.append(record)
        report(step / total * 0.999,
               f"epoch {epoch + 1}/{config.epochs} loss {record.train_loss:.4f} val dice {record.val_mean_dice:.4f}")
    result.rebalancing_steps = scheduler.rebalancing_steps if scheduler is not None else 0
    report(1.0, "training finished")
    return result
