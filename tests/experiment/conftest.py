"""Tiny labelled feature tables and a tiny run configuration for the experiment tests.

Compiling a deep method's training program dominates these tests' time, and
:mod:`dalib.experiment.fitting` caches one program per (method, options, model,
train section, feature size, class count). Tests therefore share one tiny
configuration (:func:`tiny_config`, the same budget as the CLI tests' ``TINY``)
and tables of ``DIM`` features with three shared classes wherever they can.
"""

import numpy as np
import pytest

from dalib.data import FeatureTable
from dalib.experiment import default_config

DIM = 6


def make_table(classes, *, per_class=10, dim=DIM, shift=0.0, scale=1.0, seed=0, prefix="s"):
    """Gaussian classes around fixed centres; a domain is a shift and a rescaling."""
    centres = np.random.default_rng(123).normal(scale=2.0, size=(16, dim))
    names = ["angry", "happy", "sad", "neutral", "fear", "surprise", "boredom", "disgust"]
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for c in classes:
        rows.append(centres[names.index(c)] + rng.normal(size=(per_class, dim)))
        labels += [c] * per_class
    x = (np.concatenate(rows) * scale + shift).astype(np.float32)
    n = len(labels)
    return FeatureTable(
        features=x,
        labels=np.asarray(labels),
        speakers=np.asarray([f"{prefix}{i % 2}" for i in range(n)]),
        files=np.asarray([f"{prefix}_{i:03d}" for i in range(n)]),
    )


def tiny_config(method="source_only", **options):
    """A config that trains in a blink: one small layer, a dozen steps."""
    c = default_config()
    c.method = method
    c.seeds = 2
    c.model.hidden = (8,)
    c.train.steps = 12
    c.train.batch_size = 8
    c.train.log_every = 4
    c.selection.checkpoints = 3
    c.plots.kinds = ()
    for key, value in options.items():
        c.options[key] = value
    return c


def make_pair():
    """A source with classes angry, happy, sad, boredom; a shifted, rescaled target with
    angry, happy, sad, surprise: three shared classes."""
    source = make_table(["angry", "happy", "sad", "boredom"], seed=0)
    target = make_table(
        ["angry", "happy", "sad", "surprise"], shift=1.5, scale=2.0, seed=1, prefix="t"
    )
    return source, target


@pytest.fixture(scope="session")
def pair():
    return make_pair()
