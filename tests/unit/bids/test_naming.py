"""bids_name and check_plan: one test per violation kind, each naming the exact field path."""

from __future__ import annotations

import pytest

from tessera.bids import model
from tessera.bids.model import EventLogEntry, Plan, SeriesEntry, SeriesPlan
from tessera.bids.naming import bids_name, bids_rules, check_plan, require_valid
from tessera.core.errors import InvalidArgument


def entry(sid: str, datatype: str | None, suffix: str | None, subject: str = "01", session: str = "",
          exclude: bool = False, intended_for: list[str] | None = None, **entities: str) -> SeriesEntry:
    return SeriesEntry(series_id=sid, subject=subject, session=session, intended_for=intended_for or [],
                       plan=SeriesPlan(datatype=datatype, suffix=suffix, entities=entities, exclude=exclude))


def fields(plan: Plan) -> list[str]:
    return [v.field for v in check_plan(plan)]


def plan_of(*series: SeriesEntry, logs: list[EventLogEntry] | None = None) -> Plan:
    return Plan(upload_id="u", series=list(series), event_logs=logs or [])


def test_bids_name_orders_entities_and_drops_empty_session() -> None:
    bold = entry("a-1", "func", "bold", session="01", run="1", dir="AP", task="rest")
    assert bids_name(bold) == "sub-01/ses-01/func/sub-01_ses-01_task-rest_dir-AP_run-1_bold"
    t1 = entry("a-2", "anat", "T1w", ce="gad", acq="mprage", run="2")
    assert bids_name(t1) == "sub-01/anat/sub-01_acq-mprage_ce-gad_run-2_T1w"
    with pytest.raises(InvalidArgument):
        bids_name(entry("a-3", None, None))


def test_schema_order_agrees_with_model() -> None:
    order = bids_rules().entity_order
    assert [e for e in order if e in model.ENTITY_ORDER] == list(model.ENTITY_ORDER)
    assert set(bids_rules().suffixes["fmap"]) == set(model.SUFFIXES["fmap"])
    assert bids_rules().bids_version.startswith("1.")


def test_valid_plan_has_no_violations() -> None:
    plan = plan_of(
        entry("a-1", "anat", "T1w"),
        entry("a-2", "func", "bold", task="rest", run="1"),
        entry("a-3", "fmap", "epi", dir="PA", intended_for=["a-2"]),
        entry("a-4", None, None, exclude=True),
        logs=[EventLogEntry(file="x.csv", series_id="a-2"), EventLogEntry(file="y.csv")],
    )
    assert check_plan(plan) == []
    require_valid(plan)


def test_unknown_datatype_and_suffix() -> None:
    plan = plan_of(entry("a-1", "pet", "pet"), entry("a-2", "anat", "T3w"), entry("a-3", "anat", "bold", task="x"))
    violations = {v.field: v.description for v in check_plan(plan)}
    assert set(violations) == {"series[0].plan.datatype", "series[1].plan.suffix", "series[2].plan.suffix"}
    assert "not a known suffix" in violations["series[1].plan.suffix"]
    assert "not allowed in anat/" in violations["series[2].plan.suffix"]


def test_missing_required_entities() -> None:
    plan = plan_of(entry("a-1", "func", "bold"), entry("a-2", "fmap", "epi"), entry("a-3", "func", "sbref"))
    assert fields(plan) == ["series[0].plan.entities.task", "series[1].plan.entities.dir",
                            "series[2].plan.entities.task"]
    assert "PEPOLAR" in check_plan(plan)[1].description


def test_invalid_labels_and_indices() -> None:
    plan = plan_of(
        entry("a-1", "func", "bold", task="rest_1"),
        entry("a-2", "anat", "T1w", run="one"),
        entry("a-3", "func", "bold", task="rest", echo="1a"),
        entry("a-4", "anat", "T1w", part="magnitude"),
        entry("a-5", "anat", "T1w", subject="0-1"),
        entry("a-6", "anat", "T1w", session="pre post"),
        entry("a-7", "dwi", "dwi", task="rest"),
        entry("a-8", "anat", "T1w", acq=""),
    )
    violations = {v.field: v.description for v in check_plan(plan)}
    assert set(violations) == {
        "series[0].plan.entities.task", "series[1].plan.entities.run", "series[2].plan.entities.echo",
        "series[3].plan.entities.part", "series[4].subject", "series[5].session", "series[6].plan.entities.task",
        "series[7].plan.entities.acq",
    }
    assert "non-negative integer" in violations["series[1].plan.entities.run"]
    assert "alphanumeric" in violations["series[0].plan.entities.task"]
    assert "not allowed for dwi/dwi" in violations["series[6].plan.entities.task"]


def test_duplicate_names_name_both_series_but_not_excluded_ones() -> None:
    plan = plan_of(
        entry("a-1", "anat", "T1w"), entry("a-2", "anat", "T2w"), entry("a-3", "anat", "T1w"),
        entry("a-4", "anat", "T1w", exclude=True),
    )
    violations = check_plan(plan)
    assert [v.field for v in violations] == ["series[0].bids_name", "series[2].bids_name"]
    assert "a-3" in violations[0].description and "a-1" in violations[1].description
    plan.series[2].plan.entities["run"] = "2"
    assert check_plan(plan) == []


def test_intended_for_must_name_written_images_of_the_same_session() -> None:
    plan = plan_of(
        entry("a-1", "func", "bold", task="rest"),
        entry("a-2", "func", "bold", task="x", exclude=True),
        entry("b-1", "func", "bold", task="rest", subject="02"),
        entry("f-1", "fmap", "epi", dir="PA", intended_for=["a-1", "zz-9", "a-2", "b-1", "f-2"]),
        entry("f-2", "fmap", "epi", dir="AP"),
        entry("t-1", "anat", "T1w", intended_for=["a-1"]),
    )
    violations = {v.field: v.description for v in check_plan(plan)}
    assert set(violations) == {"series[3].intended_for[1]", "series[3].intended_for[2]", "series[3].intended_for[3]",
                               "series[3].intended_for[4]", "series[5].intended_for"}
    assert "unknown series 'zz-9'" in violations["series[3].intended_for[1]"]
    assert "excluded" in violations["series[3].intended_for[2]"]
    assert "another subject" in violations["series[3].intended_for[3]"]


def test_event_logs_must_map_to_one_written_bold_run() -> None:
    plan = plan_of(
        entry("a-1", "func", "bold", task="rest"), entry("a-2", "anat", "T1w"),
        entry("a-3", "func", "bold", task="x", exclude=True),
        logs=[EventLogEntry(file="1.csv", series_id="a-1"), EventLogEntry(file="2.csv", series_id="a-2"),
              EventLogEntry(file="3.csv", series_id="nope"), EventLogEntry(file="4.csv", series_id="a-3"),
              EventLogEntry(file="5.csv", series_id="a-1"), EventLogEntry(file="6.csv")],
    )
    violations = {v.field: v.description for v in check_plan(plan)}
    assert set(violations) == {f"event_logs[{k}].series_id" for k in (1, 2, 3, 4)}
    assert "not a func/bold run" in violations["event_logs[1].series_id"]
    assert "already has event_logs[0]" in violations["event_logs[4].series_id"]


def test_repeated_series_id_and_require_valid_raises_all() -> None:
    plan = plan_of(entry("a-1", "anat", "T1w"), entry("a-1", "anat", "T2w"), entry("a-3", "func", "bold"))
    with pytest.raises(InvalidArgument) as info:
        require_valid(plan)
    assert [v.field for v in info.value.violations] == ["series[1].series_id", "series[2].plan.entities.task"]
