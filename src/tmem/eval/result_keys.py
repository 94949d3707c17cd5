"""The shape of ``results.json`` shared by its writer (``report``) and its readers
(``markdown``): which metrics, in which order, and under which key the per-group means sit."""

from __future__ import annotations

from tmem.eval.longmemeval_metrics import metric_names
from tmem.eval.metrics import K_VALUES, TOKEN_BUDGETS

HEADLINE = (
    *(f"any_hit@{k}" for k in K_VALUES),
    *(f"all_hit@{k}" for k in K_VALUES),
    *(f"recall@{k}" for k in K_VALUES),
    "mrr",
    *(f"recall@{b}tok" for b in TOKEN_BUDGETS),
    "j",
    "f1",
    "bleu1",
    "awareness",
    *metric_names(),
    "accuracy",
)
"""Metrics in the order the report prints them."""
GROUP_METRICS = (
    "any_hit@10",
    "all_hit@10",
    "recall@10",
    "mrr",
    "j",
    "awareness",
    "session.recall_all@10",
    "turn.recall_all@10",
    "accuracy",
)
GROUP_KEYS = {"locomo": "by_category", "longmemeval": "by_question_type"}


def group_key(benchmark: str) -> str:
    """The ``results.json`` key of the per-group means: category, question or relation type."""
    return GROUP_KEYS.get(benchmark, "by_relation_type")
