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
    HistoryEntry,
    Hit,
    IngestReport,
    Item,
    Message,
    Scene,
    Trigger,
    Turn,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
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
    "Turn",
    "Usage",
    "WriteConfig",
    "__version__",
]
