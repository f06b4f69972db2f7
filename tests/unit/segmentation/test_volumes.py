"""Bad input to Segment is refused with the field and the problem named."""

from __future__ import annotations

import gzip
import io

import nibabel as nib
import numpy as np
import pytest

from tessera.core.errors import InvalidArgument
from tessera.segmentation.volumes import load_subject, parse_nifti

CONTRASTS = ("T1w", "T2w", "FLAIR")


def _image(shape: tuple[int, ...] = (16, 18, 20), zoom: float = 2.0, shift: float = 0.0) -> nib.Nifti1Image:
    affine = np.diag([zoom, zoom, zoom, 1.0])
    affine[:3, 3] = shift
    data = np.random.default_rng(0).random(shape, dtype=np.float32)
    return nib.Nifti1Image(data, affine)


def _bytes(image: nib.Nifti1Image, gz: bool = True) -> bytes:
    raw = image.to_bytes()
    if not gz:
        return raw
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as fh:
        fh.write(raw)
    return buffer.getvalue()


def _violations(err: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {v.field: v.description for v in err.value.violations}


@pytest.mark.parametrize("gz", [True, False])
def test_parses_nii_and_nii_gz(gz: bool) -> None:
    image = parse_nifti(_bytes(_image(), gz), "volumes[0].nifti")
    assert image.shape == (16, 18, 20)


@pytest.mark.parametrize("payload", [b"", b"not a nifti at all", b"\x1f\x8bnot really gzip"])
def test_not_nifti_is_named(payload: bytes) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_nifti(payload, "volumes[1].nifti")
    assert list(_violations(err)) == ["volumes[1].nifti"]


def test_truncated_nifti_is_refused() -> None:
    data = _bytes(_image(), gz=False)
    with pytest.raises(InvalidArgument):
        parse_nifti(data[: len(data) // 2], "volumes[0].nifti")


def test_subject_on_one_grid_with_missing_contrasts() -> None:
    t1 = _image()
    t2 = _image(shape=(20, 22, 24), zoom=1.5, shift=1.0)  # another grid, overlapping
    subject = load_subject([("T2w", t2), ("T1w", t1)], CONTRASTS)
    assert set(subject.data) == {"T1w", "T2w"}
    assert subject.shape == (16, 18, 20)
    assert subject.data["T2w"].shape == subject.shape
    assert subject.resampled == ["T2w"]
    assert subject.missing == ["FLAIR"]
    assert subject.voxel_ml == pytest.approx(0.008)


def test_every_problem_is_named_at_once() -> None:
    nan = _image()
    nan.get_fdata()
    data = np.asarray(nan.dataobj).copy()
    data[3, 4, 5] = np.nan
    bad_values = nib.Nifti1Image(data, nan.affine)
    with pytest.raises(InvalidArgument) as err:
        load_subject([("T1w", bad_values), ("T1w", _image()), ("PDw", _image()),
                      ("FLAIR", nib.Nifti1Image(np.zeros((8, 8, 8, 3), np.float32), np.eye(4)))], CONTRASTS)
    problems = _violations(err)
    assert "non-finite" in problems["volumes[0].nifti"] and "(3, 4, 5)" in problems["volumes[0].nifti"]
    assert "given twice" in problems["volumes[1].contrast"]
    assert "not one of the model's contrasts" in problems["volumes[2].contrast"]
    assert "3D" in problems["volumes[3].nifti"]


def test_singular_affine_huge_size_and_disjoint_grids() -> None:
    # Bytes whose sform (code 1, qform code 0) has a zero row: the affine's determinant is 0.
    raw = bytearray(nib.Nifti1Image(np.ones((16, 16, 16), np.float32), np.eye(4)).to_bytes())
    raw[252:256] = np.array([0, 1], "<i2").tobytes()  # qform_code 0, sform_code 1
    raw[296:312] = np.zeros(4, "<f4").tobytes()  # srow_y
    singular = parse_nifti(bytes(raw), "volumes[0].nifti")
    with pytest.raises(InvalidArgument) as err:
        load_subject([("T1w", singular)], CONTRASTS)
    assert "not invertible" in _violations(err)["volumes[0].nifti"]

    with pytest.raises(InvalidArgument) as err:
        load_subject([("T1w", _image())], CONTRASTS, max_voxels=1000)
    assert "above the cap" in _violations(err)["volumes[0].nifti"]

    far = _image(shift=10_000.0)
    with pytest.raises(InvalidArgument) as err:
        load_subject([("T1w", _image()), ("T2w", far)], CONTRASTS)
    assert "does not overlap" in _violations(err)["volumes[1].nifti"]

    with pytest.raises(InvalidArgument) as err:
        load_subject([], CONTRASTS)
    assert list(_violations(err)) == ["volumes"]
