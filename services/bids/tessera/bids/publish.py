"""Publish a validated local BIDS dataset to the artifact store, atomically.

S3 has no rename and no multi-object transaction, so completeness is carried by one object:

    <prefix>/snapshots/<snapshot>/<dataset files...>   content-addressed, immutable
    <prefix>/manifest.json                             written last: the only "commit"

``<snapshot>`` is the first 16 hex digits of the SHA-256 of the sorted file list (path, sha256,
size), so it names the content. Readers start from ``manifest.json`` and trust a dataset only if
every file it lists exists under its snapshot with the listed digest and size
(:func:`read_dataset_manifest`). Why this design rather than "upload to staging, then copy to
the final prefix":

* a single PUT of ``manifest.json`` is atomic in S3, so readers see the old dataset or the new
  one, never a mix: files of a previous complete version are never overwritten in place;
* no server-side copy of every file (a full second write of the dataset);
* a retry after a crash re-uploads the same keys with the same bytes (same content -> same
  snapshot), so it is idempotent; a publish that dies before the manifest leaves no manifest
  (first publish) or the previous one (republish), and its objects are garbage that
  :func:`collect_garbage` deletes (everything under ``<prefix>/snapshots/`` the manifest does not
  name). Run it from the same job that publishes, never beside a publish of the same prefix.

Only a dataset whose :class:`ValidationReport` is ``ok`` can be published, so nothing that fails
the BIDS validator ever gets a manifest.
"""

from __future__ import annotations

import hashlib
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from tessera.bids.validate import ValidationReport
from tessera.core.artifacts import ArtifactStore, validate_key
from tessera.core.errors import FailedPrecondition, IntegrityError, InvalidArgument, NotFound
from tessera.v1 import common_pb2

MANIFEST_NAME = "manifest.json"
SNAPSHOTS = "snapshots"
MANIFEST_FORMAT = "tessera.bids.dataset-manifest/1"
UPLOAD_THREADS = 8  # concurrent PUTs; S3 latency, not bandwidth, bounds small-file uploads
_MEDIA_TYPES = {".nii.gz": "application/gzip", ".nii": "application/octet-stream", ".json": "application/json",
                ".tsv": "text/tab-separated-values", ".bval": "text/plain", ".bvec": "text/plain"}


class ManifestFile(BaseModel):
    path: str = Field(description="Dataset-relative POSIX path, e.g. 'sub-01/anat/sub-01_T1w.nii.gz'.")
    sha256: str
    size: int = Field(description="Bytes.")


class DatasetManifest(BaseModel):
    """``<prefix>/manifest.json``: the complete file list of one published dataset snapshot."""

    format: str = MANIFEST_FORMAT
    snapshot: str
    root: str = Field(description="Store key under which the files live: '<prefix>/snapshots/<snapshot>'.")
    files: list[ManifestFile]
    anatomical: list[str] = Field(default_factory=list, description="Dataset-relative anat NIfTI paths.")
    validator: dict[str, object] = Field(default_factory=dict, description="errors, warnings, summary of the run.")

    def key_of(self, path: str) -> str:
        return f"{self.root}/{path}"


@dataclass
class ManifestCheck:
    """What :func:`read_dataset_manifest` found: ``complete`` only when every listed file matches."""

    complete: bool
    manifest: DatasetManifest | None = None
    problems: list[str] = field(default_factory=list)


def local_file_list(local_dir: Path) -> list[ManifestFile]:
    """Every regular file under ``local_dir`` with its SHA-256 and size, sorted by path."""
    files = []
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
        files.append(ManifestFile(path=path.relative_to(local_dir).as_posix(), sha256=digest.hexdigest(),
                                  size=path.stat().st_size))
    return files


