r"""Kernel two-sample test by permutation, its power and the sample size it needs.

The test pools ``Z = [source; target]``, fixes any data-driven kernel bandwidth
on ``Z`` once, computes the Gram matrix ``K`` once, and evaluates the MMD
statistic for every random relabelling as a quadratic form in ``K``: with
``a``/``b`` the 0/1 indicators of the rows labelled source/target,

.. math::
   \widehat{\mathrm{MMD}}^2_b = \frac{a^\top K a}{n^2} + \frac{b^\top K b}{m^2}
   - \frac{2\,a^\top K b}{nm},

all permutations at once through one ``[P, N] @ [N, N]`` matmul. Since the
bandwidth depends on ``Z`` only through the pooled set, it is the same for every
relabelling and the test is exact: under :math:`H_0` (both samples from one
distribution) the p-value is uniform on its grid
:math:`\{1, \dots, P+1\}/(P+1)`, so ``p <= alpha`` rejects with probability at
most ``alpha``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks
from dalib.kernels import Kernel, Linear, _prepare

__all__ = ["mmd_test", "mmd_test_power", "required_sample_size"]

ESTIMATORS = ("biased", "unbiased")
_HIGHEST = jax.lax.Precision.HIGHEST

Sampler = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


# ----------------------------------------------------------------------------- checks


def _check_estimator(estimator: str) -> bool:
    return _checks.check_choice(estimator, "estimator", ESTIMATORS) == "unbiased"


def _check_kernel(kernel: object) -> Kernel:
    return _checks.check_kernel(kernel, "kernel")


def _check_count(value: object, name: str, minimum: int = 1) -> int:
    try:
        count = _checks.check_positive_int(value, name, allow_zero=True)
    except TypeError:
        raise _checks.OptionTypeError(
            f"`{name}` must be a Python int (it fixes array shapes), got {value!r}."
        ) from None
    if count < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {count}.")
    return count


def _check_alpha(alpha: float) -> None:
    _checks.check_param(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False,
                        high_inclusive=False)


# ----------------------------------------------------------------------------- core


def _random_source_masks(
    key: jax.Array, valid: jax.Array, n_used: jax.Array, num_permutations: int
) -> jax.Array:
    """``[P, N]`` 0/1 rows: each marks ``n_used`` of the ``valid`` rows, uniformly at random.

    A uniform permutation of all ``N`` positions orders the valid rows uniformly;
    the first ``n_used`` valid rows in that order are labelled source.
    """
    n_total = valid.shape[0]
    rows = jnp.broadcast_to(jnp.arange(n_total), (num_permutations, n_total))
    perm = jax.random.permutation(key, rows, axis=1, independent=True)
    valid_perm = valid[perm]
    chosen = valid_perm & (jnp.cumsum(valid_perm, axis=1) <= n_used)
    index = jnp.arange(num_permutations)[:, None]
    return jnp.zeros((num_permutations, n_total), dtype=bool).at[index, perm].set(chosen)


def _split_statistics(
    gram: jax.Array,
    source_masks: jax.Array,
    valid: jax.Array,
    n: jax.Array,
    m: jax.Array,
    unbiased: bool,
) -> jax.Array:
    """MMD² for each row of ``source_masks`` (target = the other valid rows), ``[P]``."""
    dtype = gram.dtype
    a = source_masks.astype(dtype)
    b = valid.astype(dtype)[None, :] - a
    ka = jnp.matmul(a, gram, precision=_HIGHEST)
    kb = jnp.matmul(valid.astype(dtype), gram, precision=_HIGHEST)[None, :] - ka
    aka = jnp.sum(ka * a, axis=-1)
    akb = jnp.sum(ka * b, axis=-1)
    bkb = jnp.sum(kb * b, axis=-1)
    n = jnp.asarray(n, dtype)
    m = jnp.asarray(m, dtype)
    if unbiased:
        diag = jnp.diagonal(gram)
        aka = (aka - a @ diag) / (n * (n - 1.0))
        bkb = (bkb - b @ diag) / (m * (m - 1.0))
    else:
        aka = aka / (n * n)
        bkb = bkb / (m * m)
    return aka + bkb - 2.0 * akb / (n * m)


def _p_value(observed: jax.Array, permuted: jax.Array) -> jax.Array:
    # Relabellings that reproduce the observed split give the same statistic up to
    # round-off; count them as ties with a relative slack (as scipy's
    # permutation_test does) so the p-value does not depend on summation order.
    slack = 100.0 * jnp.finfo(observed.dtype).eps * jnp.abs(observed)
    exceed = jnp.sum(permuted >= observed - slack)
    return (1.0 + exceed) / (1.0 + permuted.shape[0])


def _test_on_pooled(
    gram: jax.Array,
    n_max: int,
    n_used: jax.Array,
    m_used: jax.Array,
    key: jax.Array,
    num_permutations: int,
    unbiased: bool,
) -> tuple[jax.Array, jax.Array]:
    """Test on the first ``n_used`` source and first ``m_used`` target rows of the pool."""
    index = jnp.arange(gram.shape[0])
    observed_mask = index < n_used
    valid = observed_mask | ((index >= n_max) & (index < n_max + m_used))
    masks = _random_source_masks(key, valid, n_used, num_permutations)
    masks = jnp.concatenate([observed_mask[None, :], masks], axis=0)
    stats = _split_statistics(gram, masks, valid, n_used, m_used, unbiased)
    return stats[0], _p_value(stats[0], stats[1:])


def _pooled_gram(kernel: Kernel, source: jax.Array, target: jax.Array) -> jax.Array:
    # Centred (and rescaled for data-driven bandwidths) first: the statistic is
    # unchanged and stays accurate in float32 at any offset and scale.
    centre = kernel.shift_invariant or isinstance(kernel, Linear)
    k, source, target = _prepare(kernel, source, target, centre=centre)
    pooled = jnp.concatenate([source, target], axis=0)
    return k(pooled, pooled)


@functools.partial(jax.jit, static_argnames=("num_permutations", "unbiased"))
def _mmd_test_jit(
    kernel: Kernel,
    source: jax.Array,
    target: jax.Array,
    key: jax.Array,
    num_permutations: int,
    unbiased: bool,
) -> tuple[jax.Array, jax.Array]:
    # One compiled program: called eagerly, the test costs one compilation per
    # shape instead of one per operation; inside jit/vmap it is simply inlined.
    n, m = source.shape[0], target.shape[0]
    gram = _pooled_gram(kernel, source, target)
    return _test_on_pooled(gram, n, n, m, key, num_permutations, unbiased)


# ----------------------------------------------------------------------------- public


def mmd_test(
    source: ArrayLike,
    target: ArrayLike,
    *,
    kernel: Kernel,
    num_permutations: int,
    key: jax.Array,
    estimator: str = "biased",
) -> tuple[jax.Array, jax.Array]:
    r"""Permutation two-sample test of :math:`H_0: P_s = P_t` with the MMD statistic.

    .. math::
       p = \frac{1 + \#\{\pi : \widehat{\mathrm{MMD}}^2(\pi(Z)) \ge
       \widehat{\mathrm{MMD}}^2(Z)\}}{1 + P},

    over ``P`` uniformly random relabellings :math:`\pi` of the pooled sample
    ``Z`` into ``n`` source and ``m`` target rows. Counting the observed labelling
    among the permutations makes the test exact at every ``P``: under
    :math:`H_0`, :math:`\Pr(p \le \alpha) \le \alpha` (equality when
    :math:`\alpha(P+1)` is an integer and the statistic has no ties). Statistics
    within a relative :math:`100\,\epsilon` of the observed one count as ties
    (round-off guard). A data-driven bandwidth (``MultiGaussian(bandwidth="mean")``
    etc.) is resolved once on the pooled sample, so it does not change between
    permutations, and the ``[N, N]`` Gram matrix (``N = n + m``) is computed once;
    all permutations then cost one ``[P, N] @ [N, N]`` matmul.

    ``jit`` it with ``num_permutations`` and ``estimator`` static (``kernel`` is a
    pytree and may be traced); ``vmap`` it over keys or over batches of
    samples to run many tests at once.

    Args:
      source: ``[n, d]`` sample from :math:`P_s`.
      target: ``[m, d]`` sample from :math:`P_t`; ``m != n`` allowed.
      kernel: a :class:`dalib.kernels.Kernel`; use a characteristic one
        (Gaussian, Laplacian, ...) for a consistent test.
      num_permutations: ``P >= 1`` (static). The smallest attainable p-value is
        ``1 / (P + 1)``; choose e.g. 199, 499 or 999 so that ``alpha (P + 1)`` is
        an integer.
      key: PRNG key for the permutations.
      estimator: ``"biased"`` (V-statistic) or ``"unbiased"`` (U-statistic, needs
        ``n, m >= 2``). Both give valid tests; they differ slightly in power.

    Returns:
      ``(statistic, p_value)``: the MMD² estimate on the observed labelling
      (not its square root) and the permutation p-value in ``(0, 1]``. Non-finite
      inputs raise when concrete; under ``jit`` they propagate as NaN.

    Examples:
      >>> import jax
      >>> from dalib.kernels import Gaussian
      >>> ks, kt, kp = jax.random.split(jax.random.key(0), 3)
      >>> source = jax.random.normal(ks, (40, 2))
      >>> target = jax.random.normal(kt, (30, 2)) + 2.0
      >>> stat, p = mmd_test(source, target, kernel=Gaussian(1.0), num_permutations=99, key=kp)
      >>> round(float(p), 4)
      0.01

    References:
      Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012.
      Phipson & Smyth, "Permutation P-values Should Never Be Zero", Stat. Appl.
      Genet. Mol. Biol. 9, 2010.
    """
    unbiased = _check_estimator(estimator)
    kernel = _check_kernel(kernel)
    num_permutations = _check_count(num_permutations, "num_permutations")
    s, t = _checks.feature_pair(source, target)
    if unbiased:
        _checks.check_min_samples(s, "source", 2, "estimator='unbiased'")
        _checks.check_min_samples(t, "target", 2, "estimator='unbiased'")
    return _mmd_test_jit(kernel, s, t, key, num_permutations, unbiased)


def _sizes(sample_sizes: ArrayLike, n: int, m: int, unbiased: bool) -> jax.Array:
    sizes = jnp.asarray(sample_sizes)
    if not jnp.issubdtype(sizes.dtype, jnp.integer):
        raise TypeError(f"`sample_sizes` must hold integers, got dtype {sizes.dtype}.")
    _checks.check_rank(sizes, "sample_sizes", 1)
    lowest = 2 if unbiased else 1
    if _checks.is_concrete(sizes) and sizes.size:
        lo, hi = int(np.min(np.asarray(sizes))), int(np.max(np.asarray(sizes)))
        if lo < lowest or hi > min(n, m):
            raise ValueError(
                f"`sample_sizes` must lie in [{lowest}, {min(n, m)}] (the sampler draws "
                f"{n} source and {m} target rows), got values in [{lo}, {hi}]."
            )
    return sizes


def mmd_test_power(
    sampler: Sampler,
    *,
    kernel: Kernel,
    num_permutations: int,
    key: jax.Array,
    num_trials: int = 200,
    alpha: float = 0.05,
    estimator: str = "biased",
    sample_sizes: ArrayLike | None = None,
    batch_size: int | None = None,
) -> jax.Array:
    r"""Empirical power of :func:`mmd_test` by simulation: the rejection rate at level ``alpha``.

    .. math::
       \widehat{\text{power}} = \frac1T \sum_{t=1}^{T} \mathbf 1[p_t \le \alpha],

    over ``T`` independent draws ``(source, target) = sampler(key_t)``, each
    tested with its own permutation key. All trials run vectorised (``vmap``;
    ``batch_size`` trials at a time through ``jax.lax.map`` to bound memory).
    With a sampler drawing from one distribution this estimates the size of
    the test (at most ``alpha``). The Monte Carlo standard error is
    :math:`\sqrt{\hat p(1-\hat p)/T}`.

    ``sample_sizes`` evaluates several sample sizes from the same draws: for each
    ``s`` the test uses the first ``s`` rows of source and of target (so the
    sampler must return i.i.d. rows). A data-driven bandwidth is then resolved
    on the full draw, not on the ``s``-row prefix, which keeps one Gram matrix
    per trial; pass a fixed-bandwidth kernel to match a test run at size ``s``
    exactly.

    Args:
      sampler: ``key -> (source [n, d], target [m, d])``, traceable (it runs
        under ``vmap``/``jit``).
      kernel: the test's kernel.
      num_permutations: permutations per test (static).
      key: PRNG key for the whole simulation.
      num_trials: ``T``.
      alpha: test level.
      estimator: ``"biased"`` or ``"unbiased"``.
      sample_sizes: optional ``[S]`` ints, per-side sizes to evaluate.
      batch_size: trials evaluated at once (default: all).

    Returns:
      Scalar power, or ``[S]`` powers when ``sample_sizes`` is given.

    Examples:
      >>> import jax
      >>> from dalib.kernels import Gaussian
      >>> def shifted(key):
      ...     ks, kt = jax.random.split(key)
      ...     return jax.random.normal(ks, (20, 2)), jax.random.normal(kt, (20, 2)) + 1.5
      >>> power = mmd_test_power(shifted, kernel=Gaussian(1.0), num_permutations=39,
      ...                        num_trials=20, key=jax.random.key(0))
      >>> float(power)
      1.0

    References:
      Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012.
    """
    unbiased = _check_estimator(estimator)
    kernel = _check_kernel(kernel)
    num_permutations = _check_count(num_permutations, "num_permutations")
    num_trials = _check_count(num_trials, "num_trials")
    if batch_size is not None:
        batch_size = _check_count(batch_size, "batch_size")
    _check_alpha(alpha)
    if not callable(sampler):
        raise TypeError(f"`sampler` must be a function key -> (source, target), got {sampler!r}.")

    shapes = jax.eval_shape(sampler, jax.random.key(0))
    if not (isinstance(shapes, tuple | list) and len(shapes) == 2):
        raise TypeError("`sampler(key)` must return a pair (source [n, d], target [m, d]).")
    n, m = shapes[0].shape[0], shapes[1].shape[0]
    sizes = None if sample_sizes is None else _sizes(sample_sizes, n, m, unbiased)

    def trial(trial_key: jax.Array) -> jax.Array:
        data_key, perm_key = jax.random.split(trial_key)
        source, target = sampler(data_key)
        if sizes is None:
            _, p = mmd_test(
                source,
                target,
                kernel=kernel,
                num_permutations=num_permutations,
                key=perm_key,
                estimator=estimator,
            )
            return p <= alpha
        s, t = _checks.feature_pair(source, target)
        gram = _pooled_gram(kernel, s, t)

        def at_size(size: jax.Array) -> jax.Array:
            _, p = _test_on_pooled(gram, n, size, size, perm_key, num_permutations, unbiased)
            return p <= alpha

        return jax.vmap(at_size)(sizes)

    keys = jax.random.split(key, num_trials)
    rejected = jax.lax.map(trial, keys, batch_size=batch_size or num_trials)
    return jnp.mean(rejected.astype(jnp.result_type(float)), axis=0)


def required_sample_size(
    sampler: Sampler,
    *,
    kernel: Kernel,
    num_permutations: int,
    key: jax.Array,
    power: float = 0.8,
    alpha: float = 0.05,
    num_trials: int = 200,
    estimator: str = "biased",
    min_size: int | None = None,
    batch_size: int | None = None,
) -> int | None:
    r"""Smallest per-side sample size at which :func:`mmd_test` reaches ``power``, by simulation.

    .. math::
       s^\star = \min\{s : \widehat{\text{power}}(s) \ge \text{power}\},

    found by bisection on ``s`` between ``min_size`` and the size the sampler
    draws, with :func:`mmd_test_power` (``sample_sizes=[s]``) as the oracle. No
    asymptotic approximation is used: each evaluation simulates ``num_trials``
    complete permutation tests, so the answer holds for the finite-sample test
    as run, kernel and estimator included. Every evaluation reuses the same
    ``key`` (common random numbers) and the size-``s`` sample is a prefix of the
    full draw, so the estimated power curve is smooth in ``s``; bisection still
    assumes it is non-decreasing and the answer carries Monte Carlo error
    (about :math:`\sqrt{0.8\cdot0.2/T}` in power near the target). One
    compilation serves all sizes (the size is traced).

    Args:
      sampler: ``key -> (source [N, d], target [M, d])`` with i.i.d. rows; sizes up
        to ``min(N, M)`` are searched.
      kernel: the test's kernel (see :func:`mmd_test_power` on data-driven
        bandwidths).
      num_permutations: permutations per test (static).
      key: PRNG key, shared by every size.
      power: target power in ``(0, 1)``.
      alpha: test level.
      num_trials: simulated tests per size.
      estimator: ``"biased"`` or ``"unbiased"``.
      min_size: smallest size considered (default 2).
      batch_size: trials evaluated at once (default: all).

    Returns:
      The smallest size ``s`` found with estimated power ``>= power``, or ``None``
      when even ``min(N, M)`` falls short (draw larger samples).

    Examples:
      >>> import jax
      >>> from dalib.kernels import Gaussian
      >>> def shifted(key):
      ...     ks, kt = jax.random.split(key)
      ...     return jax.random.normal(ks, (32, 1)), jax.random.normal(kt, (32, 1)) + 1.0
      >>> size = required_sample_size(shifted, kernel=Gaussian(1.0), num_permutations=39,
      ...                             num_trials=40, key=jax.random.key(0))
      >>> 4 <= size <= 32
      True

    References:
      Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012.
    """
    unbiased = _check_estimator(estimator)
    _checks.check_number(power, "power", low=0.0, high=1.0, low_inclusive=False,
                         high_inclusive=False)
    shapes = jax.eval_shape(sampler, jax.random.key(0))
    largest = min(shapes[0].shape[0], shapes[1].shape[0])
    lowest = 2 if min_size is None else _check_count(min_size, "min_size", 2 if unbiased else 1)
    if lowest > largest:
        raise ValueError(
            f"`min_size`={lowest} exceeds the sampler's per-side size {largest}; "
            "draw larger samples."
        )

    @jax.jit
    def power_at(size: jax.Array) -> jax.Array:
        return mmd_test_power(
            sampler,
            kernel=kernel,
            num_permutations=num_permutations,
            key=key,
            num_trials=num_trials,
            alpha=alpha,
            estimator=estimator,
            sample_sizes=size[None],
            batch_size=batch_size,
        )[0]

    def reaches(size: int) -> bool:
        return float(power_at(jnp.asarray(size, dtype=jnp.int32))) >= power

    if not reaches(largest):
        return None
    fails, passes = lowest - 1, largest  # invariant: `passes` reaches the target
    while passes - fails > 1:
        mid = (fails + passes) // 2
        if reaches(mid):
            passes = mid
        else:
            fails = mid
    return passes
