"""Target labels are out of reach of every method: poisoned labels and permuted labels.

``Poison`` stands in for the target labels of a prepared task and raises on
any read at all (every ndarray method or attribute, every ufunc, conversion,
comparison, arithmetic, iteration, indexing, length, truth value). The run of
every registered method, with scoring (and the plotting that colours points by
label) replaced by recorders that read the real labels, must not touch it.
The oracle selection, which reads target labels by design, must trip it: so
these tests can fail.
"""

import dataclasses
import operator

import jax.numpy as jnp
import numpy as np
import pytest

from dalib.experiment import RunSpec, fit_method, prepare_task, registry, run_one, runs

from .conftest import make_pair, make_table, tiny_config


class LabelRead(BaseException):
    """Raised when anything reads the poisoned target labels.

    A ``BaseException``, not an ``Exception``: no ``except Exception`` can hide it.
    """


_ALLOWED = frozenset({"__class__", "_reads", "reads"})


def _raiser(name):
    def method(self, *args, **kwargs):
        object.__getattribute__(self, "_reads").append(name)
        raise LabelRead(f"the target labels were read ({name})")

    method.__name__ = name
    return method


class Poison:
    """An array-like of target labels that raises :class:`LabelRead` on any read.

    Every read is also recorded in ``_reads``, so a read that something swallowed
    still shows.
    """

    def __init__(self):
        object.__setattr__(self, "_reads", [])

    def __getattribute__(self, name):
        if name in _ALLOWED:
            return object.__getattribute__(self, name)
        object.__getattribute__(self, "_reads").append(name)
        raise LabelRead(f"the target labels were read (.{name})")

    def __setattr__(self, name, value):
        _raiser("__setattr__")(self)

    def __repr__(self):  # tells nothing about the labels
        return "<Poison: target labels>"

    __str__ = __repr__

    @property
    def reads(self):
        return object.__getattribute__(self, "_reads")


_DUNDERS = """
    array array_ufunc array_function array_wrap array_prepare array_finalize
    len iter reversed contains getitem setitem delitem missing
    bool int float complex index hash format bytes buffer release_buffer
    lt le eq ne gt ge
    add radd iadd sub rsub isub mul rmul imul truediv rtruediv itruediv
    floordiv rfloordiv ifloordiv mod rmod imod divmod rdivmod pow rpow ipow
    matmul rmatmul imatmul lshift rlshift rshift rrshift and rand iand or ror ior
    xor rxor ixor neg pos abs invert round trunc floor ceil
    copy deepcopy reduce reduce_ex getstate sizeof dir
    jax_array dlpack dlpack_device
""".split()
for _name in _DUNDERS:
    setattr(Poison, f"__{_name}__", _raiser(f"__{_name}__"))


@pytest.mark.parametrize(
    "read",
    [
        np.asarray,
        np.array,
        jnp.asarray,
        lambda x: x >= 0,
        lambda x: x == 0,
        lambda x: 0 < x,
        lambda x: x + 1,
        lambda x: 1 - x,
        lambda x: -x,
        lambda x: x.sum(),
        lambda x: x.tolist(),
        lambda x: x.astype(int),
        lambda x: x.shape,
        lambda x: x.dtype,
        lambda x: x.size,
        lambda x: np.sum(x),
        lambda x: np.add(x, 1),
        lambda x: np.unique(x),
        lambda x: np.isin(x, [0, 1]),
        lambda x: np.concatenate([x, x]),
        lambda x: x[0],
        lambda x: x[x],
        len,
        list,
        bool,
        int,
        float,
        operator.index,
        hash,
        lambda x: 0 in x,
        lambda x: f"{x:d}",
    ],
)
def test_poison_raises_on_every_kind_of_read(read):
    poison = Poison()
    with pytest.raises(LabelRead):
        read(poison)
    assert poison.reads


# ----------------------------------------------------------------------- every method

# Deep methods compile a training program each (several seconds on a loaded
# machine): source_only shares the tiny program of the other tests and runs by
# default; every other deep method is marked slow. Shallow methods are cheap.
_DEFAULT_DEEP = ("source_only",)
_OPTIONS = {"tsrg": {"max_iter": 20}, "jda": {"iterations": 2}}


def _config(name, criterion="last"):
    config = tiny_config(name, **_OPTIONS.get(name, {}))
    config.seeds = 1
    config.selection.criterion = criterion
    return config


@pytest.fixture(scope="module")
def tasks():
    source, target = make_pair()
    # For target_rows=shared, a target of the shared classes only: every row is kept
    # whatever the labels say, so a permutation leaves the rows adapted to alone.
    closed = make_table(["angry", "happy", "sad"], shift=1.5, scale=2.0, seed=1, prefix="t")
    return {"source": source, "all": target, "shared": closed}


