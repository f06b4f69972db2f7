"""Reference networks and the shared train/evaluate loop."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tessera.compression.models import ResNetCNN, VisionTransformer, build_model, deit_tiny_sized, parameter_count
from tessera.compression.pwf import check_supported
from tessera.compression.training import TrainConfig, TrainData, evaluate_accuracy, train
from tessera.core.errors import InvalidArgument


@pytest.mark.parametrize("architecture", ["resnet_cnn", "vit"])
def test_models_map_images_to_logits_from_conv_and_linear_only(architecture: str) -> None:
    model = build_model(architecture, in_channels=1, num_classes=7)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 7)
    check_supported(model)  # no MultiheadAttention/Embedding: every method reaches every weight
    assert not any(isinstance(module, nn.MultiheadAttention) for module in model.modules())


def test_sizes() -> None:
    assert 70_000 < parameter_count(ResNetCNN()) < 90_000
    assert 5_500_000 < parameter_count(deit_tiny_sized()) < 5_800_000  # DeiT-Tiny: 5.7M


def test_vit_exports_to_onnx_with_the_same_outputs(tmp_path: object) -> None:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=8, patch_size=4, embed_dim=8, depth=1, heads=2).eval()
    images = torch.randn(2, 1, 8, 8)
    path = f"{tmp_path}/vit.onnx"
    torch.onnx.export(model, (images,), path, input_names=["images"], output_names=["logits"], dynamo=False)
    outputs = ort.InferenceSession(path).run(None, {"images": images.numpy()})[0]
    np.testing.assert_allclose(outputs, model(images).detach().numpy(), atol=1e-5)


def test_bad_shapes_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        VisionTransformer(image_size=28, patch_size=5)
    assert caught.value.violations[0].field == "patch_size"
    with pytest.raises(InvalidArgument) as caught:
        build_model("alexnet")
    assert caught.value.violations[0].field == "architecture"


def test_training_lowers_the_loss_and_evaluation_counts_correct_answers() -> None:
    torch.manual_seed(0)
    inputs = torch.randn(200, 4)
    labels = (inputs[:, 0] > 0).long()
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=50)
    model = nn.Linear(4, 2)
    first = train(model, TrainData(loader), TrainConfig(epochs=0.25, lr=0.1))
    later = train(model, TrainData(loader), TrainConfig(epochs=10, lr=0.1, schedule="cosine", grad_clip=1.0))
    assert later < first
    assert evaluate_accuracy(model, loader) > 0.9
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0]))  # always class 0
    assert evaluate_accuracy(model, loader) == pytest.approx(float((labels == 0).float().mean()))
    with pytest.raises(InvalidArgument) as caught:
        TrainConfig(epochs=-1)
    assert caught.value.violations[0].field == "config.epochs"
