"""Training and test data for the segmenter: real brains, synthetic contrasts and lesions, augmentation.

``SyntheticBrainDataset`` is the entry point; the modules below it each do one job:
``templates`` (MNI152 2009a + Colin27/AAL, resampled), ``labels`` (task label sets), ``contrasts``
(T1w/T2w/FLAIR intensity models), ``lesions`` (synthetic lesions, held-out placements), ``augment``
(MONAI augmentation pipeline).
"""

from tessera.segmentation.data.augment import AugmentConfig, build_augmentation
from tessera.segmentation.data.contrasts import CONTRASTS, INTENSITY_MODEL, synthesize
from tessera.segmentation.data.dataset import SPLIT_SEED_BASE, SyntheticBrainDataset, SyntheticSample
from tessera.segmentation.data.labels import DEEP_CLASSES, TISSUE_CLASSES, LabelSet, label_set
from tessera.segmentation.data.lesions import LesionConfig, place_lesions
from tessera.segmentation.data.templates import TEMPLATE_NAMES, BrainTemplate, load_template

__all__ = [
    "CONTRASTS",
    "DEEP_CLASSES",
    "INTENSITY_MODEL",
    "SPLIT_SEED_BASE",
    "TEMPLATE_NAMES",
    "TISSUE_CLASSES",
    "AugmentConfig",
    "BrainTemplate",
    "LabelSet",
    "LesionConfig",
    "SyntheticBrainDataset",
    "SyntheticSample",
    "build_augmentation",
    "label_set",
    "load_template",
    "place_lesions",
    "synthesize",
]
