"""Safe extraction of an uploaded zip or tar(.gz) archive.

An upload is untrusted: entries may try to escape the destination (``../``, absolute paths,
drive letters, links), decompress to far more than they weigh (zip bombs) or be corrupt. This
module extracts what is safe and turns everything else into :class:`~tessera.bids.model.Finding`
objects naming the entry; it never raises on bad archive content.

Caps are enforced while streaming: every chunk is counted before it is written, so nothing is
written past a cap even when the entry headers lie about sizes.
"""

from __future__ import annotations

import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from tessera.bids.model import Finding, Level

if TYPE_CHECKING:
    from tessera.bids.settings import BidsSettings

GiB = 1024**3
MiB = 1024**2
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ExtractLimits:
    """Caps on what one archive may expand to. Sizes in bytes.

    The bids service builds these from its settings (:meth:`from_settings`); the defaults
    suit an MRI session upload (tens of GB of DICOM, hundreds of thousands of files at most).

    ``max_ratio`` is uncompressed/compressed bytes: per entry for zip (whose entries carry their
    compressed size), for the whole stream in tar.gz. DICOM with blank pixels legitimately
    compresses very well, so the ratio is only checked once the uncompressed bytes (of the entry,
    or of the whole archive) exceed ``ratio_min_bytes``: a bomb is only a bomb when it is large.
    """

    max_total_bytes: int = 20 * GiB
    max_file_bytes: int = 2 * GiB
    max_ratio: float = 200.0
    max_entries: int = 200_000
    ratio_min_bytes: int = 64 * MiB

    @classmethod
    def from_settings(cls, settings: BidsSettings) -> ExtractLimits:
        """Limits from ``TESSERA_BIDS_MAX_UPLOAD_BYTES``, ``_MAX_FILE_BYTES``, ``_MAX_RATIO``, ``_MAX_ENTRIES``."""
        return cls(max_total_bytes=settings.bids_max_upload_bytes, max_file_bytes=settings.bids_max_file_bytes,
                   max_ratio=settings.bids_max_ratio, max_entries=settings.bids_max_entries)


@dataclass
class ExtractResult:
    """What :func:`extract_archive` wrote.

    ``files`` are archive-relative POSIX paths (as written under ``dest_dir``), in archive order.
    ``format`` is 'zip', 'tar' (any compression) or '' when the input was not an archive.
    """

    dest_dir: Path
    format: str = ""
    files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    findings: list[Finding] = field(default_factory=list)
    stopped: bool = False  # a global cap (total bytes, entries, archive ratio) ended extraction early

    @property
    def ok(self) -> bool:
        """True when something was extracted and no error finding was raised."""
        return bool(self.files) and not any(f.level == Level.ERROR for f in self.findings)


class _CapExceeded(Exception):
    def __init__(self, message: str, *, stop: bool):
        super().__init__(message)
        self.stop = stop  # True: abort the whole archive; False: skip this entry only


def detect_format(path: Path) -> str:
    """'zip', 'tar' or '' from the file's leading bytes (never the extension)."""
    with path.open("rb") as fh:
        head = fh.read(512 + 8)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[257:262] == b"ustar":
        return "tar"
    return ""


