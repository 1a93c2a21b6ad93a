"""PNG plots for the run tracker and asset metadata: per-prompt scores and loss curves.

matplotlib is imported inside the functions and drives the Agg canvas directly (no
pyplot, no global figure state), so plotting is safe off the main thread and never
needs a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from voicemill.evaluation.errors import EvaluationError
from voicemill.evaluation.report import UtteranceScores


def plot_prompt_scores(
    scores: Sequence[UtteranceScores],
    metric: str,
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Bar chart of ``metric`` per prompt (missing values shown as gaps) with its mean."""
    if not scores:
        raise EvaluationError("nothing_to_plot", "no utterance scores to plot")
    labels = [s.prompt_id for s in scores]
    values = [s.metric(metric) for s in scores]
    present = [v for v in values if v is not None]
    figure, axes = _figure(width=max(6.0, 0.35 * len(scores) + 2.0))
    positions = list(range(len(scores)))
    axes.bar(positions, [v if v is not None else 0.0 for v in values], color="#4c72b0")
    if present:
        mean = sum(present) / len(present)
        axes.axhline(mean, color="#c44e52", linestyle="--", label=f"mean {mean:.3f}")
        axes.legend(loc="best")
    axes.set_xticks(positions)
    axes.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel(metric)
    axes.set_title(title or f"{metric} per prompt")
    return _save(figure, path)


def plot_loss_curve(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str = "loss",
    xlabel: str = "step",
    ylabel: str = "loss",
    log_y: bool = False,
) -> Path:
    """Line plot of named ``(steps, values)`` series, e.g. ``{"train": .., "val": ..}``."""
    if not curves:
        raise EvaluationError("nothing_to_plot", "no loss curves to plot")
    figure, axes = _figure(width=7.0)
    for name, (steps, values) in curves.items():
        if len(steps) != len(values) or not len(steps):
            raise EvaluationError(
                "nothing_to_plot",
                f"curve {name!r} needs equally many steps and values, got "
                f"{len(steps)} and {len(values)}",
            )
        axes.plot(list(steps), list(values), label=name, marker="." if len(steps) < 50 else None)
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return _save(figure, path)


def _figure(width: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot(1, 1, 1)


def _save(figure: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, format="png")
    return out
