"""``tmem search --explain``: each hit's channels, ranks, raw scores and matching triggers."""

from __future__ import annotations

from tmem.models import ChannelEvidence, Hit
from tmem.spaces import RERANK, raw_score_name

TRIGGER_TEXT_WIDTH = 100


def explain_lines(hit: Hit) -> list[str]:
    """The lines that say why ``hit`` came back, strongest channel first.

    The header gives the memory's fused score among the memories of its kind: the sum of
    what each channel adds. In LLM-free mode that is ``Hit.score``; in full mode ``Hit.score``
    is the merged list's ``1 / (k + rank)``, and with a reranker the cross-encoder's score.

    Example::

        why (fused 0.0325 among scenes, 2 channels):
          horizon, rank 1: cosine x confidence 0.5680, adds 0.0164
            horizon:GOAL_ARC "Maya will plan future group meals ..." cosine 0.71, confidence 0.80
          dense, rank 2: cosine 0.4120, adds 0.0161
    """
    if not hit.explain:
        return []
    fused = [e for e in hit.explain if e.channel != RERANK]
    total = sum(e.contribution for e in fused)
    plural = "" if len(fused) == 1 else "s"
    lines = [f"why (fused {total:.4f} among {hit.kind}s, {len(fused)} channel{plural}):"]
    for evidence in hit.explain:
        lines.append("  " + _channel_line(evidence))
        lines.extend(f"    {_trigger_line(t.label, t.text, t.cosine, t.confidence)}"
                     for t in evidence.triggers)  # fmt: skip
    return lines


def _channel_line(evidence: ChannelEvidence) -> str:
    name = raw_score_name(evidence.channel)
    # Cosines lie in -1..1; BM25 and cross-encoder scores have no fixed scale.
    value = f"{evidence.score:.4f}" if name.startswith("cosine") else f"{evidence.score:.4g}"
    line = f"{evidence.channel}, rank {evidence.rank}: {name} {value}"
    if evidence.channel == RERANK:
        return line + " (replaces the fused score)"
    return line + f", adds {evidence.contribution:.4f}"


def _trigger_line(label: str, text: str, cosine: float, confidence: float) -> str:
    flat = " ".join(text.split())
    if len(flat) > TRIGGER_TEXT_WIDTH:
        flat = flat[: TRIGGER_TEXT_WIDTH - 3] + "..."
    return f'{label} "{flat}" cosine {cosine:.2f}, confidence {confidence:.2f}'
