"""A scripted OpenAI-compatible server for ``make demo-full``.

No capable model runs offline, so ``python -m tmem.demo --scripted-llm`` starts this server on
127.0.0.1 and points tmem's real HTTP LLM client at it. Its replies are written by hand for the
bundled conversation, in the shape the prompts ask for: they show the mechanism (what a model
writes at ingest and how a trigger then reaches a memory), not a model's output.

Replies are chosen from the numbered turns of each prompt, so they follow whatever windows and
chunks the write path sends.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "demo-scripted"

# "[3] 2025-03-03 18:04 (Mon) (gap: minutes) Maya: text" -> (3, "Maya: text")
_TURN_LINE = re.compile(r"^\[(\d+)\] \S+ \S+ \(\w+\)(?: \(gap: [^)]*\))? (.*)$", re.M)


@dataclass(frozen=True)
class ScriptedFact:
    """An item the script extracts when a numbered turn contains ``marker``."""

    marker: str
    content: str
    keywords: tuple[str, ...]
    entity: str = ""
    bridge: str = ""


@dataclass(frozen=True)
class ScriptedScene:
    """A scene that starts at the turn containing ``marker``."""

    marker: str
    title: str
    summary: str
    facets: Mapping[str, str]
    horizon: Mapping[str, str] = field(default_factory=dict)


SCENES = (
    ScriptedScene(
        "onboarded two new engineers",
        "Maya tells Leo about onboarding two new engineers, Priya and Tom, in March 2025",
        "Maya onboarded two engineers. Priya has a severe shellfish allergy and carries an "
        "epinephrine pen; Tom cycles in from Ashford.",
        {
            "situation": "A team lead describing the new people who joined her group.",
            "object": "An emergency auto-injector.",
            "event": "Introducing newcomers and what colleagues need to know about them.",
            "emotion": "Protective care for the people on her team.",
        },
    ),
    ScriptedScene(
        "Lisbon half marathon",
        "Maya signs up for the Lisbon half marathon, her first race since knee surgery",
        "Maya entered the Lisbon half marathon in October. Her physio forbids downhill running, "
        "so she trains on flat routes; Leo offers to join the long runs.",
        {
            "situation": "A runner coming back from an operation sets a new goal.",
            "object": "A race bib for an autumn road race.",
            "event": "Committing to a race and planning careful training.",
            "emotion": "Determined optimism.",
        },
        {"GOAL_ARC": "Maya is working towards finishing a half marathon after her knee surgery."},
    ),
    ScriptedScene(
        "grandmother's house",
        "Maya keeps her grandmother's handwritten recipe book after clearing out the house",
        "Maya and her family sold the contents of her grandmother's house. She kept only the "
        "handwritten recipe book and still cannot bake the cardamom bread from it.",
        {
            "situation": "Sorting through a late relative's belongings.",
            "object": "A family heirloom full of handwritten notes.",
            "event": "Choosing the one keepsake worth holding on to.",
            "emotion": "Tender nostalgia.",
        },
        {"LEGACY_ANCHOR": "Maya wants to keep her grandmother's baking alive in her own kitchen."},
    ),
    ScriptedScene(
        "stop taking work calls",
        "Maya decides to stop taking work calls after seven in the evening",
        "After a spring of late-night messages Maya set a rule: no work calls after seven. Her "
        "manager agreed as long as on-call is covered.",
        {
            "situation": "Setting a boundary between work and private life.",
            "object": "A silenced phone in the evening.",
            "event": "Agreeing a new rule with a manager.",
            "emotion": "Relief mixed with resolve.",
        },
        {"BELIEF_IN_ACTION": "Maya will turn down evening meetings to protect time with people."},
    ),
    ScriptedScene(
        "quarterly goal",
        "Maya is asked to organise a team dinner for eleven people after the quarterly goal",
        "The team hit its quarterly goal and Maya is organising a dinner next Friday for eleven "
        "people, the new hires included. Leo suggests the harbour restaurants.",
        {
            "situation": "Planning a celebration for a whole team.",
            "object": "A long table for eleven.",
            "event": "Choosing where a group will eat together.",
            "emotion": "Proud anticipation.",
        },
    ),
    ScriptedScene(
        "eighteen kilometres",
        "Maya plans an eighteen kilometre training run along the river six weeks before the race",
        "Maya's plan calls for 18 km on Sunday, six weeks before race day. Leo will join for the "
        "first ten on the flat river route.",
        {
            "situation": "Two friends arranging a long weekend run.",
            "object": "A flat riverside path.",
            "event": "Scheduling the longest run so far.",
            "emotion": "Focused commitment.",
        },
    ),
)

FACTS = (
    ScriptedFact(
        "epinephrine pen",
        "Priya, one of the two new engineers, is badly allergic to shellfish, even traces in a "
        "sauce, and carries an epinephrine pen.",
        ("Priya", "shellfish", "allergy", "epinephrine pen"),
        entity="dietary restriction",
        bridge="shellfish allergy -> team dinners need a venue with shellfish-free dishes",
    ),
    ScriptedFact(
        "bike racks",
        "Tom, a new engineer, cycles to work from Ashford every morning and only drinks tea.",
        ("Tom", "cycling", "Ashford", "tea"),
        entity="commuting by bicycle",
        bridge="long bike commute -> office needs bike parking and showers",
    ),
    ScriptedFact(
        "Lisbon half marathon",
        "Maya signed up for the Lisbon half marathon in October 2025.",
        ("Maya", "Lisbon", "half marathon", "October"),
        entity="road race",
    ),
    ScriptedFact(
        "physio said",
        "After knee surgery, Maya's physio told her not to run downhill for a while, so she "
        "sticks to flat routes along the river.",
        ("Maya", "knee surgery", "physio", "flat routes"),
        entity="sports injury recovery",
        bridge="no downhill running -> avoid hilly or trail routes",
    ),
    ScriptedFact(
        "recipe book",
        "Maya kept her grandmother's handwritten recipe book when the house was cleared.",
        ("Maya", "grandmother", "recipe book"),
        entity="family heirloom",
    ),
    ScriptedFact(
        "cardamom bread",
        "Maya has never managed to bake her grandmother's cardamom bread from page twelve.",
        ("Maya", "cardamom bread", "baking"),
        entity="baking",
    ),
    ScriptedFact(
        "work calls after seven",
        "Maya no longer takes work calls after 7 pm; her manager agreed if on-call is covered.",
        ("Maya", "work calls", "evenings", "on-call"),
        entity="work-life balance",
        bridge="no calls after seven -> schedule meetings with Maya earlier",
    ),
    ScriptedFact(
        "quarterly goal",
        "Maya is organising a dinner for her team of eleven next Friday to celebrate the "
        "quarterly goal; she wants somewhere central with a big table.",
        ("Maya", "team dinner", "eleven people", "Friday"),
        entity="team celebration",
    ),
    ScriptedFact(
        "eighteen kilometres",
        "Maya's training plan has an 18 km run on Sunday, six weeks before the race; Leo joins "
        "for the first 10 km.",
        ("Maya", "training", "18 km", "Leo"),
        entity="long training run",
    ),
)


def numbered_turns(prompt: str) -> dict[int, str]:
    """The numbered turns of a prompt's last message: ``{number: "Speaker: text"}``."""
    return {int(m.group(1)): m.group(2) for m in _TURN_LINE.finditer(prompt)}


