"""Pack a generated corpus like a PACS / lab export: a zip or tar.gz of its DICOM/ and logs/ trees."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from tessera.core.errors import InvalidArgument

FORMATS = ("zip", "tar.gz")


def corpus_archive(out_dir: str | Path, archive_path: str | Path, fmt: str = "zip", *,
                   include_manifest: bool = False) -> Path:
    """Archive every file under ``out_dir`` (paths relative to it, e.g. ``DICOM/MRN.../IM0001``).

    ``manifest.json`` (the ground truth) is left out unless ``include_manifest``: an upload should
    not carry its own answers. Returns ``archive_path``.
    """
    if fmt not in FORMATS:
        raise InvalidArgument.field("fmt", f"must be one of {FORMATS}, got {fmt!r}")
    root = Path(out_dir)
    target = Path(archive_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.resolve() != target.resolve()
                   and (include_manifest or p.relative_to(root).as_posix() != "manifest.json"))
    if fmt == "zip":
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for p in files:
                zf.write(p, p.relative_to(root).as_posix())
    else:
        with tarfile.open(target, "w:gz", compresslevel=1) as tf:
            for p in files:
                tf.add(p, p.relative_to(root).as_posix(), recursive=False)
    return target
