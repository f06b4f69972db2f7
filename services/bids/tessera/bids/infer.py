"""Infer one series' BIDS datatype, suffix and entities from its dcm2niix sidecar (ezBIDS-style).

``infer_series(metadata) -> SeriesPlan`` is pure: no I/O, no state, the same dict gives the same
plan. ``metadata`` is a dcm2niix sidecar (EchoTime/RepetitionTime/InversionTime in seconds) plus the
service's ``NumVolumes`` (4th NIfTI dimension), ``BValues`` (from the .bval) and ``Modality``.

Rule order, and why (first match wins):

1. Exclusions, most certain first. Non-MR modality (CT/PT/SR/OT captures) -> localisers/scouts/
   calibration/survey scans (named by convention; some are multi-volume EPI-like so they must go
   before any physics rule) -> non-imaging series (physio logs, spectroscopy, angiography we have
   no suffix for) -> derived images (ImageType DERIVED, or ADC/FA/TRACEW/MPR/MIP/MOCO/CBF in
   ImageType or name). A DERIVED 'RMS' combination (MEMPRAGE) is kept: it is the image people use.
2. Perfusion (ASL in ImageType or the name): ASL series are EPI time series and would otherwise be
   called BOLD. An 'M0' name makes it m0scan.
3. Diffusion: b-values decide. b > 0 -> dwi; b0-only with SBRef in the name -> dwi/sbref; b0-only
   with few volumes -> fmap/epi (reverse-PE b0s taken with the diffusion sequence). Without a .bval
   the name (DTI/DWI/HARDI...) plus an EPI time series still gives dwi, with lower confidence.
4. GRE field maps (gre_field_mapping, B0 dual-TE, fm2d): EchoNumber and ImageType M/P give
   magnitude1/2, phase1/2 or phasediff (Siemens stores the phase difference as the echo-2 phase).
5. EPI: spin-echo EPI or fieldmap/topup-named EPI with <= 10 volumes -> fmap/epi; SBRef or a single
   volume -> sbref; more volumes -> bold. Philips FE_EPI says 'GR', so an EPI is also recognised by
   its name or by a T2*-weighted time series (>= 10 volumes, TE 15-70 ms, TR 0.3-6 s).
6. Anatomy from timing (TE/TR/TI), with the name as a hint: timing wins when both speak and
   disagree (GE 'T1 FLAIR' is T1-weighted), the name decides only when timing is missing/ambiguous.
7. Anything else is excluded as 'not recognised' so that an unattended finalize writes only
   series it understood; the message asks a person to set it by hand.

Entities come from the series alone: task (func only; from 'task-X' or the words left after
removing EPI/BOLD vocabulary, rest synonyms in several languages -> 'rest'), acq (explicit 'acq-X'),
ce (anat with '+C', 'post', 'Gd', 'KM'...), dir (fmap/epi always when known; func/dwi/perf only when
the name states a direction; value from PhaseEncodingDirection when present), echo (multi-echo),
part (phase from ImageType; mag when the name says magnitude).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tessera.bids.model import ENTITY_ORDER, SUFFIXES, SeriesPlan
from tessera.bids.rules import (
    ASL_SUBSTRINGS,
    ASL_TOKENS,
    DERIVED_IMAGE_TYPES,
    DERIVED_TOKENS,
    DIRECTION_TOKENS,
    DWI_TOKENS,
    EPI_FMAP_SUBSTRINGS,
    EPI_FMAP_TOKENS,
    FLAIR_TOKENS,
    FUNC_TOKENS,
    GRE_FMAP_SUBSTRINGS,
    KEEP_DERIVED_TOKENS,
    LOCALIZER_SUBSTRINGS,
    LOCALIZER_TOKENS,
    M0_TOKENS,
    MAG_TOKENS,
    NON_IMAGING_IMAGE_TYPES,
    NON_IMAGING_TOKENS,
    PD_TOKENS,
    PE_TO_DIR,
    REST_WORDS,
    SBREF_TOKENS,
    T1_TOKENS,
    T2_TOKENS,
    T2STAR_TOKENS,
    TASK_STOP_TOKENS,
    Header,
)
from tessera.bids.rules import CONTRAST_TOKENS as _CE_TOKENS

#: Most volumes a reverse-PE / spin-echo EPI field map has (HCP: 3; vendors: 1-6).
MAX_FMAP_VOLUMES = 10
_MULTI_ECHO = re.compile(r"^(me\d*|multiecho|megre|mffe|mecho|me_?bold)$")
_TASK_NOISE = re.compile(r"^(run|me|mb|s|p|e|r|v|dir|b)?\d+[a-z]?$")


@dataclass
class Decision:
    """A classification before entities: ``None`` datatype with ``exclude`` means 'leave it out'."""

    datatype: str | None
    suffix: str | None
    summary: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    exclude: bool = False


def infer_series(metadata: dict[str, Any]) -> SeriesPlan:
    """Decide datatype, suffix, series-level entities, exclusion, confidence and messages for one series."""
    header = Header.read(metadata)
    decision = classify(header)
    if decision.exclude:
        first = f"series {header.number} '{header.description}' -> excluded: {decision.summary}"
        return SeriesPlan(exclude=True, confidence=decision.confidence, messages=[first, *decision.evidence])
    assert decision.datatype is not None and decision.suffix is not None
    assert decision.suffix in SUFFIXES[decision.datatype], (decision.datatype, decision.suffix)
    entities, notes, penalty = infer_entities(header, decision.datatype, decision.suffix)
    stem = "_".join([*(f"{key}-{entities[key]}" for key in ENTITY_ORDER if key in entities), decision.suffix])
    first = f"series {header.number} '{header.description}' -> {decision.datatype}/{stem}: {decision.summary}"
    return SeriesPlan(
        datatype=decision.datatype,
        suffix=decision.suffix,
        entities=entities,
        confidence=round(max(0.05, decision.confidence - penalty), 2),
        messages=[first, *decision.evidence, *notes],
    )


def classify(h: Header) -> Decision:
    """Apply the rule families in the order the module docstring gives."""
    for rule in (_exclusion, _perfusion, _diffusion, _gre_fieldmap, _epi, _anatomical):
        decision = rule(h)
        if decision is not None:
            return decision
    return Decision(None, None, "not recognised; set datatype and suffix by hand", 0.3, [_timing(h)], exclude=True)


# --- 1. exclusions -----------------------------------------------------------------------------
def _exclusion(h: Header) -> Decision | None:
    if h.modality != "MR":
        return Decision(None, None, f"modality {h.modality} is not MR", 0.99, exclude=True)
    desc_tokens = set(h.desc_tokens) or set(h.tokens)
    if not desc_tokens.isdisjoint(LOCALIZER_TOKENS) or any(s in h.norm_desc for s in LOCALIZER_SUBSTRINGS):
        return Decision(None, None, "localizer/scout/calibration scan", 0.95,
                        ["the name marks a positioning or calibration scan"], exclude=True)
    non_imaging = [v for v in h.image_type if v in NON_IMAGING_IMAGE_TYPES]
    if non_imaging or not desc_tokens.isdisjoint(NON_IMAGING_TOKENS):
        what = non_imaging[0] if non_imaging else sorted(desc_tokens & NON_IMAGING_TOKENS)[0]
        return Decision(None, None, f"not an image series BIDS anat/func/dwi/fmap/perf can hold ({what})", 0.9,
                        exclude=True)
    keep = h.has_token(KEEP_DERIVED_TOKENS) or h.image_type_has("RMS")
    kinds = [v for v in h.image_type if v in DERIVED_IMAGE_TYPES]
    named = sorted(desc_tokens & DERIVED_TOKENS)
    if (h.image_type[:1] == ["DERIVED"] or kinds or named) and not keep:
        what = (kinds or named or ["DERIVED"])[0]
        evidence = [f"ImageType {'/'.join(h.image_type) or '(none)'}"]
        return Decision(None, None, f"derived image ({what}), not acquired data", 0.95, evidence, exclude=True)
    return None


# --- 2. perfusion ------------------------------------------------------------------------------
def _perfusion(h: Header) -> Decision | None:
    if not (h.image_type_has("ASL") or h.has_token(ASL_TOKENS) or h.has_substring(ASL_SUBSTRINGS)):
        return None
    evidence = [f"ASL by {'ImageType' if h.image_type_has('ASL') else 'name'}", _timing(h)]
    if h.has_token(M0_TOKENS):
        return Decision("perf", "m0scan", f"ASL M0 calibration with {h.volumes} volume(s)", 0.9, evidence)
    return Decision("perf", "asl", f"arterial spin labelling with {h.volumes} volumes", 0.9, evidence)


# --- 3. diffusion ------------------------------------------------------------------------------
def _diffusion(h: Header) -> Decision | None:
    named = h.has_token(DWI_TOKENS) or h.image_type_has("DIFFUSION")
    b_max = h.max_bvalue
    if b_max is not None and b_max > 50:
        shells = sorted({round(b, -2) for b in h.bvalues if b > 50})
        evidence = [f"b-values up to {b_max:g} s/mm2 (shells {', '.join(f'{s:g}' for s in shells)})"]
        return Decision("dwi", "dwi", f"diffusion EPI with {h.volumes} volumes", 0.95 if named else 0.85, evidence)
    if b_max is not None:  # a .bval with only b=0: a diffusion-sequence reference or reverse-PE scan
        evidence = [f"only b=0 volumes ({h.volumes})"]
        if h.has_token(SBREF_TOKENS):
            return Decision("dwi", "sbref", "single-band reference of a diffusion run", 0.9, evidence)
        if h.volumes <= MAX_FMAP_VOLUMES:
            fmap_named = h.has_token(EPI_FMAP_TOKENS | {"b0", "bzero"}) or h.has_substring(EPI_FMAP_SUBSTRINGS)
            if not fmap_named:
                evidence.append("not named as a field map: if this is a partial diffusion run, relabel it dwi")
            return Decision("fmap", "epi", f"b=0 EPI with {h.volumes} volume(s), for distortion correction",
                            0.85 if fmap_named else 0.6, evidence)
        return Decision("dwi", "dwi", f"diffusion EPI with {h.volumes} b=0 volumes", 0.6, evidence)
    if named and h.has_token(SBREF_TOKENS):
        return Decision("dwi", "sbref", "single-band reference of a diffusion run", 0.8, ["no .bval"])
    if named and h.is_epi:  # a diffusion EPI is never BOLD, even when the .bval is missing
        return Decision("dwi", "dwi", f"diffusion EPI with {h.volumes} volume(s)",
                        0.6 if h.volumes > MAX_FMAP_VOLUMES else 0.45, ["named as diffusion; no .bval to confirm"])
    return None


# --- 4. GRE field maps -------------------------------------------------------------------------
def _gre_fieldmap(h: Header) -> Decision | None:
    named = h.has_substring(GRE_FMAP_SUBSTRINGS) or "fm2d" in h.sequence_name or "fm3d" in h.sequence_name
    if not named or h.is_epi:
        return None
    echo = h.echo_number
    evidence = [f"gradient-echo field map, EchoNumber {echo if echo else 'absent'}, "
                f"ImageType {'/'.join(h.image_type)}", _timing(h)]
    if h.is_phase:
        if h.manufacturer.lower().startswith("siemens") or "diff" in h.norm_all or echo not in (1, 2):
            return Decision("fmap", "phasediff", "phase difference of a dual-echo GRE field map", 0.9, evidence)
        return Decision("fmap", f"phase{echo}", f"phase of echo {echo} of a dual-echo GRE field map", 0.85, evidence)
    if echo in (1, 2):
        return Decision("fmap", f"magnitude{echo}", f"magnitude of echo {echo} of a GRE field map", 0.9, evidence)
    return Decision("fmap", "magnitude1", "magnitude of a GRE field map (echo unknown)", 0.6, evidence)


# --- 5. EPI: field map, sbref, bold ------------------------------------------------------------
def _epi(h: Header) -> Decision | None:
    te, tr = h.te_ms, h.tr_ms
    t2star_series = (h.volumes >= 10 and te is not None and 15 <= te <= 70 and tr is not None and 300 <= tr <= 6000)
    fmap_named = h.has_token(EPI_FMAP_TOKENS) or h.has_substring(EPI_FMAP_SUBSTRINGS)
    if not (h.is_epi or t2star_series or (h.has_substring(EPI_FMAP_SUBSTRINGS) and h.volumes <= MAX_FMAP_VOLUMES)):
        return None
    evidence = [_timing(h)]
    spin_echo = "SE" in h.scanning_sequence or h.sequence_name.lstrip("*").startswith("epse")
    # The series' own description outranks ProtocolName, which derived/extra series inherit.
    own_words = set(h.desc_tokens) or set(h.tokens)
    func_named = not own_words.isdisjoint(FUNC_TOKENS - {"epi", "ep2d", "fe"})
    if h.volumes <= MAX_FMAP_VOLUMES and not h.has_token(SBREF_TOKENS):
        if fmap_named and not func_named:
            return Decision("fmap", "epi", f"EPI field map with {h.volumes} volume(s), for distortion correction",
                            0.9 if spin_echo else 0.8, ["named as a field map/topup scan", *evidence])
        if spin_echo and not func_named:
            return Decision("fmap", "epi", f"spin-echo EPI with {h.volumes} volume(s), for distortion correction",
                            0.7, ["spin-echo EPI with few volumes and no b-values", *evidence])
    if h.has_token(SBREF_TOKENS) and h.volumes <= 3:
        return Decision("func", "sbref", "single-band reference of a BOLD run", 0.9, evidence)
    if h.volumes == 1:
        return Decision("func", "sbref", "single-volume EPI (taken as a BOLD reference)", 0.5, evidence)
    how = "named" if func_named or h.is_epi else "timing"
    confidence = 0.95 if how == "named" and h.volumes >= 10 else 0.75
    evidence.insert(0, "EPI time series without b-values" + (" (recognised by timing only)" if how == "timing" else ""))
    return Decision("func", "bold", f"BOLD EPI with {h.volumes} volumes", confidence, evidence)


# --- 6. anatomy --------------------------------------------------------------------------------
def _anatomical(h: Header) -> Decision | None:
    by_name = _anat_from_name(h)
    by_timing, why = _anat_from_timing(h)
    if by_timing is None and by_name is None:
        return None
    evidence = [_timing(h)]
    if by_timing and by_name and by_timing != by_name:
        evidence.append(f"the name suggests {by_name} but the timing says {by_timing} ({why}); timing wins")
        return Decision("anat", by_timing, why, 0.6, evidence)
    if by_timing:
        evidence.append(f"the name agrees ({by_name})" if by_name else "the name gives no contrast hint")
        return Decision("anat", by_timing, why, 0.95 if by_name else 0.75, evidence)
    assert by_name is not None
    return Decision("anat", by_name, f"named as {by_name}; timing not conclusive", 0.6, evidence)


def _anat_from_name(h: Header) -> str | None:
    """The contrast the name suggests; most specific vocabulary first ('T2 FLAIR' is FLAIR)."""
    for suffix, words in (("FLAIR", FLAIR_TOKENS), ("T2starw", T2STAR_TOKENS), ("PDw", PD_TOKENS),
                          ("T1w", T1_TOKENS), ("T2w", T2_TOKENS)):
        if h.has_token(words):
            return suffix
    return None


def _anat_from_timing(h: Header) -> tuple[str | None, str]:
    """Contrast from TE/TR/TI in ms and the sequence family, with the reason in words."""
    te, tr, ti = h.te_ms, h.tr_ms, h.ti_ms
    if te is None:
        return None, ""
    if h.is_inversion_recovery and ti is not None:
        if ti < 300:
            return ("T2w", f"short-TI inversion recovery (STIR, TI {ti:.0f} ms)") if te >= 60 else (None, "")
        if ti >= 1200 and te >= 60:
            return "FLAIR", f"fluid-attenuated IR: TI {ti:.0f} ms with long TE {te:.0f} ms"
        if te < 30:
            return "T1w", f"T1-weighted inversion recovery (MPRAGE/IR-FSPGR/T1-FLAIR): TI {ti:.0f} ms, TE {te:.1f} ms"
        return None, ""
    if h.is_gradient_echo:
        if h.echo_number is not None or h.has_token(T2STAR_TOKENS - {"gre", "ffe", "fl2d", "fl3d"}):
            return "T2starw", "T2*-weighted (multi-echo or susceptibility) gradient echo"
        if te >= 10:
            return "T2starw", f"gradient echo with long TE {te:.0f} ms (T2*-weighted)"
        if tr is not None and tr < 50 and h.acquisition_3d:
            return "T1w", f"3D spoiled gradient echo with short TR {tr:.1f} ms and TE {te:.1f} ms (T1-weighted)"
        if tr is not None and tr < 1000:
            return "T1w", f"gradient echo with short TE {te:.1f} ms and TR {tr:.0f} ms (T1-weighted)"
        return None, ""
    if tr is None:
        return None, ""
    if te >= 60:
        return "T2w", f"spin echo with long TE {te:.0f} ms and TR {tr:.0f} ms"
    if te < 30 and tr < 1200:
        return "T1w", f"spin echo with short TE {te:.0f} ms and short TR {tr:.0f} ms"
    if te < 30 and tr >= 1500:
        return "PDw", f"spin echo with short TE {te:.0f} ms and long TR {tr:.0f} ms (proton density)"
    return None, ""


def _timing(h: Header) -> str:
    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g} ms"

    return (f"TE {show(h.te_ms)}, TR {show(h.tr_ms)}, TI {show(h.ti_ms)}, {h.volumes} volume(s), "
            f"{'3D' if h.acquisition_3d else '2D'} {'/'.join(h.scanning_sequence) or '?'} {h.sequence_name or ''}"
            ).rstrip()


# --- entities ----------------------------------------------------------------------------------
def infer_entities(h: Header, datatype: str, suffix: str) -> tuple[dict[str, str], list[str], float]:
    """Series-level entities, the evidence lines for them, and a confidence penalty for gaps."""
    entities: dict[str, str] = {}
    notes: list[str] = []
    penalty = 0.0
    if datatype == "func":
        task = infer_task(h)
        if task:
            entities["task"] = task
        else:
            notes.append("warning: no task name in SeriesDescription/ProtocolName; set 'task' by hand")
            penalty += 0.2
    explicit_acq = re.search(r"acq-([A-Za-z0-9]+)", f"{h.description} {h.protocol}")
    if explicit_acq:
        entities["acq"] = explicit_acq.group(1).lower()
    if datatype == "anat" and (h.has_token(_CE_TOKENS) or "plusc" in h.tokens):
        entities["ce"] = "gadolinium"
        notes.append("contrast agent: the name marks a post-contrast scan")
    direction = infer_direction(h, required=(datatype, suffix) == ("fmap", "epi"))
    if direction:
        entities["dir"] = direction
    elif (datatype, suffix) == ("fmap", "epi"):
        notes.append("warning: phase-encoding direction unknown (no polarity in header or name); set 'dir' by hand")
        penalty += 0.2
    if h.echo_number is not None and datatype != "fmap":
        multi_echo = h.echo_number > 1 or any(_MULTI_ECHO.match(t) for t in h.tokens)
        if multi_echo:
            entities["echo"] = str(h.echo_number)
            notes.append(f"multi-echo: echo {h.echo_number}")
    if datatype != "fmap":
        if h.is_phase:
            entities["part"] = "phase"
        elif h.has_token(MAG_TOKENS) and h.image_type_has("M", "MAGNITUDE"):
            entities["part"] = "mag"
    return entities, notes, penalty


def infer_direction(h: Header, *, required: bool) -> str | None:
    """BIDS 'dir' label. From the header polarity when present; the name only when it states one.

    For fmap/epi (``required``) the header alone is enough; for other EPI a 'dir' appears only when
    the name carries one (HCP-style 'rfMRI_REST_AP'), so single-direction studies keep short names.
    """
    named = next((DIRECTION_TOKENS[t] for t in reversed(h.desc_tokens) if t in DIRECTION_TOKENS), None)
    from_header = PE_TO_DIR.get(h.phase_encoding.strip())
    if required:
        return from_header or named
    return (from_header or named) if named else None


def infer_task(h: Header) -> str | None:
    """Task label: explicit 'task-X', else the name's words minus EPI/BOLD vocabulary; rest synonyms -> 'rest'."""
    for text in (h.description, h.protocol):
        explicit = re.search(r"task[-_]([A-Za-z0-9]+)", text, flags=re.IGNORECASE)
        if explicit and explicit.group(1).lower() not in TASK_STOP_TOKENS:
            return explicit.group(1).lower()
    for text in (h.norm_desc, h.norm_all):
        words = [t for t in text.split("_") if t]
        if any(w in REST_WORDS for w in words):
            return "rest"
        kept = [w for w in words if w not in TASK_STOP_TOKENS and not _TASK_NOISE.match(w) and w.isalnum()]
        if kept:
            return "".join(kept)[:32]
    return None
