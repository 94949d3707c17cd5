"""The installed tmem's version, as stores record it in their metadata."""

from __future__ import annotations

from importlib import metadata


def tmem_version() -> str:
    """The installed distribution's version (``0+unknown`` when run from a bare source tree)."""
    try:
        return metadata.version("tmem")
    except metadata.PackageNotFoundError:
        return "0+unknown"
