"""The dispatch table of Compress: one :class:`~tessera.compression.worker.CompressionMethod` per method.

The adapters live in this package, one module per family: :mod:`.base` (:class:`TorchMethod`, the
Compress flow shared by every torch method, and :class:`JobOptions`), :mod:`.sharing` (``pwf``,
``kmeans``), :mod:`.prune` (``magnitude``, ``gmp``, ``channel``, ``nm``, ``movement``, ``lth``),
:mod:`.int8` (``int8``, also int4 and plain ONNX models) and :mod:`.onnx_report` (reports of
ONNX-only models). The methods themselves live in :mod:`tessera.compression.pwf`,
:mod:`~tessera.compression.kmeans`, :mod:`~tessera.compression.pruning` and
:mod:`~tessera.compression.quantize`. Every public name is re-exported here.

Keys of ``config_json`` that belong to the job, not the method (:class:`JobOptions`):
``train_samples``, ``eval_samples``, ``batch_size``, ``calibration_samples``, ``latency_repeats``.
Pruning methods also take ``then_quantize`` (a ``QuantConfig`` mapping, e.g. ``{"bits": 8}``): prune,
then quantise the survivors. Every other key goes to the method's config; unknown keys and values
out of range fail as ``config.<key>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tessera.compression.methods.base import (
    JobOptions,
    Prepared,
    TorchMethod,
    fits,
    make_plain,
    onnx_accuracy,
    plot_png,
    renamed,
    split_config,
    to_round,
)
from tessera.compression.methods.int8 import Int8Method, calibration_batches
from tessera.compression.methods.onnx_report import float_parameters, onnx_report
from tessera.compression.methods.prune import PruningMethod
from tessera.compression.methods.sharing import KMeansMethod, PWFMethod, WeightSharingMethod
from tessera.compression.worker import CompressionMethod

__all__ = [
    "Int8Method", "JobOptions", "KMeansMethod", "PWFMethod", "Prepared", "PruningMethod", "TorchMethod",
    "WeightSharingMethod", "available_methods", "calibration_batches", "fits", "float_parameters", "make_plain",
    "onnx_accuracy", "onnx_report", "plot_png", "renamed", "split_config", "to_round",
]

log = logging.getLogger(__name__)



def available_methods() -> dict[str, CompressionMethod]:
    """Every method whose code imports here: name -> adapter (a broken module only drops its methods)."""
    methods: dict[str, CompressionMethod] = {}
    candidates: list[tuple[str, Callable[[], CompressionMethod]]] = [
        ("pwf", PWFMethod), ("kmeans", KMeansMethod), ("int8", Int8Method),
        *[(name, lambda name=name: PruningMethod(name)) for name in ("magnitude", "gmp", "channel", "nm", "movement",
                                                                      "lth")],
    ]
    modules = {"pwf": "tessera.compression.pwf", "kmeans": "tessera.compression.kmeans",
               "int8": "tessera.compression.quantize"}
    import importlib

    from tessera.compression.segmentation_job import SegmentationAware

    for name, factory in candidates:
        try:
            importlib.import_module(modules.get(name, "tessera.compression.pruning"))
            if name not in ("pwf", "kmeans", "int8"):
                from tessera.compression.pruning import METHODS

                if name not in METHODS:
                    continue
            methods[name] = SegmentationAware(name, factory())
        except ImportError as exc:
            log.warning("compression method %s is unavailable: %s", name, exc)
    return methods
