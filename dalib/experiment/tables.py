"""Results tables like the papers': methods as rows, tasks as columns, an average.

Each cell is ``mean ± std`` over seeds of a metric in percent. The average
column is computed per seed (mean over tasks) and then summarised over seeds,
so its ± is the seed-to-seed spread of the average, not a pooled spread.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ResultsTable", "results_table"]


class ResultsTable:
    """Mean ± std over seeds per (method, task), with an average column.

    Args:
      records: dicts with at least ``method``, ``task``, ``seed`` and the metric.
      metric: the key to tabulate (``"uar"`` or ``"war"``), values in [0, 1];
        ``None`` marks a finished run with no labelled target row (shown as
        ``unscored``).
      methods: row order (default: order of first appearance).
      tasks: column order (default: order of first appearance).
      note: a line printed under the table (e.g. how models were selected).
      summary: the task whose cell is the last column instead of the average over
        tasks (e.g. ``"overall"``: the metric over all samples of a pooled
        leave-one-subject-out protocol); it is not a column of its own.
    """

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        *,
        metric: str = "uar",
        methods: Sequence[str] | None = None,
        tasks: Sequence[str] | None = None,
        note: str = "",
        summary: str | None = None,
    ):
        if not records:
            raise ValueError("no finished runs to tabulate")
        self.metric = metric
        self.note = note
        self.summary = summary
        self.methods = (
            list(methods) if methods else list(dict.fromkeys(r["method"] for r in records))
        )
        self.tasks = list(tasks) if tasks else list(dict.fromkeys(r["task"] for r in records))
        self.tasks = [t for t in self.tasks if t != summary]
        # values[method][task][seed] = metric
        self.values: dict[str, dict[str, dict[int, float]]] = {}
        self.unscored: set[tuple[str, str]] = set()  # finished runs with nothing to score
        for r in records:
            if r.get(metric) is None:
                self.unscored.add((r["method"], r["task"]))
                continue
            self.values.setdefault(r["method"], {}).setdefault(r["task"], {})[int(r["seed"])] = (
                float(r[metric])
            )

    def cell(self, method: str, task: str) -> tuple[float, float, int]:
        """``(mean, std, count)`` in percent for one method and task (NaN if missing)."""
        vals = list(self.values.get(method, {}).get(task, {}).values())
        if not vals:
            return float("nan"), float("nan"), 0
        arr = 100.0 * np.asarray(vals)
        return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0, arr.size

    def average(self, method: str) -> tuple[float, float, int]:
        """Seed-wise mean over all tasks, then ``(mean, std, seeds)`` over seeds.

        Only seeds that finished every task count; NaN when there is none. With a
        ``summary`` task, its cell instead.
        """
        if self.summary is not None:
            return self.cell(method, self.summary)
        per_task = self.values.get(method, {})
        seed_sets = [set(per_task.get(t, {})) for t in self.tasks]
        seeds = sorted(set.intersection(*seed_sets)) if seed_sets else []
        if not seeds:
            return float("nan"), float("nan"), 0
        avgs = 100.0 * np.array([np.mean([per_task[t][s] for t in self.tasks]) for s in seeds])
        return float(avgs.mean()), float(avgs.std(ddof=1)) if avgs.size > 1 else 0.0, avgs.size

    def rows(self) -> list[list[str]]:
        """Header and body rows as strings (``mean ± std``)."""

        def fmt(mean: float, std: float, count: int, unscored: bool = False) -> str:
            if count == 0:
                return "unscored" if unscored else "–"
            return f"{mean:.1f} ± {std:.1f}" if count > 1 else f"{mean:.1f}"

        header = ["method", *self.tasks, self.summary or "average"]
        body = [
            [
                m,
                *(fmt(*self.cell(m, t), (m, t) in self.unscored) for t in self.tasks),
                fmt(*self.average(m), any((m, t) in self.unscored for t in self.tasks)),
            ]
            for m in self.methods
        ]
        return [header, *body]

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table."""
        rows = self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = []
        for k, row in enumerate(rows):
            cells = [
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("| " + " | ".join(cells) + " |")
            if k == 0:
                lines.append(
                    "|"
                    + "|".join(
                        "-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)
                    )
                    + "|"
                )
        title = f"{self.metric.upper()} (%), mean ± std over seeds"
        text = title + "\n\n" + "\n".join(lines)
        return text + (f"\n\n{self.note}" if self.note else "")

    def gains(self, baseline: str) -> list[dict[str, Any]]:
        """Each other row's six-task average against ``baseline``'s.

        ``gain`` is the difference of the averages (percentage points) and
        ``margin`` the larger of the two seed standard deviations of the
        average; ``beats`` is ``gain > margin``, the protocol's criterion for
        "beats ... by more than the seed standard deviation".

        Raises:
          ValueError: ``baseline`` is not a row with a finished average.

        Examples:
          >>> recs = [{"method": m, "task": "A->B", "seed": s, "uar": u + 0.01 * s}
          ...         for m, u in (("source_only", 0.40), ("dan", 0.45)) for s in range(3)]
          >>> [(g["method"], round(g["gain"], 1), g["beats"])
          ...  for g in ResultsTable(recs).gains("source_only")]
          [('dan', 5.0, True)]
        """
        base_mean, base_std, base_n = self.average(baseline)
        if baseline not in self.methods or base_n == 0:
            raise ValueError(
                f"no finished average for the baseline {baseline!r}; rows: {self.methods}"
            )
        out = []
        for m in self.methods:
            mean, std, n = self.average(m)
            if m == baseline or n == 0:
                continue
            gain, margin = mean - base_mean, max(std, base_std)
            out.append({"method": m, "gain": gain, "margin": margin, "beats": bool(gain > margin)})
        return out

    def gains_summary(self, baseline: str) -> str:
        """One line: which rows beat ``baseline`` by more than the seed std (:meth:`gains`)."""
        mean, std, _ = self.average(baseline)
        gains = self.gains(baseline)
        win = [g for g in gains if g["beats"]]
        text = ", ".join(f"{g['method']} {g['gain']:+.1f} (> {g['margin']:.1f})" for g in win)
        return (
            f"Against {baseline} ({mean:.1f} ± {std:.1f}), {len(win)} of {len(gains)} rows gain "
            f"more than the larger seed std of the average: {text or 'none'}."
        )

    def to_csv(self) -> str:
        """CSV with separate mean, std and count columns per task."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        head = ["method"]
        for t in [*self.tasks, self.summary or "average"]:
            head += [f"{t} mean", f"{t} std", f"{t} n"]
        writer.writerow(head)
        for m in self.methods:
            row: list[Any] = [m]
            for t in self.tasks:
                mean, std, n = self.cell(m, t)
                row += [f"{mean:.4f}", f"{std:.4f}", n]
            mean, std, n = self.average(m)
            row += [f"{mean:.4f}", f"{std:.4f}", n]
            writer.writerow(row)
        return buf.getvalue()


def results_table(records: Sequence[dict[str, Any]], **kwargs: Any) -> ResultsTable:
    """Builds a :class:`ResultsTable`; see its arguments."""
    return ResultsTable(records, **kwargs)
