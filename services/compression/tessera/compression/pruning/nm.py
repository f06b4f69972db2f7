"""N:M semi-structured sparsity (2:4 is what sparse tensor cores run).

Groups are M consecutive weights along the input dimension (for convolutions the input channel,
with kernel positions kept apart, as NVIDIA's ASP does: weight permuted to (out, kh, kw, in)).
Layers whose input size is not a multiple of M (a 1-channel stem) are left dense and listed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from tessera.compression.pruning.config import NMConfig
from tessera.compression.pruning.finetune import TrainData, require_data, train
from tessera.compression.pruning.layers import (
    check_supported,
    compressible_layers,
    layer_sparsity,
    make_permanent,
    sparsity,
    weight_tensor,
)
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo, evaluate_model, report_step
from tessera.core.errors import InvalidArgument


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """0/1 mask keeping the ``n`` largest |w| of every ``m`` consecutive inputs; same shape as ``weight``."""
    # Move the input dimension last so groups run along it: (out, in, *k) -> (out, *k, in).
    moved = weight.detach().abs().movedim(1, -1)
    if moved.shape[-1] % m:
        raise ValueError(f"input size {moved.shape[-1]} is not a multiple of m={m}")
    groups = moved.reshape(-1, m)
    keep = groups.topk(n, dim=1).indices
    mask = torch.zeros_like(groups).scatter_(1, keep, 1.0)
    return mask.reshape(moved.shape).movedim(-1, 1).contiguous()


def is_nm_sparse(weight: torch.Tensor, n: int, m: int) -> bool:
    """True when every group of ``m`` inputs has at most ``n`` nonzeros."""
    moved = weight.detach().movedim(1, -1)
    if moved.shape[-1] % m:
        return False
    return bool(((moved.reshape(-1, m) != 0).sum(dim=1) <= n).all())


def nm_prune(
    model: nn.Module,
    config: NMConfig,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Apply the N:M mask (fixed from the trained magnitudes) and fine-tune with it in place."""
    check_supported(model)
    require_data(data, config.finetune_epochs)
    pruned = copy.deepcopy(model)
    layers = compressible_layers(pruned, config.skip_layers)
    dense: list[str] = []
    applied: list[tuple[str, nn.Module]] = []
    for name, module in layers:
        if weight_tensor(module).shape[1] % config.m:
            dense.append(name)
            continue
        prune.custom_from_mask(module, "weight", nm_mask(weight_tensor(module), config.n, config.m))
        applied.append((name, module))
    if not applied:
        raise InvalidArgument.field("config.m", f"no Conv/Linear layer has an input size divisible by m={config.m}")
    steps: list[StepInfo] = []
    label = f"{config.n}:{config.m}"
    report_step(steps, progress, StepInfo(1, 2, sparsity(layers), evaluate_model(pruned, evaluate), label))
    if data is not None and config.finetune_epochs > 0:
        train(pruned, data, config)
    make_permanent(pruned)
    report_step(steps, progress, StepInfo(2, 2, sparsity(layers), evaluate_model(pruned, evaluate), "fine-tuned"))
    return MethodResult(
        pruned, f"nm-{config.n}:{config.m}", steps, sparsity(layers), layer_sparsity(layers),
        structure="semi-structured", info={"dense_layers": dense, "nm_sparsity": sparsity(applied)},
    )
