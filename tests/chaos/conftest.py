"""The fault suite's fixtures: a pipeline of its own and the ERP simulation with a random password."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.s4hana import S4HanaSim
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack import StackInfo


@pytest.fixture
def pipeline(stack: StackInfo, tmp_path: Path) -> Iterator[LocalPipeline]:
    made = LocalPipeline.create(stack, f"c{uuid.uuid4().hex[:8]}", tmp_path / "pipeline")
    yield made
    made.destroy(stack.postgres_dsn)


@pytest.fixture
def erp_api() -> Iterator[S4HanaSim]:
    with S4HanaSim(password=secrets.token_urlsafe(18)) as sim:
        yield sim
