"""Multi-contrast 3D U-Net-style FCN: one encoder branch per contrast, fused in the decoder.

Layout of :class:`MultiContrastUNet3D` (``depth`` = number of 2x downsamplings, ``w_i = base_width * 2**i``)::

    contrast k (N,1,D,H,W) -> branch k: level 0 (w_0, full res) ... level depth (w_depth, 1/2**depth res)
    fused_i = concat_k(branch_k level i)   (or sum_k, ``fusion="sum"``)
    decoder: bottleneck(fused_depth) -> for i = depth-1..0: upsample to level i size, cat fused_i, conv block
    head: 1x1x1 conv -> (N, num_classes, D, H, W) logits

Why one branch per contrast: greedy multi-modal learning (Wu et al., ICML 2022) shows a fused network
leans on one input; keeping each contrast's features in its own branch until the decoder lets training
measure each branch's contribution (conditional utilisation rate: the metric with a branch's features
replaced by their running mean, as the reference replaces a modality's squeezed maps by their average)
and steer it (per-branch parameter groups for the conditional learning speed and re-balancing steps).

Any spatial size works (no padding constraint): downsampling is a stride-2 conv (ceil halving) and the
decoder upsamples to the exact size of the skip it joins, so odd sizes like 33x27x19 come back unchanged.
The same holds for the exported ONNX graph (dynamic D, H, W).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tessera.core.errors import FieldViolation, InvalidArgument

Norm = Literal["instance", "batch", "group"]
Fusion = Literal["concat", "sum"]
MissingFill = Literal["mean", "zero"]


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of :class:`MultiContrastUNet3D`.

    ``in_contrasts``: number of input contrasts (one encoder branch each, channel k of the input);
    ``num_classes``: output channels incl. background; ``depth``: number of 2x downsamplings;
    ``base_width``: channels of level 0 (level i has ``base_width * 2**i``) per branch;
    ``norm``: instance / batch / group normalisation; ``fusion``: how branch skips join the decoder;
    ``missing_fill``: what replaces a dropped branch's features ("mean": running per-channel mean of
    that branch's features seen in training; "zero"); ``mean_momentum``: update rate of that mean.
    """

    in_contrasts: int = 1
    num_classes: int = 2
    depth: int = 3
    base_width: int = 8
    norm: Norm = "instance"
    fusion: Fusion = "concat"
    missing_fill: MissingFill = "mean"
    mean_momentum: float = 0.05

    def __post_init__(self) -> None:
        problems = []
        if self.in_contrasts < 1:
            problems.append(("in_contrasts", f"must be >= 1, got {self.in_contrasts}"))
        if self.num_classes < 2:
            problems.append(("num_classes", f"must be >= 2 (background + one class), got {self.num_classes}"))
        if not 1 <= self.depth <= 6:
            problems.append(("depth", f"must be in 1..6, got {self.depth}"))
        if self.base_width < 1:
            problems.append(("base_width", f"must be >= 1, got {self.base_width}"))
        if self.norm not in ("instance", "batch", "group"):
            problems.append(("norm", f"must be instance, batch or group, got {self.norm!r}"))
        if self.fusion not in ("concat", "sum"):
            problems.append(("fusion", f"must be concat or sum, got {self.fusion!r}"))
        if self.missing_fill not in ("mean", "zero"):
            problems.append(("missing_fill", f"must be mean or zero, got {self.missing_fill!r}"))
        if not 0.0 < self.mean_momentum <= 1.0:
            problems.append(("mean_momentum", f"must be in (0, 1], got {self.mean_momentum}"))
        if problems:
            raise InvalidArgument([FieldViolation(f"config.{f}", d) for f, d in problems])

    def widths(self) -> list[int]:
        """Channels per level 0..depth of one branch (and of the decoder at that level)."""
        return [self.base_width * 2**i for i in range(self.depth + 1)]


