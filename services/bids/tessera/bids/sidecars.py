"""Sidecar completion: the metadata BIDS requires that dcm2niix cannot read from every vendor's headers.

:func:`complete_sidecars` runs on a plan (after IntendedFor is assigned) and writes what it
decides into each series' ``metadata`` under the BIDS key, so the plan shows it and a person can
edit it; the writer then overlays :data:`COMPLETED_KEYS` from ``metadata`` onto every sidecar of
the series (:func:`sidecar_overrides`). A value already in the metadata (from dcm2niix or from an
edit) is never replaced, so running it twice changes nothing.

What it fills, in the order it looks for evidence:

- ``perf/asl``: ``ArterialSpinLabelingType`` (sequence/description names: pcasl, casl, pasl/pulsar/
  fair/picore; else PCASL, the ASL white paper's recommendation), ``PostLabelingDelay`` (DICOM
  InversionTime, as BIDS documents; else a 'PLD1800' in the description; else 1.8 s),
  ``LabelingDuration`` (PCASL/CASL; else 1.8 s), ``BackgroundSuppression`` (else false),
  ``BolusCutOffFlag`` (PASL; else false), ``M0Type`` (Included / Separate / Absent from the
  volumes and the session's m0scan), ``TotalAcquiredPairs`` and ``RepetitionTimePreparation``
  (= RepetitionTime), and the per-volume ``aslcontext.tsv`` labels (:data:`ASL_CONTEXT_KEY`):
  label volumes carry less signal than control volumes, so the alternating half with the lower
  mean is ``label``.
- ``perf/m0scan``: ``RepetitionTimePreparation`` (= RepetitionTime).
- ``fmap/phasediff``: ``EchoTime1``/``EchoTime2`` from the echo times of the session's GRE
  magnitude series.
- any series with a ``dir`` entity: ``PhaseEncodingDirection`` (``i``/``j``/``k`` with polarity) from
  the dir label and the image orientation, where the vendor does not store the polarity (Philips).
- ``fmap/epi``: ``TotalReadoutTime`` from EffectiveEchoSpacing, BandwidthPerPixelPhaseEncode,
  dcm2niix's Philips estimate, the runs it corrects, or last a lower bound from PixelBandwidth.

Defaults and estimates are assumptions: each adds ``"assumption: ..."`` to the series' plan
messages (and estimates a warning finding), naming the key to edit.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tessera.bids.model import Finding, Level, Plan, SeriesEntry

ASL_CONTEXT_KEY = "ASLContext"  # metadata key (not a sidecar field): volume_type per volume of an asl series
ASL_VOLUME_TYPES = ("control", "label", "m0scan", "deltam", "cbf")
# Written into sidecars from SeriesEntry.metadata when present there (filled here or edited by a person).
COMPLETED_KEYS = frozenset({
    "ArterialSpinLabelingType", "PostLabelingDelay", "LabelingDuration", "BackgroundSuppression",
    "BolusCutOffFlag", "M0Type", "TotalAcquiredPairs", "RepetitionTimePreparation",
    "EchoTime1", "EchoTime2", "PhaseEncodingDirection", "TotalReadoutTime",
})
# ASL white paper (Alsop et al. 2015) recommendations for adult PCASL, used when the headers say nothing.
DEFAULT_PLD_S = 1.8
DEFAULT_LABELING_DURATION_S = 1.8
# dir label -> unit vector in DICOM patient space (LPS): the direction the phase encoding travels.
_DIR_VECTORS = {"AP": (0, 1, 0), "PA": (0, -1, 0), "RL": (1, 0, 0), "LR": (-1, 0, 0),
                "SI": (0, 0, -1), "IS": (0, 0, 1)}


def complete_sidecars(plan: Plan, converted_root: Path) -> list[Finding]:
    """Fill the missing required sidecar fields of every included series (see module doc).

    Mutates ``plan.series[*].metadata`` and ``plan.series[*].plan.messages``; returns warnings for
    estimates and for fields it could not fill (the validator would reject those).
    """
    findings: list[Finding] = []
    sessions: dict[tuple[str, str], list[SeriesEntry]] = defaultdict(list)
    included = [s for s in plan.series if not s.plan.exclude and s.plan.datatype and s.plan.suffix]
    for s in included:
        sessions[(s.subject, s.session)].append(s)
    by_id = plan.series_by_id()
    for entry in included:
        datatype, suffix = entry.plan.datatype, entry.plan.suffix
        members = sessions[(entry.subject, entry.session)]
        if datatype == "perf" and suffix == "asl":
            _complete_asl(entry, members, converted_root)
        if datatype == "perf":
            _fill(entry, "RepetitionTimePreparation", _number(entry.metadata.get("RepetitionTime")),
                  "from RepetitionTime", assumed=False)
        if datatype == "fmap" and suffix == "phasediff":
            findings += _complete_phasediff(entry, members, converted_root)
        if entry.plan.entities.get("dir"):
            _complete_pe_direction(entry)
        if datatype == "fmap" and suffix == "epi":
            findings += _complete_readout_time(entry, [by_id[t] for t in entry.intended_for if t in by_id])
    return findings


def sidecar_overrides(entry: SeriesEntry) -> dict[str, object]:
    """The completed keys of the entry's metadata, to overlay on each of its sidecars."""
    return {k: v for k, v in entry.metadata.items() if k in COMPLETED_KEYS and v is not None}


