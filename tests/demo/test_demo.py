"""``make demo`` and ``make demo-full`` end to end, with the real MiniLM embedder.

The LLM-free run uses no LLM at all. The full-mode run drives tmem's real HTTP LLM client
against the demo's own scripted OpenAI-compatible server on 127.0.0.1, whose replies are
hand-authored (:mod:`tmem.demo.scripted`); the test checks the mechanism the demo claims.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tmem.demo.__main__ import main
from tmem.demo.scripted import ScriptedServer, extract_reply, segment_reply
from tmem.llm.prompts.extract import ExtractOutput
from tmem.llm.prompts.segment import SegmentOutput, coverage_error

slow = pytest.mark.slow  # loads the real MiniLM embedder


def _run_demo(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def llm_free_output() -> str:
    """``make demo``'s output, run once for the module (it loads MiniLM and ingests 25 turns)."""
    return _run_demo()


@pytest.fixture(scope="module")
def full_output() -> str:
    """``make demo-full``'s output, run once for the module."""
    return _run_demo("--scripted-llm")


def verdicts(output: str) -> dict[str, str]:
    """``{query: verdict line}`` from the demo's output."""
    found = re.findall(r"^search: (.+)$(?:\n(?!search:).*)*?\n  -> (.+)$", output, flags=re.M)
    return dict(found)


@slow
def test_llm_free_demo_shows_descriptive_wins_and_says_what_needs_an_llm(
    llm_free_output: str,
) -> None:
    output = llm_free_output
    assert output.startswith("tmem demo — LLM-free mode")
    found = verdicts(output)
    assert found["Who needs an emergency injection?"].startswith("turn s1:3 ranks 1 of 25")
    assert found["How does Tom commute?"].startswith("turn s1:5 ranks 1 of 25")
    assert found["Is Maya allowed to run hills?"].startswith("turn s1:9 ranks 1 of 25")
    venue = found["Which venue should we book for the team dinner?"]
    rank = int(re.match(r"turn s1:3 ranks (\d+) of", venue).group(1))  # type: ignore[union-attr]
    assert rank > 3, "the demo claims LLM-free search cannot link the venue to the allergy"
    assert "trigger" not in venue
    assert "make demo-full" in output and "TMEM_LLM_BASE_URL" in output


@slow
def test_full_demo_against_the_scripted_server_reaches_the_allergy_by_a_trigger(
    full_output: str,
) -> None:
    output = full_output
    first = output.splitlines()[0]
    assert first.startswith("tmem demo — full mode: LLM demo-scripted at http://127.0.0.1:")
    assert "replies scripted to show the mechanism, not a model's output" in first
    assert "failed:" not in output
    venue = verdicts(output)["Which venue should we book for the team dinner?"]
    assert re.search(r"a trigger \(bridge\) reached it at rank \d+$", venue), venue
    assert 'bridge trigger: "shellfish allergy -> ' in output
    assert "make demo-full" not in output


def test_scripted_replies_pass_the_prompts_own_validation() -> None:
    prompt = "\n".join(
        [
            "[1] 2025-03-03 18:02 (Mon) (gap: days) Maya: We onboarded two new engineers today.",
            "[2] 2025-03-03 18:04 (Mon) (gap: minutes) Maya: She carries an epinephrine pen.",
            "[3] 2025-03-03 18:08 (Mon) (gap: minutes) Maya: I joined the Lisbon half marathon.",
            "[4] 2025-03-03 18:09 (Mon) (gap: immediate) Leo: Amazing.",
        ]
    )
    segments = SegmentOutput.model_validate(segment_reply(prompt))
    assert coverage_error(segments, 4) is None
    assert [(s.start, s.end) for s in segments.scenes] == [(1, 2), (3, 4)]
    extracted = ExtractOutput.model_validate(extract_reply(prompt))
    by_turn = {tuple(i.source_turns): i for i in extracted.items}
    assert "shellfish" in by_turn[(2,)].content and by_turn[(2,)].triggers
    assert "Lisbon" in by_turn[(3,)].content


def test_scripted_server_refuses_prompts_it_has_no_script_for() -> None:
    with ScriptedServer() as server:
        request = urllib.request.Request(
            server.base_url + "/chat/completions",
            data=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json", "X-Tmem-Prompt": "answer@1"},
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 404
    assert "no reply for prompt 'answer@1'" in caught.value.read().decode()


def _normalised(text: str) -> list[str]:
    """Lines with the run's random parts (memory ids, the scripted server's port) masked."""
    text = re.sub(r"\b(scn|itm|trg)_[0-9a-f]+", r"\1_…", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:…", text).splitlines()


def _readme_block(starting: str) -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```text\n" + starting) + len("```text\n")
    return _normalised(readme[start : readme.index("\n```", start)])


def _is_subsequence(part: list[str], whole: list[str]) -> bool:
    lines = iter(whole)
    return all(any(line == candidate for candidate in lines) for line in part)


@slow
def test_the_demo_output_pasted_in_the_readme_is_what_the_demo_prints(
    llm_free_output: str, full_output: str
) -> None:
    """Paste `make demo` / `make demo-full` output into the README again when this fails."""
    assert _readme_block("tmem demo — LLM-free mode") == _normalised(llm_free_output)
    full = _normalised(full_output)
    excerpt = _readme_block("tmem demo — full mode")
    assert len(excerpt) > 20 and _is_subsequence(excerpt, full)
