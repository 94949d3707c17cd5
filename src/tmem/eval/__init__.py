"""Benchmark harness: LoCoMo and LoCoMo-Plus-format loaders, metrics, baselines and the runner.

Modules: ``locomo`` and ``plus`` read the data; ``metrics`` scores retrieval (turn-level
any-hit, all-hit, recall, MRR, token-budget recall) and answers (F1, BLEU-1, strict judge
labels); ``baselines`` implements BM25, dense and hybrid raw-turn retrieval; ``runner``
(:func:`~tmem.eval.runner.run_locomo`, :func:`~tmem.eval.runner.run_plus`) runs systems and
``report`` writes ``results.json``, ``report.md`` and plots. Nothing is imported eagerly.
"""
