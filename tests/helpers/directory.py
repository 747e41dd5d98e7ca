"""A throw-away directory file (SPEC §6) that settings point at for one test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import get_settings


def use_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory: dict[str, Any]
) -> Iterator[Path]:
    """Write `directory`, set DIRECTORY_FILE to it (SMTP unset), yield its path; settings reread."""
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump(directory))
    monkeypatch.setenv("DIRECTORY_FILE", str(path))
    monkeypatch.delenv("SMTP_HOST", raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()
