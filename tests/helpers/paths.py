"""Where the repository is, for tests that read its files or run its scripts."""

from __future__ import annotations

from pathlib import Path

#: The repository's root folder (the one holding ``pyproject.toml``).
ROOT = Path(__file__).resolve().parents[2]
