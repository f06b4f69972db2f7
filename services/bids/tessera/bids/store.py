"""Where an upload's intermediate state lives in the artifact store.

``bids/uploads/<upload id>/plan.json`` (the plan), ``.../converted/<series id>/<file>`` (dcm2niix
outputs), ``.../logs/<archive path>`` (task-event logs), ``.../options.json`` (ingest options).
Finalize reads only these, so it can run on another replica or after a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

from tessera.bids.model import Plan
from tessera.core.artifacts.base import ArtifactStore
from tessera.core.errors import NotFound


class UploadArea:
    def __init__(self, store: ArtifactStore, upload_id: str):
        self.store = store
        self.upload_id = upload_id
        self.prefix = f"bids/uploads/{upload_id}"

    def save_plan(self, plan: Plan) -> None:
        self.store.put_bytes(f"{self.prefix}/plan.json", plan.model_dump_json(indent=1).encode(),
                             media_type="application/json")

    def load_plan(self) -> Plan:
        try:
            return Plan.model_validate_json(self.store.get_bytes(f"{self.prefix}/plan.json"))
        except NotFound:
            raise NotFound(
                f"no plan for upload {self.upload_id!r} (yet): follow its ingest job with WatchJob"
            ) from None

    def save_options(self, options: dict[str, object]) -> None:
        self.store.put_bytes(f"{self.prefix}/options.json", json.dumps(options).encode(), media_type="application/json")

    def load_options(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.store.get_bytes(f"{self.prefix}/options.json")))
        except NotFound:
            return {}

    def put_tree(self, local_root: Path, area: str, files: list[Path]) -> list[str]:
        """Upload ``files`` (under ``local_root``) to ``<prefix>/<area>/<relative path>``; returns those paths."""
        out = []
        for path in files:
            rel = path.relative_to(local_root).as_posix()
            with open(path, "rb") as fh:
                self.store.put_stream(f"{self.prefix}/{area}/{rel}", fh, size=path.stat().st_size)
            out.append(rel)
        return out

    def get_tree(self, area: str, dest: Path) -> list[Path]:
        """Download everything under ``<prefix>/<area>/`` into ``dest`` (verified); returns local paths."""
        base = f"{self.prefix}/{area}/"
        written = []
        for info in self.store.list(base):
            target = dest / info.key[len(base):]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.store.get_to_file(info.key, str(target))
            written.append(target)
        return written