def asl_context(entry: SeriesEntry) -> list[str]:
    """The entry's per-volume ASL labels ([] when none were decided)."""
    value = entry.metadata.get(ASL_CONTEXT_KEY)
    return [str(v) for v in value] if isinstance(value, list) else []


def render_aslcontext(context: Iterable[str]) -> str:
    """``aslcontext.tsv`` text: a ``volume_type`` header then one label per volume."""
    labels = list(context)
    unknown = sorted(set(labels) - set(ASL_VOLUME_TYPES))
    if unknown:
        raise ValueError(f"unknown ASL volume types {unknown}; expected {', '.join(ASL_VOLUME_TYPES)}")
    return "\n".join(["volume_type", *labels]) + "\n"


# ---------------------------------------------------------------- helpers


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _fill(entry: SeriesEntry, key: str, value: object, why: str, *, assumed: bool) -> bool:
    """Set ``metadata[key]`` unless present; say so in the plan messages. True when it was set."""
    if key in entry.metadata and entry.metadata[key] is not None:
        return False
    if value is None:
        return False
    entry.metadata[key] = value
    prefix = "assumption: " if assumed else "sidecar: "
    edit = f" (edit metadata.{key} if wrong)" if assumed else ""
    entry.plan.messages.append(f"{prefix}{key} = {json.dumps(value)} {why}{edit}")
    return True


def _text(entry: SeriesEntry) -> str:
    parts = [entry.series_description, entry.protocol_name, entry.metadata.get("SequenceName"),
             entry.metadata.get("PulseSequenceDetails")]
    return " ".join(str(p) for p in parts if p).lower()


# ---------------------------------------------------------------- ASL


def _complete_asl(entry: SeriesEntry, members: list[SeriesEntry], converted_root: Path) -> None:
    text = _text(entry)
    if re.search(r"p-?casl", text):
        kind, why, assumed = "PCASL", "from the sequence name", False
    elif re.search(r"(?<![a-z])casl", text):
        kind, why, assumed = "CASL", "from the sequence name", False
    elif re.search(r"pasl|pulsar|fair|picore|q2tips", text):
        kind, why, assumed = "PASL", "from the sequence name", False
    else:
        kind, why, assumed = "PCASL", "(the ASL white paper's recommended labeling; not named in the headers)", True
    _fill(entry, "ArterialSpinLabelingType", kind, why, assumed=assumed)
    labeling = str(entry.metadata.get("ArterialSpinLabelingType", kind))

    inversion = _number(entry.metadata.get("InversionTime"))
    pld_match = re.search(r"pld[_\s-]?(\d{3,4})", text)
    if inversion is not None:
        _fill(entry, "PostLabelingDelay", inversion, "from InversionTime (as BIDS documents)", assumed=False)
    elif pld_match:
        _fill(entry, "PostLabelingDelay", int(pld_match.group(1)) / 1000.0, "from 'PLD' in the description",
              assumed=False)
    else:
        _fill(entry, "PostLabelingDelay", DEFAULT_PLD_S, "(ASL white paper default; not in the headers)",
              assumed=True)
    if labeling in ("PCASL", "CASL"):
        _fill(entry, "LabelingDuration", DEFAULT_LABELING_DURATION_S,
              "(ASL white paper default; not in the headers)", assumed=True)
    if labeling == "PASL":
        _fill(entry, "BolusCutOffFlag", False, "(no bolus cut-off recorded in the headers)", assumed=True)
    _fill(entry, "BackgroundSuppression", False, "(not recorded in the headers)", assumed=True)
    _fill(entry, "RepetitionTimePreparation", _number(entry.metadata.get("RepetitionTime")),
          "from RepetitionTime", assumed=False)

    context = asl_context(entry)
    if not context:
        context, why, assumed = _infer_context(entry, converted_root)
        entry.metadata[ASL_CONTEXT_KEY] = context
        entry.plan.messages.append(f"{'assumption: ' if assumed else ''}aslcontext.tsv: {len(context)} volumes "
                                   f"{_summarize(context)} {why} (edit metadata.{ASL_CONTEXT_KEY} if wrong)")
    if "m0scan" in context:
        m0type, why = "Included", "(an M0 volume is in the series)"
    elif any(m.plan.datatype == "perf" and m.plan.suffix == "m0scan" for m in members):
        m0type, why = "Separate", "(the session has an m0scan series)"
    else:
        m0type, why = "Absent", "(no M0 volume or m0scan series)"
    _fill(entry, "M0Type", m0type, why, assumed=False)
    pairs = min(context.count("control"), context.count("label")) or sum(c in ("deltam", "cbf") for c in context)
    _fill(entry, "TotalAcquiredPairs", max(pairs, 1), "from aslcontext", assumed=False)


