"""Training loops: a pure scanned run (jit / vmap over seeds) and a checkpointed one.

* :func:`run_steps` / :func:`train` are pure functions of ``(data, key)``: the
  whole training is one ``lax.scan``, so ``jax.jit(jax.vmap(train_fn))(keys)``
  trains many seeds (or hyper-parameters) in one compiled program.
* :func:`fit` runs the same steps in chunks from Python, saves an orbax
  checkpoint every ``save_every`` steps, and resumes from the latest one. On
  CPU a resumed run ends bit-identical to an uninterrupted one, because each
  minibatch and each step's randomness depend only on ``(key, step)``.
* :func:`check_divergence` is the divergence guard: it finds the first step
  whose loss or metrics are not finite and raises :class:`DivergenceError`
  naming it. ``train(..., check_finite=True)`` and ``fit(..., check_finite=True)``
  call it on their metrics (``fit`` after every chunk, before saving it).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks
from dalib.train._batch import Batch, check_batch, check_batch_values, sample_batch
from dalib.train._trainer import Trainer, TrainState

__all__ = ["DivergenceError", "check_divergence", "fit", "restore", "run_steps", "train"]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or metric.

    Attributes:
      step: the first step (0-based, as counted by ``TrainState.step`` before
        the update) whose metrics are not finite.
      values: ``{metric name: value}`` of every metric at that step.
      index: the position in the leading (vmapped) axes of the first run that
        diverged, ``()`` for an unbatched run.
    """

    def __init__(self, message: str, *, step: int, values: dict, index: tuple[int, ...]):
        super().__init__(message)
        self.step = step
        self.values = values
        self.index = index


def check_divergence(metrics: dict, *, first_step: int = 0) -> None:
    r"""The divergence guard: raises at the first step whose metrics are not finite.

    ``metrics`` is what :func:`train`, :func:`run_steps` or :func:`fit` return:
    ``{name: array}`` stacked over steps on the **last** axis (``[T]``, or
    ``[..., T]`` under ``vmap`` over seeds or hyper-parameters). The cost is one
    pass over the metrics on the host. Traced metrics (inside ``jit``) cannot be
    checked and pass: call this on the returned values instead.

    Args:
      metrics: stacked per-step metrics.
      first_step: the step number of index 0 on the step axis (for chunks).

    Raises:
      DivergenceError: naming the first non-finite step, every metric's value
        there (the culprit is usually visible: ``loss=nan``, or a term's
        ``weight=nan`` from a schedule), and the run index under ``vmap``.

    Examples:
      >>> import numpy as np
      >>> check_divergence({"loss": np.array([1.0, 0.5])})  # finite: returns None
      >>> try:
      ...     check_divergence({"loss": np.array([1.0, 0.5, np.nan, np.nan])})
      ... except DivergenceError as err:
      ...     print(err.step)
      2
    """
    first = None  # (step, index)
    for value in metrics.values():
        concrete = _checks.concrete_value(value)
        if concrete is None:
            return
        values = np.asarray(concrete)
        if values.ndim == 0 or not np.issubdtype(values.dtype, np.inexact):
            continue
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        steps = np.where(bad.any(axis=tuple(range(values.ndim - 1))))[0]
        step = int(steps[0])
        index = tuple(int(i) for i in np.argwhere(bad[..., step])[0])
        if first is None or step < first[0]:
            first = (step, index)
    if first is None:
        return
    step, index = first
    at = {
        name: float(np.asarray(v)[(*index, step)])
        for name, v in metrics.items()
        if np.ndim(v) == len(index) + 1
    }
    shown = ", ".join(f"{name}={value:.6g}" for name, value in at.items())
    where = f" (run {index} of the vmapped axes)" if index else ""
    raise DivergenceError(
        f"training diverged at step {first_step + step}{where}: {shown}. Lower the learning "
        "rate or the term weights, check schedules for non-finite values, and check the "
        "inputs for NaN or infinity.",
        step=first_step + step,
        values=at,
        index=index,
    )


def _check_data(trainer: Trainer, data: Batch) -> None:
    check_batch(data, "data")
    check_batch_values(data, "data", trainer.num_classes)


def _check_steps(num_steps: object) -> int:
    return _checks.check_positive_int(num_steps, "num_steps", allow_zero=True)


