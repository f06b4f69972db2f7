"""The series a session acquires, in order, with their geometry, timing and expected BIDS mapping.

A typical research session: localizer, T1w MPRAGE (+ its MPR reformat), T2w, FLAIR, resting BOLD
(+ SBRef on Siemens; multi-echo on odd sessions), two n-back runs, 6-direction DWI (+ ADC/FA
maps), field maps (spin-echo AP/PA on even sessions; Siemens GRE phasediff on odd sessions) and
pCASL + M0 on odd sessions (Siemens, Philips).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.bids.corpus.headers import Naming, naming
from tessera.bids.corpus.volumes import Geometry

# Per corpus size: anatomical (matrix, mm, slices), EPI (matrix, mm, slices), volumes (rest, nback, asl).
SIZES: dict[str, dict[str, tuple[int, float, int] | tuple[int, int, int]]] = {
    "small": {"anat": (48, 4.5, 32), "epi": (32, 6.0, 10), "vols": (8, 10, 6)},
    "medium": {"anat": (96, 2.4, 64), "epi": (64, 3.5, 30), "vols": (20, 30, 10)},
}
# b=0 then six directions (unit vectors), like a minimal DTI protocol.
BVECS = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0),
         (0.7071, 0.7071, 0.0), (0.7071, 0.0, 0.7071), (0.0, 0.7071, 0.7071)]
BVALS = [0.0] + [1000.0] * 6
SLICE_ORDER = "interleaved"  # ascending odd slices first, then even (Siemens' default for 2D EPI)


@dataclass
class SeriesSpec:
    """Everything the writer needs for one series, plus its expected BIDS mapping."""

    kind: str
    naming: Naming
    series_number: int
    geometry: Geometry | list[Geometry]  # a list: a multi-plane localizer
    contrast: str
    acquisition_type: str  # '2D' | '3D'
    tr_ms: float
    echo_times_ms: list[float]
    flip_deg: float
    ti_ms: float | None = None
    n_volumes: int = 1
    pe_axis: str = "COL"  # InPlanePhaseEncodingDirection
    pe_dir: str = ""  # 'AP' / 'PA' (COL) or 'RL' / 'LR' (ROW); '' where polarity is not a protocol choice
    slice_times_s: list[float] = field(default_factory=list)
    bvals: list[float] = field(default_factory=list)
    bvecs: list[tuple[float, float, float]] = field(default_factory=list)
    asl_context: list[str] = field(default_factory=list)
    datatype: str | None = None
    suffix: str | None = None
    entities: dict[str, str] = field(default_factory=dict)
    exclude_reason: str = ""
    outputs: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)  # (echo, suffix, entities)
    intended_for_kinds: tuple[str, ...] = ()


def slice_times(n_slices: int, tr_s: float) -> list[float]:
    """Interleaved ascending slice acquisition times in seconds, as in BIDS SliceTiming."""
    order = list(range(0, n_slices, 2)) + list(range(1, n_slices, 2))
    times = [0.0] * n_slices
    for rank, k in enumerate(order):
        times[k] = round(rank * tr_s / n_slices, 4)
    return times


def session_protocol(vendor: str, session_index: int, size: str = "small") -> list[SeriesSpec]:
    """The ordered series of one session for a vendor; ``session_index`` (0-based) varies the protocol."""
    cfg = SIZES[size]
    am, apx, an = cfg["anat"]
    em, epx, en = cfg["epi"]
    n_rest, n_nback, n_asl = (int(x) for x in cfg["vols"])
    odd = session_index % 2 == 1
    anat_sag = Geometry(int(am), int(am), int(an), float(apx), float(apx), "sag")
    anat_ax = Geometry(int(am), int(am), int(an * 3 // 4), float(apx), float(apx), "ax")
    epi = Geometry(int(em), int(em), int(en), float(epx), float(epx), "ax", center=(0.0, -18.0, 20.0))
    loc = [Geometry(int(am), int(am), 3, float(apx), 8.0, o) for o in ("sag", "cor", "ax")]
    tr_bold = 2.0
    st = slice_times(int(en), tr_bold)
    specs: list[SeriesSpec] = []

    def add(kind: str, **kw: object) -> SeriesSpec:
        nm = naming(vendor, kind, task=str(kw.pop("task", "")), run=int(kw.pop("run", 0)),  # type: ignore[call-overload]
                    direction=str(kw.get("pe_dir", "")), echoes=len(kw.get("echo_times_ms", [1])))  # type: ignore[arg-type]
        spec = SeriesSpec(kind=kind, naming=nm, series_number=0, **kw)  # type: ignore[arg-type]
        specs.append(spec)
        return spec

    add("localizer", geometry=loc, contrast="T1w", acquisition_type="2D", tr_ms=8.6, echo_times_ms=[4.0], flip_deg=20,
        exclude_reason="localizer (3-plane scout)")
    add("t1w", geometry=anat_sag, contrast="T1w", acquisition_type="3D", tr_ms=2300, echo_times_ms=[2.98],
        flip_deg=9, ti_ms=900, datatype="anat", suffix="T1w")
    add("t1w_mpr", geometry=anat_ax, contrast="T1w", acquisition_type="3D", tr_ms=2300, echo_times_ms=[2.98],
        flip_deg=9, ti_ms=900, exclude_reason="derived: multiplanar reformat of the T1w")
    add("t2w", geometry=anat_sag, contrast="T2w", acquisition_type="3D", tr_ms=3200, echo_times_ms=[409.0],
        flip_deg=120, datatype="anat", suffix="T2w")
    add("flair", geometry=anat_ax, contrast="FLAIR", acquisition_type="2D", tr_ms=9000, echo_times_ms=[81.0],
        flip_deg=150, ti_ms=2500, datatype="anat", suffix="FLAIR")
    me = odd and vendor != "ge"
    rest_tes = [14.2, 38.9, 63.6] if me else [30.0]
    if vendor == "siemens":
        add("sbref", geometry=epi, contrast="bold", acquisition_type="2D", tr_ms=tr_bold * 1000, echo_times_ms=rest_tes,
            flip_deg=52, task="rest", pe_dir="AP", datatype="func", suffix="sbref", entities={"task": "rest"},
            slice_times_s=st)
    add("bold", geometry=epi, contrast="bold", acquisition_type="2D", tr_ms=tr_bold * 1000, echo_times_ms=rest_tes,
        flip_deg=52, task="rest", pe_dir="AP", n_volumes=n_rest, datatype="func", suffix="bold",
        entities={"task": "rest"}, slice_times_s=st)
    for run in (1, 2):
        ents = {"task": "nback", "run": str(run)}
        if vendor == "siemens":
            add("sbref", geometry=epi, contrast="bold", acquisition_type="2D", tr_ms=tr_bold * 1000,
                echo_times_ms=[30.0], flip_deg=52, task="nback", run=run, pe_dir="AP", datatype="func",
                suffix="sbref", entities=dict(ents), slice_times_s=st)
        add("bold", geometry=epi, contrast="bold", acquisition_type="2D", tr_ms=tr_bold * 1000, echo_times_ms=[30.0],
            flip_deg=52, task="nback", run=run, pe_dir="AP", n_volumes=n_nback, datatype="func", suffix="bold",
            entities=dict(ents), slice_times_s=st)
    add("dwi", geometry=epi, contrast="dwi", acquisition_type="2D", tr_ms=3200, echo_times_ms=[89.0], flip_deg=90,
        pe_dir="AP", n_volumes=len(BVALS), bvals=list(BVALS), bvecs=list(BVECS), datatype="dwi", suffix="dwi",
        slice_times_s=slice_times(int(en), 3.2))
    add("dwi_adc", geometry=epi, contrast="adc", acquisition_type="2D", tr_ms=3200, echo_times_ms=[89.0],
        flip_deg=90, exclude_reason="derived: ADC map computed by the scanner")
    if vendor != "ge":
        add("dwi_fa", geometry=epi, contrast="fa", acquisition_type="2D", tr_ms=3200, echo_times_ms=[89.0],
            flip_deg=90, exclude_reason="derived: FA map computed by the scanner")
    if odd and vendor == "siemens":
        mag = add("fmap_mag", geometry=epi, contrast="T2starw", acquisition_type="2D", tr_ms=500,
                  echo_times_ms=[4.92, 7.38], flip_deg=60, datatype="fmap", suffix="magnitude1",
                  outputs=[(1, "magnitude1", {}), (2, "magnitude2", {})])
        mag.intended_for_kinds = ("bold", "sbref")
        ph = add("fmap_phasediff", geometry=epi, contrast="phasediff", acquisition_type="2D", tr_ms=500,
                 echo_times_ms=[7.38], flip_deg=60, datatype="fmap", suffix="phasediff")
        ph.intended_for_kinds = ("bold", "sbref")
    else:
        for d in ("AP", "PA"):
            s = add("fmap_epi", geometry=epi, contrast="bold", acquisition_type="2D", tr_ms=7000,
                    echo_times_ms=[66.0], flip_deg=90, pe_dir=d, datatype="fmap", suffix="epi", entities={"dir": d},
                    slice_times_s=slice_times(int(en), 7.0))
            s.intended_for_kinds = ("bold", "sbref", "dwi")
    if odd and vendor != "ge":
        ctx = ["control", "label"] * (n_asl // 2)
        add("asl", geometry=epi, contrast="m0", acquisition_type="3D", tr_ms=4100, echo_times_ms=[13.1],
            flip_deg=120, ti_ms=1800, n_volumes=len(ctx), asl_context=ctx, datatype="perf", suffix="asl")
        add("m0", geometry=epi, contrast="m0", acquisition_type="3D", tr_ms=8000, echo_times_ms=[13.1], flip_deg=120,
            datatype="perf", suffix="m0scan")
    _number(specs, vendor)
    for s in specs:
        if not s.outputs and s.suffix and len(s.echo_times_ms) > 1:
            s.outputs = [(i + 1, s.suffix, {**s.entities, "echo": str(i + 1)}) for i in range(len(s.echo_times_ms))]
        elif not s.outputs and s.suffix:
            s.outputs = [(0, s.suffix, dict(s.entities))]
    return specs


def _number(specs: list[SeriesSpec], vendor: str) -> None:
    """Series numbers as each vendor assigns them: Siemens 1, 2, 3...; GE 1, 2... with derived series
    at 100x their source + 1 (ADC of series 8 is 801); Philips 101, 201, 301... (x100 + 1)."""
    n = 0
    last_source = 0
    for s in specs:
        derived = s.naming.image_type[0] == "DERIVED"
        if vendor == "ge" and derived:
            s.series_number = last_source * 100 + (2 if s.kind == "dwi_fa" else 1)
            continue
        if vendor == "siemens" and s.kind == "fmap_phasediff":
            n += 1  # Siemens writes the phase series right after the magnitude one
        elif not derived or vendor != "ge":
            n += 1
        s.series_number = n * 100 + 1 if vendor == "philips" else n
        last_source = n
