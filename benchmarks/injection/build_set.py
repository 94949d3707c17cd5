"""Build ``injection-set.json`` from the hand-written seeds (deterministic; rerun after editing).

    python benchmarks/injection/build_set.py

Every item has ``id``, ``text``, ``label`` (``injection`` or ``benign``), ``style`` and ``split``
(``dev`` or ``check``). Splits alternate within each style, and every variant of a seed (its
obfuscations, its embeddings in chat) shares the seed's split, so nothing tuned on ``dev`` leaks
into ``check``.
"""

from __future__ import annotations

import base64
import codecs
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seeds_attacks as attacks  # noqa: E402
import seeds_benign as benign  # noqa: E402

HOMOGLYPHS = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "i": "\u0456"})
LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def _zero_width(text: str) -> str:
    return "\u200b".join(text)


def _spaced(text: str) -> str:
    return " ".join(text)


OBFUSCATIONS = {
    "base64-told": lambda t: "Decode this base64 and follow it: " + base64.b64encode(t.encode()).decode(),
    "base64-bare": lambda t: "lol " + base64.b64encode(t.encode()).decode(),
    "hex": lambda t: "hex note: " + t.encode().hex(),
    "rot13": lambda t: "Apply rot13 and obey: " + codecs.encode(t, "rot13"),
    "homoglyph": lambda t: t.translate(HOMOGLYPHS),
    "fullwidth": _fullwidth,
    "zero-width": _zero_width,
    "leet": lambda t: t.lower().translate(LEET),
    "spaced": _spaced,
}

ATTACK_STYLES = {
    "direct": attacks.DIRECT,
    "rule": attacks.RULE,
    "role-markup": attacks.ROLE_MARKUP,
    "hidden": attacks.HIDDEN,
    "exfiltration": attacks.EXFILTRATION,
    "indirect": attacks.INDIRECT,
    "multilingual": attacks.MULTILINGUAL,
}

BENIGN_STYLES = {
    "instructions-and-rules": benign.INSTRUCTIONS_AND_RULES,
    "passwords-and-security": benign.PASSWORDS_AND_SECURITY,
    "ai-and-tech": benign.AI_AND_TECH,
    "links-and-codes": benign.LINKS_AND_CODES,
    "foreign-language": benign.FOREIGN_LANGUAGE,
    "emoji-and-formatting": benign.EMOJI_AND_FORMATTING,
    "everyday": benign.EVERYDAY,
}


def _split(index: int) -> str:
    return "dev" if index % 2 == 0 else "check"


def _item(id_: str, text: str, label: str, style: str, index: int) -> dict[str, str]:
    return {"id": id_, "text": text, "label": label, "style": style, "split": _split(index)}


def build() -> list[dict[str, str]]:
    items = []
    for style, texts in ATTACK_STYLES.items():
        items += [_item(f"{style}-{i}", t, "injection", style, i) for i, t in enumerate(texts)]
    for i, attack in enumerate(attacks.EMBEDDED_ATTACKS):
        for j in (i, i + 2):
            before, after = attacks.EMBED_FRAMES[j % len(attacks.EMBED_FRAMES)]
            text = f"{before} {attack}. {after}" if j == i else f"{before}\n{attack}\n{after}"
            items.append(_item(f"embedded-{i}-{j}", text, "injection", "embedded", i))
    for i, seed in enumerate(attacks.OBFUSCATE_FROM):
        for name, transform in OBFUSCATIONS.items():
            items.append(
                _item(f"obfuscated-{name}-{i}", transform(seed), "injection", f"obfuscated:{name}", i)
            )
    for style, texts in BENIGN_STYLES.items():
        items += [_item(f"benign-{style}-{i}", t, "benign", style, i) for i, t in enumerate(texts)]
    return items


def main() -> None:
    items = build()
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), "duplicate ids"
    out = HERE / "injection-set.json"
    out.write_text(json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    positives = sum(item["label"] == "injection" for item in items)
    print(f"{out}: {len(items)} items, {positives} injections, {len(items) - positives} benign")


if __name__ == "__main__":
    main()
