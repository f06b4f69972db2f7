"""SIGTERM drains in-flight calls: a WatchJob stream open at SIGTERM still reaches SUCCEEDED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.jobs import JobStore, state_name
from tessera.devstack.process import free_port, port_open
from tessera.v1 import common_pb2, common_pb2_grpc
from tests.conftest import REPO_ROOT


def _start(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "TESSERA_GRPC_HOST": "127.0.0.1", "TESSERA_GRPC_PORT": str(port),
               "TESSERA_METRICS_PORT": "0", "TESSERA_SERVICE_NAME": "sigterm", **env}
    with open(tmp_path / "server.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.integration.sigterm_server", str(tmp_path)],
                                cwd=REPO_ROOT, env=environ, stderr=log)
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
        time.sleep(0.1)
    return proc


def test_sigterm_lets_in_flight_call_finish(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port, TESSERA_SHUTDOWN_GRACE_S="20", STEPS="8", STEP_S="0.25")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id="long"), timeout=60)
            first = next(u for u in stream if u.progress > 0)
            proc.send_signal(signal.SIGTERM)
            rest = list(stream)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
    assert first.progress < 0.5, "SIGTERM arrived mid-job"
    assert state_name(rest[-1].state) == "SUCCEEDED"
    assert rest[-1].progress == 1.0


def test_job_outliving_the_grace_period_is_left_resumable(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port, TESSERA_SHUTDOWN_GRACE_S="0.5", STEPS="40", STEP_S="0.2")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stream = common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id="long"), timeout=60)
        next(u for u in stream if u.progress > 0)
        proc.send_signal(signal.SIGTERM)
        try:
            list(stream)
        except grpc.RpcError:
            pass  # the stream is cut when the grace period ends
    assert proc.wait(30) == 0
    left = JobStore(LocalArtifactStore(tmp_path), "sigterm").load("long")
    assert state_name(left.state) == "QUEUED"
    assert left.progress < 1.0
    assert left.progress_message == "interrupted by shutdown"
