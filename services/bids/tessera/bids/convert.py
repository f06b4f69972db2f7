"""Convert each series with dcm2niix and collect its outputs and metadata.

dcm2niix comes from the PyPI package ``dcm2niix`` (it ships the binary). Each series is
converted on its own: its files are linked into a private folder so that series sharing a
directory (common in exports) never mix, and outputs land in ``<out>/<series_id>/``.

Anonymisation: dcm2niix runs with ``-ba n`` (keep PatientName, PatientID, birth date... in the
sidecar). The planner needs them for subject inference on uploads converted before, and the
dataset writer strips identifying fields itself before anything reaches the final dataset, so
the full sidecar is kept at this stage (it stays under the upload's private conversion prefix).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib

from tessera.bids.dicom import SeriesGroup
from tessera.bids.model import Finding, Level

ProgressCallback = Callable[[int, int, str], None]
"""``(done, total, message)``: series finished so far, series in all, what just finished."""

DEFAULT_TIMEOUT_S = 600.0


@dataclass
class ConvertedImage:
    """One NIfTI written for a series, with its sidecars (paths relative to the conversion root)
    and its metadata: the dcm2niix sidecar JSON plus ``NumVolumes`` (int) and, for diffusion,
    ``BValues`` (list of float, s/mm^2)."""

    nifti: str
    sidecar: str | None = None
    bval: str | None = None
    bvec: str | None = None
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return [p for p in (self.nifti, self.sidecar, self.bval, self.bvec) if p]


@dataclass
class ConversionResult:
    """Outputs of one series: several images for multi-echo, magnitude+phase, etc.; none on failure."""

    series_id: str
    images: list[ConvertedImage] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.images)


def find_dcm2niix() -> str:
    """Path of the dcm2niix executable: the PyPI package's binary, next to the interpreter, or on PATH."""
    try:
        import dcm2niix  # the PyPI package exposes the bundled binary's path

        path = Path(str(dcm2niix.bin))
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except (ImportError, AttributeError):
        pass
    beside = Path(sys.executable).parent / "dcm2niix"
    if beside.is_file():
        return str(beside)
    found = shutil.which("dcm2niix")
    if found:
        return found
    raise FileNotFoundError("dcm2niix not found: install the PyPI package 'dcm2niix'")