def _summarize(context: list[str]) -> str:
    shown = ", ".join(context[:4]) + (", ..." if len(context) > 4 else "")
    return f"({shown})"


def _infer_context(entry: SeriesEntry, converted_root: Path) -> tuple[list[str], str, bool]:
    """Per-volume labels, the evidence, and whether it is an assumption.

    Labeling inverts inflowing blood, so label volumes are darker than control volumes by the
    perfusion signal (about 1 %): the alternating half with the lower mean in the brain is label.
    """
    volumes = _volume_means(entry, converted_root)
    n = len(volumes) if volumes is not None else int(_number(entry.metadata.get("NumVolumes")) or 1)
    if n == 1:
        kind = "cbf" if "cbf" in _text(entry) else "deltam"
        return [kind], f"(one volume: taken as {kind})", True
    lead: list[str] = []
    body = volumes
    if n % 2 == 1:
        lead = ["m0scan"]  # vendors that include M0 put it first
        body = volumes[1:] if volumes is not None else None
    if body is None or len(body) < 2:
        return lead + ["control", "label"] * ((n - len(lead)) // 2), "(alternating, control first; not measured)", True
    even, odd = float(np.mean(body[0::2])), float(np.mean(body[1::2]))
    first = "label" if even < odd else "control"
    second = "control" if first == "label" else "label"
    contrast = abs(even - odd) / max(abs(even), abs(odd), 1e-12)
    why = f"(alternating; the {'even' if first == 'label' else 'odd'} volumes are {100 * contrast:.2f} % darker)"
    return lead + [first, second] * (len(body) // 2), why, contrast < 1e-4


def _volume_means(entry: SeriesEntry, converted_root: Path) -> np.ndarray | None:
    """Mean of each volume over the voxels brighter than the overall mean (a rough brain mask)."""
    import nibabel as nib

    images = [f for f in entry.converted if f.endswith((".nii.gz", ".nii"))]
    if not images or not (converted_root / images[0]).is_file():
        return None
    image = nib.load(converted_root / images[0])
    data = np.asarray(image.dataobj, dtype=np.float32)  # type: ignore[attr-defined]
    if data.ndim < 4:
        return np.array([float(data.mean())])
    mean_image = data.mean(axis=3)
    mask = mean_image > mean_image.mean()
    if not mask.any():  # a flat image: every voxel counts
        mask = np.ones(mean_image.shape, dtype=bool)
    return np.asarray(data[mask].mean(axis=0), dtype=np.float64)


# ---------------------------------------------------------------- field maps


def _echo_times(entry: SeriesEntry, converted_root: Path) -> list[float]:
    """Every EchoTime (s) of the series' converted sidecars (one per echo), plus its metadata's."""
    times = {t for t in [_number(entry.metadata.get("EchoTime"))] if t is not None}
    for rel in entry.converted:
        if rel.endswith(".json") and (converted_root / rel).is_file():
            value = _number(json.loads((converted_root / rel).read_text()).get("EchoTime"))
            if value is not None:
                times.add(value)
    return sorted(times)


def _complete_phasediff(entry: SeriesEntry, members: list[SeriesEntry], converted_root: Path) -> list[Finding]:
    if "EchoTime1" in entry.metadata and "EchoTime2" in entry.metadata:
        return []
    magnitudes = [m for m in members
                  if m.plan.datatype == "fmap" and re.fullmatch(r"magnitude[12]?", m.plan.suffix or "")]
    # The magnitude series of the same acquisition: the nearest series number (Siemens writes it just before).
    magnitudes.sort(key=lambda m: (abs(m.series_number - entry.series_number), m.series_number > entry.series_number))
    own = _number(entry.metadata.get("EchoTime"))
    for magnitude in magnitudes:
        times = _echo_times(magnitude, converted_root)
        if len(times) < 2 and own is not None and times and abs(times[0] - own) > 1e-6:
            times = sorted({times[0], own})
        if len(times) >= 2:
            why = f"from the echo times of series {magnitude.series_number} '{magnitude.series_description}'"
            _fill(entry, "EchoTime1", times[0], why, assumed=False)
            _fill(entry, "EchoTime2", times[-1], why, assumed=False)
            return []
    return [Finding(level=Level.WARNING, series_id=entry.series_id,
                    message="phasediff field map without EchoTime1/EchoTime2 and no magnitude series with two echo "
                            "times in its session: add them to metadata or exclude it")]


def _complete_pe_direction(entry: SeriesEntry) -> None:
    """``PhaseEncodingDirection`` from the dir label, the phase-encoding axis and the slice orientation.

    dcm2niix keeps DICOM's row axis as NIfTI i and flips the column axis into NIfTI j, so i points
    along the row cosine and j against the column cosine (this matches what dcm2niix reports for
    Siemens and GE, which store the polarity).
    """
    if entry.metadata.get("PhaseEncodingDirection"):
        return
    vector = _DIR_VECTORS.get(str(entry.plan.entities.get("dir", "")).upper())
    orientation = entry.metadata.get("ImageOrientationPatientDICOM")
    axis = str(entry.metadata.get("InPlanePhaseEncodingDirectionDICOM", "")).upper()
    if not axis:
        axis = {"i": "ROW", "j": "COL"}.get(str(entry.metadata.get("PhaseEncodingAxis", "")), "")
    if vector is None or axis not in ("ROW", "COL") or not isinstance(orientation, list) or len(orientation) != 6:
        return
    cosines = np.asarray([float(c) for c in orientation]).reshape(2, 3)
    nifti_axis = cosines[0] if axis == "ROW" else -cosines[1]
    dot = float(nifti_axis @ np.asarray(vector, dtype=float))
    if abs(dot) < 0.5:
        return  # the dir label is not along the phase-encoding axis: leave it to a person
    letter = "i" if axis == "ROW" else "j"
    value = letter if dot > 0 else f"{letter}-"
    _fill(entry, "PhaseEncodingDirection", value,
          f"from dir-{entry.plan.entities['dir']}, the {axis} phase-encoding axis and the slice orientation"
          " (the headers store no polarity)", assumed=True)


def _complete_readout_time(entry: SeriesEntry, targets: list[SeriesEntry]) -> list[Finding]:
    meta = entry.metadata
    if _number(meta.get("TotalReadoutTime")) is not None or _number(meta.get("EffectiveEchoSpacing")) is not None:
        return []  # the validator accepts either
    lines = _number(meta.get("ReconMatrixPE")) or _number(meta.get("AcquisitionMatrixPE"))
    bwpppe = _number(meta.get("BandwidthPerPixelPhaseEncode"))
    if bwpppe and lines:
        # dcm2niix's formula: EffectiveEchoSpacing = 1 / (BWPPPE * lines); TRT = EES * (lines - 1).
        _fill(entry, "TotalReadoutTime", round((lines - 1) / (bwpppe * lines), 7),
              "from BandwidthPerPixelPhaseEncode", assumed=False)
        return []
    estimated = _number(meta.get("EstimatedTotalReadoutTime"))
    if estimated:
        _fill(entry, "TotalReadoutTime", estimated, "from dcm2niix's estimate (Philips water-fat shift)",
              assumed=True)
        return []
    for target in targets:
        value = _number(target.metadata.get("TotalReadoutTime"))
        same = all(target.metadata.get(k) == meta.get(k)
                   for k in ("ReconMatrixPE", "InPlanePhaseEncodingDirectionDICOM"))
        if value and same:
            _fill(entry, "TotalReadoutTime", value, f"from series {target.series_number} it corrects "
                  "(same phase-encoding matrix)", assumed=True)
            return []
    bandwidth = _number(meta.get("PixelBandwidth"))
    if bandwidth and lines:
        # Each EPI line is read in at least 1 / PixelBandwidth s (no ramp time, no in-plane acceleration known).
        acceleration = _number(meta.get("ParallelReductionFactorInPlane")) or 1.0
        value = round((lines / acceleration - 1) / bandwidth, 7)
        _fill(entry, "TotalReadoutTime", value, "estimated from PixelBandwidth (a lower bound: the headers carry "
              "no echo spacing)", assumed=True)
        return [Finding(level=Level.WARNING, series_id=entry.series_id,
                        message=f"TotalReadoutTime {value} s of field map {entry.series_id} is an estimate from "
                                "PixelBandwidth; replace it with the scanner's value (metadata.TotalReadoutTime)")]
    return [Finding(level=Level.WARNING, series_id=entry.series_id,
                    message="EPI field map without TotalReadoutTime or EffectiveEchoSpacing: add one to metadata")]

