"""The exceptions tmem raises.

Every error is a :class:`TmemError`, so one ``except TmemError`` catches all of them::

    TmemError
    ├── ConfigError            bad or missing settings
    ├── InputError             a message, id or file the caller gave is malformed
    ├── NotFoundError          no such memory for this user
    ├── StoreError             the store cannot do what was asked
    │   ├── SchemaVersionError the file was written by a newer tmem
    │   ├── EmbedderMismatchError  the store was built with another embedder
    │   └── WriteConflictError     another writer changed the user since the write was planned
    ├── LLMError               the language model could not be reached or used
    │   ├── LLMUnavailableError    no LLM is configured (LLM-free mode)
    │   ├── LLMTimeoutError
    │   ├── LLMRateLimitError
    │   └── LLMOutputError         the reply failed validation (carries the raw text)
    ├── EmbedderError          the embedding model is missing, corrupt or failed
    └── EvalError              a benchmark file or run is malformed
"""

from __future__ import annotations


class TmemError(Exception):
    """Base class of every error tmem raises."""


class ConfigError(TmemError):
    """A setting is missing, malformed or contradicts another."""


class InputError(TmemError):
    """Caller input is malformed; nothing was written."""


class NotFoundError(TmemError):
    """No memory with this id exists for this user."""


class StoreError(TmemError):
    """The store failed or refused an operation."""


class SchemaVersionError(StoreError):
    """The store's schema is newer than this tmem understands."""


class EmbedderMismatchError(StoreError):
    """The store holds vectors from a different embedder."""


class WriteConflictError(StoreError):
    """Another writer changed the user after this write was planned; nothing was written.

    tmem re-plans and retries on its own; callers see this only when writers kept colliding.
    """


class LLMError(TmemError):
    """The language model could not be reached or used."""


class LLMUnavailableError(LLMError):
    """The operation needs an LLM and none is configured."""


class LLMTimeoutError(LLMError):
    """The LLM endpoint did not answer in time."""


class LLMRateLimitError(LLMError):
    """The LLM endpoint kept refusing with a rate limit."""


class LLMOutputError(LLMError):
    """The LLM's reply did not validate against the prompt's schema.

    Attributes:
        raw: the text the model returned.
        prompt_id: the ``id@version`` of the prompt that produced it.
    """

    def __init__(self, message: str, *, raw: str = "", prompt_id: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        self.prompt_id = prompt_id


class EmbedderError(TmemError):
    """The embedding model is missing, fails verification or failed to run."""


class EvalError(TmemError):
    """A benchmark data file or run is malformed."""