def _prepare(method, source, target, **kwargs):
    """prepare_task, with feature groups (three face regions) for the region-aware methods."""
    task = prepare_task(source, target, **kwargs)
    if not registry.get(method).needs_groups:
        return task
    groups = np.arange(task.adapt.source_features.shape[1]) // 2
    return dataclasses.replace(task, adapt=dataclasses.replace(task.adapt, groups=groups))


def _permuted(table):
    labels = np.random.default_rng(7).permutation(table.labels)
    assert not np.array_equal(labels, table.labels)
    return dataclasses.replace(table, labels=labels)


def check_permuted_labels(name, tasks, tmp_path, monkeypatch):
    """Permuting the target labels leaves every prediction and score as it was."""
    for rows in ("shared", "all"):
        config = _config(name)
        config.data.target_rows = rows
        spec = RunSpec.from_config(config)
        target = tasks[rows]
        kwargs = {"name": "x", "target_rows": rows, "normalize": spec.data.normalize}
        task = _prepare(name, tasks["source"], target, **kwargs)
        task_p = _prepare(name, tasks["source"], _permuted(target), **kwargs)
        for field in dataclasses.fields(task.adapt):
            a, b = getattr(task.adapt, field.name), getattr(task_p.adapt, field.name)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=field.name)
        assert not np.array_equal(task.target_labels, task_p.target_labels)
        a, b = fit_method(spec, task.adapt, 0), fit_method(spec, task_p.adapt, 0)
        np.testing.assert_array_equal(a.predictions, b.predictions)
        np.testing.assert_array_equal(a.scores, b.scores)


def _criteria(name):
    return ("last", "snd", "iwv") if name == "source_only" else ("last",)


def check_fit_ignores_oracle_labels(name, tasks, tmp_path, monkeypatch):
    """Only the oracle criterion may read labels handed to fit_method."""
    task = _prepare(name, tasks["source"], tasks["all"], name="x", target_rows="all")
    for criterion in _criteria(name):
        poison = Poison()
        spec = RunSpec.from_config(_config(name, criterion))
        fit_method(spec, task.adapt, 0, oracle_labels=poison)
        assert poison.reads == [], criterion


def check_run_one_never_reads_target_labels(name, tasks, tmp_path, monkeypatch):
    """A whole run, scoring and plots aside, with poisoned target labels."""
    task = _prepare(name, tasks["source"], tasks["all"], name="x", target_rows="all")
    calls = []
    real_score, real_plots = runs.score, runs._plots

    def score(t, predictions):
        calls.append("score")
        return real_score(dataclasses.replace(t, target_labels=task.target_labels), predictions)

    def plots(spec, run, t, fitted, *args, **kwargs):
        calls.append("plots")
        return real_plots(
            spec, run, dataclasses.replace(t, target_labels=task.target_labels), fitted, *args
        )

    monkeypatch.setattr(runs, "score", score)
    monkeypatch.setattr(runs, "_plots", plots)
    for criterion in _criteria(name):
        poison = Poison()
        poisoned = dataclasses.replace(task, target_labels=poison)
        spec = RunSpec.from_config(_config(name, criterion))
        record = run_one(spec, poisoned, 0, tmp_path / criterion)
        assert poison.reads == [], criterion
        assert calls.count("score") >= 1
        assert record["num_target_adapted"] == len(task.target_files)
        lines = (tmp_path / criterion / "predictions.csv").read_text().splitlines()
        assert len(lines) == 1 + len(task.target_files)
        calls.clear()


_CHECKS = {
    "permuted": check_permuted_labels,
    "fit": check_fit_ignores_oracle_labels,
    "run_one": check_run_one_never_reads_target_labels,
}


def _params():
    # One method's checks next to each other: its compiled program is reused.
    out = []
    for name in registry.names():
        slow = registry.get(name).deep and name not in _DEFAULT_DEEP
        for check in _CHECKS:
            marks = [pytest.mark.slow] if slow else []
            out.append(pytest.param(name, check, marks=marks, id=f"{name}-{check}"))
    return out


@pytest.mark.parametrize("name,check", _params())
def test_target_labels_are_out_of_reach(name, check, tasks, tmp_path, monkeypatch):
    _CHECKS[check](name, tasks, tmp_path, monkeypatch)


def test_every_registered_method_is_covered():
    covered = {p.values[0] for p in _params()}
    assert covered == set(registry.names())


def test_the_oracle_criterion_reads_the_labels(tasks):
    """The poison is not blind: the one criterion that reads target labels trips it."""
    task = prepare_task(tasks["source"], tasks["all"], name="x", target_rows="all")
    spec = RunSpec.from_config(_config("source_only", "oracle"))
    poison = Poison()
    with pytest.raises(LabelRead):
        fit_method(spec, task.adapt, 0, oracle_labels=poison)
    assert poison.reads
    with pytest.raises(ValueError, match="oracle selection needs the target labels"):
        fit_method(spec, task.adapt, 0)
