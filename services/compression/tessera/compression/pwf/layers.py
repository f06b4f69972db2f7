"""Which layers weight sharing acts on, and the figures it is judged by (unique values).

Weight sharing (PWF, k-means) acts on the weights (and, by default, biases) of every Conv1d/2d/3d,
ConvTranspose and Linear layer. Normalisation layers and free parameters that are not layer
weights (class tokens, position embeddings) stay in full precision. Any other layer that carries a
``weight`` (``nn.MultiheadAttention``'s packed projections, ``nn.Embedding``, recurrent layers, ...)
cannot be wrapped, so a model holding one is refused with the layer names and types.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tessera.core.errors import InvalidArgument

SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
)
# Layers whose few affine parameters are left in full precision (as in the reference code).
FULL_PRECISION_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, nn.RMSNorm,
)


def unsupported_layers(model: nn.Module) -> list[str]:
    """``"name (Type)"`` of every module holding its own weight-like parameter that cannot be shared."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, SUPPORTED_LAYERS + FULL_PRECISION_LAYERS) or ".parametrizations" in f".{name}":
            continue
        own = [parameter_name for parameter_name, _ in module.named_parameters(recurse=False)]
        if any("weight" in parameter_name for parameter_name in own):
            found.append(f"{name or '<root>'} ({type(module).__name__})")
    return found


def check_supported(model: nn.Module, field: str = "model") -> None:
    """Raise InvalidArgument naming the unsupported layers, or when there is nothing to share."""
    unsupported = unsupported_layers(model)
    if unsupported:
        raise InvalidArgument.field(
            field,
            f"unsupported layer types: {', '.join(unsupported)}; weight sharing wraps Conv1d/2d/3d, ConvTranspose"
            " and Linear (write attention from Linear layers instead of nn.MultiheadAttention)",
        )
    if not any(isinstance(module, SUPPORTED_LAYERS) for module in model.modules()):
        raise InvalidArgument.field(field, "the model has no Conv or Linear layer to compress")


def weight_layers(model: nn.Module, skip_layers: Sequence[str] = ()) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of the Conv/Linear layers weight sharing acts on, in model order."""
    unknown = set(skip_layers) - {name for name, _ in model.named_modules()}
    if unknown:
        raise InvalidArgument.field("config.skip_layers", f"no such layers: {', '.join(sorted(unknown))}")
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, SUPPORTED_LAYERS) and name not in skip_layers
    ]


def shared_tensors(
    model: nn.Module, include_bias: bool = True, skip_layers: Sequence[str] = ()
) -> list[tuple[str, nn.Module, str]]:
    """(layer name, module, "weight" | "bias") of every tensor weight sharing acts on."""
    tensors = []
    for name, module in weight_layers(model, skip_layers):
        tensors.append((name, module, "weight"))
        if include_bias and getattr(module, "bias", None) is not None:
            tensors.append((name, module, "bias"))
    return tensors


@torch.no_grad()
def layer_unique_values(
    model: nn.Module, include_bias: bool = True, skip_layers: Sequence[str] = ()
) -> dict[str, int]:
    """Distinct values of each shared tensor, keyed ``layer.weight`` / ``layer.bias``."""
    return {
        f"{name}.{tensor_name}": int(torch.unique(getattr(module, tensor_name)).numel())
        for name, module, tensor_name in shared_tensors(model, include_bias, skip_layers)
    }


@torch.no_grad()
def unique_values(model: nn.Module, include_bias: bool = True, skip_layers: Sequence[str] = ()) -> int:
    """Distinct values over all shared tensors of the model together (the paper's figure)."""
    values = [
        getattr(module, tensor_name).detach().flatten()
        for _, module, tensor_name in shared_tensors(model, include_bias, skip_layers)
    ]
    return int(torch.unique(torch.cat(values)).numel()) if values else 0


@torch.no_grad()
def shared_values(model: nn.Module, include_bias: bool = True, skip_layers: Sequence[str] = ()) -> torch.Tensor:
    """All shared values concatenated (1-D float32), e.g. for an entropy figure."""
    return torch.cat([
        getattr(module, tensor_name).detach().flatten()
        for _, module, tensor_name in shared_tensors(model, include_bias, skip_layers)
    ])
