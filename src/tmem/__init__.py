"""tmem: long-term memory for conversational agents that recalls by association.

Start with :meth:`Memory.open` (:meth:`AsyncMemory.open` in ``async`` code); a running
``tmem serve`` is reached with :class:`Client` or :class:`AsyncClient`.
"""

from typing import TYPE_CHECKING

from tmem.async_memory import AsyncMemory
from tmem.config import Config, EmbedderConfig, LLMConfig, RetrievalConfig, WriteConfig
from tmem.errors import (
    ConfigError,
    InputError,
    LLMError,
    LLMUnavailableError,
    NotFoundError,
    StoreError,
    TmemError,
)
from tmem.memory import Memory
from tmem.models import (
    Answer,
    ChannelEvidence,
    HistoryEntry,
    Hit,
    IngestReport,
    Item,
    Message,
    Page,
    PersonaEntry,
    Scene,
    Trigger,
    TriggerMatch,
    Turn,
    Usage,
)

if TYPE_CHECKING:
    from tmem.client import AsyncClient, Client

__version__ = "0.4.0"


def __getattr__(name: str) -> object:
    # The REST clients pull in httpx; import them only for callers who use them.
    if name == "Client":
        from tmem.client import Client

        return Client
    if name == "AsyncClient":
        from tmem.client import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'tmem' has no attribute {name!r}")


__all__ = [
    "Answer",
    "AsyncClient",
    "AsyncMemory",
    "ChannelEvidence",
    "Client",
    "Config",
    "ConfigError",
    "EmbedderConfig",
    "HistoryEntry",
    "Hit",
    "IngestReport",
    "InputError",
    "Item",
    "LLMConfig",
    "LLMError",
    "LLMUnavailableError",
    "Memory",
    "Message",
    "NotFoundError",
    "Page",
    "PersonaEntry",
    "RetrievalConfig",
    "Scene",
    "StoreError",
    "TmemError",
    "Trigger",
    "TriggerMatch",
    "Turn",
    "Usage",
    "WriteConfig",
    "__version__",
]
