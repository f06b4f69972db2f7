"""Which layers the methods compress, and small helpers over torch.nn.utils.prune masks.

Compressed: the ``weight`` of every Conv1d/2d/3d and Linear (attention blocks built from Linear
included). Biases, norms, embeddings-as-parameters (ViT class token, position embedding) stay fp32.
A module that keeps weight *matrices* outside Conv/Linear (nn.MultiheadAttention's in_proj_weight,
LSTM/GRU, Embedding, Bilinear) is refused by name rather than silently left dense.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from tessera.core.errors import FieldViolation, InvalidArgument

COMPRESSIBLE: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def unsupported_layers(model: nn.Module) -> list[str]:
    """``"name (Type): param, ..."`` for each module holding >= 2-D weights outside Conv/Linear."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, COMPRESSIBLE):
            continue
        matrices = [
            pname for pname, param in module.named_parameters(recurse=False)
            if "weight" in pname and param.dim() >= 2
        ]
        if matrices:
            found.append(f"{name or '<root>'} ({type(module).__name__}): {', '.join(matrices)}")
    return found


def check_supported(model: nn.Module, field: str = "model") -> None:
    """Raise InvalidArgument naming every unsupported layer, or if nothing is compressible."""
    bad = unsupported_layers(model)
    if bad:
        raise InvalidArgument(
            [FieldViolation(field, f"unsupported layer {item}; only Conv1d/2d/3d and Linear weights are compressed")
             for item in bad]
        )
    if not any(isinstance(m, COMPRESSIBLE) for m in model.modules()):
        raise InvalidArgument.field(field, "model has no Conv or Linear layer to compress")


def compressible_layers(model: nn.Module, skip: Iterable[str] = ()) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every Conv/Linear in definition order, minus ``skip``."""
    skipped = set(skip)
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, COMPRESSIBLE)]
    unknown = skipped - {name for name, _ in layers}
    if unknown:
        raise InvalidArgument.field("config.skip_layers", f"no Conv/Linear layer named {sorted(unknown)}")
    return [(name, m) for name, m in layers if name not in skipped]


def weight_tensor(module: nn.Module) -> torch.Tensor:
    """``module.weight`` typed as a tensor (its shape is what callers need)."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def weight_of(module: nn.Module) -> torch.Tensor:
    """The effective weight (mask applied) whether or not the module is under prune reparametrisation."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    if prune.is_pruned(module) and hasattr(module, "weight_mask"):
        return module.weight_orig * module.weight_mask  # type: ignore[operator]
    return weight


def ensure_mask(module: nn.Module) -> torch.Tensor:
    """Install prune's weight reparametrisation (mask of ones) if absent; return the mask buffer."""
    if not hasattr(module, "weight_mask"):
        prune.identity(module, "weight")
    mask = module.weight_mask
    assert isinstance(mask, torch.Tensor)
    return mask


def make_permanent(model: nn.Module) -> None:
    """Bake every prune mask into its parameter (``prune.remove``): zeros stay, hooks go."""
    for module in model.modules():
        for pname in ("weight", "bias"):
            if hasattr(module, f"{pname}_mask"):
                prune.remove(module, pname)


def sparsity(layers: Sequence[tuple[str, nn.Module]]) -> float:
    """Fraction of exactly-zero entries over the given layers' effective weights."""
    total = zeros = 0
    for _, module in layers:
        weight = weight_of(module)
        total += weight.numel()
        zeros += int((weight == 0).sum())
    return zeros / total if total else 0.0


def layer_sparsity(layers: Sequence[tuple[str, nn.Module]]) -> dict[str, float]:
    """Per-layer fraction of exact zeros of the effective weights."""
    out = {}
    for name, module in layers:
        weight = weight_of(module)
        out[name] = float((weight == 0).sum()) / weight.numel()
    return out