def make_norm(kind: Norm, channels: int) -> nn.Module:
    """Normalisation layer for ``channels`` (group norm: the largest group count <= 8 dividing them)."""
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    groups = max(g for g in range(1, min(8, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ConvBlock(nn.Sequential):
    """Two (3x3x3 conv -> norm -> LeakyReLU) layers; the first may stride 2 to halve D, H, W (ceil)."""

    def __init__(self, in_channels: int, out_channels: int, norm: Norm, stride: int = 1):
        super().__init__(
            nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv3d(out_channels, out_channels, 3, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.LeakyReLU(0.01, inplace=True),
        )


class ContrastEncoder(nn.Module):
    """Encoder of one contrast: (N, 1, D, H, W) -> features at levels 0..depth, level i (N, w_i, ~D/2**i, ...)."""

    def __init__(self, widths: list[int], norm: Norm):
        super().__init__()
        self.levels = nn.ModuleList(
            ConvBlock(1 if i == 0 else widths[i - 1], w, norm, stride=1 if i == 0 else 2) for i, w in enumerate(widths)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


class MultiContrastUNet3D(nn.Module):
    """3D U-Net-style FCN over ``in_contrasts`` contrasts with one encoder branch per contrast.

    Input (N, C=in_contrasts, D, H, W) float, any D, H, W >= 1; output logits (N, num_classes, D, H, W).
    See the module docstring for the layout and why.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        widths = config.widths()
        k = config.in_contrasts
        self.branches = nn.ModuleList(ContrastEncoder(widths, config.norm) for _ in range(k))
        fused = [w * k if config.fusion == "concat" else w for w in widths]
        self.bottleneck = ConvBlock(fused[-1], widths[-1], config.norm)
        # up[i]: 1x1x1 conv from level i+1 to level i widths after trilinear upsampling to level i's size.
        self.up = nn.ModuleList(nn.Conv3d(widths[i + 1], widths[i], 1) for i in range(config.depth))
        self.decoder = nn.ModuleList(
            ConvBlock(widths[i] + fused[i], widths[i], config.norm) for i in range(config.depth)
        )
        self.head = nn.Conv3d(widths[0], config.num_classes, 1)
        # Running per-channel mean of each branch's features per level: the "contrast removed" fill.
        for b in range(k):
            for i, w in enumerate(widths):
                self.register_buffer(self._mean_name(b, i), torch.zeros(w))

    @staticmethod
    def _mean_name(branch: int, level: int) -> str:
        return f"feature_mean_c{branch}_l{level}"

    def feature_mean(self, branch: int, level: int) -> torch.Tensor:
        """Running mean (w_level,) of branch ``branch``'s level-``level`` features over training batches."""
        mean = getattr(self, self._mean_name(branch, level))
        assert isinstance(mean, torch.Tensor)
        return mean

    # -- parameter groups (for conditional learning speed and re-balancing steps) --

    def contrast_parameters(self, contrast: int) -> Iterator[nn.Parameter]:
        """Parameters of the encoder branch of ``contrast`` (index into the input channels)."""
        self._check_contrast(contrast, "contrast")
        return self.branches[contrast].parameters()

    def contrast_named_parameters(self, contrast: int) -> Iterator[tuple[str, nn.Parameter]]:
        """``contrast_parameters`` with their names relative to the branch."""
        self._check_contrast(contrast, "contrast")
        return self.branches[contrast].named_parameters()

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters every contrast shares: bottleneck, decoder, upsampling convs and head."""
        for module in (self.bottleneck, self.up, self.decoder, self.head):
            yield from module.parameters()

    def fusion_weights(self, contrast: int) -> list[torch.Tensor]:
        """Per decoder level (bottleneck first, then level depth-1..0), the slice of the first conv's weight
        that reads ``contrast``'s skip features, shape (w_out, w_i, 3, 3, 3).

        Only defined for ``fusion="concat"`` (with sum fusion every branch shares the same weights).
        Views of the live weights: their norms/gradients follow training.
        """
        self._check_contrast(contrast, "contrast")
        if self.config.fusion != "concat":
            raise InvalidArgument.field("config.fusion", "fusion_weights needs concat fusion (sum shares weights)")
        widths = self.config.widths()
        first = self.bottleneck[0]
        assert isinstance(first, nn.Conv3d)
        w = widths[-1]
        slices = [first.weight[:, contrast * w : (contrast + 1) * w]]
        for i in reversed(range(self.config.depth)):
            block = self.decoder[i]
            assert isinstance(block, ConvBlock)
            conv = block[0]
            assert isinstance(conv, nn.Conv3d)
            start = widths[i] + contrast * widths[i]  # decoder input is cat([upsampled, fused_i])
            slices.append(conv.weight[:, start : start + widths[i]])
        return slices

    def _check_contrast(self, contrast: int, field: str) -> None:
        if not 0 <= contrast < self.config.in_contrasts:
            raise InvalidArgument.field(field, f"contrast {contrast} not in 0..{self.config.in_contrasts - 1}")

    # -- forward --

    def presence(self, x: torch.Tensor, contrast_present: torch.Tensor | None,
                 drop_contrasts: Collection[int] | None) -> torch.Tensor | None:
        """(N, C) float 1 = contrast present, 0 = replaced; None when every contrast is present."""
        if contrast_present is None and not drop_contrasts:
            return None
        k = self.config.in_contrasts
        if contrast_present is None:
            present = torch.ones(x.shape[0], k, dtype=x.dtype, device=x.device)
        else:
            present = contrast_present.to(dtype=x.dtype, device=x.device)
            if not torch.jit.is_tracing() and tuple(present.shape) != (x.shape[0], k):
                raise InvalidArgument.field("contrast_present", f"shape {tuple(present.shape)}, want {(x.shape[0], k)}")
        for c in drop_contrasts or ():
            self._check_contrast(c, "drop_contrasts")
            present = present.clone()
            present[:, c] = 0
        return present

    def branch_features(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per contrast, per level 0..depth: features (N, w_i, D_i, H_i, W_i) of that contrast's branch.

        ``x``: (N, C, D, H, W). No fill is applied: these are what each branch sees of its own contrast.
        """
        self._check_input(x)
        return [branch(x[:, c : c + 1]) for c, branch in enumerate(self.branches)]

    def forward(self, x: torch.Tensor, contrast_present: torch.Tensor | None = None,
                drop_contrasts: Collection[int] | None = None) -> torch.Tensor:
        """Logits (N, num_classes, D, H, W) of ``x`` (N, in_contrasts, D, H, W).

        ``contrast_present`` (N, in_contrasts), 1 = use that branch, 0 = replace its features at every
        level with the fill (``config.missing_fill``); ``drop_contrasts`` sets those contrasts to 0 for
        the whole batch. In training mode the running means are updated from present branches only.
        """
        features = self.branch_features(x)
        present = self.presence(x, contrast_present, drop_contrasts)
        if self.training:
            self._update_means(features, present)
        if present is not None:
            features = self._fill_missing(features, present)
        fused = [self._fuse([features[c][i] for c in range(len(features))]) for i in range(self.config.depth + 1)]
        y = self.bottleneck(fused[-1])
        for i in reversed(range(self.config.depth)):
            y = F.interpolate(y, size=fused[i].shape[2:], mode="trilinear", align_corners=False)
            y = self.decoder[i](torch.cat([self.up[i](y), fused[i]], dim=1))
        logits: torch.Tensor = self.head(y)
        return logits

    def _check_input(self, x: torch.Tensor) -> None:
        if torch.jit.is_tracing():
            return
        if x.ndim != 5:
            raise InvalidArgument.field("image", f"want (N, C, D, H, W), got {x.ndim} dims {tuple(x.shape)}")
        if x.shape[1] != self.config.in_contrasts:
            raise InvalidArgument.field("image", f"{x.shape[1]} channels, model has "
                                        f"{self.config.in_contrasts} contrasts")

    def _fuse(self, level_features: list[torch.Tensor]) -> torch.Tensor:
        if self.config.fusion == "concat":
            return torch.cat(level_features, dim=1)
        total = level_features[0]
        for f in level_features[1:]:
            total = total + f
        return total

    def _fill_missing(self, features: list[list[torch.Tensor]], present: torch.Tensor) -> list[list[torch.Tensor]]:
        filled = []
        for c, levels in enumerate(features):
            p = present[:, c].reshape(-1, 1, 1, 1, 1)
            out = []
            for i, f in enumerate(levels):
                if self.config.missing_fill == "mean":
                    fill = self.feature_mean(c, i).to(f.dtype).reshape(1, -1, 1, 1, 1)
                    out.append(p * f + (1 - p) * fill)
                else:
                    out.append(p * f)
            filled.append(out)
        return filled

    @torch.no_grad()
    def _update_means(self, features: list[list[torch.Tensor]], present: torch.Tensor | None) -> None:
        m = self.config.mean_momentum
        for c, levels in enumerate(features):
            weights = None if present is None else present[:, c]
            if weights is not None and float(weights.sum()) == 0.0:
                continue  # this branch was dropped for the whole batch: its features say nothing
            for i, f in enumerate(levels):
                per_sample = f.detach().mean(dim=(2, 3, 4))  # (N, w_i)
                if weights is None:
                    batch_mean = per_sample.mean(dim=0)
                else:
                    batch_mean = (per_sample * weights[:, None]).sum(dim=0) / weights.sum()
                self.feature_mean(c, i).mul_(1 - m).add_(m * batch_mean)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
