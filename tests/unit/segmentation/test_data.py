"""Training/test data: real brains, label sets, synthetic contrasts and lesions, augmentation, splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tessera.core.errors import FailedPrecondition, InvalidArgument
from tessera.segmentation.data import (
    CONTRASTS,
    DEEP_CLASSES,
    SPLIT_SEED_BASE,
    TISSUE_CLASSES,
    LesionConfig,
    SyntheticBrainDataset,
    build_augmentation,
    label_set,
    load_template,
    place_lesions,
    synthesize,
)
from tessera.segmentation.data import templates as templates_module
from tessera.segmentation.data.augment import spatial_transform
from tessera.segmentation.data.labels import aal_indices
from tessera.segmentation.data.lesions import centre_region, checkerboard_parity

# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("name", ["mni152", "colin27"])
def test_templates_load_on_consistent_grids(name: str) -> None:
    fine, coarse = load_template(name, 1.0), load_template(name, 3.0)
    assert np.allclose(np.diag(fine.affine)[:3], 1.0) and np.allclose(np.diag(coarse.affine)[:3], 3.0)
    # the 3 mm grid covers the 1 mm one: shape ~ a third, and the same world origin up to half a coarse voxel
    assert all(abs(c * 3 - f) <= 3 for c, f in zip(coarse.shape, fine.shape, strict=True))
    assert np.allclose(coarse.affine[:3, 3], fine.affine[:3, 3] + 1.0)
    for brain in (fine, coarse):
        assert brain.tissue.shape == (3, *brain.shape) and brain.t1.shape == brain.shape
        volume_ml = brain.mask.sum() * brain.spacing_mm**3 / 1000
        assert 1300 < volume_ml < 2100, volume_ml
        inside = brain.tissue[:, brain.mask].sum(0)
        assert np.allclose(inside, 1.0, atol=1e-4) and brain.tissue[:, ~brain.mask].max() == 0
        # grey and white matter both make up a real share of the brain
        assert brain.tissue[1][brain.mask].mean() > 0.3 and brain.tissue[2][brain.mask].mean() > 0.15
    assert (fine.deep is None) == (name == "mni152")


def test_colin27_deep_structures_have_plausible_volumes() -> None:
    brain = load_template("colin27", 1.0)
    assert brain.deep is not None
    volume_ml = np.bincount(brain.deep.ravel(), minlength=7)[1:] / 1000
    expected = dict(zip(DEEP_CLASSES[1:], volume_ml, strict=True))
    # both hemispheres merged; anatomical orders of magnitude
    assert 1 < expected["amygdala"] < 8 and 2 < expected["pallidum"] < 10
    for structure in ("hippocampus", "caudate", "putamen", "thalamus"):
        assert 8 < expected[structure] < 30, (structure, expected[structure])


def test_missing_mricron_data_names_file_and_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(templates_module, "MRICRON_DIR", tmp_path)
    with pytest.raises(FailedPrecondition, match=r"aal\.nii\.txt.*apt-get install mricron-data"):
        templates_module.aal_label_names()
    with pytest.raises(InvalidArgument, match="template"):
        load_template("fsaverage", 2.0)


# ---------------------------------------------------------------- labels


def test_label_sets_and_aal_merge() -> None:
    assert label_set("tissue").classes == ("background", "CSF", "GM", "WM", "lesion")
    assert label_set("deep").num_classes == 7
    indices = aal_indices(templates_module.aal_label_names())
    assert indices["hippocampus"] == (37, 38)  # ParaHippocampal (39, 40) is not hippocampus
    assert indices["thalamus"] == (77, 78)
    with pytest.raises(InvalidArgument, match="task"):
        label_set("vessels")


@pytest.mark.parametrize(("task", "classes"), [("tissue", TISSUE_CLASSES), ("deep", DEEP_CLASSES)])
def test_samples_cover_every_class(task: str, classes: tuple[str, ...]) -> None:
    sample = SyntheticBrainDataset(task, spacing_mm=2.0, n=1)[0]
    assert sample["image"].dtype == torch.float32 and sample["label"].dtype == torch.int64
    assert sample["image"].shape[0] == 3 and sample["label"].shape[0] == 1
    assert sample["image"].shape[1:] == sample["label"].shape[1:]
    assert torch.isfinite(sample["image"]).all()
    present = set(torch.unique(sample["label"]).tolist())
    assert present == set(range(len(classes)))


# ---------------------------------------------------------------- lesions


def test_lesions_have_requested_sizes_and_stay_in_the_brain() -> None:
    brain = load_template("mni152", 1.0)
    config = LesionConfig(count=(3, 3), diameter_mm=(4.0, 16.0))
    train_region = centre_region(brain, "train", config)
    for seed in range(4):
        lesions = place_lesions(brain, "train", np.random.default_rng(seed), config, region=train_region)
        assert len(lesions.lesions) == 3
        assert not (lesions.mask & ~brain.mask).any()
        assert lesions.weight[~brain.mask].max() == 0 and lesions.weight[lesions.mask].min() > 0.3
        for lesion in lesions.lesions:
            assert 4.0 <= lesion.diameter_mm <= 16.0
            assert train_region[lesion.centre_voxel] and brain.tissue[2][lesion.centre_voxel] >= 0.6
            equivalent = np.cbrt(6 * lesion.voxels / np.pi)  # 1 mm voxels
            assert 0.6 * lesion.diameter_mm < equivalent < 1.35 * lesion.diameter_mm, (lesion, equivalent)


def test_smallest_lesions_are_never_empty_on_a_coarse_grid() -> None:
    brain = load_template("colin27", 3.0)
    config = LesionConfig(count=(2, 2), diameter_mm=(3.0, 3.0))
    lesions = place_lesions(brain, "test", np.random.default_rng(0), config)
    assert all(lesion.voxels >= 1 for lesion in lesions.lesions) and lesions.mask.sum() >= 1


# ---------------------------------------------------------------- contrasts


def test_contrasts_follow_mr_physics() -> None:
    shape = (4, 4, 4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        means = {}
        for k, tissue_name in enumerate(("CSF", "GM", "WM")):
            tissue = np.zeros((3, *shape), np.float32)
            tissue[k] = 1
            means[tissue_name] = synthesize(tissue, None, CONTRASTS, rng).mean(axis=(1, 2, 3))
        wm = np.zeros((3, *shape), np.float32)
        wm[2] = 1
        means["lesion"] = synthesize(wm, np.ones(shape, np.float32), CONTRASTS, rng).mean(axis=(1, 2, 3))
        t1, t2, flair = 0, 1, 2
        assert means["WM"][t1] > means["GM"][t1] > means["CSF"][t1]
        assert means["CSF"][t2] > means["GM"][t2] > means["WM"][t2]
        assert means["GM"][flair] > means["WM"][flair] > means["CSF"][flair]
        assert means["lesion"][flair] > max(means[k][flair] for k in ("CSF", "GM", "WM"))
        assert means["lesion"][t2] > means["WM"][t2] and means["lesion"][t1] < means["WM"][t1]


def test_clean_samples_keep_tissue_order_after_normalisation() -> None:
    ds = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=3, augment=False, seed=5)
    for i in range(len(ds)):
        sample = ds[i]
        image, label = sample["image"], sample["label"][0]

        def mean(channel: int, cls: int, image: torch.Tensor = image, label: torch.Tensor = label) -> float:
            return float(image[channel][label == cls].mean())

        csf, gm, wm, lesion = 1, 2, 3, 4
        assert mean(0, wm) > mean(0, gm) > mean(0, csf)
        assert mean(1, csf) > mean(1, gm) > mean(1, wm)
        assert mean(2, lesion) > mean(2, gm) > mean(2, csf)
        assert float(image[:, label == 0].abs().max()) == 0.0  # skull-stripped background stays 0


def test_contrast_subset_and_order_are_respected() -> None:
    both = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=1, augment=False)[0]["image"]
    flair = SyntheticBrainDataset("tissue", contrasts=("FLAIR",), spacing_mm=3.0, n=1, augment=False)[0]["image"]
    assert flair.shape[0] == 1
    with pytest.raises(InvalidArgument, match="duplicated"):
        SyntheticBrainDataset("tissue", contrasts=("T1w", "T1w"))
    with pytest.raises(InvalidArgument, match="unknown"):
        SyntheticBrainDataset("tissue", contrasts=("PD",))
    assert both.shape[0] == 3


# ---------------------------------------------------------------- augmentation


def test_spatial_augmentation_moves_image_and_label_together() -> None:
    """A label-derived image channel (one-hot, bilinear) must still match the label (nearest) afterwards."""
    brain = load_template("colin27", 3.0)
    label = torch.from_numpy((np.argmax(brain.tissue, 0) + 1) * brain.mask).float()[None]
    onehot = torch.stack([(label[0] == k).float() for k in range(4)])
    agreement = []
    for seed in range(3):
        transform = spatial_transform(3.0).set_random_state(seed=seed)
        out = transform({"image": onehot.clone(), "label": label.clone()})
        moved_label = torch.as_tensor(out["label"])[0]
        assert not torch.equal(moved_label, label[0])  # it did move
        assert set(torch.unique(moved_label).tolist()) <= {0.0, 1.0, 2.0, 3.0}  # nearest: no new values
        from_image = torch.as_tensor(out["image"]).argmax(0).float()
        agreement.append(float((from_image == moved_label).float().mean()))
        # negative control: a differently seeded deformation of the label disagrees far more
        other = spatial_transform(3.0).set_random_state(seed=seed + 100)(
            {"image": onehot.clone(), "label": label.clone()}
        )
        control = float((torch.as_tensor(other["label"])[0] == from_image).float().mean())
        assert control < agreement[-1] - 0.05
    assert min(agreement) > 0.95, agreement


def test_samples_are_reproducible_and_differ_between_seeds() -> None:
    a = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=2, seed=0)
    again = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=2, seed=0)
    other = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=2, seed=1)
    assert torch.equal(a[1]["image"], again[1]["image"]) and torch.equal(a[1]["label"], again[1]["label"])
    assert not torch.equal(a[0]["image"], a[1]["image"])
    assert not torch.equal(a[0]["image"], other[0]["image"])
    pipeline = build_augmentation(3.0)
    assert len(pipeline.transforms) == 5  # elastic+affine, bias, low resolution, z-score, noise


def test_size_crops_and_pads_around_the_brain() -> None:
    ds = SyntheticBrainDataset("deep", spacing_mm=3.0, size=(32, 80, 32), n=1)
    sample = ds.sample(0)
    assert sample.image.shape == (3, 32, 80, 32) and sample.label.shape == (1, 32, 80, 32)
    full = load_template("colin27", 3.0)
    expected_origin = full.affine[:3, :3] @ ((np.array(full.shape) - (32, 80, 32)) // 2) + full.affine[:3, 3]
    assert np.allclose(sample.affine[:3, 3], expected_origin)
    assert set(torch.unique(sample.label).tolist()) == set(range(7))  # deep structures sit in the centre


# ---------------------------------------------------------------- splits


def test_train_and_test_never_share_seeds_or_lesion_placements() -> None:
    config = LesionConfig()
    for name in ("mni152", "colin27"):
        brain = load_template(name, 2.0)
        train, test = centre_region(brain, "train", config), centre_region(brain, "test", config)
        assert train.sum() > 1000 and test.sum() > 1000 and not (train & test).any()
    n = 6
    train_ds = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=n, split="train")
    test_ds = SyntheticBrainDataset("tissue", spacing_mm=3.0, n=n, split="test")
    assert {train_ds.sample_seed(i) for i in range(n)}.isdisjoint(test_ds.sample_seed(i) for i in range(n))
    assert test_ds.sample_seed(0) == SPLIT_SEED_BASE["test"]
    for ds, parity in ((train_ds, 0), (test_ds, 1)):
        for i in range(n):
            sample = ds.sample(i)
            assert sample.lesions
            centres = np.array([lesion.centre_mm for lesion in sample.lesions]).T
            assert (checkerboard_parity(centres, config.cell_mm) == parity).all()


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(InvalidArgument, match="templates"):
        SyntheticBrainDataset("deep", templates=("mni152",))
    with pytest.raises(InvalidArgument, match="split"):
        SyntheticBrainDataset("tissue", split="validation")
    with pytest.raises(InvalidArgument, match="spacing_mm"):
        SyntheticBrainDataset("tissue", spacing_mm=20.0)
    with pytest.raises(InvalidArgument, match="size"):
        SyntheticBrainDataset("tissue", size=(32, 32))
