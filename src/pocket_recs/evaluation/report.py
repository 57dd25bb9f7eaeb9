"""Charts of evaluation results."""

from __future__ import annotations

from pathlib import Path

from pocket_recs.evaluation.harness import EvaluationResult


def plot_metrics(
    result: EvaluationResult, path: str | Path, *, metrics: tuple[str, ...] = ("recall", "ndcg")
) -> Path:
    """A PNG with one panel per metric: the metric against K, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    ks = sorted(result.ks)
    for axis, metric in zip(axes[0], metrics, strict=True):
        for model, values in result.metrics.items():
            axis.plot(ks, [values[f"{metric}@{k}"] for k in ks], marker="o", label=model)
        axis.set_xlabel("K")
        axis.set_ylabel(f"{metric}@K")
        axis.set_xticks(ks)
        axis.grid(alpha=0.3)
        axis.set_title(f"{metric}@K")
    axes[0][0].legend()
    figure.suptitle(f"{result.split}, {result.users:,} users", fontsize=10)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