def _first_turn(turns: Mapping[int, str], marker: str) -> int | None:
    return next((n for n, text in sorted(turns.items()) if marker in text), None)


def segment_reply(prompt: str) -> dict[str, Any]:
    """Scenes start at the turns holding a scripted scene's marker (and at turn 1)."""
    turns = numbered_turns(prompt)
    last = max(turns, default=1)
    starts: dict[int, ScriptedScene | None] = {1: None}
    for scene in SCENES:
        number = _first_turn(turns, scene.marker)
        if number is not None:
            starts[number] = scene
    bounds = sorted(starts)
    spans = []
    for index, start in enumerate(bounds):
        end = bounds[index + 1] - 1 if index + 1 < len(bounds) else last
        found = starts[start]
        title = found.title if found else f"Maya and Leo talk, turns {start} to {end}"
        summary = found.summary if found else "Maya and Leo catch up on everyday matters."
        spans.append(
            {
                "start": start,
                "end": end,
                "continues_open_scene": False,
                "title": title,
                "summary": summary,
                "narrative": summary,
            }
        )
    return {"scenes": spans}


def extract_reply(prompt: str) -> dict[str, Any]:
    """Items for the facts whose marker is in a numbered turn, facets for the chunk's scene."""
    turns = numbered_turns(prompt)
    items = []
    for fact in FACTS:
        number = _first_turn(turns, fact.marker)
        if number is None:
            continue
        triggers = [{"concept": fact.entity, "bridge": fact.bridge, "confidence": 0.9}]
        items.append(
            {
                "content": fact.content,
                "keywords": list(fact.keywords),
                "source_turns": [number],
                "triggers": triggers if fact.entity else [],
            }
        )
    scene = next((s for s in SCENES if _first_turn(turns, s.marker) is not None), None)
    facets = dict(scene.facets) if scene else dict(SCENES[0].facets)
    horizon = {
        k: {"sent": v, "confidence": 0.8} for k, v in (scene.horizon if scene else {}).items()
    }
    return {"items": items, "scene": facets, "horizon": horizon, "persona": []}


REPLIES = {"segment": segment_reply, "extract": extract_reply}


def chat_completion(body: Mapping[str, Any], prompt_id: str) -> tuple[int, dict[str, Any]]:
    """The status and JSON body answering one chat-completion request."""
    reply = REPLIES.get(prompt_id.split("@", 1)[0])
    messages = body.get("messages") or []
    if reply is None or not messages:
        error = f"the demo's scripted server has no reply for prompt {prompt_id!r}"
        return 404, {"error": {"message": error, "type": "invalid_request_error"}}
    content = json.dumps(reply(str(messages[-1].get("content") or "")))
    return 200, {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route for GET {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "request body is not JSON"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route for POST {self.path}"}})
            return
        self._send(*chat_completion(body, self.headers.get("X-Tmem-Prompt", "")))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints what matters."""

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ScriptedServer:
    """The scripted server on a free port of 127.0.0.1, as a context manager."""

    def __init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="tmem-demo-llm", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