def safe_relative_path(name: str) -> PurePosixPath | None:
    """The entry name as a relative path inside the destination, or None when it would escape.

    Backslashes count as separators (archives made on Windows); absolute paths, drive letters,
    ``..`` components and NUL bytes are refused. ``.`` components and empty parts are dropped.
    """
    if "\x00" in name:
        return None
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return None
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def extract_archive(archive_path: Path | str, dest_dir: Path | str,
                    limits: ExtractLimits | None = None) -> ExtractResult:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``dest_dir`` safely.

    Returns the written files and the findings: rejected entries (escaping paths, links,
    devices, over-size, corrupt) are error or warning findings naming the entry; a non-archive
    or empty archive is one error finding. Never raises on bad content (only on an unwritable
    ``dest_dir``).
    """
    archive_path = Path(archive_path)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    limits = limits or ExtractLimits()
    result = ExtractResult(dest_dir=dest)
    name = archive_path.name
    try:
        fmt = detect_format(archive_path)
    except OSError as exc:
        result.findings.append(Finding(level=Level.ERROR, file=name, message=f"cannot read upload: {exc}"))
        return result
    result.format = fmt
    try:
        if fmt == "zip":
            _extract_zip(archive_path, dest, limits, result)
        elif fmt == "tar":
            _extract_tar(archive_path, dest, limits, result)
        else:
            result.findings.append(Finding(level=Level.ERROR, file=name,
                                           message="upload is not a zip or tar(.gz) archive"))
            return result
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        # A damaged container (central directory, gzip stream): keep what was extracted so far.
        result.findings.append(Finding(level=Level.ERROR, file=name, message=f"archive is damaged: {exc}"))
        result.stopped = True
    if not result.files and not any(f.level == Level.ERROR and f.file == name for f in result.findings):
        result.findings.append(Finding(level=Level.ERROR, file=name, message="archive contains no extractable files"))
    return result


def _write_stream(src: IO[bytes], target: Path, limits: ExtractLimits, result: ExtractResult,
                  compressed_size: int | None, archive_size: int) -> int:
    """Copy ``src`` to ``target`` chunk by chunk, checking caps before each write. Returns bytes written."""
    written = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            new_file = written + len(chunk)
            new_total = result.total_bytes + new_file
            if new_file > limits.max_file_bytes:
                raise _CapExceeded(f"entry exceeds the per-file cap of {limits.max_file_bytes} bytes", stop=False)
            if new_total > limits.max_total_bytes:
                raise _CapExceeded(f"archive exceeds the total cap of {limits.max_total_bytes} bytes; "
                                   "extraction stopped", stop=True)
            if compressed_size is not None and new_file > limits.ratio_min_bytes \
                    and new_file > limits.max_ratio * max(compressed_size, 1):
                raise _CapExceeded(f"entry expands more than {limits.max_ratio:g}x its compressed size "
                                   "(zip bomb?)", stop=False)
            if new_total > limits.ratio_min_bytes and new_total > limits.max_ratio * max(archive_size, 1):
                raise _CapExceeded(f"archive expands more than {limits.max_ratio:g}x its size (bomb?); "
                                   "extraction stopped", stop=True)
            out.write(chunk)
            written = new_file
    return written


def _place(dest: Path, raw_name: str, result: ExtractResult, seen: set[str]) -> tuple[str, Path] | None:
    """Resolve an entry name to (relative posix path, target path), or record why it is refused."""
    rel = safe_relative_path(raw_name)
    if rel is None:
        result.findings.append(Finding(level=Level.ERROR, file=raw_name,
                                       message="entry path escapes the archive (absolute, drive letter or '..'); "
                                               "skipped"))
        return None
    rel_s = rel.as_posix()
    target = dest.joinpath(*rel.parts)
    # Belt and braces: a resolved path must stay under dest even if dest itself is a link.
    if not target.resolve().is_relative_to(dest.resolve()):
        result.findings.append(Finding(level=Level.ERROR, file=raw_name,
                                       message="entry path escapes the archive; skipped"))
        return None
    if rel_s in seen:
        result.findings.append(Finding(level=Level.WARNING, file=rel_s,
                                       message="duplicate entry in the archive; kept the first"))
        return None
    return rel_s, target


def _store(src: IO[bytes], rel: str, target: Path, limits: ExtractLimits, result: ExtractResult,
           compressed_size: int | None, archive_size: int, seen: set[str]) -> bool:
    """Write one entry; returns False when extraction must stop."""
    try:
        n = _write_stream(src, target, limits, result, compressed_size, archive_size)
    except _CapExceeded as exc:
        target.unlink(missing_ok=True)
        result.findings.append(Finding(level=Level.ERROR, file=rel, message=str(exc)))
        if exc.stop:
            result.stopped = True
        return not exc.stop
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, OSError...: never crash on content
        target.unlink(missing_ok=True)
        result.findings.append(Finding(level=Level.ERROR, file=rel, message=f"corrupt or unreadable entry: {exc}"))
        return True
    seen.add(rel)
    result.files.append(rel)
    result.total_bytes += n
    return True


def _too_many(count: int, limits: ExtractLimits, result: ExtractResult, name: str) -> bool:
    if count > limits.max_entries:
        result.findings.append(Finding(level=Level.ERROR, file=name,
                                       message=f"archive has more than {limits.max_entries} entries; "
                                               "the rest were not extracted"))
        result.stopped = True
        return True
    return False


def _declares_too_much(rel: str, declared: int, limits: ExtractLimits, result: ExtractResult) -> bool:
    """Reject an entry whose header already declares more than the per-file cap.

    Header sizes can only reject early; they are never trusted to accept (``_store`` counts bytes).
    """
    if declared <= limits.max_file_bytes:
        return False
    message = f"entry declares {declared} bytes, over the per-file cap of {limits.max_file_bytes}; skipped"
    result.findings.append(Finding(level=Level.ERROR, file=rel, message=message))
    return True


def _extract_zip(path: Path, dest: Path, limits: ExtractLimits, result: ExtractResult) -> None:
    result.format = "zip"
    archive_size = path.stat().st_size
    seen: set[str] = set()
    with zipfile.ZipFile(path) as zf:
        for count, info in enumerate(zf.infolist(), start=1):
            if _too_many(count, limits, result, path.name):
                return
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                result.findings.append(Finding(level=Level.WARNING, file=info.filename,
                                               message="symbolic link in the archive; skipped"))
                continue
            placed = _place(dest, info.filename, result, seen)
            if placed is None:
                continue
            rel, target = placed
            if _declares_too_much(rel, info.file_size, limits, result):
                continue
            try:
                src = zf.open(info)
            except Exception as exc:  # encrypted (RuntimeError), unsupported compression (NotImplementedError)...
                result.findings.append(Finding(level=Level.ERROR, file=rel, message=f"cannot open entry: {exc}"))
                continue
            with src:
                if not _store(src, rel, target, limits, result, info.compress_size, archive_size, seen):
                    return


def _extract_tar(path: Path, dest: Path, limits: ExtractLimits, result: ExtractResult) -> None:
    result.format = "tar"
    archive_size = path.stat().st_size
    seen: set[str] = set()
    # Stream mode ('r|*'): members are read one after the other, never all listed in memory first.
    with tarfile.open(path, mode="r|*") as tf:
        for count, member in enumerate(tf, start=1):
            if _too_many(count, limits, result, path.name):
                return
            if member.isdir():
                continue
            if member.issym() or member.islnk():
                result.findings.append(Finding(level=Level.WARNING, file=member.name,
                                               message=f"link in the archive (-> {member.linkname}); skipped"))
                continue
            if not member.isfile():
                result.findings.append(Finding(level=Level.WARNING, file=member.name,
                                               message="device, fifo or other special entry in the archive; skipped"))
                continue
            placed = _place(dest, member.name, result, seen)
            if placed is None:
                continue
            rel, target = placed
            if _declares_too_much(rel, member.size, limits, result):
                continue
            src = tf.extractfile(member)
            if src is None:
                continue
            if not _store(src, rel, target, limits, result, None, archive_size, seen):
                return


def remove_tree(path: Path) -> None:
    """Delete an extraction directory (ignoring what is already gone)."""
    shutil.rmtree(path, ignore_errors=True)
