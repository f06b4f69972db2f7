"""Structured channel pruning: drop whole output channels (Conv) / neurons (Linear) by L1 or L2 norm.

Masks first (``prune.ln_structured`` on the weight, the same rows masked in the bias and in a
BatchNorm that follows, so a pruned channel outputs exactly zero), fine-tuning with the masks, then,
with ``physical=True``, the layers are rebuilt smaller wherever torch.fx shows the channel only flows
through zero-preserving ops (BatchNorm, ReLU-like activations, pooling, dropout, flatten) into the
next Conv/Linear. A channel that reaches a residual add, a concat or the output keeps its mask, and
the layer is listed in ``info["masked_layers"]``. The physically smaller model computes the same
function as the masked one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils import prune

from tessera.compression.pruning.config import ChannelConfig
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

_BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# f(0) == 0 per channel, so a zeroed channel stays zero through these.
_PASS_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.ELU, nn.Hardswish, nn.Identity, nn.Dropout,
    nn.Dropout2d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool2d,
)
_PASS_FUNCTIONS = {
    F.relu, torch.relu, F.gelu, F.silu, torch.tanh, F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.dropout,
}
_FLATTEN_FUNCTIONS = {torch.flatten}


@dataclass
class ChannelPlan:
    """Where a layer's output channels go: BatchNorms on the way and the Conv/Linear that consume them."""

    batchnorms: list[str] = field(default_factory=list)
    consumers: list[tuple[str, bool]] = field(default_factory=list)  # (name, reached through a flatten)
    shrinkable: bool = True
    reason: str = ""


def trace_plans(model: nn.Module, names: list[str]) -> dict[str, ChannelPlan]:
    """Follow each named layer's output through the fx graph; untraceable models get non-shrinkable plans."""
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as error:  # fx raises many types on dynamic control flow; masks still work then
        return {name: ChannelPlan(shrinkable=False, reason=f"not traceable by torch.fx: {error}") for name in names}
    calls: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls.setdefault(str(node.target), []).append(node)
    return {name: _plan(model, calls.get(name, []), calls) for name in names}


def _plan(model: nn.Module, nodes: list[fx.Node], calls: dict[str, list[fx.Node]]) -> ChannelPlan:
    plan = ChannelPlan()
    if len(nodes) != 1:
        return ChannelPlan(shrinkable=False, reason="layer called more than once (or never)")
    frontier = [(user, False) for user in nodes[0].users]
    while frontier:
        node, flattened = frontier.pop()
        follow = True
        if node.op == "call_module":
            module = model.get_submodule(str(node.target))
            if isinstance(module, _BATCHNORM) and not flattened and len(calls[str(node.target)]) == 1:
                plan.batchnorms.append(str(node.target))
            elif isinstance(module, nn.Flatten) and module.start_dim == 1:
                flattened = True
            elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and module.groups == 1 and not flattened:
                plan.consumers.append((str(node.target), False))
                follow = False
            elif isinstance(module, nn.Linear):
                plan.consumers.append((str(node.target), flattened))
                follow = False
            elif not isinstance(module, _PASS_MODULES):
                return ChannelPlan(shrinkable=False, reason=f"output reaches {type(module).__name__} '{node.target}'")
        elif _is_flatten_from_channels(node):
            flattened = True
        elif not ((node.op == "call_function" and node.target in _PASS_FUNCTIONS)
                  or (node.op == "call_method" and node.target == "relu")):
            what = getattr(node.target, "__name__", node.target)
            return ChannelPlan(shrinkable=False, reason=f"output reaches {node.op} {what}")
        if follow:
            frontier.extend((user, flattened) for user in node.users)
    if not plan.consumers:
        return ChannelPlan(shrinkable=False, reason="no Conv/Linear consumes the channels")
    return plan


def _is_flatten_from_channels(node: fx.Node) -> bool:
    """``torch.flatten(x, 1)`` / ``x.flatten(1)``: channels become contiguous feature blocks."""
    if not ((node.op == "call_function" and node.target in _FLATTEN_FUNCTIONS)
            or (node.op == "call_method" and node.target == "flatten")):
        return False
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    return bool(start == 1)


def _row_mask(module: nn.Module) -> torch.Tensor:
    """Boolean (out,) of kept rows read from the module's structured weight mask."""
    mask = module.weight_mask
    assert isinstance(mask, torch.Tensor)
    return mask.flatten(1).any(dim=1)


def _mask_rows(module: nn.Module, pname: str, keep: torch.Tensor) -> None:
    param = getattr(module, pname, None)
    if isinstance(param, torch.Tensor):
        prune.custom_from_mask(module, pname, keep.to(param.dtype))