def snapshot_id(files: list[ManifestFile]) -> str:
    """16 hex digits naming the content: the same files give the same id."""
    listing = "".join(f"{f.path}\t{f.sha256}\t{f.size}\n" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def publish_dataset(
    local_dir: Path,
    store: ArtifactStore,
    prefix: str,
    *,
    validation: ValidationReport,
    anatomical: list[str] | None = None,
) -> common_pb2.ArtifactRef:
    """Upload the dataset in ``local_dir`` under ``prefix`` and return the manifest's ``ArtifactRef``.

    ``prefix`` is a store key such as ``datasets/<id>``. ``validation`` must be the (ok) report of
    this directory; :class:`FailedPrecondition` otherwise. Files go up concurrently; each
    upload's digest is compared with the local one before the manifest is written.
    """
    prefix = validate_key(prefix.strip("/"), "prefix")
    if not validation.ok:
        raise FailedPrecondition(f"dataset in {local_dir} failed BIDS validation; not publishing: "
                                 + validation.describe())
    files = local_file_list(local_dir)
    if not any(f.path == "dataset_description.json" for f in files):
        raise InvalidArgument.field("local_dir", f"{local_dir} holds no dataset_description.json")
    snapshot = snapshot_id(files)
    manifest = DatasetManifest(
        snapshot=snapshot, root=f"{prefix}/{SNAPSHOTS}/{snapshot}", files=files, anatomical=sorted(anatomical or []),
        validator={"errors": len(validation.errors), "warnings": len(validation.warnings),
                   "codes": sorted({w.code for w in validation.warnings})},
    )

    def upload(item: ManifestFile) -> None:
        key = validate_key(manifest.key_of(item.path), "path")
        with (local_dir / item.path).open("rb") as fh:
            info = store.put_stream(key, fh, size=item.size, media_type=_media_type(item.path))
        if info.sha256 != item.sha256:
            raise IntegrityError(f"{item.path} changed while it was published ({info.sha256} != {item.sha256})")

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for future in [pool.submit(upload, f) for f in files]:
            future.result()  # the first failure propagates; the manifest is then never written
    body = manifest.model_dump_json(indent=2).encode()
    return store.put_bytes(f"{prefix}/{MANIFEST_NAME}", body, media_type="application/json").to_proto()


def read_dataset_manifest(store: ArtifactStore, prefix: str, *, verify: bool = True) -> ManifestCheck:
    """The manifest under ``prefix`` and whether the dataset it lists is complete.

    With ``verify`` every listed object is HEADed (size and recorded SHA-256 compared); without,
    only the manifest is read. Never raises for a missing or broken dataset: ``complete`` says.
    """
    prefix = validate_key(prefix.strip("/"), "prefix")
    try:
        manifest = DatasetManifest.model_validate_json(store.get_bytes(f"{prefix}/{MANIFEST_NAME}"))
    except NotFound:
        return ManifestCheck(False, None, [f"no {MANIFEST_NAME} under {prefix}: the dataset was never completed"])
    except (ValueError, IntegrityError) as exc:
        return ManifestCheck(False, None, [f"{prefix}/{MANIFEST_NAME} is unreadable: {exc}"])
    problems = []
    if manifest.format != MANIFEST_FORMAT:
        problems.append(f"unknown manifest format {manifest.format!r}")
    if verify:
        present = {info.key: info for info in store.list(f"{manifest.root}/")}
        for item in manifest.files:
            info = present.get(manifest.key_of(item.path))
            if info is None:
                problems.append(f"{item.path}: missing")
            elif (info.sha256, info.size) != (item.sha256, item.size):
                problems.append(f"{item.path}: stored sha256/size {info.sha256[:12]}/{info.size} "
                                f"!= manifest {item.sha256[:12]}/{item.size}")
    return ManifestCheck(not problems, manifest, problems)


def download_dataset(store: ArtifactStore, prefix: str, dest: Path) -> DatasetManifest:
    """Copy the complete dataset under ``prefix`` into ``dest`` (verified); :class:`FailedPrecondition`
    if it is incomplete."""
    check = read_dataset_manifest(store, prefix, verify=False)
    if check.manifest is None:
        raise FailedPrecondition("; ".join(check.problems))
    for item in check.manifest.files:
        target = dest / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        info = store.get_to_file(check.manifest.key_of(item.path), str(target))  # store.open verifies bytes
        if info.sha256 != item.sha256:
            raise IntegrityError(f"{item.path} in the store does not match the manifest")
    return check.manifest


def collect_garbage(store: ArtifactStore, prefix: str) -> list[str]:
    """Delete objects under ``<prefix>/snapshots/`` that the current manifest does not list.

    Without a manifest every snapshot object is garbage (a publish that never completed).
    Returns the deleted keys.
    """
    prefix = validate_key(prefix.strip("/"), "prefix")
    check = read_dataset_manifest(store, prefix, verify=False)
    live = {check.manifest.key_of(f.path) for f in check.manifest.files} if check.manifest else set()
    deleted = []
    for info in store.list(f"{prefix}/{SNAPSHOTS}/"):
        if info.key not in live:
            store.delete(info.key)
            deleted.append(info.key)
    return deleted


def _media_type(path: str) -> str:
    for suffix, media in _MEDIA_TYPES.items():
        if path.endswith(suffix):
            return media
    return mimetypes.guess_type(path)[0] or "application/octet-stream"