def _split_run_key(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    k_init, k_data, k_step = jax.random.split(key, 3)
    return k_init, k_data, k_step


def run_steps(
    trainer: Trainer,
    state: TrainState,
    data: Batch,
    key: jax.Array,
    *,
    num_steps: int,
    batch_size: int | tuple[int, int],
    counts: tuple[ArrayLike, ArrayLike] | None = None,
) -> tuple[TrainState, dict]:
    """Runs ``num_steps`` steps from ``state`` as one ``lax.scan``.

    Step ``t`` (``t = state.step``) trains on ``sample_batch(data, fold_in(k_data, t))``
    with step key ``k_step``, where ``k_init, k_data, k_step = split(key, 3)``, so
    chaining calls gives the same result as one long call.

    Args:
      trainer: from :func:`make_trainer`.
      state: the state to continue from.
      data: the whole training set (a :class:`Batch`; no target labels).
      key: the run's key (the same for every call of one run).
      num_steps: steps to run (static).
      batch_size: per-domain batch size, ``b`` or ``(n, m)``.
      counts: the real source and target row counts of a padded ``data`` (see
        :func:`sample_batch`); default: every row.

    Returns:
      ``(state, metrics)`` with every metric stacked over the steps: ``[num_steps]``.
    """
    num_steps = _check_steps(num_steps)
    _check_data(trainer, data)
    _, k_data, k_step = _split_run_key(key)

    def body(state: TrainState, _):
        batch = sample_batch(
            data, jax.random.fold_in(k_data, state.step), batch_size=batch_size, counts=counts
        )
        return trainer.step(state, batch, k_step)

    return jax.lax.scan(body, state, None, length=num_steps)


def train(
    trainer: Trainer,
    data: Batch,
    key: jax.Array,
    *,
    num_steps: int,
    batch_size: int | tuple[int, int],
    check_finite: bool = False,
) -> tuple[TrainState, dict]:
    """Initialises from ``key`` and trains for ``num_steps``: a pure function.

    Vectorise it over seeds (and over hyper-parameters captured when the trainer
    is built inside the vectorised function) with ``jax.vmap``.

    Concrete ``data`` is checked first (finite inputs, labels within the
    classifier's outputs). With ``check_finite=True`` a call outside ``jit``
    raises :class:`DivergenceError` naming the first step whose loss or metrics
    are not finite; inside ``jit``/``vmap`` the metrics are traced and the check
    cannot run there: call :func:`check_divergence` on the returned metrics.

    Examples:
      >>> import functools, jax, jax.numpy as jnp, optax
      >>> from flax import nnx
      >>> from dalib import train as T
      >>> data = T.Batch(jnp.ones((20, 4)), jnp.arange(20) % 2, jnp.zeros((15, 4)))
      >>> trainer = T.make_trainer(
      ...     encoder=T.from_nnx(lambda rngs: nnx.Linear(4, 8, rngs=rngs)),
      ...     classifier=T.from_nnx(lambda rngs: nnx.Linear(8, 2, rngs=rngs)),
      ...     optimizer=optax.sgd(0.1), example_batch=T.sample_batch(
      ...         data, jax.random.key(0), batch_size=5), terms=[T.CORAL()])
      >>> run = jax.jit(jax.vmap(functools.partial(T.train, trainer, data, num_steps=3,
      ...                                          batch_size=5)))
      >>> states, metrics = run(jax.random.split(jax.random.key(0), 4))
      >>> metrics["loss"].shape
      (4, 3)
    """
    k_init, _, _ = _split_run_key(key)
    state = trainer.init(k_init)
    state, metrics = run_steps(
        trainer, state, data, key, num_steps=num_steps, batch_size=batch_size
    )
    if check_finite:
        check_divergence(metrics)
    return state, metrics


def _check_directory(directory: str | os.PathLike) -> None:
    """A checkpoint directory must be (or be creatable as) a writable directory."""
    path = os.path.abspath(os.fspath(directory))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(
            f"`checkpoint_dir` {path!r} exists and is not a directory; pass a directory "
            "(it is created if missing)."
        )
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(
            f"`checkpoint_dir` {path!r} lies under {parent!r}, which is a file, not a directory."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"`checkpoint_dir` {path!r} cannot be written ({parent!r} is read-only).")


def _manager(directory: str | os.PathLike, max_to_keep: int | None):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, enable_async_checkpointing=False, create=True
    )
    return ocp.CheckpointManager(os.path.abspath(os.fspath(directory)), options=options)


