"""``assess(text)``: the offline injection detector (pure; see ``patterns.py`` for the signs)."""

from __future__ import annotations

from collections.abc import Iterator

from tmem.models import SAFE, RiskAssessment, RiskReason
from tmem.safety import patterns
from tmem.safety.decode import payloads
from tmem.safety.skeleton import INVISIBLE, Skeleton, skeleton

DETECTOR_ID = "injection@1"
THRESHOLD = 1.0

# Invisible characters with legitimate uses: joiners inside emoji and Indic or Persian words,
# direction marks inside right-to-left text. They count only between two ASCII letters.
_CONTEXTUAL = frozenset("\u200c\u200d\u200e\u200f\u00ad")
_TAG_CHARACTERS = range(0xE0000, 0xE0080)

Scored = tuple[RiskReason, float]


def assess(text: str) -> RiskAssessment:
    """Whether ``text`` carries an instruction aimed at a model, with the reasons.

    Never alters the text; offsets in the reasons index into ``text`` itself.
    """
    return _assess(text, decode=True)


def _assess(text: str, *, decode: bool) -> RiskAssessment:
    found = list(_hidden_text(text))
    view = skeleton(text)
    found += _signs(view)
    found += _addressed(view)
    if decode:
        found += _encoded(text)
    return _verdict(found)


def _verdict(found: list[Scored]) -> RiskAssessment:
    weight: dict[str, float] = {}
    for reason, score in found:
        weight[reason.code] = max(weight.get(reason.code, 0.0), score)
    if sum(weight.values()) < THRESHOLD:
        return SAFE
    reasons = sorted({reason for reason, _ in found}, key=lambda r: (r.start, r.end, r.code))
    return RiskAssessment(flagged=True, reasons=tuple(reasons))


def _hidden_text(text: str) -> Iterator[Scored]:
    for index, char in enumerate(text):
        if char == "\ufeff" and index == 0:
            continue
        if char in _CONTEXTUAL and not _between_ascii_letters(text, index):
            continue
        if char in INVISIBLE or ord(char) in _TAG_CHARACTERS:
            yield RiskReason("hidden_text", index, index + 1), patterns.HIDDEN_TEXT_WEIGHT


def _between_ascii_letters(text: str, index: int) -> bool:
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    return before.isascii() and before.isalpha() and after.isascii() and after.isalpha()


def _signs(view: Skeleton) -> Iterator[Scored]:
    for sign in patterns.SIGNS:
        for match in sign.pattern.finditer(view.text):
            start, end = view.span(match.start(), match.end())
            yield RiskReason(sign.code, start, end), sign.weight


def _addressed(view: Skeleton) -> Iterator[Scored]:
    """A phrase aimed at a model, followed closely by a directive."""
    for match in patterns.ADDRESSED_ALONE.finditer(view.text):
        start, end = view.span(match.start(), match.end())
        yield RiskReason("addressed_to_model", start, end), patterns.ADDRESSED_WEIGHT
    for match in patterns.ADDRESSED.finditer(view.text):
        window = view.text[match.end() : match.end() + patterns.DIRECTIVE_WINDOW]
        if patterns.DIRECTIVE_AFTER.search(window):
            start, end = view.span(match.start(), match.end())
            yield RiskReason("addressed_to_model", start, end), patterns.ADDRESSED_WEIGHT


def _encoded(text: str) -> Iterator[Scored]:
    for payload in payloads(text):
        if _assess(payload.text, decode=False).flagged:
            reason = RiskReason("encoded_payload", payload.start, payload.end)
            yield reason, patterns.ENCODED_WEIGHT
