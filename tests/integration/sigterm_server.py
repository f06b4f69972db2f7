"""A service process for the SIGTERM test: the real bootstrap (`serve`) with one long job.

Run as ``python -m tests.integration.sigterm_server STORE_DIR``; it submits job ``long``
(``steps`` x ``step_s`` from the environment) at start.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.jobs import JobManager, JobsServicer, JobStore
from tessera.core.logging import configure_logging
from tessera.core.server import GrpcService, serve
from tessera.core.settings import TesseraSettings, load_settings
from tests.servers import steps_job


async def main(store_dir: Path) -> None:
    settings = load_settings(TesseraSettings)
    configure_logging(settings.service_name, settings.log_level)
    service = GrpcService(settings)
    jobs = JobManager(JobStore(LocalArtifactStore(store_dir), settings.service_name), service.executor)
    jobs.register("test.steps", steps_job)
    service.add(JobsServicer(jobs, service).registration())
    service.on_shutdown(jobs.shutdown)
    jobs.submit("test.steps", job_id="long",
                labels={"steps": os.environ.get("STEPS", "10"), "step_s": os.environ.get("STEP_S", "0.3")})
    await serve(service)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
