"""Bayesian wrapping of any model's Conv/Linear layers, with torch.nn.utils.parametrize.

Each shared tensor (weight, and bias by default) becomes ``mean + eps * sigma`` in training mode
(``eps ~ N(0, 1)`` drawn per forward pass) and ``mean`` in eval mode. ``mean`` is the layer's
original parameter (so it starts at the pretrained weight), ``sigma`` a new parameter of the
same shape. The layer's own forward is untouched: any Conv/Linear, whatever its arguments, works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from tessera.compression.pwf.layers import check_supported, shared_tensors
from tessera.compression.pwf.sigma import initial_sigma


class GaussianWeight(nn.Module):
    """Parametrisation ``mean -> mean + eps * max(sigma, floor)`` (training) or ``mean`` (eval).

    Buffers: ``fixed`` marks entries assigned to a centre; ``fixed_mean``/``fixed_sigma`` hold the
    values they were fixed at (re-imposed after every optimiser step). ``eps`` keeps the last
    noise drawn, for the sigma regulariser.
    """

    fixed: torch.Tensor
    fixed_mean: torch.Tensor
    fixed_sigma: torch.Tensor

    def __init__(self, sigma: torch.Tensor, floor: float) -> None:
        super().__init__()
        self.sigma = nn.Parameter(sigma)
        self.floor = floor
        self.register_buffer("fixed", torch.zeros_like(sigma, dtype=torch.bool))
        self.register_buffer("fixed_mean", torch.zeros_like(sigma))
        self.register_buffer("fixed_sigma", torch.zeros_like(sigma))
        self.eps: torch.Tensor | None = None

    def forward(self, mean: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return mean
        self.eps = torch.randn_like(mean)
        return mean + self.eps * self.sigma.clamp_min(self.floor)


@dataclass
class BayesianTensor:
    """One wrapped tensor: ``layer.tensor_name`` of ``module`` and its parametrisation."""

    layer: str
    tensor_name: str
    module: nn.Module
    gaussian: GaussianWeight

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.tensor_name}"

    @property
    def mean(self) -> nn.Parameter:
        original: nn.Parameter = self.module.parametrizations[self.tensor_name].original  # type: ignore[union-attr, index]
        return original

    @property
    def sigma(self) -> nn.Parameter:
        return self.gaussian.sigma


def wrap_model(
    model: nn.Module,
    include_bias: bool = True,
    skip_layers: Sequence[str] = (),
    sigma_scale: float = 0.0025,
    sigma_floor: float = 2**-30,
    sigma_ceiling: float = 0.05,
) -> list[BayesianTensor]:
    """Make every shared tensor of ``model`` Bayesian in place; returns them in model order."""
    check_supported(model)
    wrapped = []
    for layer, module, tensor_name in shared_tensors(model, include_bias, skip_layers):
        mean = getattr(module, tensor_name).detach()
        sigma = initial_sigma(mean, scale=sigma_scale, floor=sigma_floor, ceiling=sigma_ceiling)
        gaussian = GaussianWeight(sigma, sigma_floor)
        parametrize.register_parametrization(module, tensor_name, gaussian)
        wrapped.append(BayesianTensor(layer, tensor_name, module, gaussian))
    return wrapped


def unwrap_model(tensors: Sequence[BayesianTensor]) -> None:
    """Replace each Bayesian tensor by its mean, leaving plain Conv/Linear layers (sigmas dropped)."""
    for tensor in tensors:
        parametrize.remove_parametrizations(tensor.module, tensor.tensor_name, leave_parametrized=False)
