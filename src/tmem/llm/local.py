"""An in-process :class:`~tmem.llm.base.LLM` running a GGUF model with llama-cpp-python.

Needs the optional extra: ``pip install 'tmem[local]'``. The package is imported only when a
:class:`LlamaCppLLM` is built, so ``import tmem`` never pays for it.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Any

from tmem.errors import ConfigError, LLMError
from tmem.llm.base import LLMRequest, LLMResponse

INSTALL_HINT = "pip install 'tmem[local]'"


def load_llama_module() -> Any:
    """The ``llama_cpp`` module, or a :class:`ConfigError` naming the extra to install.

    Unless the caller chose otherwise, OpenMP threads wait passively: llama.cpp's spinning
    workers slowed a 1,200-token prompt from 12 s to 58 s when other processes shared the two
    cores. OpenMP reads the variable when the library loads, so it is set before the import.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise ConfigError(f"the local LLM needs llama-cpp-python: {INSTALL_HINT}") from None


class LlamaCppLLM:
    """A local model behind the :class:`~tmem.llm.base.LLM` protocol.

    llama.cpp contexts are not thread-safe, so a lock serialises calls; the write path's
    concurrency then simply queues here.

    Args:
        model_path: a GGUF file.
        n_ctx: the context window in tokens.
        n_threads: CPU threads for inference.
        max_tokens: an upper bound on each request's ``max_tokens`` (None: the request's own).
        prompt_cache_mb: RAM for cached model states keyed by prompt prefix (0: no cache).
            The write path's prompts open with the same long instructions; a cached prefix
            means only the new part of each prompt is computed.
        chat_format: llama-cpp-python's chat template name (None: read it from the GGUF).
        verbose: let llama.cpp print its load and timing logs.

    Raises:
        ConfigError: llama-cpp-python is not installed, or ``model_path`` does not exist.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int = 2,
        max_tokens: int | None = None,
        prompt_cache_mb: int = 0,
        chat_format: str | None = None,
        verbose: bool = False,
    ) -> None:
        module = load_llama_module()
        llama_class = module.Llama
        path = Path(model_path)
        if not path.is_file():
            raise ConfigError(f"local LLM model file not found: {path}")
        self.model_path = path
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._llama = llama_class(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            chat_format=chat_format,
            verbose=verbose,
        )
        if prompt_cache_mb > 0:
            self._llama.set_cache(module.LlamaRAMCache(capacity_bytes=prompt_cache_mb << 20))

    @property
    def model(self) -> str:
        return self.model_path.name

    def __repr__(self) -> str:
        return f"LlamaCppLLM(model_path={str(self.model_path)!r})"

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Run one completion; schema requests are grammar-constrained to the JSON schema."""
        kwargs = completion_kwargs(request, self.max_tokens)
        with self._lock:
            try:
                completion = self._llama.create_chat_completion(**kwargs)
            except (RuntimeError, ValueError) as exc:
                raise LLMError(f"local LLM {self.model} failed: {exc}") from exc
        return to_response(completion, self.model)


def completion_kwargs(request: LLMRequest, max_tokens: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Llama.create_chat_completion``."""
    limit = request.max_tokens if max_tokens is None else min(request.max_tokens, max_tokens)
    kwargs: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": limit,
    }
    if request.json_schema is not None:
        # llama-cpp-python compiles this schema into a grammar, so output is valid by design.
        kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
    return kwargs


def to_response(completion: Any, model: str) -> LLMResponse:
    """An :class:`LLMResponse` from llama-cpp-python's OpenAI-shaped completion dict."""
    try:
        content = completion["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LLMError(f"local LLM {model} returned no choices") from None
    usage = completion.get("usage") or {}
    return LLMResponse(
        text=str(content),
        model=model,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )
