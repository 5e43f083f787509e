r"""Positive-definite kernels for kernel two-sample statistics.

Every kernel is a small frozen dataclass registered as a JAX pytree:
``kernel(x, y)`` returns the Gram matrix ``[n, m]`` and ``kernel.pairwise(x, y)``
the row-wise values ``[n]`` (``k(x_i, y_i)``), both computed from squared
distances :math:`\|x\|^2 + \|y\|^2 - 2 x^\top y` so that no ``[n, m, d]`` tensor is
ever formed. Numeric bandwidths are pytree leaves (they can be traced, vmapped,
learned); data-driven bandwidth rules are static strings that
:meth:`MultiGaussian.resolve` turns into numbers from a pooled batch, under
``jax.lax.stop_gradient``.

Numerical stability (see ``docs/reliability.md``): :func:`pairwise_sq_dists`
first moves both sets to a common point computed from both (no gradient flows
through it; distances do not depend on it), so features far from the origin do
not cancel catastrophically, and the entries :math:`(x_i, y_i)` of a square
matrix are computed as :math:`\|x_i - y_i\|^2` directly, so ``k(x, x)`` has the
exact diagonal :math:`k(0)`. Kernels whose bandwidth is a data-driven rule are
scale-free; the losses evaluate them on data centred and divided by a power of
two (exact), so ``mmd(S * 1e-20, T * 1e-20)`` equals ``mmd(S, T)`` in float32.

Which settings reproduce which reference code:

* **DAN** (Long et al. 2015, as in the Transfer-Learning-Library):
  ``MultiGaussian.dan()`` = multipliers :math:`2^{-3},\dots,2^{1}`, rule ``"mean"``:
  :math:`\sigma_k^2 = 2^k\cdot\operatorname{mean}(D)` over all :math:`(n+m)^2`
  pooled entries (diagonal included), :math:`k(x,y)=\sum_k \exp(-D/(2\sigma_k^2))`.
* **DSAN** (Zhu et al. 2020, as in DeepDA): ``MultiGaussian.dsan()`` =
  :math:`\sum_{k=0}^{4}\exp(-D / b_k)`, :math:`b = \sum D/(N^2-N)`,
  :math:`b_k = b\,2^k/4`. In the :math:`\sigma^2` parametrisation used here this is
  rule ``"dsan"`` (:math:`\text{base} = b/2`) with multipliers
  :math:`(1/4, 1/2, 1, 2, 4)`.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks
from dalib._distances import (  # noqa: F401 - re-exported
    _check_pair,
    _common_point,
    _row_sq,
    _safe_sqrt,
    pairwise_sq_dists,
    rowwise_sq_dists,
)

__all__ = [
    "Gaussian",
    "InverseMultiquadric",
    "Kernel",
    "Laplacian",
    "Linear",
    "MultiGaussian",
    "pairwise_sq_dists",
    "rowwise_sq_dists",
]

BANDWIDTH_RULES = ("mean", "median", "dsan")


def _register(cls):
    """Registers a frozen dataclass as a pytree: numeric fields are leaves.

    Fields named in ``cls._static`` are always static; any other field is static
    when it holds a string (a bandwidth rule), a leaf otherwise.
    """

    def flatten(obj):
        names, children, aux = [], [], []
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if f.name in cls._static or isinstance(v, str):
                aux.append((f.name, v))
            else:
                names.append(f.name)
                children.append(v)
        return children, (tuple(names), tuple(aux))

    def unflatten(meta, children):
        names, aux = meta
        kwargs = dict(aux)
        kwargs.update(zip(names, children, strict=True))
        obj = object.__new__(cls)
        for k, v in kwargs.items():
            object.__setattr__(obj, k, v)
        return obj

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls


class Kernel:
    """Base class: subclasses implement :meth:`from_sq_dists` or override calls.

    ``shift_invariant`` (class attribute) declares :math:`k(x + c, y + c) = k(x, y)`;
    the losses then centre the data on a common point before any Gram matrix,
    which changes nothing mathematically and keeps float32 accurate far from the
    origin. It is ``True`` for every kernel computed from distances and
    ``False`` by default (a user kernel such as a polynomial one is left alone).
    """

    _static: ClassVar[tuple[str, ...]] = ()
    shift_invariant: ClassVar[bool] = False

    def from_sq_dists(self, d2: jax.Array) -> jax.Array:
        """Kernel values from squared distances (any shape)."""
        raise NotImplementedError

    def __call__(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        """Gram matrix ``[n, m]`` with entries ``k(x_i, y_j)``."""
        return self.from_sq_dists(pairwise_sq_dists(x, y))

    def pairwise(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        """Row-wise values ``[n]`` with entries ``k(x_i, y_i)``."""
        return self.from_sq_dists(rowwise_sq_dists(x, y))

    def resolve(self, *sets: ArrayLike) -> Kernel:
        """Returns a kernel whose data-driven parameters are fixed from ``sets``.

        Kernels without a data-driven parameter return themselves. Losses call
        this once on the source and target together so that every Gram block
        uses the same bandwidth.
        """
        del sets
        return self

    @property
    def is_resolved(self) -> bool:
        """True when no data-driven rule is left to evaluate."""
        return True

    @property
    def scale_free(self) -> bool:
        """True when :math:`k` evaluated on :math:`(a x, a y)` with its parameters
        resolved on the same data does not depend on :math:`a > 0` (data-driven
        bandwidths)."""
        return False


_ONE_EXP_MIN_ENTRIES = 1 << 16  # 256 x 256


def _check_kernel_param(value: Any, name: str) -> None:
    """A bandwidth-like parameter: a finite number > 0, checked when concrete."""
    _checks.check_param(value, name, low=0.0, low_inclusive=False)


@_register
@dataclasses.dataclass(frozen=True)
class Gaussian(Kernel):
    r"""Gaussian (RBF) kernel :math:`k(x, y) = \exp(-\|x-y\|^2 / (2\sigma^2))`.

    Args:
      bandwidth: :math:`\sigma > 0`, a number or a traced scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> k = Gaussian(bandwidth=1.0)
      >>> [round(float(v), 4) for v in k(jnp.zeros((1, 2)), jnp.array([[0.0, 0.0], [1.0, 1.0]]))[0]]
      [1.0, 0.3679]
    """

    shift_invariant: ClassVar[bool] = True

    bandwidth: Any = 1.0

    def __post_init__(self):
        _check_kernel_param(self.bandwidth, "Gaussian.bandwidth")

    def from_sq_dists(self, d2: jax.Array) -> jax.Array:
        sigma = jnp.asarray(self.bandwidth, dtype=d2.dtype)
        return jnp.exp(-d2 / (2.0 * sigma * sigma))


@_register
@dataclasses.dataclass(frozen=True)
class Laplacian(Kernel):
    r"""Laplacian kernel :math:`k(x, y) = \exp(-\|x-y\| / \sigma)`.

    The gradient at coinciding points is taken as 0 (a subgradient) instead of
    the undefined derivative of the norm.

    Args:
      bandwidth: :math:`\sigma > 0`.

    Examples:
      >>> import jax.numpy as jnp
      >>> Laplacian(bandwidth=2.0)(jnp.zeros((1, 2)), jnp.array([[3.0, 4.0]])).round(4)
      Array([[0.0821]], dtype=float32)
    """

    shift_invariant: ClassVar[bool] = True

    bandwidth: Any = 1.0

    def __post_init__(self):
        _check_kernel_param(self.bandwidth, "Laplacian.bandwidth")

    def from_sq_dists(self, d2: jax.Array) -> jax.Array:
        sigma = jnp.asarray(self.bandwidth, dtype=d2.dtype)
        return jnp.exp(-_safe_sqrt(d2) / sigma)


@_register
@dataclasses.dataclass(frozen=True)
class InverseMultiquadric(Kernel):
    r"""Inverse multiquadric kernel :math:`k(x, y) = (1 + \|x-y\|^2 / c^2)^{-\beta}`.

    Characteristic for :math:`c > 0,\ \beta > 0`, with heavier tails than the
    Gaussian (Gorham & Mackey 2017).

    Args:
      scale: :math:`c > 0`.
      power: :math:`\beta > 0` (default 0.5).

    Examples:
      >>> import jax.numpy as jnp
      >>> InverseMultiquadric(scale=1.0)(jnp.zeros((1, 1)), jnp.array([[3.0]])).round(4)
      Array([[0.3162]], dtype=float32)
    """

    shift_invariant: ClassVar[bool] = True

    scale: Any = 1.0
    power: Any = 0.5

    def __post_init__(self):
        _check_kernel_param(self.scale, "InverseMultiquadric.scale")
        _check_kernel_param(self.power, "InverseMultiquadric.power")

    def from_sq_dists(self, d2: jax.Array) -> jax.Array:
        c = jnp.asarray(self.scale, dtype=d2.dtype)
        return (1.0 + d2 / (c * c)) ** (-jnp.asarray(self.power, dtype=d2.dtype))


@_register
@dataclasses.dataclass(frozen=True)
class Linear(Kernel):
    r"""Linear kernel :math:`k(x, y) = x^\top y`.

    With this kernel the biased MMD equals
    :math:`\|\bar x_s - \bar x_t\|^2` exactly.

    Examples:
      >>> import jax.numpy as jnp
      >>> Linear()(jnp.array([[1.0, 2.0]]), jnp.array([[3.0, 4.0]]))
      Array([[11.]], dtype=float32)
    """

    def __call__(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        x, y = _check_pair(x, y)
        return jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)

    def pairwise(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        x, y = _check_pair(x, y)
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"row-wise kernel values need one row of `y` per row of `x`, got shapes "
                f"{tuple(x.shape)} and {tuple(y.shape)}."
            )
        return jnp.sum(x * y, axis=-1)

    def from_sq_dists(self, d2: jax.Array) -> jax.Array:
        raise TypeError("the linear kernel is not a function of distances alone")


def _bandwidth_base(rule: str, pooled: jax.Array) -> jax.Array:
    """The base :math:`\\sigma^2` scale of a bandwidth rule on pooled samples."""
    pooled = jax.lax.stop_gradient(pooled)
    n = pooled.shape[0]
    if rule in ("mean", "dsan"):
        # mean_ij ||z_i - z_j||^2 = 2 (mean ||z - c||^2 - ||mean z - c||^2) for any c:
        # O(N d), no N x N. Two passes (c = a first mean, then the exact
        # correction) so that a mean computed far from the origin costs no accuracy.
        centred = pooled - jnp.mean(pooled, axis=0)
        shift = jnp.mean(centred, axis=0)
        mean_d2 = 2.0 * (
            jnp.mean(jnp.sum(centred * centred, axis=-1)) - jnp.sum(shift * shift)
        )
        mean_d2 = jnp.maximum(mean_d2, 0.0)
        if rule == "mean":
            return mean_d2
        if n < 2:
            raise ValueError("the 'dsan' bandwidth rule needs at least 2 pooled samples")
        # sum(D) / (N^2 - N), and base = b / 2 because exp(-D / b) = exp(-D / (2 base)).
        return 0.5 * mean_d2 * n / (n - 1)
    if rule == "median":
        if n < 2:
            raise ValueError("the 'median' bandwidth rule needs at least 2 pooled samples")
        d2 = pairwise_sq_dists(pooled, pooled)
        upper = d2[jnp.triu_indices(n, k=1)]
        return 0.5 * jnp.median(upper)
    raise ValueError(f"unknown bandwidth rule {rule!r}; choose one of {BANDWIDTH_RULES}")


@_register
@dataclasses.dataclass(frozen=True)
class MultiGaussian(Kernel):
    r"""Sum of Gaussian kernels at several bandwidths (multi-kernel MMD).

    .. math::
       k(x, y) = \sum_{k} \exp\!\left(-\frac{\|x-y\|^2}{2\sigma_k^2}\right),
       \qquad \sigma_k^2 = m_k \cdot \text{base}.

    ``base`` is a number, or a rule evaluated on the pooled batch
    :math:`Z = [X_s; X_t]` (``N`` rows, :math:`D` its squared distances) under
    ``stop_gradient``:

    * ``"mean"``: :math:`\operatorname{mean}(D)` over all :math:`N^2` entries,
      diagonal included (TLlib's DAN). Computed in :math:`O(Nd)`.
    * ``"dsan"``: :math:`\tfrac12 \sum D / (N^2 - N)` (DSAN/DeepDA).
    * ``"median"``: :math:`\tfrac12 \operatorname{median}_{i<j} D_{ij}` (the median
      heuristic: with :math:`m=1`, :math:`k = \exp(-D/\operatorname{median} D)`).
      Costs :math:`O(N^2)` memory.

    A rule that returns 0 (all pooled points coincide, or over half the pairs do
    for ``"median"``) falls back to a base of 1 instead of dividing by zero.

    Losses call :meth:`resolve` on source and target together. A kernel with a
    rule called directly, ``k(x, y)``, takes its base from ``[x; y]`` pooled.

    Args:
      multipliers: the :math:`m_k`.
      bandwidth: ``"mean"``, ``"median"``, ``"dsan"`` or a fixed positive base.

    Examples:
      >>> import jax.numpy as jnp
      >>> k = MultiGaussian(multipliers=(0.5, 1.0), bandwidth=1.0)
      >>> k(jnp.zeros((1, 1)), jnp.ones((1, 1))).round(4)
      Array([[0.9744]], dtype=float32)

    References:
      Long et al., "Learning Transferable Features with Deep Adaptation Networks",
      ICML 2015. Zhu et al., "Deep Subdomain Adaptation Network for Image
      Classification", IEEE TNNLS 2020.
    """

    _static: ClassVar[tuple[str, ...]] = ("multipliers",)

    shift_invariant: ClassVar[bool] = True

    multipliers: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0)
    bandwidth: Any = "mean"

    def __post_init__(self):
        multipliers = tuple(self.multipliers)
        if not multipliers:
            raise ValueError("`MultiGaussian.multipliers` needs at least one multiplier.")
        multipliers = tuple(
            _checks.check_number(m, "MultiGaussian.multipliers entry", low=0.0, low_inclusive=False)
            for m in multipliers
        )
        object.__setattr__(self, "multipliers", multipliers)
        if isinstance(self.bandwidth, str):
            if self.bandwidth not in BANDWIDTH_RULES:
                raise ValueError(
                    f"unknown bandwidth rule {self.bandwidth!r} for `MultiGaussian.bandwidth`; "
                    f"choose one of {BANDWIDTH_RULES} or pass a positive number."
                )
        else:
            _check_kernel_param(self.bandwidth, "MultiGaussian.bandwidth")

    @classmethod
    def dan(cls) -> MultiGaussian:
        """The five-kernel setting of DAN in TLlib: :math:`2^{-3}..2^{1}`, rule ``"mean"``."""
        return cls(multipliers=(0.125, 0.25, 0.5, 1.0, 2.0), bandwidth="mean")

    @classmethod
    def dsan(cls) -> MultiGaussian:
        """The five-kernel setting of DSAN in DeepDA: ``b·{1/4,1/2,1,2,4}``, rule ``"dsan"``."""
        return cls(multipliers=(0.25, 0.5, 1.0, 2.0, 4.0), bandwidth="dsan")

    @property
    def is_resolved(self) -> bool:
        return not isinstance(self.bandwidth, str)

    @property
    def scale_free(self) -> bool:
        return not self.is_resolved

    def resolve(self, *sets: ArrayLike) -> MultiGaussian:
        """Fixes the rule's base from ``sets`` pooled (no gradient).

        Raises:
          ValueError: no sample in ``sets``; or, on concrete data, a scale whose
            squared distances do not fit the dtype (e.g. features near 1e20 or
            1e-20 in float32). The losses never hit the latter: they resolve on
            data rescaled by a power of two.
        """
        if self.is_resolved:
            return self
        if not sets:
            raise ValueError("`resolve` needs the data: call kernel.resolve(source, target).")
        pooled = jnp.concatenate([jnp.asarray(s) for s in sets], axis=0)
        if pooled.shape[0] == 0:
            raise ValueError(
                f"the {self.bandwidth!r} bandwidth rule needs at least one sample, got "
                f"pooled shape {tuple(pooled.shape)}."
            )
        base = _bandwidth_base(self.bandwidth, pooled)
        concrete = _checks.concrete_value(base)
        if concrete is not None:
            _check_base_scale(float(concrete), pooled)
        # A base of 0 means the rule saw no spread (e.g. a collapsed batch where all
        # points coincide): exp(-0/0) would be NaN. Any positive scale is then as
        # good as another, since the distances the rule looked at are all 0.
        base = jnp.where(base > 0, base, jnp.ones_like(base))
        return dataclasses.replace(self, bandwidth=base)

    def from_sq_dists(self, d2: jax.Array) -> jax.Array:
        if not self.is_resolved:
            raise ValueError(
                "a data-driven bandwidth must be resolved on data first: "
                "call kernel.resolve(source, target)"
            )
        base = jnp.asarray(self.bandwidth, dtype=d2.dtype)
        ladder = sorted(self.multipliers)
        if len(ladder) > 1 and all(b == 2.0 * a for a, b in itertools.pairwise(ladder)):
            # Successive multipliers double (DAN: 2^-3..2^1, DSAN: 2^-2..2^2), so
            # exp(-D / (2 m base)) = exp(-D / (4 m base))^2: one exp at the widest
            # bandwidth, then a squaring per narrower one. Exact in real arithmetic;
            # in floating point each squaring at most doubles the relative error
            # (bounded by about 2^(K-1) ulp after K-1 squarings: 16 for five kernels).
            value = jnp.exp(-d2 / (2.0 * ladder[-1] * base))
            if d2.size >= _ONE_EXP_MIN_ENTRIES:
                # XLA rewrites exp(a) * exp(a) as exp(a + a), one exp per kernel
                # again, and on MMD panels (256 x N) then writes one array per
                # kernel; the barrier keeps the squarings. Smaller matrices
                # (training batches) keep the rewrite and the values it gave.
                value = jax.lax.optimization_barrier(value)
            total = value
            for _ in ladder[:-1]:
                value = value * value
                total = total + value
            return total
        total = jnp.zeros_like(d2)
        for m in self.multipliers:
            total = total + jnp.exp(-d2 / (2.0 * m * base))
        return total

    def __call__(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        x, y = _check_pair(x, y)
        k, x, y = _prepare(self, x, y)
        return k.from_sq_dists(pairwise_sq_dists(x, y))

    def pairwise(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        x, y = _check_pair(x, y)
        k, x, y = _prepare(self, x, y)
        return k.from_sq_dists(rowwise_sq_dists(x, y))


def _check_base_scale(base: float, pooled: jax.Array) -> None:
    """Refuses a rule base that over- or underflowed on concrete data."""
    values = _checks.concrete_value(pooled)
    if values is None:
        return
    values = np.asarray(values)
    spread = float(np.max(np.abs(values - values[0]))) if values.size else 0.0
    if spread == 0.0:
        return  # all points coincide: the base falls back to 1
    tiny = float(np.finfo(values.dtype).tiny) if np.issubdtype(values.dtype, np.floating) else 0
    if not np.isfinite(base) or base < tiny:
        raise ValueError(
            f"the bandwidth rule's squared distances do not fit {values.dtype}: the pooled "
            f"data spread over about {spread:.3g}, and its square "
            f"{'overflows' if not np.isfinite(base) else 'underflows'}. Rescale the "
            "features (e.g. standardise them), or pass the unresolved kernel to "
            "dalib.losses.mmd / jmmd / lmmd / dalib.stats.mmd_test, which evaluate "
            "data-driven bandwidths scale-free."
        )


def _pow2_scale(*sets: jax.Array) -> jax.Array:
    """A power of two near ``max |z|`` over the sets (1 when all are 0); no gradient."""
    peaks = [jnp.max(jnp.abs(s)) for s in sets if s.size]
    if not peaks:
        return jnp.ones((), sets[0].dtype)
    peak = jax.lax.stop_gradient(jnp.max(jnp.stack(peaks)))
    _, exponent = jnp.frexp(jnp.where(jnp.isfinite(peak) & (peak > 0), peak, 1.0))
    return jnp.ldexp(jnp.ones((), peak.dtype), exponent).astype(peak.dtype)


def _prepare(
    kernel: Kernel, x: jax.Array, y: jax.Array, *, centre: bool | None = None
) -> tuple[Kernel, jax.Array, jax.Array]:
    """Puts ``(x, y)`` in a numerically safe frame and resolves ``kernel`` there.

    * Centring on a common point (no gradient) when ``centre`` (default: the
      kernel's ``shift_invariant``): values unchanged, float32 accuracy kept far
      from the origin.
    * For a scale-free kernel (a data-driven bandwidth rule), division by a
      power of two near the data's magnitude (exact in floating point, no
      gradient through the factor): values unchanged, and squared distances
      neither overflow (data near 1e20) nor underflow (near 1e-20).

    Gradients with respect to ``x`` and ``y`` are those of the original
    computation. Returns ``(resolved kernel, x', y')``.
    """
    if centre is None:
        centre = kernel.shift_invariant
    if centre or kernel.scale_free:
        c = _common_point(x, y)
        x, y = x - c, y - c
    if kernel.scale_free:
        s = _pow2_scale(x, y)
        x, y = x / s.astype(x.dtype), y / s.astype(y.dtype)
    return kernel.resolve(x, y), x, y
