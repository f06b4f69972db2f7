"""Sidecar completion on hand-built plans: ASL fields and aslcontext, phasediff echo times, PE polarity."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tessera.bids.model import Plan, SeriesEntry, SeriesPlan
from tessera.bids.sidecars import ASL_CONTEXT_KEY, complete_sidecars, render_aslcontext, sidecar_overrides


def _entry(sid: str, number: int, datatype: str, suffix: str, metadata: dict[str, object], *,
           entities: dict[str, str] | None = None, converted: list[str] | None = None,
           series_description: str = "") -> SeriesEntry:
    return SeriesEntry(series_id=sid, subject="01", session="01", series_number=number,
                       series_description=series_description, converted=converted or [], metadata=metadata,
                       plan=SeriesPlan(datatype=datatype, suffix=suffix, entities=entities or {}))


def _asl_nifti(root: Path, label_first: bool) -> str:
    data = np.full((4, 4, 2, 6), 1000.0, dtype=np.float32)
    darker = slice(0, None, 2) if label_first else slice(1, None, 2)
    data[..., darker] *= 0.99
    nib.save(nib.Nifti1Image(data, np.eye(4)), root / "asl.nii.gz")
    return "asl.nii.gz"


@pytest.mark.parametrize("label_first", [True, False])
def test_asl_fields_and_context_from_the_volumes(tmp_path: Path, label_first: bool) -> None:
    asl = _entry("s-1", 1, "perf", "asl", {"RepetitionTime": 4.1, "InversionTime": 1.8, "NumVolumes": 6},
                 series_description="tgse_pcasl_PLD1800", converted=[_asl_nifti(tmp_path, label_first)])
    m0 = _entry("s-2", 2, "perf", "m0scan", {"RepetitionTime": 8.0})
    plan = Plan(upload_id="u", series=[asl, m0])
    complete_sidecars(plan, tmp_path)
    expected = ["label", "control"] * 3 if label_first else ["control", "label"] * 3
    assert asl.metadata[ASL_CONTEXT_KEY] == expected
    fields = sidecar_overrides(asl)
    assert fields["ArterialSpinLabelingType"] == "PCASL"
    assert fields["PostLabelingDelay"] == 1.8 and fields["RepetitionTimePreparation"] == 4.1
    assert fields["M0Type"] == "Separate" and fields["TotalAcquiredPairs"] == 3
    assert any(m.startswith("assumption: LabelingDuration") for m in asl.plan.messages)
    assert sidecar_overrides(m0) == {"RepetitionTimePreparation": 8.0}
    assert render_aslcontext(expected).splitlines()[0] == "volume_type"
    # A person's edit wins and a second pass changes nothing.
    asl.metadata["PostLabelingDelay"] = 2.0
    complete_sidecars(plan, tmp_path)
    assert sidecar_overrides(asl)["PostLabelingDelay"] == 2.0


def test_phasediff_echo_times_from_the_magnitude_series(tmp_path: Path) -> None:
    for name, te in (("mag_e1.json", 0.00492), ("mag_e2.json", 0.00738)):
        (tmp_path / name).write_text(json.dumps({"EchoTime": te}))
    mag = _entry("s-15", 15, "fmap", "magnitude1", {"EchoTime": 0.00492}, converted=["mag_e1.json", "mag_e2.json"])
    ph = _entry("s-16", 16, "fmap", "phasediff", {"EchoTime": 0.00738})
    findings = complete_sidecars(Plan(upload_id="u", series=[mag, ph]), tmp_path)
    assert findings == []
    assert (ph.metadata["EchoTime1"], ph.metadata["EchoTime2"]) == (0.00492, 0.00738)


@pytest.mark.parametrize(("direction", "axis", "expected"), [("AP", "COL", "j-"), ("PA", "COL", "j"),
                                                             ("RL", "ROW", "i"), ("LR", "ROW", "i-")])
def test_phase_encoding_polarity_from_the_dir_label(tmp_path: Path, direction: str, axis: str, expected: str) -> None:
    epi = _entry("s-12", 12, "fmap", "epi", {"ImageOrientationPatientDICOM": [1, 0, 0, 0, 1, 0],
                                             "InPlanePhaseEncodingDirectionDICOM": axis, "ReconMatrixPE": 32,
                                             "PixelBandwidth": 2232}, entities={"dir": direction})
    findings = complete_sidecars(Plan(upload_id="u", series=[epi]), tmp_path)
    assert epi.metadata["PhaseEncodingDirection"] == expected
    assert epi.metadata["TotalReadoutTime"] == pytest.approx(31 / 2232)
    assert [f.level for f in findings] == ["warning"]  # the readout time is an estimate
