"""Which face regions do TGSR and RSTR select, and where did the faces actually move?

On the synthetic micro-expression databases (built on first use), fits
``tgsr`` and ``rstr`` on one CDMER task (default C->H, pooled normalisation as
in the protocol) and draws, on the 8x8 face grid of LBP-TOP, each method's
learned region importance next to the motion in the data: for every clip of
the source and the target database, the face-cropped, length-normalised clip
(the very arrays LBP-TOP reads) gives ``mean_t |x_t - x_0|`` per pixel, averaged
over clips and pooled into the grid cells. Prints the Spearman correlation
between each method's importance and the source's motion.

    python -m experiments.mer_regions [--task C->H] [--out docs/_static/mer_regions.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def motion_map(name: str, root: Path, grid: int = 8, margin: int = 3) -> np.ndarray:
    """``[grid, grid]`` mean absolute change from the first frame, over a database's clips."""
    from dalib.data import clip_to_array, read_corpus

    corpus = read_corpus(name, root)
    total = None
    for clip in corpus.records:
        x = clip_to_array(clip)
        m = np.abs(x - x[:1]).mean(axis=0)[margin:-margin, margin:-margin]
        total = m if total is None else total + m
    total /= len(corpus.records)
    rows = np.floor(np.arange(grid + 1) * total.shape[0] / grid).astype(int)
    cols = np.floor(np.arange(grid + 1) * total.shape[1] / grid).astype(int)
    return np.array(
        [
            [total[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].mean() for j in range(grid)]
            for i in range(grid)
        ]
    )


def finest_blocks(values: np.ndarray, grids=(1, 2, 4, 8)) -> np.ndarray:
    """The ``[8, 8]`` values of the finest grid's blocks, by their (row, col)."""
    from dalib.features import block_grid_positions

    pos = block_grid_positions(grids)
    g = max(grids)
    out = np.zeros((g, g))
    for (size, row, col), v in zip(pos, values, strict=True):
        if size == g:
            out[row, col] = v
    return out


def main(argv: list[str] | None = None) -> int:
    from scipy.stats import spearmanr

    from dalib.experiment import MER, plot_region_maps, prepare_task
    from dalib.shallow import make_shallow
    from dalib.synth import default_root, load_synthetic_me_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="C->H", help="a CDMER task (default C->H)")
    parser.add_argument("--out", default="runs/mer_regions.png", help="the figure (PNG)")
    args = parser.parse_args(argv)
    (task_def,) = MER.select_tasks([args.task])
    root = default_root()
    source = load_synthetic_me_table(task_def.source, root=root)
    target = load_synthetic_me_table(task_def.target, root=root)
    task = prepare_task(source, target, name=task_def.name, classes=task_def.classes)
    a = task.adapt
    maps = {}
    names = {c: MER.domains[c] for c in (task_def.source, task_def.target)}
    for code, name in names.items():
        maps[f"motion in {code} ({name})"] = motion_map(name, root / name)
    source_motion = next(iter(maps.values())).ravel()
    for method in ("tgsr", "rstr"):
        _, _, solution = make_shallow(method, num_classes=a.num_classes).fit_solution(
            a.source_features, a.source_labels, a.target_features, groups=a.groups
        )
        importance = finest_blocks(np.asarray(solution.region_importance))
        rho = spearmanr(importance.ravel(), source_motion).statistic
        print(f"{method}: Spearman correlation of 8x8 importance with source motion {rho:.2f}")
        maps[f"{method} importance"] = importance
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_region_maps(maps, out, title=f"{task_def.name}: where faces move, what the methods use")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
