"""The demo itself: ingest the bundled conversation, then show what recall can and cannot do.

Two kinds of query are shown. A *descriptive* query describes the memory in other words ("who
needs an emergency injection?" for an epinephrine pen): LLM-free mode handles it with dense and
BM25 fusion. An *associative* query needs the memory without describing it ("which venue for the
team dinner?" needs the shellfish allergy): only triggers, which an LLM writes at ingest, link
the two. In LLM-free mode the demo says so and shows where the memory really ranks.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from tmem.cli.settings import describe_mode
from tmem.config import Config
from tmem.memory import Memory
from tmem.models import FAMILIES, Hit
from tmem.validate import MAX_LIMIT

SHOWN = 3
SCRIPTED_NOTE = "replies scripted to show the mechanism, not a model's output"


def sample() -> dict[str, Any]:
    """The bundled conversation, its user and the demo's queries."""
    text = resources.files("tmem.data").joinpath("sample_conversation.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def run(db_path: Path, config: Config, out: TextIO, *, scripted: bool = False) -> None:
    """Ingest the sample into ``db_path`` and print the demo to ``out``."""
    data = sample()
    user = data["user_id"]
    mode = describe_mode(config) + (f" ({SCRIPTED_NOTE})" if scripted else "")
    print(f"tmem demo — {mode}", file=out)
    with Memory.open(db_path, config) as mem:
        print(f"embedder: {mem.embedder.name}", file=out)
        _ingest(mem, data, out)
        print("\n== Descriptive recall: the query describes the memory in other words ==", file=out)
        for case in data["queries"]["descriptive"]:
            _show(mem, user, case["query"], case["expect"], out)
        print("\n== Associative recall: the memory is what the query will need ==", file=out)
        for case in data["queries"]["associative"]:
            _show(mem, user, case["query"], case["expect"], out)
        if mem.llm is None:
            print(_NEEDS_LLM, file=out)


_NEEDS_LLM = """
  Nothing in the allergy's words or meaning points at a dinner venue, so LLM-free search
  cannot link them. In full mode an LLM writes triggers at ingest (Entity, Bridge, Scene,
  Horizon) that rehearse when each memory will be needed, and a trigger reaches it.
  See it with `make demo-full` (replies scripted to show the mechanism), or run this demo
  against your own model: TMEM_LLM_BASE_URL=... TMEM_LLM_MODEL=... make demo"""


def _ingest(mem: Memory, data: dict[str, Any], out: TextIO) -> None:
    for session in data["sessions"]:
        report = mem.add(session["messages"], data["user_id"], session["session_id"])
        print(
            f"session {session['session_id']}: {report.turns} turns -> {report.scenes} scenes, "
            f"{report.items} items, {sum(report.triggers.values())} triggers, "
            f"{report.llm_calls} LLM calls",
            file=out,
        )
        for failure in report.failures:
            print(f"  failed: {failure.stage}: {failure.error}", file=out)


def _show(mem: Memory, user: str, query: str, expect: str, out: TextIO) -> None:
    hits = mem.search(query, user, limit=MAX_LIMIT)
    print(f"\nsearch: {query}", file=out)
    for rank, hit in enumerate(hits[:SHOWN], start=1):
        _print_hit(mem, query, user, rank, hit, out)
    resting = [(r, h) for r, h in enumerate(hits, start=1) if expect in h.source_turns]
    if not resting:
        print(f"  -> turn {expect} is not among the {len(hits)} results", file=out)
        return
    first = resting[0]
    by_trigger = next(((r, h) for r, h in resting if _trigger_labels(h)), None)
    printed = SHOWN
    for rank in sorted({first[0], by_trigger[0] if by_trigger else 0}):
        if rank > printed:
            if rank > printed + 1:
                print("  ...", file=out)
            _print_hit(mem, query, user, rank, hits[rank - 1], out)
            printed = rank
    verdict = f"turn {expect} ranks {first[0]} of {len(hits)} in {mem.mode} mode"
    if by_trigger is not None:
        labels = ", ".join(_trigger_labels(by_trigger[1]))
        verdict += f"; a trigger ({labels}) reached it at rank {by_trigger[0]}"
    print(f"  -> {verdict}", file=out)


def _trigger_labels(hit: Hit) -> list[str]:
    return [label for label in hit.reached_by if label.split(":")[0] in _FAMILIES]


_FAMILIES = frozenset(FAMILIES)


def _print_hit(mem: Memory, query: str, user: str, rank: int, hit: Hit, out: TextIO) -> None:
    print(f"  {rank}. [{hit.kind} {hit.id}] {_short(hit.text)}", file=out)
    print(f"     reached by: {', '.join(hit.reached_by)}", file=out)
    for line in _trigger_lines(mem, query, user, hit):
        print(f"     {line}", file=out)


def _trigger_lines(mem: Memory, query: str, user: str, hit: Hit) -> list[str]:
    """For each trigger label that reached ``hit``, its trigger closest to ``query``."""
    labels = set(hit.reached_by)
    triggers = [t for t in mem.store.triggers_of(user, hit.id) if t.label in labels]
    if not triggers:
        return []
    query_vector, *vectors = mem.embedder.embed([query, *(t.text for t in triggers)])
    best: dict[str, tuple[float, str]] = {}
    for trigger, vector in zip(triggers, vectors, strict=True):
        score = float(query_vector @ vector)
        if score > best.get(trigger.label, (-2.0, ""))[0]:
            best[trigger.label] = (score, trigger.text)
    return [f'{label} trigger: "{text}"' for label, (_, text) in sorted(best.items())]


def _short(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
