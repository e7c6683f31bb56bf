"""Shared fixtures: where the real source files are, and a throw-away lake."""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path:
    """Return the real source files' folder: CCNI_SOURCE_MIRROR or the default."""
    configured = os.environ.get("CCNI_SOURCE_MIRROR")
    if configured:
        return Path(configured).resolve()
    return (PROJECT_ROOT.parent / "shared" / "data" / "real").resolve()


@pytest.fixture(scope="session")
def real_dir() -> Path:
    folder = real_data_dir()
    if not folder.is_dir():
        pytest.fail(
            f"real source files not found at {folder}; "
            "set CCNI_SOURCE_MIRROR to the folder laid out like shared/data/real"
        )
    return folder
