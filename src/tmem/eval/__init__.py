"""Benchmark harness: LoCoMo, LoCoMo-Plus-format and LongMemEval loaders, metrics, baselines
and runners.

Modules: ``locomo``, ``plus`` and ``longmemeval`` read the data; ``metrics`` scores retrieval
(turn-level any-hit, all-hit, recall, MRR, token-budget recall) and answers (F1, BLEU-1, strict
judge labels); ``longmemeval_metrics`` and ``longmemeval_judge`` hold LongMemEval's own metrics
and judge prompts; ``baselines`` implements BM25, dense and hybrid raw-turn retrieval;
``runner`` (:func:`~tmem.eval.runner.run_locomo`, :func:`~tmem.eval.runner.run_plus`) and
``longmemeval_run`` (:func:`~tmem.eval.longmemeval_run.run_longmemeval`) run systems and
``report`` writes ``results.json``, ``report.md`` and plots. The ``speed`` subpackage is the
speed benchmark (``tmem bench speed``). Nothing is imported eagerly.
"""
