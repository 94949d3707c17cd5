"""Payloads hidden in an encoding: base64 and hex blobs, rot13, decoded for a second look."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){12,}(?![0-9A-Fa-f])")
_ROT13_HINT = re.compile(r"\brot-?13\b|\bcaesar\b", re.IGNORECASE)
MIN_PRINTABLE = 0.9


@dataclass(frozen=True)
class Payload:
    """Decoded text found at ``[start, end)`` of the original."""

    start: int
    end: int
    text: str


def payloads(text: str) -> Iterator[Payload]:
    """Every blob in ``text`` that decodes to readable text, and the rot13 reading if hinted."""
    for match in _BASE64.finditer(text):
        decoded = _readable(_b64(match.group()))
        if decoded:
            yield Payload(match.start(), match.end(), decoded)
    for match in _HEX.finditer(text):
        decoded = _readable(bytes.fromhex(match.group()))
        if decoded:
            yield Payload(match.start(), match.end(), decoded)
    if _ROT13_HINT.search(text):
        yield Payload(0, len(text), codecs.decode(text, "rot13"))


def _b64(blob: str) -> bytes:
    try:
        return base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _readable(raw: bytes) -> str:
    """The UTF-8 text in ``raw`` if it reads as words, else ``""``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    if not text or " " not in text:
        return ""
    printable = sum(c.isprintable() or c in "\n\t" for c in text)
    return text if printable / len(text) >= MIN_PRINTABLE else ""
