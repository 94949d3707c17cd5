"""``TmemContextProvider``: tmem as a Microsoft Agent Framework context provider.

An agent's context providers run around every model call: ``before_run`` may add messages to
what the model sees, ``after_run`` sees what was said. This one does tmem's two halves there:

- **recall** (``before_run``): the text of the run's new messages is the query; what tmem
  recalls for it (up to ``limit`` memories, each with its date) is added as one user-role
  message led by ``context_prompt``. Memories flagged as injected instructions
  (:attr:`tmem.Hit.risk`) are never added: the prompt is where they would act.
- **remember** (``after_run``): the run's user and assistant messages with text are added to
  the user's memory, in the agent session's id as the tmem session (tool calls, tool results
  and system messages are not). ``remember=False`` makes a read-only provider.

Every memory belongs to the one ``user_id`` the provider was made for: make one provider per
user (the agent and its sessions can be shared). Requires
``pip install 'tmem[agent-framework]'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

try:
    from agent_framework import AgentSession, ContextProvider, SessionContext, SupportsAgentRun
    from agent_framework import Message as ChatMessage
except ImportError as error:
    raise ImportError(
        "tmem.integrations.agent_framework needs the Microsoft Agent Framework: "
        "pip install 'tmem[agent-framework]'"
    ) from error

from tmem.async_memory import AsyncMemory
from tmem.memory import Memory
from tmem.models import Hit, Message
from tmem.validate import check_limit, check_user_id

REMEMBERED_ROLES = ("user", "assistant")
"""The roles whose messages ``after_run`` adds to memory."""


class TmemContextProvider(ContextProvider):
    """Recall before each agent run and remember after it (see the module docstring).

    Args:
        memory: the memory to recall from and add to (a :class:`tmem.Memory` is used through
            :class:`tmem.AsyncMemory`); the provider does not close it.
        user_id: whose memories these are.
        source_id: the provider's id in the agent's context pipeline.
        limit: the most memories added before a run.
        remember: add each run's messages after it.
        derive: passed to :meth:`tmem.Memory.add`: in full mode ``False`` stores the messages
            without an LLM call, for :meth:`tmem.Memory.reindex` to derive later.
        speakers: the speaker stored for each role, e.g. ``{"user": "Ana"}``; a role not
            listed is stored as the message's ``author_name``, else as the role.
        context_prompt: the line that leads the recalled memories.

    Example::

        agent = Agent(client=..., context_providers=[TmemContextProvider(mem, user_id="ana")])
    """

    DEFAULT_SOURCE_ID: ClassVar[str] = "tmem"
    DEFAULT_CONTEXT_PROMPT: ClassVar[str] = (
        "## Memories\nWhat memory recalls from earlier conversations, with the date of each:"
    )

    def __init__(
        self,
        memory: Memory | AsyncMemory,
        user_id: str,
        *,
        source_id: str = DEFAULT_SOURCE_ID,
        limit: int = 5,
        remember: bool = True,
        derive: bool = True,
        speakers: Mapping[str, str] | None = None,
        context_prompt: str = DEFAULT_CONTEXT_PROMPT,
    ) -> None:
        super().__init__(source_id)
        self.memory = memory if isinstance(memory, AsyncMemory) else AsyncMemory(memory)
        self.user_id = check_user_id(user_id)
        self.limit = check_limit(limit)
        self.remember = remember
        self.derive = derive
        self.speakers = dict(speakers or {})
        self.context_prompt = context_prompt

    async def before_run(
        self,
        *,
        agent: SupportsAgentRun,
        session: AgentSession,
        context: SessionContext,
        state: dict[str, Any],
    ) -> None:
        """Add what tmem recalls for the run's new messages to the model's context."""
        query = "\n".join(m.text for m in context.input_messages if m.text.strip())
        if not query:
            return
        hits = await self.memory.search(query, self.user_id, self.limit)
        shown = [hit for hit in hits if not hit.risk.flagged]
        if shown:
            recalled = ChatMessage(role="user", contents=[recall_text(self.context_prompt, shown)])
            context.extend_messages(self.source_id, [recalled])

    async def after_run(
        self,
        *,
        agent: SupportsAgentRun,
        session: AgentSession,
        context: SessionContext,
        state: dict[str, Any],
    ) -> None:
        """Add the run's user and assistant messages to the user's memory."""
        if not self.remember:
            return
        said = list(context.input_messages)
        if context.response is not None:
            said.extend(context.response.messages)
        messages = self.to_messages(said)
        if messages:
            await self.memory.add(messages, self.user_id, session.session_id, derive=self.derive)

    def to_messages(self, said: Sequence[ChatMessage]) -> list[Message]:
        """The tmem messages ``after_run`` stores for ``said``."""
        return [
            Message(speaker=self.speakers.get(m.role) or m.author_name or m.role, content=m.text)
            for m in said
            if m.role in REMEMBERED_ROLES and m.text.strip()
        ]


def recall_text(prompt: str, hits: Sequence[Hit]) -> str:
    """The message ``before_run`` adds: ``prompt``, then one line per memory, dated."""
    lines = [prompt]
    for hit in hits:
        text = " ".join(hit.text.split())
        lines.append(f"- [{hit.timestamp[:10]}] {text}" if hit.timestamp else f"- {text}")
    return "\n".join(lines)


__all__ = ["TmemContextProvider", "recall_text"]
