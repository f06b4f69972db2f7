"""Write one session's series as classic MR Image Storage DICOM: one file per slice (per volume,
per echo), with the headers a scanner writes and dcm2niix reads.

Files land in a PACS-export layout: ``DICOM/<PatientID>/<StudyDate>_<accession>/
<SeriesNumber>_<description>/IM0001``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from tessera.bids.corpus.csa import CsaValue, csa_header
from tessera.bids.corpus.headers import SCANNER
from tessera.bids.corpus.manifest import OutputTruth, SeriesTruth
from tessera.bids.corpus.protocol import SeriesSpec
from tessera.bids.corpus.volumes import Geometry, Tissues, contrast_volume, sample

# Expected BIDS PhaseEncodingDirection for axial slices (rows run A->P): 'AP' phase encoding runs
# toward posterior, which is -j once dcm2niix flips the rows into NIfTI (j increasing anteriorly).
EXPECTED_PE = {"AP": "j-", "PA": "j", "RL": "i", "LR": "i-"}
# Phase images: Siemens stores -pi..pi as 0..4095 with slope 2, intercept -4096.
_PHASE_SLOPE, _PHASE_INTERCEPT = 2.0, -4096.0


@dataclass(frozen=True)
class Patient:
    """Identifying header values; fake but realistic so de-identification can be tested."""

    name: str  # DICOM PN, 'FAMILY^GIVEN'
    patient_id: str
    birth_date: str  # YYYYMMDD
    sex: str
    weight_kg: float
    address: str


@dataclass(frozen=True)
class Study:
    subject: str  # BIDS label
    session: str
    vendor: str
    date: dt.date
    start: dt.datetime
    study_uid: str
    accession: str
    frame_uid: str = ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:40]


def _pixels(spec: SeriesSpec, tissues: Tissues, rng: np.random.Generator) -> tuple[NDArray[np.uint16], float, float]:
    """Stored pixel values, shape (volumes, echoes, slices, rows, cols), and (slope, intercept)."""
    geoms = spec.geometry if isinstance(spec.geometry, list) else [spec.geometry]
    n_v = spec.n_volumes
    if spec.contrast == "phasediff":
        g = geoms[0]
        pos = g.slice_positions()[:, None, None, :] + (
            np.arange(g.rows)[:, None, None] * g.pixel_spacing * g.col_dir
            + np.arange(g.cols)[None, :, None] * g.pixel_spacing * g.row_dir)[None]
        # A smooth off-resonance bump over the frontal sinus (Hz), wrapped over the TE difference (s).
        hz = 20.0 + 80.0 * np.exp(-((pos[..., 1] + 60.0) ** 2 + (pos[..., 2] + 10.0) ** 2) / (2 * 30.0**2))
        phase = np.angle(np.exp(2j * np.pi * hz * 2.46e-3))
        stored = (phase + np.pi) / (2 * np.pi) * 4095.0
        return stored[None, None].astype(np.uint16), _PHASE_SLOPE, _PHASE_INTERCEPT
    if spec.contrast in ("adc", "fa", "dwi"):
        adc = np.concatenate([sample(contrast_volume(tissues, "adc"), tissues, g) for g in geoms])
        if spec.contrast == "adc":
            return np.round(adc * 1e6)[None, None].clip(0, 4095).astype(np.uint16), 1.0, 0.0  # 10^-6 mm^2/s
        wm = np.concatenate([sample(tissues.wm, tissues, g) for g in geoms])
        if spec.contrast == "fa":
            return np.round(1000 * (0.1 + 0.55 * wm) * (adc > 0))[None, None].astype(np.uint16), 1.0, 0.0
        base = np.concatenate([sample(contrast_volume(tissues, "T2w"), tissues, g) for g in geoms])
        vols = []
        for b, vec in zip(spec.bvals, spec.bvecs, strict=True):
            # Crude anisotropy: white matter diffuses faster along x (left-right fibres).
            d = adc * (1.0 + 0.6 * wm * (vec[0] ** 2 - 1.0 / 3.0))
            vols.append(base * np.exp(-b * d))
        data = np.stack(vols)[:, None] * 1500.0
    else:
        base = np.concatenate([sample(contrast_volume(tissues, spec.contrast), tissues, g) for g in geoms]) * 1000.0
        # T2* decay across echoes; small signal drift and a +/-1 % label effect across volumes.
        echo_w = np.exp(-np.array(spec.echo_times_ms) / 45.0) / np.exp(-spec.echo_times_ms[0] / 45.0)
        vol_w = 1.0 + 0.003 * np.arange(n_v)
        if spec.asl_context:
            vol_w = vol_w - 0.01 * np.array([c == "label" for c in spec.asl_context])
        data = base[None, None] * echo_w[None, :, None, None, None] * vol_w[:, None, None, None, None]
    noise = rng.normal(0.0, 8.0, size=data.shape) + 1j * rng.normal(0.0, 8.0, size=data.shape)
    return np.abs(data + noise).clip(0, 4095).astype(np.uint16), 1.0, 0.0


def _series_dataset(spec: SeriesSpec, patient: Patient, study: Study, series_uid: str, start: dt.datetime) -> Dataset:
    """Elements shared by every file of the series (never mutated per file: see write_series)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = list(spec.naming.image_type)
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.date.strftime("%Y%m%d")
    ds.StudyTime = study.start.strftime("%H%M%S.%f")
    ds.SeriesTime = start.strftime("%H%M%S.%f")
    ds.AccessionNumber = study.accession
    ds.Modality = "MR"
    for key, value in SCANNER[study.vendor].items():
        setattr(ds, key, value)
    ds.InstitutionAddress = "12 Harbour Road, Springfield"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.OperatorsName = "TECH^ALEX"
    ds.StudyDescription = "Research^Neuro" if study.vendor == "siemens" else "BRAIN RESEARCH"
    ds.SeriesDescription = spec.naming.description
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    age = (study.date - dt.datetime.strptime(patient.birth_date, "%Y%m%d").date()).days // 365
    ds.PatientAge = f"{age:03d}Y"
    ds.PatientWeight = patient.weight_kg
    ds.PatientAddress = patient.address
    ds.BodyPartExamined = "BRAIN"
    ds.ScanningSequence = spec.naming.scanning_sequence
    ds.SequenceVariant = spec.naming.sequence_variant
    ds.ScanOptions = spec.naming.scan_options
    ds.MRAcquisitionType = spec.acquisition_type
    ds.SequenceName = spec.naming.sequence_name
    ds.RepetitionTime = spec.tr_ms
    if spec.ti_ms is not None:
        ds.InversionTime = spec.ti_ms
    ds.FlipAngle = spec.flip_deg
    ds.MagneticFieldStrength = 3
    ds.ImagingFrequency = 123.25
    ds.ImagedNucleus = "1H"
    ds.ProtocolName = spec.naming.protocol
    ds.PatientPosition = "HFS"
    g = spec.geometry if isinstance(spec.geometry, Geometry) else spec.geometry[0]
    ds.SliceThickness = g.slice_thickness
    ds.SpacingBetweenSlices = g.slice_thickness
    ds.PixelSpacing = [g.pixel_spacing, g.pixel_spacing]
    ds.AcquisitionMatrix = [0, g.cols, g.rows, 0] if spec.pe_axis == "COL" else [g.cols, 0, 0, g.rows]
    ds.InPlanePhaseEncodingDirection = spec.pe_axis
    ds.PercentPhaseFieldOfView = 100
    ds.PixelBandwidth = 2232 if spec.contrast in ("bold", "dwi") else 240
    if spec.pe_dir and study.vendor == "ge":
        # GE keeps the polarity in the standard tag (dcm2niix reads it); Siemens in CSA, Philips nowhere.
        ds.RectilinearPhaseEncodeReordering = "REVERSE_LINEAR" if spec.pe_dir in ("AP", "LR") else "LINEAR"
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study.accession[-4:]
    ds.SeriesNumber = spec.series_number
    ds.FrameOfReferenceUID = study.frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = g.rows, g.cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if spec.n_volumes > 1:
        ds.NumberOfTemporalPositions = spec.n_volumes
    return ds


