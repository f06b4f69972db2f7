"""MultiContrastUNet3D: shapes over configs and odd sizes, per-branch dropping, parameter groups, loss."""

from __future__ import annotations

import pytest
import torch

from tessera.core.errors import InvalidArgument
from tessera.segmentation.losses import dice_ce_loss
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig, count_parameters


@pytest.mark.parametrize(
    ("config", "size"),
    [
        (UNetConfig(in_contrasts=1, num_classes=2, depth=2, base_width=4, norm="instance"), (16, 16, 16)),
        (UNetConfig(in_contrasts=3, num_classes=5, depth=3, base_width=4, norm="group"), (17, 12, 9)),
        (UNetConfig(in_contrasts=2, num_classes=3, depth=3, base_width=2, norm="batch", fusion="sum"), (13, 20, 7)),
        (UNetConfig(in_contrasts=2, num_classes=4, depth=1, base_width=3, norm="group", missing_fill="zero"),
         (5, 6, 3)),
    ],
)
def test_output_shape_matches_input_for_any_size(config: UNetConfig, size: tuple[int, int, int]) -> None:
    net = MultiContrastUNet3D(config).eval()
    x = torch.randn(2, config.in_contrasts, *size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, config.num_classes, *size)
    assert torch.isfinite(y).all()
    features = net.branch_features(x)
    assert len(features) == config.in_contrasts
    assert [f.shape[1] for f in features[0]] == config.widths()


def test_width_and_depth_scale_parameters() -> None:
    small = count_parameters(MultiContrastUNet3D(UNetConfig(in_contrasts=2, base_width=4, depth=2)))
    wide = count_parameters(MultiContrastUNet3D(UNetConfig(in_contrasts=2, base_width=8, depth=2)))
    deep = count_parameters(MultiContrastUNet3D(UNetConfig(in_contrasts=2, base_width=4, depth=3)))
    assert wide > 3 * small and deep > small


def _trained_means(net: MultiContrastUNet3D, x: torch.Tensor) -> None:
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(x)
    net.eval()


def test_dropping_a_branch_removes_its_contrast_entirely() -> None:
    torch.manual_seed(0)
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=2, num_classes=3, depth=2, base_width=4))
    x = torch.randn(1, 2, 12, 12, 12)
    _trained_means(net, x)
    assert net.feature_mean(0, 0).abs().sum() > 0
    changed = x.clone()
    changed[:, 0] = torch.randn(12, 12, 12) * 3
    with torch.no_grad():
        full, full_changed = net(x), net(changed)
        dropped, dropped_changed = net(x, drop_contrasts={0}), net(changed, drop_contrasts={0})
        other_dropped = net(x, drop_contrasts={1})
    assert (full - full_changed).abs().max() > 1e-3  # contrast 0 matters when present
    assert (full - dropped).abs().max() > 1e-3  # dropping changes the output
    assert (full - other_dropped).abs().max() > 1e-3
    assert torch.allclose(dropped, dropped_changed, atol=1e-6)  # ... and then contrast 0 is not read at all


def test_contrast_present_mask_equals_drop_contrasts_per_sample() -> None:
    torch.manual_seed(1)
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=3, num_classes=2, depth=2, base_width=2)).eval()
    x = torch.randn(2, 3, 8, 8, 8)
    present = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    with torch.no_grad():
        masked = net(x, contrast_present=present)
        dropped = net(x[:1], drop_contrasts={1})
        plain = net(x[1:])
    assert torch.allclose(masked[:1], dropped, atol=1e-6)
    assert torch.allclose(masked[1:], plain, atol=1e-6)


def test_running_means_update_in_training_from_present_branches_only() -> None:
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=2, num_classes=2, depth=1, base_width=2))
    x = torch.randn(2, 2, 8, 8, 8)
    net.eval()
    with torch.no_grad():
        net(x)
    assert net.feature_mean(0, 0).abs().sum() == 0  # eval never touches the means
    net.train()
    with torch.no_grad():
        net(x, drop_contrasts={1})
    assert net.feature_mean(0, 1).abs().sum() > 0
    assert net.feature_mean(1, 0).abs().sum() == 0 and net.feature_mean(1, 1).abs().sum() == 0


def test_parameter_groups_partition_the_network_and_fusion_weights_get_gradients() -> None:
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=2, num_classes=3, depth=2, base_width=4))
    groups = [{id(p) for p in net.contrast_parameters(c)} for c in range(2)]
    shared = {id(p) for p in net.shared_parameters()}
    everything = {id(p) for p in net.parameters()}
    assert groups[0] and groups[1] and not groups[0] & groups[1]
    assert not (groups[0] | groups[1]) & shared
    assert groups[0] | groups[1] | shared == everything
    slices = net.fusion_weights(1)
    assert len(slices) == 3  # bottleneck + 2 decoder levels
    assert slices[0].shape[1] == 16 and slices[-1].shape[1] == 4
    labels = torch.randint(0, 3, (1, 1, 8, 8, 8))
    dice_ce_loss()(net(torch.randn(1, 2, 8, 8, 8)), labels).backward()
    grads = [p.grad for p in net.contrast_parameters(1)]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads if g is not None)
    with pytest.raises(InvalidArgument, match="contrast"):
        net.fusion_weights(2)
    with pytest.raises(InvalidArgument, match="concat"):
        MultiContrastUNet3D(UNetConfig(in_contrasts=2, fusion="sum")).fusion_weights(0)


def test_bad_config_and_input_raise_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match=r"config\.norm"):
        UNetConfig(norm="layer")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"config\.num_classes"):
        UNetConfig(num_classes=1)
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=2, depth=1, base_width=2))
    with pytest.raises(InvalidArgument, match="channels"):
        net(torch.zeros(1, 3, 8, 8, 8))
    with pytest.raises(InvalidArgument, match="dims"):
        net(torch.zeros(2, 8, 8, 8))
    with pytest.raises(InvalidArgument, match="drop_contrasts"):
        net(torch.zeros(1, 2, 8, 8, 8), drop_contrasts={5})


def test_dice_ce_loss_is_low_for_right_logits_and_trains_the_network() -> None:
    loss = dice_ce_loss()
    labels = torch.randint(0, 3, (2, 1, 8, 8, 8))
    right = torch.nn.functional.one_hot(labels[:, 0], 3).permute(0, 4, 1, 2, 3).float() * 20
    assert loss(right, labels) < 0.01 < loss(torch.zeros(2, 3, 8, 8, 8), labels)
    torch.manual_seed(0)
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=1, num_classes=2, depth=1, base_width=4))
    x = torch.randn(1, 1, 8, 8, 8)
    target = (x > 0.5).long()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    first: float | None = None
    for _ in range(15):
        optimiser.zero_grad()
        value = loss(net(x), target)
        value.backward()
        optimiser.step()
        first = first if first is not None else float(value.detach())
    assert first is not None and float(value.detach()) < 0.7 * first
