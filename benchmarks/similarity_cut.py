"""Which cut lets unrelated hits go without losing the evidence: fused score or cosine?

Usage: python benchmarks/similarity_cut.py WORKDIR OUT.json [--locomo PATH]

Searches ``WORKDIR/llm-free.db`` (LoCoMo conversation 0, LLM-free, MiniLM; built by
``benchmarks/explain_cost.py`` when missing) with two sets of queries, ``limit=10``:

* *related*: the conversation's scored LoCoMo questions, each with its evidence turns;
* *unrelated*: thirty questions about things the conversation never touches.

For each query it records the top hit's fused score and each hit's similarity (the best cosine
its ``explain`` shows), then, for each ``min_similarity`` cut, how many related questions
still find an evidence turn in their 10 hits and how many hits the unrelated queries still get;
and the same for a relative cut on the fused score (keep hits scoring at least a share of the
top hit's), the alternative ``min_similarity`` was chosen over.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from tmem import Config, Hit, Memory
from tmem.embed.factory import build_embedder
from tmem.eval.locomo import load_locomo, scored_questions

sys.path.insert(0, str(Path(__file__).parent))
from explain_cost import LOCOMO, CachedEmbedder, build

UNRELATED = [
    "What is the boiling point of tungsten?",
    "How do I reset a BGP session on a Cisco router?",
    "Which compiler flag enables link-time optimisation?",
    "What was the GDP of Portugal in 1998?",
    "How many moons does Neptune have?",
    "What torque should wheel lug nuts be tightened to?",
    "How do I rebase a git branch onto main?",
    "What is the half-life of carbon-14?",
    "Which enzyme breaks down lactose?",
    "What is the capital of Kazakhstan?",
    "How does a Kalman filter estimate position?",
    "Who won the 1974 FIFA World Cup?",
    "How do I configure a Kubernetes ingress controller?",
    "What is the syntax of a SQL window function?",
    "What does the Black-Scholes formula compute?",
    "How do transistors amplify current?",
    "When was the Treaty of Westphalia signed?",
    "How do I change the oil filter on a diesel tractor?",
    "What is a monad in Haskell?",
    "What causes ocean tides?",
    "What is the capital gains tax rate in Germany?",
    "How long does concrete take to cure?",
    "What is the leg before wicket rule in cricket?",
    "Which programming language has a borrow checker?",
    "How is insulin produced commercially?",
    "What is the orbital period of Mars?",
    "How do I calculate the load on a steel beam?",
    "What voltage does a car alternator produce?",
    "Which bond yields rose after the 2008 crisis?",
    "How are semiconductor wafers doped?",
]
CUTS = (None, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
RELATIVE = (0.5, 0.7, 0.8, 0.9)


def kept(hits: list[Hit], share: float) -> list[Hit]:
    """The hits a relative cut keeps: fused score at least ``share`` of the top hit's."""
    return [h for h in hits if h.score >= share * hits[0].score] if hits else []


def similarity(hit: Hit) -> float:
    """The best cosine among the hit's embedding channels (what ``min_similarity`` reads)."""
    return max((e.score for e in hit.explain if e.channel != "bm25"), default=0.0)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[int(q * (len(ordered) - 1))]  # noqa: E731
    return {"p10": pick(0.1), "p50": pick(0.5), "p90": pick(0.9), "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--locomo", default=LOCOMO)
    args = parser.parse_args()
    config = Config()
    embedder = CachedEmbedder(build_embedder(config.embedder))
    build(args.workdir, args.locomo, config, embedder)
    related = [q for q in scored_questions(load_locomo(args.locomo)[0]) if q.evidence]
    result: dict[str, Any] = {"related_queries": len(related), "unrelated_queries": len(UNRELATED)}
    with Memory.open(args.workdir / "llm-free.db", config, embedder=embedder) as mem:
        plain_related = [mem.search(q.question, "conv0", limit=10) for q in related]
        plain_unrelated = [mem.search(q, "conv0", limit=10) for q in UNRELATED]
        result["top_fused_score"] = {
            "related": percentiles([hits[0].score for hits in plain_related]),
            "unrelated": percentiles([hits[0].score for hits in plain_unrelated]),
        }
        result["top_similarity"] = {
            "related": percentiles([similarity(hits[0]) for hits in plain_related]),
            "unrelated": percentiles([similarity(hits[0]) for hits in plain_unrelated]),
        }
        evidence = [
            similarity(hit)
            for q, hits in zip(related, plain_related, strict=True)
            for hit in hits
            if set(hit.source_turns) & set(q.evidence)
        ]
        result["evidence_hit_similarity"] = percentiles(evidence)
        cuts = []
        for cut in CUTS:
            found = sum(
                any(set(h.source_turns) & set(q.evidence) for h in hits)
                for q, hits in (
                    (q, mem.search(q.question, "conv0", limit=10, min_similarity=cut))
                    for q in related
                )
            )
            unrelated = [
                len(mem.search(q, "conv0", limit=10, min_similarity=cut)) for q in UNRELATED
            ]
            related_counts = [
                len(mem.search(q.question, "conv0", limit=10, min_similarity=cut)) for q in related
            ]
            cuts.append(
                {
                    "min_similarity": cut,
                    "related_any_evidence_hit_at_10": found / len(related),
                    "related_mean_hits": statistics.fmean(related_counts),
                    "unrelated_mean_hits": statistics.fmean(unrelated),
                    "unrelated_with_no_hit": sum(n == 0 for n in unrelated) / len(unrelated),
                }
            )
        result["cuts"] = cuts
        result["relative_fused_cuts"] = [
            {
                "share_of_top_score": share,
                "related_any_evidence_hit_at_10": sum(
                    any(set(h.source_turns) & set(q.evidence) for h in kept(hits, share))
                    for q, hits in zip(related, plain_related, strict=True)
                )
                / len(related),
                "related_mean_hits": statistics.fmean(len(kept(h, share)) for h in plain_related),
                "unrelated_mean_hits": statistics.fmean(
                    len(kept(h, share)) for h in plain_unrelated
                ),
            }
            for share in RELATIVE
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
