"""Accuracy of ``tessera.bids.infer_series`` on the labelled series table, against a keyword baseline.

Data: ``tests/data/bids_series_labels.csv`` - 200 hand-labelled series (Siemens 69, GE 68, Philips
63) written as dcm2niix sidecar fields (SeriesDescription, ProtocolName, ImageType, sequence,
TE/TR/TI in seconds, volumes, max b-value, phase-encoding direction, echo number) with the label a
careful person would give: datatype, suffix, entities ("task=rest;dir=AP") and exclude. The labels
were written before the rules. Column ``split`` puts ~30% of rows in a held-out set (chosen by a
CRC32 of the row id, not by hand) that was not looked at while the rules were written.

Baseline: what a dcm2bids config does - match SeriesDescription against keyword patterns, first
match wins (localizer/scout -> skip; '*bold*'/'*fmri*' -> func/bold; '*sbref*' -> sbref;
'*dti*'/'*dwi*' -> dwi; '*fieldmap*' -> magnitude1; '*t1*'/'*mprage*' -> T1w; '*flair*';
'*t2*' -> T2w; ...), no header physics, no entity except an explicit 'task-X'.

Scores: exact = datatype+suffix+entities+exclude all right (an excluded row is right when it is
excluded); class accuracy = datatype/suffix (or 'exclude') right; entity accuracy = entities right
on rows whose class is right and not excluded; exclusion precision/recall; per-class confusion.

Run: .venv/bin/python tools/bench/bids_inference.py [--split all|dev|heldout] [--errors]
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.bids.infer import infer_series

TABLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "bids_series_labels.csv"
NUMERIC = ("EchoTime", "RepetitionTime", "InversionTime", "FlipAngle", "MultibandAccelerationFactor")
INTEGER = ("SeriesNumber", "NumVolumes", "EchoNumber")
LIST = ("ImageType", "ScanningSequence", "SequenceVariant")


@dataclass(frozen=True)
class Label:
    """Expected outcome; ``cls`` is 'datatype/suffix' or 'exclude'."""

    cls: str
    entities: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, exclude: bool, datatype: str | None, suffix: str | None, entities: dict[str, str]) -> Label:
        if exclude:
            return cls("exclude", ())
        return cls(f"{datatype}/{suffix}", tuple(sorted(entities.items())))


@dataclass(frozen=True)
class Row:
    id: str
    split: str
    manufacturer: str
    metadata: dict[str, Any]
    expected: Label


def row_metadata(raw: dict[str, str]) -> dict[str, Any]:
    """A CSV row -> the sidecar dict the service would pass (lists, numbers, BValues from the max)."""
    meta: dict[str, Any] = {}
    for key in ("Manufacturer", "ManufacturersModelName", "Modality", "SeriesDescription", "ProtocolName",
                "SequenceName", "MRAcquisitionType", "PhaseEncodingDirection"):
        if raw.get(key):
            meta[key] = raw[key]
    for key in LIST:
        if raw.get(key):
            meta[key] = raw[key].split("\\")
    for key in NUMERIC:
        if raw.get(key):
            meta[key] = float(raw[key])
    for key in INTEGER:
        if raw.get(key):
            meta[key] = int(float(raw[key]))
    if raw.get("BValueMax"):
        b_max, volumes = float(raw["BValueMax"]), meta.get("NumVolumes", 1)
        meta["BValues"] = [0.0] + [b_max] * (volumes - 1) if b_max > 0 else [0.0] * volumes
    return meta


def load_table(path: Path = TABLE) -> list[Row]:
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            entities = dict(part.split("=", 1) for part in raw["exp_entities"].split(";") if part)
            expected = Label.of(raw["exp_exclude"] == "1", raw["exp_datatype"], raw["exp_suffix"], entities)
            rows.append(Row(raw["id"], raw["split"], raw["Manufacturer"], row_metadata(raw), expected))
    return rows


def predict_rules(metadata: dict[str, Any]) -> Label:
    plan = infer_series(metadata)
    return Label.of(plan.exclude, plan.datatype, plan.suffix, plan.entities)


# A dcm2bids-style config: SeriesDescription wildcards, first match wins.
BASELINE_PATTERNS: list[tuple[str, str]] = [
    (r"loc|scout|survey|calibration|ref", "exclude"),
    (r"adc|_fa|trace|mpr_|mip|moco|cbf", "exclude"),
    (r"sbref", "func/sbref"),
    (r"asl", "perf/asl"),
    (r"dti|dwi|diff|dmri|hardi", "dwi/dwi"),
    (r"topup|spinecho|se_epi|distortion", "fmap/epi"),
    (r"field_?map|b0", "fmap/magnitude1"),
    (r"bold|fmri|epi|rest", "func/bold"),
    (r"flair", "anat/FLAIR"),
    (r"t1|mprage|bravo|fspgr|tfe", "anat/T1w"),
    (r"t2\*|t2star|swi|gre|ffe", "anat/T2starw"),
    (r"pd", "anat/PDw"),
    (r"t2", "anat/T2w"),
]


def predict_baseline(metadata: dict[str, Any]) -> Label:
    description = str(metadata.get("SeriesDescription", "")).lower()
    for pattern, cls in BASELINE_PATTERNS:
        if re.search(pattern, description):
            if cls == "exclude":
                return Label("exclude", ())
            task = re.search(r"task-([a-z0-9]+)", description)
            entities = (("task", task.group(1)),) if task and cls.startswith("func") else ()
            return Label(cls, entities)
    return Label("exclude", ())  # dcm2bids leaves unmatched series out


@dataclass
class Scores:
    n: int
    exact: float
    cls: float
    entities: float
    exclude_precision: float
    exclude_recall: float
    confusion: Counter[tuple[str, str]]
    errors: list[tuple[Row, Label]]


def score(rows: list[Row], predict: Callable[[dict[str, Any]], Label]) -> Scores:
    predictions = [(row, predict(row.metadata)) for row in rows]
    exact = sum(row.expected == got for row, got in predictions)
    cls_right = [(row, got) for row, got in predictions if row.expected.cls == got.cls]
    kept_right = [(row, got) for row, got in cls_right if got.cls != "exclude"]
    true_ex = sum(row.expected.cls == "exclude" and got.cls == "exclude" for row, got in predictions)
    pred_ex = sum(got.cls == "exclude" for _, got in predictions)
    real_ex = sum(row.expected.cls == "exclude" for row, _ in predictions)
    return Scores(
        n=len(rows),
        exact=exact / max(1, len(rows)),
        cls=len(cls_right) / max(1, len(rows)),
        entities=sum(row.expected.entities == got.entities for row, got in kept_right) / max(1, len(kept_right)),
        exclude_precision=true_ex / max(1, pred_ex),
        exclude_recall=true_ex / max(1, real_ex),
        confusion=Counter((row.expected.cls, got.cls) for row, got in predictions),
        errors=[(row, got) for row, got in predictions if row.expected != got],
    )


def print_confusion(confusion: Counter[tuple[str, str]]) -> None:
    classes = sorted({c for pair in confusion for c in pair})
    abbreviations = {"magnitude1": "mag1", "magnitude2": "mag2", "phasediff": "phdiff", "exclude": "excl"}
    short = {c: "/".join(abbreviations.get(p, p)[:6] for p in c.split("/")) for c in classes}
    print(f"{'expected|predicted':<20}" + "".join(f"{short[c]:>12}" for c in classes))
    for expected in classes:
        counts = "".join(f"{confusion.get((expected, got), 0) or '.':>12}" for got in classes)
        print(f"{expected:<20}{counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("all", "dev", "heldout"), default="all")
    parser.add_argument("--errors", action="store_true", help="list the rows the rules get wrong")
    args = parser.parse_args()
    rows = load_table()
    vendors = Counter(row.manufacturer for row in rows)
    print(f"data: {TABLE.relative_to(TABLE.parents[2])}: {len(rows)} labelled series "
          f"({', '.join(f'{v} {n}' for v, n in sorted(vendors.items()))}); "
          f"dev {sum(r.split == 'dev' for r in rows)}, held-out {sum(r.split == 'heldout' for r in rows)}")
    splits = ("all", "dev", "heldout") if args.split == "all" else (args.split,)
    print(f"\n{'split':<8}{'method':<10}{'n':>4}{'exact':>8}{'class':>8}{'entities':>10}{'excl P':>8}{'excl R':>8}")
    results: dict[tuple[str, str], Scores] = {}
    for split in splits:
        subset = [r for r in rows if split == "all" or r.split == split]
        for name, predict in (("rules", predict_rules), ("baseline", predict_baseline)):
            s = results[(split, name)] = score(subset, predict)
            print(f"{split:<8}{name:<10}{s.n:>4}{s.exact:>8.3f}{s.cls:>8.3f}{s.entities:>10.3f}"
                  f"{s.exclude_precision:>8.3f}{s.exclude_recall:>8.3f}")
    for name in ("rules", "baseline"):
        print(f"\nconfusion ({name}, split {splits[0]}): rows expected, columns predicted")
        print_confusion(results[(splits[0], name)].confusion)
    if args.errors:
        print(f"\nrule errors ({splits[0]}):")
        for row, got in results[(splits[0], "rules")].errors:
            print(f"  {row.id} [{row.split}] {row.metadata.get('SeriesDescription')!r}: expected "
                  f"{row.expected.cls} {dict(row.expected.entities)} got {got.cls} {dict(got.entities)}")


if __name__ == "__main__":
    main()
