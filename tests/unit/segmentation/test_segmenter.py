"""A published cascade (model card + two ONNX stages) segments a subject with any subset of contrasts."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.errors import NotFound
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.segmentation.export import BackendStage, OnnxStage, export_cascade
from tessera.segmentation.model_card import ModelCard, load_card, publish_model
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig
from tessera.segmentation.preprocess import normalise_intensities, resample_to_shape
from tessera.segmentation.segmenter import Segmenter
from tessera.segmentation.volumes import load_subject

CONTRASTS = ["T1w", "T2w", "FLAIR"]
CLASSES = {0: "background", 1: "CSF", 2: "GM", 3: "WM"}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelRepository, ModelCard]:
    torch.manual_seed(0)
    config = UNetConfig(in_contrasts=3, num_classes=4, depth=2, base_width=4)
    stages = export_cascade(MultiContrastUNet3D(config).eval(), MultiContrastUNet3D(config).eval(),
                            tmp_path_factory.mktemp("onnx"))
    repo = ModelRepository(LocalArtifactStore(tmp_path_factory.mktemp("store")))
    card = ModelCard(name="seg-test", task="tissue", contrasts=CONTRASTS, class_names=CLASSES, spacing_mm=2.0,
                     cascade={"coarse_spacing_mm": 4.0, "margin_mm": 4.0, "roi_size": [16, 16, 16],
                              "candidate_threshold": 0.3})
    first = publish_model(repo, card, stages.stage1_path.read_bytes(), stages.stage2_path.read_bytes())
    second = publish_model(repo, card, stages.stage1_path.read_bytes(), stages.stage2_path.read_bytes())
    assert (first.version, second.version) == (1, 2)
    return repo, second


def _head(shape: tuple[int, int, int] = (30, 34, 28), zoom: float = 1.5) -> nib.Nifti1Image:
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    data = (np.sqrt((grid**2).sum(0)) < 0.8).astype(np.float32) * 100 + np.random.default_rng(0).random(shape)
    return nib.Nifti1Image(data.astype(np.float32), np.diag([zoom, zoom, zoom, 1.0]))


def test_card_round_trip_and_missing_model(published: tuple[ModelRepository, ModelCard]) -> None:
    repo, card = published
    assert load_card(repo.store, "seg-test") == card
    assert load_card(repo.store, "seg-test", 1).version == 1
    with pytest.raises(NotFound, match="seg-nope"):
        load_card(repo.store, "seg-nope")


def test_segment_t1_only_on_the_input_grid(published: tuple[ModelRepository, ModelCard]) -> None:
    repo, card = published
    stage1 = OnnxStage(repo.model_bytes(card.stage_model(1))[1])
    stage2 = OnnxStage(repo.model_bytes(card.stage_model(2))[1])
    subject = load_subject([("T1w", _head())], CONTRASTS)
    outcome = Segmenter(card, stage1, stage2).segment(subject)
    assert outcome.labels.shape == (30, 34, 28)
    assert outcome.missing == ["T2w", "FLAIR"]
    assert set(np.unique(outcome.labels)) <= set(CLASSES)
    total_ml = 30 * 34 * 28 * 1.5**3 / 1000
    assert 0 <= sum(outcome.volumes_ml.values()) <= total_ml + 1e-6
    assert set(outcome.volumes_ml) == {"CSF", "GM", "WM"}
    assert {"preprocess", "stage1", "stage2", "postprocess"} <= set(outcome.timings_s)


def test_backend_stages_equal_onnx_stages(published: tuple[ModelRepository, ModelCard]) -> None:
    repo, card = published
    subject = load_subject([("T1w", _head()), ("FLAIR", _head(zoom=1.5))], CONTRASTS)
    onnx = Segmenter(card, OnnxStage(repo.model_bytes(card.stage_model(1))[1]),
                     OnnxStage(repo.model_bytes(card.stage_model(2))[1])).segment(subject)
    backend = OnnxRuntimeBackend(repo)
    served = Segmenter(card, BackendStage(backend, card.stage_model(1)),
                       BackendStage(backend, card.stage_model(2))).segment(subject)
    assert served.missing == ["T2w"]
    np.testing.assert_array_equal(onnx.labels, served.labels)


def test_preprocessing_helpers() -> None:
    volume = np.random.default_rng(1).random((10, 12, 14)).astype(np.float32) * 50 + 20
    z = normalise_intensities(volume)
    assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.1
    labels = np.zeros((9, 11, 13), np.int16)
    labels[2:5, 3:7, 4:9] = 2
    back = resample_to_shape(resample_to_shape(labels, (18, 22, 26), 0), (9, 11, 13), 0)
    assert back.shape == labels.shape and (back == labels).mean() > 0.95