def write_series(root: Path, spec: SeriesSpec, patient: Patient, study: Study, start: dt.datetime,
                 tissues: Tissues, rng: np.random.Generator) -> SeriesTruth:
    """Write every file of ``spec`` under ``root`` and return its ground truth."""
    vendor = study.vendor
    series_uid = generate_uid()
    rel = Path("DICOM", patient.patient_id, f"{study.date:%Y%m%d}_{study.accession}",
               f"{spec.series_number:04d}_{_safe(spec.naming.description)}")
    folder = root / rel
    folder.mkdir(parents=True, exist_ok=True)
    pixels, slope, intercept = _pixels(spec, tissues, rng)
    base = _series_dataset(spec, patient, study, series_uid, start)
    geoms = spec.geometry if isinstance(spec.geometry, list) else [spec.geometry]
    planes = [(g, pos) for g in geoms for pos in g.slice_positions()]
    tr_s = spec.tr_ms / 1000.0
    instance = 0
    for v in range(pixels.shape[0]):
        for e in range(pixels.shape[1]):
            for k, (g, pos) in enumerate(planes):
                instance += 1
                ds = Dataset()
                for elem in base:  # shared, never mutated: per-file tags are all new elements below
                    ds.add(elem)
                sop_uid = generate_uid()
                ds.SOPInstanceUID = sop_uid
                t_acq = start + dt.timedelta(seconds=v * tr_s + (spec.slice_times_s[k] if spec.slice_times_s else 0.0))
                ds.AcquisitionTime = ds.ContentTime = t_acq.strftime("%H%M%S.%f")
                ds.EchoTime = spec.echo_times_ms[e]
                ds.EchoNumbers = e + 1
                ds.AcquisitionNumber = v + 1
                ds.InstanceNumber = instance
                ds.ImagePositionPatient = [round(float(x), 4) for x in pos]
                ds.ImageOrientationPatient = g.orientation_patient
                ds.SliceLocation = round(float(pos @ g.normal), 4)
                if spec.n_volumes > 1:
                    ds.TemporalPositionIdentifier = v + 1
                if spec.slice_times_s and vendor == "ge":
                    ds.TriggerTime = round(spec.slice_times_s[k] * 1000.0, 2)  # GE: slice time in ms
                if spec.bvals:
                    b, vec = spec.bvals[v], spec.bvecs[v]
                    ds.DiffusionBValue = b
                    ds.DiffusionGradientOrientation = list(vec)
                    ds.DiffusionDirectionality = "DIRECTIONAL" if b > 0 else "NONE"
                if slope != 1.0 or intercept != 0.0:
                    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
                    ds.RescaleType = "US"
                if vendor == "siemens":
                    _siemens_private(ds, spec, g, v)
                ds.PixelData = np.ascontiguousarray(pixels[v, e, k]).tobytes()
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = MRImageStorage
                meta.MediaStorageSOPInstanceUID = sop_uid
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
                ds.file_meta = meta
                ds.save_as(folder / f"IM{instance:04d}", enforce_file_format=True)
    truth = SeriesTruth(
        subject=study.subject, session=study.session, vendor=vendor, patient_id=patient.patient_id,
        study_uid=study.study_uid, series_uid=series_uid, series_number=spec.series_number,
        description=spec.naming.description, protocol_name=spec.naming.protocol, kind=spec.kind,
        datatype=None if spec.exclude_reason else spec.datatype, suffix=None if spec.exclude_reason else spec.suffix,
        entities=dict(spec.entities), exclude=bool(spec.exclude_reason), reason=spec.exclude_reason,
        path=rel.as_posix(), n_files=instance, n_volumes=spec.n_volumes, echo_times=list(spec.echo_times_ms),
        outputs=[OutputTruth(echo=e, suffix=s, entities=ents) for e, s, ents in spec.outputs],
        phase_encoding=spec.pe_dir,
        expected_pe=EXPECTED_PE.get(spec.pe_dir, "") if vendor != "philips" else "",
        bvals=list(spec.bvals), asl_context=list(spec.asl_context),
    )
    return truth


