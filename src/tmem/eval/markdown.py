"""``report.md``: the results as side-by-side Markdown tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tmem.eval.result_keys import GROUP_METRICS, HEADLINE, group_key

NOTES = {
    "locomo": "Ranks count turns; categories are LoCoMo file category numbers.",
    "locomo-plus": "Ranks count turns; the gold turns of an item are its own cue turns.",
    "longmemeval": (
        "Official LongMemEval metrics (session level from the turn ranking). Overall retrieval"
        " means leave out abstention questions (n = 470 on a full file); `with_user_evidence`"
        " also leaves out questions with no marked indexed turn (n = 419)."
    ),
}
SUBSET_METRICS = (
    "session.recall_any@5",
    "session.recall_all@5",
    "session.ndcg_any@5",
    "session.recall_any@10",
    "session.recall_all@10",
    "session.ndcg_any@10",
    "turn.recall_any@10",
    "turn.recall_all@10",
    "turn.ndcg_any@10",
    "turn.recall_all@50",
    "turn.ndcg_any@50",
    "accuracy",
)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def overall_table(systems: Mapping[str, Any]) -> str:
    """One row per metric, one column per system."""
    present = [m for m in HEADLINE if any(m in s["overall"] for s in systems.values())]
    rows = [[m, *(s["overall"].get(m) for s in systems.values())] for m in present]
    rows.append(["questions", *(s["n"] for s in systems.values())])
    return table(["metric", *systems], rows)


def group_table(systems: Mapping[str, Any], group_key: str, metric: str) -> str:
    """One row per category (number and name), one column per system, for ``metric``."""
    groups: dict[str, str] = {}
    for summary in systems.values():
        for key, group in summary.get(group_key, {}).items():
            groups.setdefault(key, f"{key} {group['name']}" if key != group["name"] else key)
    rows = []
    for key, label in groups.items():
        cells = [s.get(group_key, {}).get(key, {}).get(metric) for s in systems.values()]
        n = max(s.get(group_key, {}).get(key, {}).get("n", 0) for s in systems.values())
        rows.append([label, n, *cells])
    return table([group_key.removeprefix("by_"), "n", *systems], rows)


def cost_table(systems: Mapping[str, Any]) -> str:
    """Latency and LLM usage per system."""
    header = [
        "system",
        "search p50 ms",
        "search p95 ms",
        "ingest s",
        "LLM calls/turn",
        "tokens/turn",
        "LLM calls/query",
        "judge parse failures",
        "context tokens",
    ]
    rows = []
    for name, s in systems.items():
        usage = s["usage"]
        rows.append([
            name, s["latency_ms"]["p50"], s["latency_ms"]["p95"], s["ingest"]["seconds"],
            usage["ingest_llm_calls_per_turn"], usage["ingest_tokens_per_turn"],
            usage["query_llm_calls_per_query"], usage["judge_parse_failures"],
            usage["context_tokens_mean"],
        ])  # fmt: skip
    return table(header, rows)


def commit_line(results: Mapping[str, Any]) -> str:
    """Which source the run used: its start commit, flagged when dirty or moved before writing."""
    line = f"commit `{results.get('git_commit')}`"
    if results.get("git_dirty"):
        line += " (with uncommitted changes)"
    if results.get("git_commit_at_write"):
        line += f" (results written at `{results['git_commit_at_write']}`)"
    return line


def _cache_line(counts: Mapping[str, int] | None) -> str:
    if not counts:
        return ""
    return (
        f"; LLM calls this run: {counts['sent']} sent, {counts['replayed']} replayed from the"
        " cache (the usage figures count both)"
    )


def subset_tables(systems: Mapping[str, Any]) -> list[str]:
    """One table per named subset: key metrics as rows, systems as columns."""
    names = dict.fromkeys(name for s in systems.values() for name in s.get("subsets", {}))
    parts = []
    for name in names:
        cells = {system: s.get("subsets", {}).get(name, {}) for system, s in systems.items()}
        present = [m for m in SUBSET_METRICS if any(m in c for c in cells.values())]
        rows = [[m, *(c.get(m) for c in cells.values())] for m in present]
        rows.append(["questions", *(c.get("n", 0) for c in cells.values())])
        parts += [f"## Subset {name}", table(["metric", *systems], rows)]
    return parts


def _task_averaged_line(systems: Mapping[str, Any]) -> str:
    values = {n: s.get("task_averaged_accuracy") for n, s in systems.items()}
    if all(value is None for value in values.values()):
        return ""
    shown = ", ".join(f"{name} {_cell(value)}" for name, value in values.items())
    return f"Accuracy averaged over question types: {shown}."


def _protocol_line(results: Mapping[str, Any]) -> str:
    if results.get("benchmark") != "longmemeval":
        return ""
    if results.get("official"):
        return "Indexed: user turns only (the official setup)."
    return "Indexed: every turn, user and assistant (all roles: NOT the official setup)."


def items_line(results: Mapping[str, Any]) -> str:
    """For cue/trigger runs: how many items ran, and from which half of the file."""
    if results.get("benchmark") != "locomo-plus":
        return ""
    half = results.get("split")
    which = f"the {half} half of the file" if half else "the whole file (no split chosen)"
    return f"{results.get('items')} items from {which}."


def render_markdown(results: Mapping[str, Any]) -> str:
    """The whole report."""
    systems = results["systems"]
    benchmark = results.get("benchmark", "locomo")
    groups = group_key(benchmark)
    parts = [
        f"# {benchmark} ({results.get('mode')})",
        f"config `{results['config_fingerprint']}`, {commit_line(results)}, "
        f"embedder `{results['models']['embedder']}`, LLM `{results['models']['llm']}`"
        + _cache_line(results.get("llm_cache")),
        NOTES.get(benchmark, ""),
        _protocol_line(results),
        items_line(results),
        "## Overall",
        overall_table(systems),
        _task_averaged_line(systems),
        *subset_tables(systems),
    ]
    for metric in GROUP_METRICS:
        if any(metric in s["overall"] for s in systems.values()):
            parts += [
                f"## {metric} by {groups.removeprefix('by_')}",
                group_table(systems, groups, metric),
            ]
    parts += ["## Cost", cost_table(systems)]
    if results.get("command"):
        parts += ["## Command", f"`{results['command']}`"]
    return "\n\n".join(part for part in parts if part) + "\n"
