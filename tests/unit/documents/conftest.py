from __future__ import annotations

from pathlib import Path

import pytest

from gateway.documents.store import EmbeddedDocumentStore


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedDocumentStore:
    # fsync is exercised by its own test; skipping it elsewhere keeps the suite fast.
    return EmbeddedDocumentStore(tmp_path / "store", durable=False)
