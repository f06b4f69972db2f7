"""Log records are JSON lines carrying service, job id and event id."""

from __future__ import annotations

import json
import logging

from tessera.core.logging import JsonFormatter, log_context


def _format(record: logging.LogRecord) -> dict[str, object]:
    return json.loads(JsonFormatter("bids").format(record))


def test_json_line_has_service_and_context_ids() -> None:
    logger = logging.getLogger("t")
    with log_context(job_id="job-1"), log_context(event_id="evt-9"):
        record = logger.makeRecord("t", logging.INFO, __file__, 1, "converted %d series", (3,), None,
                                   extra={"dataset": "ds1"})
        line = _format(record)
    assert line["service"] == "bids"
    assert line["msg"] == "converted 3 series"
    assert line["job_id"] == "job-1" and line["event_id"] == "evt-9"
    assert line["dataset"] == "ds1"
    outside = _format(logger.makeRecord("t", logging.INFO, __file__, 1, "x", (), None))
    assert "job_id" not in outside and "event_id" not in outside
