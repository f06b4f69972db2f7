"""Header view and keyword vocabulary for series inference (used by :mod:`tessera.bids.infer`).

:class:`Header` reads one dcm2niix sidecar (plus the service's ``NumVolumes``, ``BValues`` and
``Modality``) into typed fields with the units people reason in (milliseconds for TE/TR/TI), and
tokenises SeriesDescription/ProtocolName so that keywords can be matched whole ("ap", "pd", "post")
or as substrings ("fieldmap", "mprage"). The vocabulary below is vendor conventions written down:
Siemens (tfl/MPRAGE, SPACE, tirm, ep2d_bold, ep2d_diff, gre_field_mapping, AAHead_Scout), GE
(BRAVO/IR-FSPGR, CUBE, FSE/FRFSE/PROPELLER, SWAN, 3-plane localisers, ASSET calibration), Philips
(TFE, TSE, VISTA, FFE, FE_EPI, Survey/SmartBrain/SENSE reference), plus a few non-English words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

# Whole-token keywords. Normalised text is lower case, every run of non-alphanumerics is '_'.
LOCALIZER_TOKENS = frozenset({"localizer", "localiser", "lokalisator", "localisateur", "localizador", "scout",
                              "survey", "loc", "3plane", "3pl", "smartbrain", "smartexam", "coilsurvey",
                              "calibration", "cal", "ref", "reference", "autoalign", "aahead"})
LOCALIZER_SUBSTRINGS = ("localizer", "localiser", "scout", "survey", "sense_ref", "3_pl_", "asset_cal")
DERIVED_IMAGE_TYPES = frozenset({"ADC", "EADC", "FA", "TRACEW", "TRACE", "ISOTROPIC", "MPR", "MIP", "MINIP", "MNIP",
                                 "MOCO", "CBF", "RELCBF", "ATT", "SUBTRACTION", "PERFUSION", "REFORMATTED",
                                 "SCREEN SAVE", "SWI_COMBINED", "T1 MAP", "T2 MAP", "TENSOR", "COLFA"})
# "mpr" is not here: Siemens calls original MPRAGE series "t1_mpr_*"; MPR reformats say so in ImageType.
DERIVED_TOKENS = frozenset({"adc", "fa", "colfa", "tracew", "mocoseries", "mip", "minip", "cbf", "relcbf", "tensor",
                            "reformatted", "isotropic", "eadc"})
#: Combined multi-echo/multi-channel images a person uses as the primary image despite DERIVED.
KEEP_DERIVED_TOKENS = frozenset({"rms"})
NON_IMAGING_IMAGE_TYPES = frozenset({"PHYSIO", "RAWDATA", "SPECTROSCOPY", "CSA REPORT", "SCREEN SAVE"})
NON_IMAGING_TOKENS = frozenset({"physiolog", "svs", "csi", "spectroscopy", "mrs", "examcard", "dose",
                                "protocol", "tof", "mra", "angio"})

REST_WORDS = frozenset({"rest", "resting", "rs", "rsfmri", "rfmri", "ruhe", "repos", "rust", "riposo", "reposo"})
#: Tokens that say "functional EPI" and carry no task name.
FUNC_TOKENS = frozenset({"bold", "fmri", "rfmri", "tfmri", "rsfmri", "irmf", "fmrt", "epi", "fe", "ep2d",
                         "mbep2d", "epfid", "func"})
TASK_STOP_TOKENS = FUNC_TOKENS | frozenset({
    "task", "taak", "aufgabe", "tache", "moco", "cmrr", "mb", "me", "multiecho", "sense", "wip", "sbref",
    "ap", "pa", "lr", "rl", "si", "is", "ax", "sag", "cor", "tra", "state", "phases", "dummy", "run", "s",
    "asset", "hyperband", "iso", "mm", "p2", "ipat", "grappa", "pace", "psf", "fmap", "fieldmap", "sms"})
DWI_TOKENS = frozenset({"dwi", "dti", "diff", "dmri", "hardi", "diffusion", "multishell", "mddw", "dsi", "noddi"})
SBREF_TOKENS = frozenset({"sbref", "singleband"})
EPI_FMAP_TOKENS = frozenset({"topup", "distortion", "pepolar", "revpe", "reversed", "reverse", "rev", "blipup",
                             "blipdown", "fmap", "fieldmap", "spinechofieldmap"})
EPI_FMAP_SUBSTRINGS = ("topup", "spinecho", "fieldmap", "field_map", "se_epi", "sefmap", "distortion", "pepolar")
GRE_FMAP_SUBSTRINGS = ("field_mapping", "fieldmap", "field_map", "b0map", "b0_map", "b0_dual", "dual_te",
                       "grefieldmap", "fm2d", "phasediff", "phase_diff")
ASL_TOKENS = frozenset({"asl", "pcasl", "pasl", "casl", "easl", "pulsar", "fair", "tgse_pcasl"})
ASL_SUBSTRINGS = ("pcasl", "pasl", "_asl", "asl_", "arterial_spin")
M0_TOKENS = frozenset({"m0", "m0scan", "pd_ref"})
CONTRAST_TOKENS = frozenset({"post", "gad", "gado", "gd", "km", "contrast", "contraste", "kontrast", "postgd",
                             "postcontrast", "gadolinium", "ce", "kmgabe"})
T1_TOKENS = frozenset({"t1", "t1w", "mprage", "mpr", "mp", "rage", "memprage", "bravo", "fspgr", "spgr", "tfe",
                       "tfl", "tfl3d", "3dt1", "ir"})
T2_TOKENS = frozenset({"t2", "t2w", "space", "spc", "cube", "tse", "fse", "frfse", "propeller", "vista", "blade"})
FLAIR_TOKENS = frozenset({"flair", "tirm", "dark", "fluid", "darkfluid"})
T2STAR_TOKENS = frozenset({"t2star", "t2starw", "swi", "swan", "swip", "qsm", "hemo", "megre", "gre", "ffe", "mffe",
                           "fl2d", "fl3d", "t2s"})
PD_TOKENS = frozenset({"pd", "pdw", "dp", "proton"})
MAG_TOKENS = frozenset({"mag", "magnitude"})

DIRECTION_TOKENS = {"ap": "AP", "pa": "PA", "lr": "LR", "rl": "RL", "si": "SI", "is": "IS"}
#: dcm2niix PhaseEncodingDirection (voxel axis + polarity) -> BIDS dir label, for the usual axial
#: dcm2niix orientation (j runs posterior->anterior, i left->right). Same convention as ezBIDS.
PE_TO_DIR = {"j": "PA", "j-": "AP", "i": "LR", "i-": "RL", "k": "IS", "k-": "SI"}


def normalise(text: str) -> str:
    """Lower case, '+C'/'C+' spelled 'plusc', every run of non-alphanumerics '_', wrapped in '_'."""
    lowered = text.lower().replace("+c", "_plusc_").replace("c+", "_plusc_").replace("*", "star")
    return "_" + re.sub(r"[^a-z0-9]+", "_", lowered).strip("_") + "_"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text_list(value: Any, separators: str = r"[\\/,]") -> list[str]:
    """A DICOM multi-value as a list: JSON list, or a string joined by backslashes (or ``separators``)."""
    if isinstance(value, str):
        return [part for part in re.split(separators, value) if part]
    if isinstance(value, list | tuple):
        return [str(part) for part in value]
    return []


@dataclass
class Header:
    """One series' sidecar, typed. Times in milliseconds; ``None`` where the sidecar lacks them."""

    number: str
    description: str
    protocol: str
    modality: str
    manufacturer: str
    image_type: list[str]
    scanning_sequence: list[str]
    sequence_name: str
    acquisition_3d: bool
    te_ms: float | None
    tr_ms: float | None
    ti_ms: float | None
    volumes: int
    bvalues: list[float]
    phase_encoding: str
    echo_number: int | None
    norm_desc: str = ""
    norm_all: str = ""
    desc_tokens: list[str] = field(default_factory=list)
    tokens: frozenset[str] = frozenset()

    @classmethod
    def read(cls, metadata: dict[str, Any]) -> Header:
        """Build from a dcm2niix sidecar dict (EchoTime etc. in seconds, as dcm2niix writes them)."""

        def ms(key: str) -> float | None:
            seconds = _number(metadata.get(key))
            return None if seconds is None or seconds <= 0 else seconds * 1000.0

        description = str(metadata.get("SeriesDescription") or "")
        protocol = str(metadata.get("ProtocolName") or "")
        bvalues = [b for b in (_number(v) for v in (metadata.get("BValues") or [])) if b is not None]
        volumes = _number(metadata.get("NumVolumes"))
        echo = _number(metadata.get("EchoNumber"))
        header = cls(
            number=str(metadata.get("SeriesNumber", "?")),
            description=description,
            protocol=protocol,
            modality=str(metadata.get("Modality") or "MR").upper(),
            manufacturer=str(metadata.get("Manufacturer") or ""),
            image_type=[part.upper() for part in _text_list(metadata.get("ImageType"))],
            # dcm2niix joins ScanningSequence with '_' ("GR_IR"); DICOM with '\\'.
            scanning_sequence=[part.upper() for part in _text_list(metadata.get("ScanningSequence"), r"[\\/,_ ]")],
            sequence_name=str(metadata.get("SequenceName") or metadata.get("PulseSequenceName") or "").lower(),
            acquisition_3d=str(metadata.get("MRAcquisitionType") or "").upper() == "3D",
            te_ms=ms("EchoTime"),
            tr_ms=ms("RepetitionTime"),
            ti_ms=ms("InversionTime"),
            volumes=int(volumes) if volumes and volumes > 0 else 1,
            bvalues=bvalues,
            phase_encoding=str(metadata.get("PhaseEncodingDirection") or ""),
            echo_number=int(echo) if echo is not None and echo >= 1 else None,
        )
        header.norm_desc = normalise(description)
        header.norm_all = normalise(f"{description} {protocol}")
        header.desc_tokens = [t for t in header.norm_desc.split("_") if t]
        header.tokens = frozenset(t for t in header.norm_all.split("_") if t)
        return header

    # --- keyword helpers ---------------------------------------------------------------------
    def has_token(self, vocabulary: frozenset[str]) -> bool:
        return not self.tokens.isdisjoint(vocabulary)

    def has_substring(self, substrings: tuple[str, ...]) -> bool:
        return any(s in self.norm_all for s in substrings)

    def image_type_has(self, *values: str) -> bool:
        return any(v in self.image_type for v in values)

    # --- physics helpers ---------------------------------------------------------------------
    @property
    def is_epi(self) -> bool:
        """Echo-planar readout: ScanningSequence EP, a vendor EPI sequence name, or EPI/BOLD words."""
        return ("EP" in self.scanning_sequence or self.sequence_name.lstrip("*").startswith(("ep", "epi"))
                or self.has_token(frozenset({"epi", "ep2d", "bold", "fmri", "mbep2d", "feepi"})))

    @property
    def is_gradient_echo(self) -> bool:
        return "GR" in self.scanning_sequence and "SE" not in self.scanning_sequence

    @property
    def is_inversion_recovery(self) -> bool:
        return "IR" in self.scanning_sequence or self.ti_ms is not None

    @property
    def max_bvalue(self) -> float | None:
        return max(self.bvalues) if self.bvalues else None

    @property
    def is_phase(self) -> bool:
        """ImageType marks a phase image (Siemens 'P', GE/Philips 'PHASE', Philips 'P_FFE'/'PHASE MAP')."""
        return any(v in ("P", "PHASE", "PHASE MAP") or v.startswith("P_") for v in self.image_type)
