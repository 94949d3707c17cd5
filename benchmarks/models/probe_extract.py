"""Time single extraction calls of a local GGUF model on the demo conversation.

Each chosen session of ``tmem/data/sample_conversation.json`` is cut into chunks of ``--chunk``
turns and sent as one ``extract`` call (no corrective retry), exactly as the write path renders
it. Prints, per call: valid or not, items, Entity/Bridge proposals, non-empty Horizon channels,
prompt and reply tokens and wall seconds; ``--show`` also prints each reply.

Usage::

    PYTHONPATH=src python benchmarks/models/probe_extract.py MODEL.gguf --sessions s1,s3
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from tmem.demo.show import sample
from tmem.errors import LLMOutputError
from tmem.llm.local import LlamaCppLLM
from tmem.llm.prompts import extract
from tmem.llm.prompts.lines import TurnLine
from tmem.llm.structured import call_structured


def chunks(session: dict[str, object], size: int) -> list[extract.ExtractInputs]:
    messages = list(session["messages"])  # type: ignore[call-overload]
    out = []
    for start in range(0, len(messages), size):
        lines = tuple(
            TurnLine(
                i + 1,
                m["speaker"],
                m["content"],
                datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")),
            )
            for i, m in enumerate(messages[start : start + size])
        )
        out.append(
            extract.ExtractInputs("Conversation", "", lines, reference_time=lines[-1].timestamp)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--sessions", default="s1")
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    llm = LlamaCppLLM(args.model, n_ctx=8192, n_threads=args.threads, prompt_cache_mb=1024)
    wanted = set(args.sessions.split(","))
    for session in sample()["sessions"]:
        if session["session_id"] not in wanted:
            continue
        for index, inputs in enumerate(chunks(session, args.chunk)):
            started = time.perf_counter()
            label = f"{session['session_id']}#{index} ({len(inputs.turns)} turns)"
            try:
                result = call_structured(llm, extract.SPEC, inputs, datetime.now(UTC), retries=0)
            except LLMOutputError as error:
                print(f"{label}: invalid after {time.perf_counter() - started:.0f} s: {error}")
                continue
            out, usage = result.value, result.usage
            triggers = sum(len(item.triggers) for item in out.items)
            horizon = sum(1 for _, channel in out.horizon if channel.sent)
            print(
                f"{label}: valid, {len(out.items)} items, {triggers} Entity/Bridge, {horizon} "
                f"Horizon, {usage.prompt_tokens}+{usage.completion_tokens} tokens, "
                f"{time.perf_counter() - started:.0f} s"
            )
            if args.show:
                print(json.dumps(out.model_dump(), indent=1))


if __name__ == "__main__":
    main()
