"""Where the project's files are: a leaf module, so that no part needs the composition root for a path."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
