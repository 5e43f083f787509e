"""Plots of a run, written as PNG with matplotlib's Agg backend (no display).

- :func:`plot_tsne`: t-SNE of source and target features before and after
  adaptation (two panels, colour = class, marker = domain).
- :func:`plot_confusion`: a row-normalised confusion matrix with counts.
- :func:`plot_curves`: training curves (loss terms, weights, accuracies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_confusion", "plot_curves", "plot_region_maps", "plot_tsne", "tsne_embedding"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def tsne_embedding(
    features: np.ndarray, *, seed: int = 0, perplexity: float = 30.0, max_iter: int = 500
) -> np.ndarray:
    """2-D t-SNE embedding ``[N, 2]`` of ``features [N, D]`` (scikit-learn).

    Features wider than 50 are first reduced to 50 principal components (the
    usual t-SNE preprocessing). Runs single-threaded: on a busy machine,
    OpenMP's spinning threads made it an order of magnitude slower.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float64)
    perplexity = min(perplexity, max(2.0, (features.shape[0] - 1) / 3.0))
    with threadpool_limits(limits=1):
        if features.shape[1] > 50 and features.shape[0] > 50:
            features = PCA(n_components=50, random_state=seed).fit_transform(features)
        tsne = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=max_iter
        )
        return tsne.fit_transform(features)


def plot_tsne(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray]],
    source_labels: np.ndarray,
    target_labels: np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    *,
    seed: int = 0,
    max_points: int = 1500,
) -> Path:
    """Side-by-side t-SNE panels, e.g. ``{"before": (fs, ft), "after": (fs2, ft2)}``.

    Target labels colour the target points only for display; they play no part
    in any computation that produced the features.
    """
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (title, (fs, ft)) in zip(axes[0], panels.items(), strict=True):
        ns, nt = len(fs), len(ft)
        keep_s = np.sort(rng.permutation(ns)[: max_points // 2])
        keep_t = np.sort(rng.permutation(nt)[: max_points // 2])
        emb = tsne_embedding(np.concatenate([fs[keep_s], ft[keep_t]]), seed=seed)
        es, et = emb[: len(keep_s)], emb[len(keep_s) :]
        for c, name in enumerate(classes):
            ms = source_labels[keep_s] == c
            mt = target_labels[keep_t] == c
            ax.scatter(
                es[ms, 0],
                es[ms, 1],
                s=10,
                marker="o",
                color=cmap(c % 10),
                alpha=0.6,
                label=f"{name} (source)",
            )
            ax.scatter(et[mt, 0], et[mt, 1], s=16, marker="x", color=cmap(c % 10), alpha=0.8)
        ax.set_title(f"t-SNE {title} adaptation (o source, x target)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(loc="best", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(
    matrix: np.ndarray, classes: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Row-normalised confusion matrix (rows: true class) annotated with counts."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * k, 0.8 + 0.8 * k))
    ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{int(matrix[i, j])}\n{100 * norm[i, j]:.0f}%",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (target)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(
    history: Mapping[str, Sequence[float]], path: str | Path, *, title: str = ""
) -> Path:
    """One panel per metric of a training history ``{name: [value per logged step]}``."""
    plt = _pyplot()
    names = [n for n, v in history.items() if n != "step" and len(v)]
    if not names:
        raise ValueError("the training history holds no metric to plot")
    steps = history.get("step")
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        values = np.asarray(history[name], dtype=float)
        x = (
            np.asarray(steps)
            if steps is not None and len(steps) == len(values)
            else np.arange(len(values))
        )
        ax.plot(x, values, lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_region_maps(
    maps: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    grid: int = 8,
    title: str = "",
) -> Path:
    """Face-grid heat maps side by side: one ``[grid, grid]`` panel per entry.

    Args:
      maps: panel title -> ``[grid * grid]`` (row-major, top-left first) or
        ``[grid, grid]`` values, e.g. a region method's learned importance of the
        8x8 blocks (:func:`dalib.features.block_grid_positions` says which block
        is which cell) next to the motion the data shows there.
      path: the PNG to write.
      grid: cells per side.
      title: the figure title.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(maps), figsize=(2.8 * len(maps), 3.0), squeeze=False)
    for ax, (name, values) in zip(axes[0], maps.items(), strict=True):
        image = np.asarray(values, dtype=float).reshape(grid, grid)
        peak = image.max() if image.max() > 0 else 1.0
        ax.imshow(image / peak, cmap="magma", vmin=0.0, vmax=1.0)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
