"""Safe archive extraction: escapes, links, bombs, caps, corrupt and non-archives become findings."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from tessera.bids.archive import ExtractLimits, detect_format, extract_archive, safe_relative_path
from tessera.bids.model import Level
from tessera.bids.settings import BidsSettings


def _zip(path: Path, entries: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _tar_add(tf: tarfile.TarFile, name: str, data: bytes = b"", **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if data else None)


def _errors(result, file: str | None = None) -> list[str]:
    return [f.message for f in result.findings if f.level == Level.ERROR and (file is None or f.file == file)]


def test_zip_extracts_good_entries_and_refuses_escapes(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "up.zip", {
        "sub1/a.dcm": b"A" * 100, "sub1/deep/b.dcm": b"B", "../evil.txt": b"x", "/etc/abs.txt": b"x",
        "C:\\win\\drive.txt": b"x", "ok\\windows.txt": b"w", "a/../../escape.txt": b"x",
    }, symlinks={"link.dcm": "/etc/passwd"})
    dest = tmp_path / "out"
    result = extract_archive(archive, dest)
    assert result.format == "zip"
    assert result.files == ["sub1/a.dcm", "sub1/deep/b.dcm", "ok/windows.txt"]
    assert (dest / "sub1/a.dcm").read_bytes() == b"A" * 100
    assert result.total_bytes == 102
    for bad in ("../evil.txt", "/etc/abs.txt", "C:\\win\\drive.txt", "a/../../escape.txt"):
        assert any("escapes" in m for m in _errors(result, bad)), bad
    assert any(f.file == "link.dcm" and f.level == Level.WARNING for f in result.findings)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert not (dest / "link.dcm").exists()
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(result.files)


def test_tar_gz_refuses_links_devices_and_escapes(tmp_path: Path) -> None:
    archive = tmp_path / "up.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        _tar_add(tf, "s/one.dcm", b"1" * 10)
        _tar_add(tf, "s/sym", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        _tar_add(tf, "s/hard", type=tarfile.LNKTYPE, linkname="s/one.dcm")
        _tar_add(tf, "s/dev", type=tarfile.CHRTYPE)
        _tar_add(tf, "s/fifo", type=tarfile.FIFOTYPE)
        _tar_add(tf, "../up.txt", b"x")
        _tar_add(tf, "/abs.txt", b"x")
        _tar_add(tf, "s/two.dcm", b"2")
    result = extract_archive(archive, tmp_path / "out")
    assert result.format == "tar"
    assert result.files == ["s/one.dcm", "s/two.dcm"]
    warned = {f.file for f in result.findings if f.level == Level.WARNING}
    assert {"s/sym", "s/hard", "s/dev", "s/fifo"} <= warned
    assert _errors(result, "../up.txt") and _errors(result, "/abs.txt")
    assert not (tmp_path / "up.txt").exists()
    assert result.ok is False  # escapes are errors


def test_format_comes_from_content_not_extension(tmp_path: Path) -> None:
    zipped = _zip(tmp_path / "looks_like.tar.gz", {"x.dcm": b"x"})
    tarred = tmp_path / "looks_like.zip"
    with tarfile.open(tarred, "w:gz") as tf:
        _tar_add(tf, "y.dcm", b"y")
    assert detect_format(zipped) == "zip" and detect_format(tarred) == "tar"
    assert extract_archive(zipped, tmp_path / "a").files == ["x.dcm"]
    assert extract_archive(tarred, tmp_path / "b").files == ["y.dcm"]


@pytest.mark.parametrize("kind", ["empty_zip", "empty_tar", "junk", "empty_file", "gzip_not_tar"])
def test_empty_and_non_archives_are_one_error_finding(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "upload.bin"
    if kind == "empty_zip":
        zipfile.ZipFile(path, "w").close()
    elif kind == "empty_tar":
        tarfile.open(path, "w:gz").close()
    elif kind == "junk":
        path.write_bytes(b"this is not an archive at all" * 10)
    elif kind == "empty_file":
        path.write_bytes(b"")
    else:
        import gzip

        path.write_bytes(gzip.compress(b"just some text, not a tar stream" * 20))
    result = extract_archive(path, tmp_path / "out")
    assert result.files == []
    assert not result.ok
    assert [f.file for f in result.findings if f.level == Level.ERROR] == ["upload.bin"]


def test_zip_bomb_entry_is_refused_by_ratio(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"bomb.dcm": b"\0" * (8 * 1024 * 1024), "fine.dcm": b"ok"})
    limits = ExtractLimits(max_ratio=50, ratio_min_bytes=1024 * 1024)
    result = extract_archive(archive, tmp_path / "out", limits)
    assert result.files == ["fine.dcm"]
    assert any("zip bomb" in m for m in _errors(result, "bomb.dcm"))
    assert not (tmp_path / "out/bomb.dcm").exists()  # the partial file is removed


def test_blank_small_files_compress_well_without_tripping_the_ratio(tmp_path: Path) -> None:
    # DICOM with blank pixels compresses > 200x; below ratio_min_bytes that is not a bomb.
    archive = _zip(tmp_path / "blank.zip", {f"f{i}.dcm": b"\0" * 200_000 for i in range(5)})
    result = extract_archive(archive, tmp_path / "out")
    assert result.ok and len(result.files) == 5


def test_per_file_cap_from_header_and_total_cap_while_streaming(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "big.zip", {"a.dcm": b"a" * 400, "huge.dcm": b"h" * 5000, "b.dcm": b"b" * 400,
                                          "c.dcm": b"c" * 400, "d.dcm": b"d" * 10})
    limits = ExtractLimits(max_file_bytes=1000, max_total_bytes=1000)
    result = extract_archive(archive, tmp_path / "out", limits)
    assert any("per-file cap" in m for m in _errors(result, "huge.dcm"))
    # a + b fit (800 bytes); c would pass 1000 -> stop before writing it, and d is never reached.
    assert result.files == ["a.dcm", "b.dcm"]
    assert result.stopped and result.total_bytes == 800
    assert any("total cap" in m for m in _errors(result, "c.dcm"))
    assert not (tmp_path / "out/c.dcm").exists() and not (tmp_path / "out/d.dcm").exists()


def test_tar_gz_total_ratio_stops_a_gzip_bomb(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        for i in range(4):
            _tar_add(tf, f"z{i}.dcm", b"\0" * (2 * 1024 * 1024))
    limits = ExtractLimits(max_ratio=100, ratio_min_bytes=1024 * 1024)
    result = extract_archive(archive, tmp_path / "out", limits)
    assert result.stopped
    assert result.total_bytes <= 100 * archive.stat().st_size
    assert any("bomb" in m for m in _errors(result))


def test_lying_zip_header_cannot_smuggle_extra_bytes(tmp_path: Path) -> None:
    # Central directory claims 10 bytes; the entry really holds 5000. zipfile reads only what the
    # header says and the CRC check fails: a finding, and nothing left on disk.
    archive = _zip(tmp_path / "lie.zip", {"lie.dcm": b"L" * 5000})
    raw = bytearray(archive.read_bytes())
    for sig, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        pos = raw.find(sig)
        raw[pos + offset: pos + offset + 4] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    result = extract_archive(archive, tmp_path / "out", ExtractLimits(max_file_bytes=100))
    assert result.files == []
    assert _errors(result, "lie.dcm")
    assert not (tmp_path / "out/lie.dcm").exists()


def test_entry_count_cap_and_duplicates(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("dup.txt", b"first")
        with pytest.warns(UserWarning):
            zf.writestr("dup.txt", b"second")
        for i in range(5):
            zf.writestr(f"f{i}.txt", b"x")
    result = extract_archive(archive, tmp_path / "out", ExtractLimits(max_entries=4))
    assert (tmp_path / "out/dup.txt").read_bytes() == b"first"
    assert any(f.file == "dup.txt" and f.level == Level.WARNING for f in result.findings)
    assert result.files == ["dup.txt", "f0.txt", "f1.txt"]
    assert result.stopped and any("more than 4 entries" in m for m in _errors(result))


def test_corrupt_entry_is_a_finding(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "crc.zip", {"good.dcm": b"g" * 50, "bad.dcm": b"B" * 3000})
    raw = bytearray(archive.read_bytes())
    pos = raw.find(b"PK\x03\x04", 1)  # second local header (bad.dcm)
    data_start = pos + 30 + len("bad.dcm")
    raw[data_start + 2: data_start + 6] = b"\xff\xff\xff\xff"
    archive.write_bytes(bytes(raw))
    result = extract_archive(archive, tmp_path / "out")
    assert result.files == ["good.dcm"]
    assert _errors(result, "bad.dcm")


def test_safe_relative_path() -> None:
    assert str(safe_relative_path("a/./b//c.dcm")) == "a/b/c.dcm"
    assert str(safe_relative_path("dir\\file.dcm")) == "dir/file.dcm"
    for bad in ("../x", "a/../../x", "/x", "\\\\server\\share\\x", "D:x", "a\x00b", "", "./"):
        assert safe_relative_path(bad) is None, bad


def test_limits_from_settings() -> None:
    settings = BidsSettings(bids_max_upload_bytes=1000, bids_max_file_bytes=100, bids_max_ratio=9.5,
                            bids_max_entries=7)
    limits = ExtractLimits.from_settings(settings)
    assert (limits.max_total_bytes, limits.max_file_bytes, limits.max_ratio, limits.max_entries) == (1000, 100, 9.5, 7)
