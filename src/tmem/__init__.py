"""tmem: long-term memory for conversational agents that recalls by association.

Start with :meth:`Memory.open`.
"""

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
    Scene,
    Trigger,
    TriggerMatch,
    Turn,
    Usage,
)

__version__ = "0.3.0"


def __getattr__(name: str) -> object:
    # The REST client pulls in httpx; import it only for callers who use it.
    if name == "Client":
        from tmem.client import Client

        return Client
    raise AttributeError(f"module 'tmem' has no attribute {name!r}")


__all__ = [
    "Answer",
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
