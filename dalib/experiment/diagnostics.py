r"""Label-free diagnostics of a deep run, written to ``metrics.json`` as ``"diagnostics"``.

At the end of training every deep run records, without reading a target label:

* **Target prediction entropy** (:func:`prediction_entropy`): the mean of the
  per-row entropies of the target class probabilities,
  :math:`\bar H = \frac1m\sum_i H(p_i)`, and the entropy of the mean
  prediction, :math:`H(\bar p)` with :math:`\bar p = \frac1m\sum_i p_i`
  (nats; also divided by :math:`\log C`, so 1 is uniform). A low
  :math:`\bar H` says the model is confident on the target; a low
  :math:`H(\bar p)` says it puts most target rows in few classes — class
  collapse, a common failure of adversarial and entropy-minimising methods.
  ``predicted_class_fraction`` gives the share of target rows predicted as
  each class.
* **Proxy A-distance** (:func:`dalib.stats.proxy_a_distance`,
  :math:`2(1-2\varepsilon)` of a ridge classifier on a fixed random half/half
  split of each domain, seeded by the run's seed; rows are zero-padded to a
  multiple of 256 and masked out, so that one compiled program serves every
  task of a size class) between the source and
  target *encoder features* and, for reference, between the normalised
  *input* features: adaptation that aligns the domains lowers the first
  below the second. 0 means indistinguishable, 2 perfectly separable.
* **Whether the adversarial game settled** (:func:`settle_check`), for every
  adversarial term whose history has a ``domain_accuracy`` (DANN, CDAN,
  CDAN+E, TANN; not the cooperative domain classifier of
  ``mi_decomposition``). Over the history windows (``train.log_every`` steps
  each, 10 by default) whose last step lies in the last
  :data:`SETTLE_FRACTION` (20 %) of training, at least
  :data:`MIN_WINDOWS` of them:

  - ``oscillating`` when the standard deviation of the windowed domain
    accuracy exceeds :data:`MAX_STD` (0.1): the discriminator and the encoder
    still take turns winning. For comparison, the sampling noise of one
    window's balanced accuracy is about 0.015 (10 steps of 64 + 64 rows at
    0.5), or 0.045 with ``log_every=1``;
  - ``discriminator_wins`` when the mean exceeds :data:`MAX_MEAN` (0.9): the
    discriminator still separates the domains, the features are not aligned;
  - ``settled`` otherwise (the balanced accuracy hovers steadily, ideally
    near 0.5).

  A run that has not settled gets a ``warnings`` entry in the block and one
  line on stderr (:func:`report`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np

__all__ = [
    "MAX_MEAN",
    "MAX_STD",
    "MIN_WINDOWS",
    "SETTLE_FRACTION",
    "adversarial_accuracy_keys",
    "deep_diagnostics",
    "prediction_entropy",
    "report",
    "settle_check",
]

#: Share of the last training steps the settle check looks at.
SETTLE_FRACTION = 0.2
#: Largest standard deviation of the windowed domain accuracy of a settled game.
MAX_STD = 0.1
#: Largest mean windowed domain accuracy of a settled game (above: the discriminator wins).
MAX_MEAN = 0.9
#: Fewest history windows the settle check uses (more steps are taken when needed).
MIN_WINDOWS = 3


def prediction_entropy(probs: np.ndarray) -> dict[str, Any]:
    r"""Mean per-row entropy and entropy of the mean of class probabilities ``[m, C]``.

    .. math::

       \bar H = -\frac1m \sum_{i}\sum_c p_{ic}\log p_{ic}, \qquad
       H(\bar p) = -\sum_c \bar p_c \log \bar p_c,\quad \bar p_c = \frac1m\sum_i p_{ic},

    in nats (:math:`0\log 0 = 0`), and both divided by :math:`\log C`.
    :math:`H(\bar p) \ge \bar H` (concavity of the entropy).

    Args:
      probs: ``[m, C]`` probabilities (rows summing to 1), ``m >= 1``, ``C >= 2``.

    Returns:
      ``{"mean_row", "of_mean", "normalised_mean_row", "normalised_of_mean",
      "max"}`` (``max`` = :math:`\log C`) and ``predicted_class_fraction`` (the
      share of rows whose argmax is each class).

    Raises:
      ValueError: ``probs`` is not ``[m, C]`` with ``m >= 1`` and ``C >= 2``, or
        holds negative or non-finite values.

    Examples:
      >>> out = prediction_entropy(np.array([[1.0, 0.0], [0.0, 1.0]]))
      >>> out["mean_row"], round(out["of_mean"], 4), out["normalised_of_mean"]
      (0.0, 0.6931, 1.0)
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(
            f"`probs` must be [m, C] class probabilities with m >= 1 and C >= 2, got shape "
            f"{p.shape}."
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("`probs` must hold finite, non-negative probabilities.")

    def entropy(q: np.ndarray) -> np.ndarray:
        safe = np.where(q > 0, q, 1.0)
        return -np.sum(np.where(q > 0, q * np.log(safe), 0.0), axis=-1)

    top = math.log(p.shape[1])
    mean_row = float(np.mean(entropy(p)))
    of_mean = float(entropy(p.mean(axis=0)))
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return {
        "mean_row": mean_row,
        "of_mean": of_mean,
        "normalised_mean_row": mean_row / top,
        "normalised_of_mean": of_mean / top,
        "max": top,
        "predicted_class_fraction": (counts / p.shape[0]).tolist(),
    }


def settle_check(
    history: Mapping[str, Sequence[float]],
    key: str,
    *,
    fraction: float = SETTLE_FRACTION,
    max_std: float = MAX_STD,
    max_mean: float = MAX_MEAN,
    min_windows: int = MIN_WINDOWS,
) -> dict[str, Any]:
    r"""Has the adversarial game of ``history[key]`` (a domain accuracy) settled?

    Uses the windows of ``history`` (each the mean over ``train.log_every``
    steps, ``history["step"]`` its last step) whose last step is after
    :math:`(1 - \text{fraction})\,T`, :math:`T` the last step, or the last
    ``min_windows`` windows if there are fewer. With their mean :math:`\mu`
    and (population) standard deviation :math:`s`: ``"oscillating"`` if
    :math:`s >` ``max_std``, else ``"discriminator_wins"`` if
    :math:`\mu >` ``max_mean``, else ``"settled"``; ``"too_short"`` (no verdict)
    with fewer than ``min_windows`` windows in all.

    Args:
      history: ``{name: [values]}`` with a ``step`` entry (a run's history).
      key: the domain-accuracy entry, e.g. ``"dann/domain_accuracy"``.
      fraction: share of the last steps looked at, in (0, 1].
      max_std: largest standard deviation of a settled game.
      max_mean: largest mean of a settled game.
      min_windows: fewest windows used.

    Returns:
      ``{"status", "mean", "std", "min", "max", "windows", "from_step",
      "fraction", "max_std", "max_mean"}``.

    Raises:
      KeyError: ``key`` or ``step`` is not in ``history``.
      ValueError: ``fraction`` outside (0, 1] or ``min_windows < 2``.

    Examples:
      >>> steps = list(range(10, 1010, 10))
      >>> swing = [0.2 if (s // 50) % 2 else 0.9 for s in steps]
      >>> settle_check({"step": steps, "d": swing}, "d")["status"]
      'oscillating'
      >>> settle_check({"step": steps, "d": [0.55] * 100}, "d")["status"]
      'settled'
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`fraction` must lie in (0, 1], got {fraction}.")
    if min_windows < 2:
        raise ValueError(f"`min_windows` must be >= 2, got {min_windows}.")
    steps = np.asarray(history["step"], dtype=np.float64)
    values = np.asarray(history[key], dtype=np.float64)
    out: dict[str, Any] = {"fraction": fraction, "max_std": max_std, "max_mean": max_mean}
    if values.size < min_windows:
        return {**out, "status": "too_short", "windows": int(values.size)}
    last = int(np.sum(steps > (1.0 - fraction) * steps[-1]))
    tail = values[-max(last, min_windows) :]
    mean, std = float(np.mean(tail)), float(np.std(tail))
    if std > max_std:
        status = "oscillating"
    elif mean > max_mean:
        status = "discriminator_wins"
    else:
        status = "settled"
    return {
        **out,
        "status": status,
        "mean": mean,
        "std": std,
        "min": float(np.min(tail)),
        "max": float(np.max(tail)),
        "windows": int(tail.size),
        "from_step": int(steps[-tail.size]),
    }


def adversarial_accuracy_keys(terms: Sequence[Any], history: Mapping[str, Any]) -> list[str]:
    """History keys ``<term>/domain_accuracy`` of the adversarial terms among ``terms``."""
    from dalib.train import ConditionalAdversarial, DomainAdversarial, RegionAdversarial

    games = (DomainAdversarial, ConditionalAdversarial, RegionAdversarial)
    keys = [f"{t.name}/domain_accuracy" for t in terms if isinstance(t, games)]
    return [k for k in keys if k in history]


def _warning(key: str, check: Mapping[str, Any]) -> str:
    share = f"the last {check['fraction']:.0%} of steps"
    if check["status"] == "oscillating":
        return (
            f"the adversarial game has not settled: {key} still oscillates over {share} "
            f"(std {check['std']:.3f} > {check['max_std']}, range {check['min']:.2f}-"
            f"{check['max']:.2f}); try a smaller learning rate or weight, or more steps"
        )
    return (
        f"the adversarial game has not settled: the discriminator still wins over {share} "
        f"({key} mean {check['mean']:.3f} > {check['max_mean']}); the features are not aligned"
    )


def deep_diagnostics(
    source_features: np.ndarray,
    target_features: np.ndarray,
    target_probs: np.ndarray,
    history: Mapping[str, Sequence[float]],
    adversarial_keys: Sequence[str],
    *,
    seed: int,
    source_inputs: np.ndarray | None = None,
    target_inputs: np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``"diagnostics"`` block of a deep run (see the module docstring).

    Args:
      source_features: ``[n, d]`` encoder features of the source rows.
      target_features: ``[m, d]`` encoder features of the target rows.
      target_probs: ``[m, C]`` target class probabilities.
      history: the run's training curves.
      adversarial_keys: the domain-accuracy entries to check
        (:func:`adversarial_accuracy_keys`).
      seed: seeds the A-distance split.
      source_inputs: ``[n, D]`` input features, for the reference A-distance
        (inputs of higher rank, e.g. log-mel segments, give ``None`` there).
      target_inputs: ``[m, D]``.

    Returns:
      A dict with the keys ``uses_target_labels`` (always ``False``),
      ``target_entropy``, ``a_distance``, ``adversarial``, ``settled`` and
      ``warnings``; ``settled`` is ``None`` when the method plays no
      adversarial game.
    """
    import jax

    key = jax.random.key(seed)

    def a_distance(s: np.ndarray, t: np.ndarray) -> float | None:
        if len(s) < 2 or len(t) < 2:
            return None
        (s, sm), (t, tm) = _padded(s), _padded(t)
        return float(_jitted_a_distance()(s, t, key=key, source_mask=sm, target_mask=tm))

    distances: dict[str, Any] = {"features": a_distance(source_features, target_features)}
    if source_inputs is not None and target_inputs is not None:
        # feature rows only: log-mel segment tensors ([n, segments, frames, mels]) get None
        flat = np.ndim(source_inputs) == 2 and np.ndim(target_inputs) == 2
        distances["inputs"] = None
        if flat:
            # The same for every method of a task and seed: computed once per process.
            memo = (seed, _digest(source_inputs), _digest(target_inputs))
            if memo not in _INPUT_DISTANCES:
                if len(_INPUT_DISTANCES) >= 64:
                    _INPUT_DISTANCES.clear()
                _INPUT_DISTANCES[memo] = a_distance(source_inputs, target_inputs)
            distances["inputs"] = _INPUT_DISTANCES[memo]
    distances["method"] = (
        "proxy A-distance 2(1 - 2 err), ridge classifier, half of each domain to train, "
        "the other half to test, split seeded by the run's seed"
    )
    checks = {k: settle_check(history, k) for k in adversarial_keys}
    warnings = [_warning(k, c) for k, c in checks.items() if c["status"] in _UNSETTLED]
    verdicts = [c["status"] for c in checks.values() if c["status"] != "too_short"]
    return {
        "uses_target_labels": False,
        "target_entropy": prediction_entropy(target_probs),
        "a_distance": distances,
        "adversarial": checks,
        "settled": (not any(v in _UNSETTLED for v in verdicts)) if verdicts else None,
        "warnings": warnings,
    }


_UNSETTLED = ("oscillating", "discriminator_wins")
_ROWS = 256  # rows are padded to a multiple of this (and masked): one compile serves many tasks
_INPUT_DISTANCES: dict[tuple, float | None] = {}  # (seed, inputs' digests) -> A-distance


def _digest(x: np.ndarray) -> tuple:
    x = np.ascontiguousarray(x)
    return (x.shape, str(x.dtype), hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest())


def _padded(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    rows = -(-x.shape[0] // _ROWS) * _ROWS
    out = np.zeros((rows, x.shape[1]), np.float32)
    out[: x.shape[0]] = x
    return out, np.arange(rows) < x.shape[0]


@functools.cache
def _jitted_a_distance():
    import jax

    from dalib.stats import proxy_a_distance

    return jax.jit(proxy_a_distance)


def report(record: Mapping[str, Any], stream: TextIO | None = None) -> int:
    """Writes one stderr line per diagnostics warning of a run record; returns how many."""
    block = record.get("diagnostics") or {}
    warnings = block.get("warnings") or []
    name = record.get("label", record.get("method"))
    where = f"{name} {record.get('task')} seed {record.get('seed')}"
    for text in warnings:
        print(f"warning: {where}: {text}", file=stream or sys.stderr)
    return len(warnings)
