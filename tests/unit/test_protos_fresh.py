"""The committed generated code matches what `make protos` produces from protos/ now."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_protos", REPO_ROOT / "tools" / "gen_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_protos"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    gen = _load_generator()
    written = gen.generate(tmp_path)
    assert written, "no .proto files found under protos/"
    committed_root = REPO_ROOT / "services" / "core"
    stale = []
    for path in written:
        rel = path.relative_to(tmp_path)
        committed = committed_root / rel
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(rel))
    assert not stale, f"generated code is stale, run `make protos`: {stale}"


def test_every_proto_has_generated_code() -> None:
    root = REPO_ROOT / "protos"
    protos = sorted(p.relative_to(root).with_suffix("") for p in root.rglob("*.proto"))
    for stem in protos:
        assert (REPO_ROOT / "services" / "core" / f"{stem}_pb2.py").exists(), stem