def restore(
    trainer: Trainer, directory: str | os.PathLike, *, step: int | None = None
) -> TrainState | None:
    """The state saved by :func:`fit` at ``step`` (default: latest), or ``None``."""
    with _manager(directory, None) as manager:
        return _restore(manager, trainer, step)


def _restore(manager, trainer: Trainer, step: int | None) -> TrainState | None:
    import orbax.checkpoint as ocp

    step = manager.latest_step() if step is None else step
    if step is None:
        return None
    abstract = jax.eval_shape(trainer.init, jax.random.key(0))
    return manager.restore(step, args=ocp.args.StandardRestore(abstract))


@functools.lru_cache(maxsize=8)
def _compiled_init(trainer: Trainer):
    return jax.jit(trainer.init)


@functools.lru_cache(maxsize=8)
def _compiled_run_steps(trainer: Trainer):
    # One jitted function per trainer, so that a resumed fit reuses the compilation.
    return jax.jit(
        functools.partial(run_steps, trainer), static_argnames=("num_steps", "batch_size")
    )


def fit(
    trainer: Trainer,
    data: Batch,
    key: jax.Array,
    *,
    num_steps: int,
    batch_size: int | tuple[int, int],
    checkpoint_dir: str | os.PathLike | None = None,
    save_every: int = 100,
    max_to_keep: int | None = 2,
    callback: Callable[[TrainState, dict], Any] | None = None,
    check_finite: bool = False,
) -> tuple[TrainState, dict]:
    """Trains with periodic orbax checkpoints, resuming from the latest one.

    Steps run in jitted chunks of ``save_every`` steps (:func:`run_steps`); after
    each chunk ending on a multiple of ``save_every`` the state is saved to
    ``checkpoint_dir`` (synchronously, atomically: a run killed mid-save leaves
    the previous checkpoint intact). If ``checkpoint_dir`` holds a checkpoint, the
    run continues from it and ends exactly where an uninterrupted run would.

    Args:
      trainer: from :func:`make_trainer`.
      data: the training set (no target labels).
      key: the run's key; pass the same key when resuming.
      num_steps: total number of steps of the run.
      batch_size: per-domain batch size.
      checkpoint_dir: where to save; ``None`` disables checkpointing.
      save_every: steps between checkpoints (and the chunk length).
      max_to_keep: checkpoints kept (``None``: all).
      callback: called as ``callback(state, metrics)`` after each chunk with the
        chunk's stacked metrics (host NumPy arrays); may log, or raise to stop.
      check_finite: the divergence guard: after each chunk, before it is saved,
        raise :class:`DivergenceError` naming the first step whose loss or
        metrics are not finite (the last good checkpoint is kept).

    Returns:
      ``(final_state, metrics)``, the metrics of the steps run by this call,
      stacked over steps (NumPy).

    Raises:
      ValueError: bad ``num_steps`` / ``save_every``, a ``checkpoint_dir`` that is
        a file, lies under a file or cannot be written, non-finite inputs or
        labels outside the classifier's outputs (all before training starts).
      DivergenceError: with ``check_finite=True``, on the first non-finite step.
    """
    num_steps = _check_steps(num_steps)
    save_every = _checks.check_positive_int(save_every, "save_every")
    _check_data(trainer, data)
    if checkpoint_dir is not None:
        _check_directory(checkpoint_dir)
    manager = None if checkpoint_dir is None else _manager(checkpoint_dir, max_to_keep)
    chunk = _compiled_run_steps(trainer)
    try:
        state = None if manager is None else _restore(manager, trainer, None)
        if state is None:
            k_init, _, _ = _split_run_key(key)
            state = _compiled_init(trainer)(k_init)
        history: list[dict] = []
        step = int(state.step)
        while step < num_steps:
            length = min(save_every - step % save_every, num_steps - step)
            first = step
            state, metrics = chunk(state, data, key, num_steps=length, batch_size=batch_size)
            metrics = jax.tree.map(np.asarray, metrics)
            if check_finite:
                check_divergence(metrics, first_step=first)
            history.append(metrics)
            step = int(state.step)
            if manager is not None and (step % save_every == 0 or step == num_steps):
                import orbax.checkpoint as ocp

                manager.save(step, args=ocp.args.StandardSave(state))
                manager.wait_until_finished()
            if callback is not None:
                callback(state, metrics)
    finally:
        if manager is not None:
            manager.close()
    if history:
        stacked = jax.tree.map(lambda *xs: np.concatenate(xs), *history)
    else:
        stacked = {}
    return state, stacked
