"""A normalised view of a text for pattern matching, mapped back to the original offsets.

Attackers spell instructions so that plain patterns miss them: fullwidth letters, Cyrillic or
Greek look-alikes, invisible characters between letters, leetspeak, letters spaced apart. The
skeleton undoes those spellings; ``origin[i]`` is the offset in the original text of the
skeleton's i-th character, so every span found in the skeleton can be reported on the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tmem.text import WORD_WITH_UNDERSCORE

# Characters that render as nothing (or only reorder text): removed from the skeleton.
INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\u3164\ufeff\uffa0"
)

# Cyrillic and Greek letters that look like Latin ones (after NFKC).
CONFUSABLES = {
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y",
    "\u0445": "x", "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u04bb": "h", "\u0501": "d",
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
    "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0406": "I",
    "\u03bf": "o", "\u03b1": "a", "\u03b5": "e", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v",
    "\u03c1": "p", "\u03c4": "t", "\u03c5": "u", "\u039f": "O", "\u0391": "A", "\u0392": "B",
    "\u0395": "E", "\u0397": "H", "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N",
    "\u03a1": "P", "\u03a4": "T", "\u03a7": "X", "\u0396": "Z",
}  # fmt: skip

LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}

# Leetspeak words: Latin letters, digits and the symbols LEET reads as letters (not a tokenizer
# for search: see tmem.text for those).
_LATIN_WORD = re.compile(r"[A-Za-z0-9@$]+")
# When this share of words mixes letters and digits, all-digit words are leetspeak too.
LEET_TEXT_SHARE = 0.3
_SPACED_RUN = re.compile(r"(?<!\S)(?:\S {1,3}){6,}\S(?!\S)")


@dataclass(frozen=True)
class Skeleton:
    """The normalised text and, per character, its offset in the original."""

    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of the skeleton span ``[start, end)``."""
        if not self.origin or start >= end:
            return (0, 0)
        last = self.origin[min(end, len(self.origin)) - 1]
        return (self.origin[start], last + 1)


def skeleton(text: str) -> Skeleton:
    """The normalised view of ``text`` (see the module docstring)."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char in INVISIBLE:
            continue
        for normal in unicodedata.normalize("NFKC", char):
            chars.append(normal)
            origin.append(index)
    chars = _unconfuse(chars)
    chars, origin = _unleet(chars, origin)
    chars, origin = _unspace(chars, origin)
    return Skeleton("".join(chars), tuple(origin))


def _unconfuse(chars: list[str]) -> list[str]:
    """Look-alike letters become Latin in words that mix them with Latin letters.

    Words written wholly in Cyrillic or Greek stay as they are, so patterns in those languages
    still match.
    """
    text = "".join(chars)
    for match in WORD_WITH_UNDERSCORE.finditer(text):
        word = match.group()
        if any(c in CONFUSABLES for c in word) and any(c.isascii() and c.isalpha() for c in word):
            for offset, char in enumerate(word, start=match.start()):
                chars[offset] = CONFUSABLES.get(char, char)
    return chars


def _unleet(chars: list[str], origin: list[int]) -> tuple[list[str], list[int]]:
    """Digits and ``@``/``$`` inside words that also hold letters become the letters they mimic."""
    text = "".join(chars)
    words = list(_LATIN_WORD.finditer(text))
    mixed = [m for m in words if _mixes_letters_and_leet(m.group())]
    leet_text = len(words) >= 4 and len(mixed) >= LEET_TEXT_SHARE * len(words)
    for match in words:
        word = match.group()
        if _mixes_letters_and_leet(word) or (leet_text and any(c in LEET for c in word)):
            for offset, char in enumerate(word, start=match.start()):
                chars[offset] = LEET.get(char, char)
    return chars, origin


def _mixes_letters_and_leet(word: str) -> bool:
    return any(c.isalpha() for c in word) and any(c in LEET for c in word)


def _unspace(chars: list[str], origin: list[int]) -> tuple[list[str], list[int]]:
    """``I g n o r e   a l l`` becomes ``Ignore all``: single spaces go, longer gaps stay one."""
    text = "".join(chars)
    keep = [True] * len(chars)
    for match in _SPACED_RUN.finditer(text):
        for gap in re.finditer(r" +", match.group()):
            start = match.start() + gap.start()
            end = match.start() + gap.end()
            for offset in range(start, end if gap.end() - gap.start() == 1 else end - 1):
                keep[offset] = False
    return (
        [c for c, k in zip(chars, keep, strict=True) if k],
        [o for o, k in zip(origin, keep, strict=True) if k],
    )
