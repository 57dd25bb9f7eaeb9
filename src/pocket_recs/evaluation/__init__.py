"""Splits, metrics, and comparing models side by side."""

from pocket_recs.evaluation.harness import EvaluationResult, evaluate
from pocket_recs.evaluation.metrics import ranking_metrics
from pocket_recs.evaluation.splits import Split, load_split, make_split, split_fixed

__all__ = ["EvaluationResult", "Split", "evaluate", "load_split", "make_split", "ranking_metrics", "split_fixed"]
