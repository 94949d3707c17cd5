"""Every prompt module is registered, renders with ``now`` and has a distinct id."""

from __future__ import annotations

from tmem.llm.prompts import PROMPT_MODULES, all_specs, prompt_versions


def test_modules_are_registered_with_unique_ids() -> None:
    specs = all_specs()
    assert {"segment", "extract", "answer"} <= set(PROMPT_MODULES)
    assert len({spec.id for spec in specs}) == len(specs)
    assert prompt_versions()["extract"] == "2"


def test_output_models_export_json_schemas() -> None:
    for spec in all_specs():
        schema = spec.output.model_json_schema()
        assert schema["type"] == "object", spec.key