def _shrink(model: nn.Module, name: str, keep: torch.Tensor, plan: ChannelPlan) -> None:
    """Rebuild ``name`` with only the ``keep`` rows, its BatchNorms likewise, and its consumers' inputs."""
    index = keep.nonzero().flatten()
    layer: Any = copy.deepcopy(model.get_submodule(name))
    layer.weight = nn.Parameter(layer.weight.detach()[index].clone())
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias.detach()[index].clone())
    original = int(keep.numel())
    if isinstance(layer, nn.Linear):
        layer.out_features = len(index)
    else:
        layer.out_channels = len(index)
    model.set_submodule(name, layer)
    for bn_name in plan.batchnorms:
        bn: Any = copy.deepcopy(model.get_submodule(bn_name))
        assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
        bn.num_features = len(index)
        if bn.affine:
            bn.weight = nn.Parameter(bn.weight.detach()[index].clone())
            bn.bias = nn.Parameter(bn.bias.detach()[index].clone())
        if bn.running_mean is not None and bn.running_var is not None:
            bn.running_mean = bn.running_mean[index].clone()
            bn.running_var = bn.running_var[index].clone()
        model.set_submodule(bn_name, bn)
    for consumer_name, flattened in plan.consumers:
        consumer: Any = copy.deepcopy(model.get_submodule(consumer_name))
        columns = index
        if flattened:  # channel c of the producer became features c*S .. c*S+S-1 after flatten
            assert isinstance(consumer, nn.Linear)
            per_channel = consumer.in_features // original
            columns = (index[:, None] * per_channel + torch.arange(per_channel)[None, :]).flatten()
        consumer.weight = nn.Parameter(consumer.weight.detach()[:, columns].clone())
        if isinstance(consumer, nn.Linear):
            consumer.in_features = len(columns)
        else:
            consumer.in_channels = len(columns)
        model.set_submodule(consumer_name, consumer)


def _consistent(model: nn.Module, name: str, plan: ChannelPlan) -> bool:
    """Shapes agree with the plan (a flatten feeds a Linear a whole number of features per channel)."""
    width = weight_tensor(model.get_submodule(name)).shape[0]
    for consumer_name, flattened in plan.consumers:
        fan_in = int(weight_tensor(model.get_submodule(consumer_name)).shape[1])
        if (flattened and fan_in % width) or (not flattened and fan_in != width):
            return False
    return all(model.get_submodule(bn).num_features == width for bn in plan.batchnorms)  # type: ignore[union-attr]


def channel_prune(
    model: nn.Module,
    config: ChannelConfig,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Remove ``config.amount`` of each layer's output channels by Ln norm; fine-tune; shrink if asked."""
    check_supported(model)
    require_data(data, config.finetune_epochs)
    pruned = copy.deepcopy(model)
    layers = compressible_layers(pruned, config.skip_layers)
    if config.keep_last_layer and layers:
        layers = layers[:-1]  # definition order: the last Conv/Linear is taken as the output layer
    names = [name for name, _ in layers]
    plans = trace_plans(pruned, names)
    params_before = sum(p.numel() for p in pruned.parameters())
    keeps: dict[str, torch.Tensor] = {}
    for name, module in layers:
        rows = int(weight_tensor(module).shape[0])
        count = min(round(config.amount * rows), rows - 1)  # keep at least one channel
        prune.ln_structured(module, "weight", amount=count, n=config.norm, dim=0)
        keeps[name] = _row_mask(module)
        _mask_rows(module, "bias", keeps[name])
        plan = plans[name]
        if plan.shrinkable and not _consistent(pruned, name, plan):
            plans[name] = ChannelPlan(shrinkable=False, reason="channel count does not match its consumers")
        for bn_name in plans[name].batchnorms:
            bn = pruned.get_submodule(bn_name)
            if getattr(bn, "affine", False) and not hasattr(bn, "weight_mask"):
                _mask_rows(bn, "weight", keeps[name])
                _mask_rows(bn, "bias", keeps[name])
    all_layers = compressible_layers(pruned, config.skip_layers)
    steps: list[StepInfo] = []
    report_step(steps, progress, StepInfo(1, 2, sparsity(all_layers), evaluate_model(pruned, evaluate), "masked"))
    if data is not None and config.finetune_epochs > 0:
        train(pruned, data, config)
    make_permanent(pruned)
    shrunk, masked = [], {}
    for name in names:
        if config.physical and plans[name].shrinkable:
            _shrink(pruned, name, keeps[name], plans[name])
            shrunk.append(name)
        else:
            masked[name] = plans[name].reason or "physical=False"
    all_layers = compressible_layers(pruned, config.skip_layers)
    structure = "physical" if shrunk and not masked else "mixed" if shrunk else "masks"
    report_step(steps, progress, StepInfo(2, 2, sparsity(all_layers), evaluate_model(pruned, evaluate), structure))
    return MethodResult(
        pruned, f"channel-l{config.norm}", steps, sparsity(all_layers), layer_sparsity(all_layers), structure=structure,
        info={"shrunk_layers": shrunk, "masked_layers": masked, "params_before": params_before,
              "params_after": sum(p.numel() for p in pruned.parameters()),
              "channels_kept": {name: int(keep.sum()) for name, keep in keeps.items()}},
    )
