import numpy as np
import pytest

from dalib.experiment import plots


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png(tmp_path):
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) + 1
    ys, yt = rng.integers(0, 3, 40), rng.integers(0, 3, 30)
    p = plots.plot_tsne(
        {"before": (fs, ft), "after": (fs, ft - 1)}, ys, yt, ["a", "b", "c"], tmp_path / "tsne.png"
    )
    assert _is_png(p)
    p = plots.plot_confusion(np.array([[3, 1], [0, 4]]), ["a", "b"], tmp_path / "cm.png")
    assert _is_png(p)
    p = plots.plot_curves({"step": [0, 1, 2], "loss": [3.0, 2.0, 1.0]}, tmp_path / "c.png")
    assert _is_png(p)
    with pytest.raises(ValueError, match="no metric"):
        plots.plot_curves({"step": [0]}, tmp_path / "x.png")