def _siemens_private(ds: Dataset, spec: SeriesSpec, g: Geometry, volume: int) -> None:
    """Siemens private groups: (0019,xx) 'SIEMENS MR HEADER' diffusion fields and the CSA image header."""
    tags: dict[str, CsaValue] = {"SliceNormalVector": [float(x) for x in g.normal]}
    if spec.pe_dir:
        # Calibrated against dcm2niix: AP (the usual EPI choice) is Positive=1 -> "j-".
        tags["PhaseEncodingDirectionPositive"] = 1 if spec.pe_dir in ("AP", "RL") else 0
    mr = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    if spec.bvals:
        b, vec = spec.bvals[volume], spec.bvecs[volume]
        tags["B_value"] = int(b)
        tags["DiffusionDirectionality"] = "DIRECTIONAL" if b > 0 else "NONE"
        mr.add_new(0x0C, "IS", int(b))
        if b > 0:
            tags["DiffusionGradientDirection"] = list(vec)
            mr.add_new(0x0E, "FD", list(vec))
    if spec.contrast in ("bold", "dwi"):
        mr.add_new(0x28, "FD", 28.7)  # BandwidthPerPixelPhaseEncode
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x08, "CS", "IMAGE NUM 4")
    csa.add_new(0x10, "OB", csa_header(tags))
