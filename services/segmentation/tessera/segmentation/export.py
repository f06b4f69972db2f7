"""ONNX export of the cascade's stages, the PyTorch-vs-onnxruntime check, and onnxruntime / backend runners.

Each stage (a :class:`~tessera.segmentation.networks.MultiContrastUNet3D`) becomes one ONNX graph with

- input ``image`` (N, C, D, H, W) float32 and input ``contrast_present`` (N, C) float32 (1 = contrast
  given, 0 = missing: its branch is filled as when the utilisation rate is measured);
- output ``logits`` (N, K, D, H, W) float32;

with N, D, H and W dynamic (any size, the network needs no padding). The TorchScript-based exporter is
used (``dynamo=False``): it handles the shape-dependent upsampling with dynamic axes and needs no
``onnxscript``. :class:`OnnxCascade` runs :class:`~tessera.segmentation.cascade.SegmentationCascade`'s
logic over two onnxruntime sessions; :class:`BackendStage` plugs a model served by a
``tessera.core`` :class:`~tessera.core.inference.InferenceBackend` (Triton or in-process) into it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from tessera.core.errors import InvalidArgument
from tessera.core.inference.backend import InferenceBackend
from tessera.segmentation.cascade import CascadeConfig, SegmentationCascade, StagePredictor
from tessera.segmentation.networks import MultiContrastUNet3D

INPUT_IMAGE = "image"
INPUT_PRESENT = "contrast_present"
OUTPUT_LOGITS = "logits"
OPSET = 17


def export_stage(network: nn.Module, path: str | Path | None = None,
                 example_size: tuple[int, int, int] = (16, 16, 16), opset: int = OPSET,
                 in_contrasts: int | None = None) -> bytes:
    """ONNX bytes of ``network`` in eval mode (written to ``path`` too when given).

    ``network``: a :class:`MultiContrastUNet3D`, or any module ``forward(image, contrast_present)`` with the
    same shapes (then ``in_contrasts`` is required). ``example_size`` (D, H, W voxels) is only the tracing
    input: the graph accepts any N, D, H, W. The network is put back in the mode it was in.
    """
    if isinstance(network, MultiContrastUNet3D):
        k = network.config.in_contrasts
    elif in_contrasts is None or in_contrasts < 1:
        raise InvalidArgument.field("in_contrasts", "required (>= 1) for a module that is not MultiContrastUNet3D")
    else:
        k = in_contrasts
    was_training = network.training
    network.eval()
    image = torch.zeros(1, k, *example_size)
    present = torch.ones(1, k)
    spatial = {0: "batch", 2: "depth", 3: "height", 4: "width"}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # Instance norm in eval mode still uses input statistics; the exporter warns about that by design.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network, (image, present), buffer, dynamo=False,  # type: ignore[arg-type]  # file-like works opset_version=opset,
                input_names=[INPUT_IMAGE, INPUT_PRESENT], output_names=[OUTPUT_LOGITS],
                dynamic_axes={INPUT_IMAGE: spatial, INPUT_PRESENT: {0: "batch"}, OUTPUT_LOGITS: spatial},
            )
    finally:
        network.train(was_training)
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


@dataclass(frozen=True)
class ExportCheck:
    """Max abs difference of ONNX vs PyTorch logits per tested input shape (N, C, D, H, W)."""

    max_abs_diff: dict[tuple[int, ...], float]

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values())


def check_export(network: MultiContrastUNet3D, onnx_bytes: bytes,
                 sizes: Sequence[tuple[int, int, int]] = ((16, 16, 16), (19, 24, 13)), seed: int = 0,
                 batch: int = 1) -> ExportCheck:
    """Run ``network`` (eval) and the ONNX graph on random inputs of each size (D, H, W voxels) and
    record the max abs difference of the logits; the last contrast is marked missing on the second
    half of the sizes so the fill path is checked too."""
    session = make_session(onnx_bytes)
    generator = torch.Generator().manual_seed(seed)
    was_training = network.training
    network.eval()
    k = network.config.in_contrasts
    diffs: dict[tuple[int, ...], float] = {}
    try:
        for index, size in enumerate(sizes):
            image = torch.randn(batch, k, *size, generator=generator)
            present = torch.ones(batch, k)
            if k > 1 and index >= len(sizes) // 2:
                present[:, -1] = 0
            with torch.inference_mode():
                expected = network(image, contrast_present=present).numpy()
            got = session.run([OUTPUT_LOGITS], {INPUT_IMAGE: image.numpy(), INPUT_PRESENT: present.numpy()})[0]
            if got.shape != expected.shape:
                raise InvalidArgument.field("onnx", f"ONNX output shape {got.shape} != PyTorch {expected.shape}")
            diffs[tuple(image.shape)] = float(np.abs(got - expected).max())
    finally:
        network.train(was_training)
    return ExportCheck(diffs)


@dataclass(frozen=True)
class CascadeExport:
    """Paths of the two stage graphs and their export checks."""

    stage1_path: Path
    stage2_path: Path
    stage1_check: ExportCheck
    stage2_check: ExportCheck


def export_cascade(stage1: MultiContrastUNet3D, stage2: MultiContrastUNet3D, directory: str | Path,
                   sizes: Sequence[tuple[int, int, int]] = ((16, 16, 16), (19, 24, 13))) -> CascadeExport:
    """Write ``stage1.onnx`` and ``stage2.onnx`` under ``directory`` and check each against PyTorch."""
    if stage1.config.in_contrasts != stage2.config.in_contrasts:
        raise InvalidArgument.field("stage2", f"{stage2.config.in_contrasts} contrasts, stage 1 has "
                                    f"{stage1.config.in_contrasts}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    checks = []
    for name, network in (("stage1", stage1), ("stage2", stage2)):
        data = export_stage(network, out / f"{name}.onnx")
        checks.append(check_export(network, data, sizes))
    return CascadeExport(out / "stage1.onnx", out / "stage2.onnx", checks[0], checks[1])


def make_session(model: str | Path | bytes, intra_op_threads: int = 0) -> ort.InferenceSession:
    """A CPU onnxruntime session over a model file or bytes (``intra_op_threads`` 0: one per core)."""
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def _present(batch: int, contrasts: int, missing: Collection[int]) -> np.ndarray:
    for c in missing:
        if not 0 <= c < contrasts:
            raise InvalidArgument.field("missing_contrasts", f"contrast {c} not in 0..{contrasts - 1}")
    present = np.ones((batch, contrasts), dtype=np.float32)
    present[:, sorted(missing)] = 0.0
    return present


class OnnxStage:
    """An onnxruntime session of an exported stage as a :data:`StagePredictor`."""

    def __init__(self, model: str | Path | bytes | ort.InferenceSession, missing_contrasts: Collection[int] = ()):
        self.session = model if isinstance(model, ort.InferenceSession) else make_session(model)
        self.missing_contrasts = frozenset(missing_contrasts)
        names = {i.name for i in self.session.get_inputs()}
        if names != {INPUT_IMAGE, INPUT_PRESENT}:
            raise InvalidArgument.field("model", f"inputs {sorted(names)}, want {[INPUT_IMAGE, INPUT_PRESENT]}")

    def with_missing(self, missing_contrasts: Collection[int]) -> OnnxStage:
        """The same session with other contrasts missing."""
        return OnnxStage(self.session, missing_contrasts)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(image, dtype=np.float32)
        present = _present(x.shape[0], x.shape[1], self.missing_contrasts)
        out: np.ndarray = self.session.run([OUTPUT_LOGITS], {INPUT_IMAGE: x, INPUT_PRESENT: present})[0]
        return out


class BackendStage:
    """A stage served by a ``tessera.core`` :class:`InferenceBackend` (Triton or onnxruntime) as a predictor."""

    def __init__(self, backend: InferenceBackend, model: str, version: str = "",
                 missing_contrasts: Collection[int] = ()):
        self.backend = backend
        self.model = model
        self.version = version
        self.missing_contrasts = frozenset(missing_contrasts)

    def with_missing(self, missing_contrasts: Collection[int]) -> BackendStage:
        return BackendStage(self.backend, self.model, self.version, missing_contrasts)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(image, dtype=np.float32)
        present = _present(x.shape[0], x.shape[1], self.missing_contrasts)
        outputs = self.backend.infer(self.model, {INPUT_IMAGE: x, INPUT_PRESENT: present}, self.version)
        return np.asarray(outputs[OUTPUT_LOGITS], dtype=np.float32)


class OnnxCascade(SegmentationCascade):
    """:class:`SegmentationCascade` whose stages run in onnxruntime (or any :data:`StagePredictor`).

    ``stage1`` / ``stage2``: an ONNX file path, its bytes, an ``InferenceSession`` or a predictor callable
    (e.g. :class:`BackendStage` for Triton); ``missing_contrasts`` applies to stages given as ONNX.
    """

    def __init__(self, stage1: str | Path | bytes | ort.InferenceSession | StagePredictor,
                 stage2: str | Path | bytes | ort.InferenceSession | StagePredictor,
                 config: CascadeConfig | None = None, missing_contrasts: Collection[int] = ()):
        super().__init__(self._stage(stage1, missing_contrasts), self._stage(stage2, missing_contrasts), config)

    @staticmethod
    def _stage(model: str | Path | bytes | ort.InferenceSession | StagePredictor,
               missing: Collection[int]) -> StagePredictor:
        if isinstance(model, str | Path | bytes | ort.InferenceSession):
            return OnnxStage(model, missing)
        return model
