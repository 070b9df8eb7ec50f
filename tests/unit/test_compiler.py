"""Compilation is reproducible and the committed artifacts match the sources."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from chain_client import compiler
from chain_client._paths import ARTIFACTS_DIR, PROJECT_ROOT
from chain_client.errors import CompilerMissing


@pytest.fixture(scope="module")
def fresh() -> dict[str, compiler.Artifact]:
    return compiler.compile_contracts()


def test_compiling_twice_is_byte_identical(fresh: dict[str, compiler.Artifact]) -> None:
    again = compiler.compile_contracts()
    assert {n: a.to_json() for n, a in again.items()} == {n: a.to_json() for n, a in fresh.items()}


def test_committed_artifacts_match_the_sources(fresh: dict[str, compiler.Artifact]) -> None:
    assert compiler.check_artifacts(fresh=fresh) == [], "run `python -m chain_client.compiler` and commit the artifacts"
    assert {p.stem for p in ARTIFACTS_DIR.glob("*.json")} == set(fresh)


def test_check_detects_a_stale_artifact(tmp_path: Path, fresh: dict[str, compiler.Artifact]) -> None:
    compiler.write_artifacts(fresh, tmp_path)
    assert compiler.check_artifacts(tmp_path, fresh) == []
    path = tmp_path / "CustodyLedger.json"
    path.write_text(path.read_text().replace('"bytecode": "0x', '"bytecode": "0x00', 1))
    assert compiler.check_artifacts(tmp_path, fresh) == [
        "CustodyLedger: artifact differs from a fresh compile of contracts/"
    ]


def test_forge_uses_the_same_compiler_settings() -> None:
    profile = tomllib.loads((PROJECT_ROOT / "foundry.toml").read_text())["profile"]["default"]
    assert profile["optimizer"] is compiler.COMPILER_SETTINGS["optimizer"]["enabled"]
    assert profile["optimizer_runs"] == compiler.COMPILER_SETTINGS["optimizer"]["runs"]
    assert profile["evm_version"] == compiler.COMPILER_SETTINGS["evmVersion"]
    assert profile["bytecode_hash"] == compiler.COMPILER_SETTINGS["metadata"]["bytecodeHash"]


def test_wrapper_reports_the_pinned_version() -> None:
    out = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "solc"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Version: {compiler.SOLC_VERSION}+commit." in out and out.rstrip().endswith(".Linux.g++")


def test_missing_compiler_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(compiler, "NODE_MODULES", tmp_path)
    with pytest.raises(CompilerMissing, match="bootstrap"):
        compiler.compile_contracts()
