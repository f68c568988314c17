"""Shared test fixtures.

Real third-party sample data lives in ``../shared/data`` beside the repository (never copied into
it). Tests that need it take the ``shared_data`` fixture and are skipped cleanly when it is absent.
Override the location with ``ONEMAP_SHARED_DATA``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ONEMAP_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA
