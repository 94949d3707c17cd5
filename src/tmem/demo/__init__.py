"""``make demo`` and ``make demo-full``: the bundled conversation, ingested and searched.

``python -m tmem.demo`` runs in full mode when an LLM is configured through ``TMEM_LLM_*``
variables, else in LLM-free mode, and says which. ``python -m tmem.demo --scripted-llm`` runs
full mode against a scripted OpenAI-compatible server it starts on 127.0.0.1
(:mod:`tmem.demo.scripted`): replies scripted to show the mechanism, not a model's output.
"""