def image_metadata(nifti: Path, sidecar: Path | None, bval: Path | None) -> dict[str, object]:
    """Sidecar JSON + ``NumVolumes`` (4th dim of the NIfTI header; 1 for 3D) + ``BValues`` (from .bval)."""
    meta: dict[str, object] = {}
    if sidecar is not None:
        loaded = json.loads(sidecar.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            meta.update(loaded)
    header = nib.load(str(nifti)).header  # header only: the image data stays on disk
    dim = [int(d) for d in header["dim"]]  # type: ignore[index]
    meta["NumVolumes"] = dim[4] if dim[0] >= 4 and dim[4] > 0 else 1
    if bval is not None:
        meta["BValues"] = [float(v) for v in bval.read_text().split()]
    return meta


def _collect(series_id: str, folder: Path, root: Path) -> list[ConvertedImage]:
    images = []
    for nifti in sorted(folder.glob("*.nii*")):
        base = nifti.name.removesuffix(".gz").removesuffix(".nii")
        sidecar, bval, bvec = (folder / f"{base}{ext}" for ext in (".json", ".bval", ".bvec"))
        image = ConvertedImage(
            nifti=nifti.relative_to(root).as_posix(),
            sidecar=sidecar.relative_to(root).as_posix() if sidecar.exists() else None,
            bval=bval.relative_to(root).as_posix() if bval.exists() else None,
            bvec=bvec.relative_to(root).as_posix() if bvec.exists() else None,
        )
        image.metadata = image_metadata(nifti, sidecar if sidecar.exists() else None, bval if bval.exists() else None)
        images.append(image)
    return images


def _tail(text: str, lines: int = 6) -> str:
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


def convert_series(group: SeriesGroup, src_root: Path | str, out_root: Path | str, *,
                   timeout_s: float = DEFAULT_TIMEOUT_S, binary: str | None = None) -> ConversionResult:
    """Convert one series into ``<out_root>/<series_id>/``; failures are error findings, never exceptions.

    DICOM series run through ``dcm2niix -b y -ba n -z y -f <series_id> -o <folder>``; NIfTI
    series (converted before upload) are copied with their sidecars. Multiple outputs (echoes,
    magnitude/phase, ...) get dcm2niix's suffixes (``_e2``, ``_ph``...).
    """
    src_root, out_root = Path(src_root), Path(out_root)
    result = ConversionResult(series_id=group.series_id)
    folder = out_root / group.series_id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    label = f"series {group.series_number} '{group.series_description}'"
    try:
        if group.kind == "nifti":
            for rel in group.files:
                name = Path(rel).name
                shutil.copyfile(src_root / rel, folder / name)
        else:
            message = _run_dcm2niix(group, src_root, folder, timeout_s, binary or find_dcm2niix())
            if message:
                result.findings.append(Finding(level=Level.ERROR, series_id=group.series_id,
                                               file=group.files[0] if group.files else "",
                                               message=f"dcm2niix could not convert {label}: {message}"))
                return result
        result.images = _collect(group.series_id, folder, out_root)
    except Exception as exc:  # unreadable output, bad sidecar JSON, missing binary...: never an exception
        result.findings.append(Finding(level=Level.ERROR, series_id=group.series_id,
                                       message=f"conversion of {label} failed: {exc}"))
        result.images = []
        return result
    if not result.images:
        result.findings.append(Finding(level=Level.ERROR, series_id=group.series_id,
                                       message=f"dcm2niix wrote no image for {label}"))
    return result


def _run_dcm2niix(group: SeriesGroup, src_root: Path, folder: Path, timeout_s: float, binary: str) -> str:
    """Run dcm2niix on the series' files only; returns '' on success, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="dcm-", dir=folder.parent) as staging:
        for i, rel in enumerate(group.files):
            link = Path(staging) / f"{i:06d}.dcm"
            try:
                os.link(src_root / rel, link)  # hard link: no copy, and dcm2niix sees a plain file
            except OSError:
                shutil.copyfile(src_root / rel, link)
        cmd = [binary, "-b", "y", "-ba", "n", "-z", "y", "-f", group.series_id, "-o", str(folder), staging]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout_s:g} s"
        output = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0:
            return f"exit {proc.returncode}: {_tail(output)}"
        if not any(folder.glob("*.nii*")):
            return _tail(output) or "no output"
    return ""


def convert_all(groups: Sequence[SeriesGroup], src_root: Path | str, out_root: Path | str, *,
                workers: int = 2, timeout_s: float = DEFAULT_TIMEOUT_S,
                progress: ProgressCallback | None = None) -> list[ConversionResult]:
    """Convert every series on a small thread pool (dcm2niix is a subprocess: threads suffice).

    Returns results in the order of ``groups``; ``progress(done, total, message)`` is called
    after each series (from worker threads).
    """
    binary: str | None
    try:
        binary = find_dcm2niix()
    except FileNotFoundError:
        binary = None  # NIfTI series still go through; DICOM series each get a finding
    total = len(groups)
    results: dict[str, ConversionResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dcm2niix") as pool:
        futures = {pool.submit(_convert_one, g, src_root, out_root, timeout_s, binary): g for g in groups}
        for done, fut in enumerate(as_completed(futures), start=1):
            group = futures[fut]
            res = fut.result()
            results[group.series_id] = res
            if progress is not None:
                state = f"{len(res.images)} image(s)" if res.ok else "failed"
                progress(done, total, f"series {group.series_number} '{group.series_description}': {state}")
    return [results[g.series_id] for g in groups]


def _convert_one(group: SeriesGroup, src_root: Path | str, out_root: Path | str, timeout_s: float,
                 binary: str | None) -> ConversionResult:
    if binary is None and group.kind == "dicom":
        return ConversionResult(series_id=group.series_id, findings=[Finding(
            level=Level.ERROR, series_id=group.series_id, message="dcm2niix is not installed")])
    return convert_series(group, src_root, out_root, timeout_s=timeout_s, binary=binary)
