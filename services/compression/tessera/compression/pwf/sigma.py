"""PWF's per-weight uncertainty: its initialisation and the regulariser that keeps it from collapsing.

Initialisation (the paper's "relative distance to powers of two" prior): for a weight ``w`` with
neighbouring powers of two ``p_lo <= |w| <= p_hi``, ``r = (p_hi - |w|)/|w| * (|w| - p_lo)/|w|``
is 0 on a power of two and largest between two of them. ``sigma = clamp(scale * r / q75(r),
floor, ceiling)`` per tensor, with scale 0.0025, ceiling 0.05 and floor 2^-30 by default: weights
already close to a power of two start certain, the others free to move.

Regulariser: the gradient of every not-yet-fixed sigma gets ``- lambda * relu(ceiling - sigma) * |eps|``
added (``eps`` the noise of the last forward pass), the gradient of
``lambda/2 * sum |eps| relu(ceiling - sigma)^2``; it pushes small sigmas up against the data
loss, which alone would shrink every sigma to zero.
"""

from __future__ import annotations

import numpy as np
import torch

# torch.quantile refuses inputs above 2^24 elements; larger tensors go through numpy.
_TORCH_QUANTILE_LIMIT = 2**24


def relative_power_of_two_distance(mean: torch.Tensor) -> torch.Tensor:
    """``r`` above, same shape as ``mean``; 0 for weights that are 0 or exact powers of two."""
    magnitude = mean.detach().abs().double()
    exponent = torch.log2(magnitude)
    upper = torch.exp2(torch.ceil(exponent))
    lower = torch.exp2(torch.floor(exponent))
    relative = (upper - magnitude) / magnitude * (magnitude - lower) / magnitude
    return torch.nan_to_num(relative, nan=0.0, posinf=0.0)  # 0/0 at w == 0: already on a centre


def initial_sigma(
    mean: torch.Tensor, scale: float = 0.0025, quantile: float = 0.75, floor: float = 2**-30, ceiling: float = 0.05
) -> torch.Tensor:
    """Sigma of each weight of ``mean`` (same shape and dtype), from its distance to powers of two."""
    relative = relative_power_of_two_distance(mean)
    flat = relative.flatten()
    if flat.numel() <= _TORCH_QUANTILE_LIMIT:
        level = float(torch.quantile(flat, quantile))
    else:
        level = float(np.quantile(flat.numpy(), quantile))
    if level <= 0.0:  # three in four weights sit on powers of two: scale by the largest distance instead
        level = float(flat.max()) or 1.0
    return torch.clamp(scale * relative / level, min=floor, max=ceiling).to(mean.dtype)


@torch.no_grad()
def add_regulariser_gradient(
    sigma: torch.Tensor, eps: torch.Tensor, frozen: torch.Tensor, weight: float, ceiling: float = 0.05
) -> None:
    """Add the regulariser's gradient to ``sigma.grad`` in place; frozen entries get no gradient at all."""
    if sigma.grad is None:
        return
    sigma.grad -= weight * torch.relu(ceiling - sigma) * eps.abs()
    sigma.grad[frozen] = 0.0
