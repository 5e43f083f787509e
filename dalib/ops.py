r"""Gradient operations and schedules for adversarial domain adaptation.

:func:`gradient_reversal` is the gradient reversal layer (GRL) of DANN as a pure
function: the identity on the forward pass, :math:`-\lambda\,g` on the backward
pass. Its strength :math:`\lambda` is an ordinary argument, so a schedule can
produce it from the step counter inside ``jit``; nothing is stored between
calls (TLlib's GRL keeps a step counter inside the layer instead).

The schedules are plain ``step -> value`` functions, the form optax uses for
learning rates, so they serve both as GRL strengths and as learning rates:

* :func:`dann_schedule`: :math:`\lambda(p) = 2/(1+e^{-\gamma p}) - 1`, the GRL
  warm-up of Ganin et al.
* :func:`linear_warmup`: a linear ramp, built on :func:`optax.linear_schedule`.
* :func:`inverse_decay_schedule`: :math:`\eta_0 (1+\alpha p)^{-\beta}`, the
  learning-rate annealing of DANN and CDAN.

Here :math:`p = \operatorname{clip}(\text{step}/\text{total\_steps}, 0, 1)` is
the training progress.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from dalib import _checks

__all__ = [
    "dann_schedule",
    "gradient_reversal",
    "inverse_decay_schedule",
    "linear_warmup",
]

Schedule = Callable[[ArrayLike], jax.Array]


@jax.custom_vjp
def _reverse(x: Any, scale: jax.Array) -> Any:
    return x


def _reverse_fwd(x: Any, scale: jax.Array) -> tuple[Any, jax.Array]:
    return x, scale


def _reverse_bwd(scale: jax.Array, g: Any) -> tuple[Any, jax.Array]:
    def flip(t: jax.Array) -> jax.Array:
        # Integer leaves carry float0 cotangents: there is nothing to reverse.
        if t.dtype == jax.dtypes.float0:
            return t
        return -(scale.astype(t.dtype) * t)

    # The scale is a hyper-parameter, not something the loss should move.
    return jax.tree.map(flip, g), jnp.zeros_like(scale)


_reverse.defvjp(_reverse_fwd, _reverse_bwd)


def gradient_reversal(x: Any, scale: ArrayLike = 1.0) -> Any:
    r"""Gradient reversal layer: identity forward, reversed and scaled gradient backward.

    .. math::

        R_\lambda(x) = x, \qquad \frac{\partial R_\lambda}{\partial x} = -\lambda I.

    Put it between a feature extractor and a domain discriminator (DANN, CDAN) or
    an adversarial head (MDD): one minimisation then trains the discriminator to
    separate the domains and the features to confuse it. ``scale`` receives a
    zero gradient, so it can be the traced output of a schedule such as
    :func:`dann_schedule` inside ``jit``.

    Args:
      x: an array or any pytree of arrays; returned unchanged. Integer leaves
        pass through (their cotangents are ``float0``).
      scale: the scalar :math:`\lambda`, a Python number or a (traced) 0-d array.
        The gradient is computed in each leaf's dtype.

    Returns:
      ``x``, unchanged.

    Raises:
      ValueError: if ``scale`` is not a scalar, or is a concrete NaN or
        infinity. A traced ``scale`` (from a schedule inside ``jit``) cannot be
        checked: a non-finite value there gives non-finite gradients.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.ops import gradient_reversal
      >>> jax.grad(lambda x: jnp.sum(3.0 * gradient_reversal(x, 0.5)))(jnp.ones(2))
      Array([-1.5, -1.5], dtype=float32)

    References:
      Ganin, Y. and Lempitsky, V. *Unsupervised Domain Adaptation by
      Backpropagation.* ICML 2015. Ganin, Y. et al. *Domain-Adversarial Training
      of Neural Networks.* JMLR 17(59), 2016.
    """
    if np.ndim(scale) != 0:
        raise ValueError(
            f"`scale` must be a scalar (the reversal strength), got shape {np.shape(scale)}."
        )
    _checks.check_param(scale, "scale")
    scale = jnp.asarray(scale)
    if not jnp.issubdtype(scale.dtype, jnp.floating):
        scale = scale.astype(jnp.result_type(float))
    return _reverse(x, scale)


def _check_total_steps(total_steps: Any, name: str = "total_steps") -> int:
    return _checks.check_positive_int(total_steps, name)


def _check_number(value: Any, name: str, *, minimum: float | None = None) -> float:
    return _checks.check_number(value, name, low=minimum)


def _progress(step: ArrayLike, total_steps: int) -> jax.Array:
    step = jnp.asarray(step, dtype=jnp.result_type(float))
    return jnp.clip(step / total_steps, 0.0, 1.0)


def dann_schedule(
    *, gamma: float = 10.0, total_steps: int, high: float = 1.0, low: float = 0.0
) -> Schedule:
    r"""The DANN warm-up of the reversal strength, as an optax-style schedule.

    .. math::

        \lambda(p) = \ell + (h - \ell)\left(\frac{2}{1 + e^{-\gamma p}} - 1\right),
        \qquad p = \operatorname{clip}\!\left(\frac{\text{step}}{\text{total\_steps}}, 0, 1\right),

    rising from :math:`\ell` (``low``) at step 0 to
    :math:`\ell + (h-\ell)\tanh(\gamma/2)` at ``total_steps`` and constant after.
    DANN uses :math:`\gamma = 10`, :math:`\ell = 0`, :math:`h = 1`. TLlib's
    ``WarmStartGradientReverseLayer(alpha, lo, hi, max_iters)`` is
    ``dann_schedule(gamma=alpha, total_steps=max_iters, high=hi, low=lo)``
    except that TLlib does not clip :math:`p` at 1.

    Args:
      gamma: steepness :math:`\gamma > 0`.
      total_steps: number of steps over which :math:`p` goes from 0 to 1.
      high: the value approached for large :math:`\gamma p`.
      low: the value at step 0.

    Returns:
      ``schedule(step) -> value``, a scalar float array; ``step`` may be traced.

    Raises:
      TypeError, ValueError: on a non-positive or non-integer ``total_steps``, or
        a non-positive ``gamma``.

    Examples:
      >>> from dalib.ops import dann_schedule
      >>> schedule = dann_schedule(total_steps=1000)
      >>> [round(float(schedule(s)), 4) for s in (0, 100, 1000, 5000)]
      [0.0, 0.4621, 0.9999, 0.9999]

    References:
      Ganin, Y. et al. *Domain-Adversarial Training of Neural Networks.*
      JMLR 17(59), 2016, Section 5.2.2.
    """
    total_steps = _check_total_steps(total_steps)
    gamma = _checks.check_positive(gamma, "gamma")
    high = _check_number(high, "high")
    low = _check_number(low, "low")

    def schedule(step: ArrayLike) -> jax.Array:
        p = _progress(step, total_steps)
        return low + (high - low) * (2.0 / (1.0 + jnp.exp(-gamma * p)) - 1.0)

    return schedule


def linear_warmup(
    *, warmup_steps: int, high: float = 1.0, low: float = 0.0, delay_steps: int = 0
) -> Schedule:
    r"""A linear ramp from ``low`` to ``high``, e.g. for the weight of an alignment loss.

    .. math::

        \lambda(t) = \ell + (h - \ell)\,
        \operatorname{clip}\!\left(\frac{t - t_0}{T}, 0, 1\right),

    with :math:`t_0` = ``delay_steps`` and :math:`T` = ``warmup_steps``: the value
    is ``low`` until ``delay_steps``, reaches ``high`` after ``warmup_steps`` more
    steps and stays there. A thin wrapper of :func:`optax.linear_schedule`.

    Args:
      warmup_steps: length :math:`T > 0` of the ramp.
      high: final value.
      low: initial value.
      delay_steps: steps :math:`t_0 \ge 0` spent at ``low`` before the ramp.

    Returns:
      ``schedule(step) -> value``.

    Examples:
      >>> from dalib.ops import linear_warmup
      >>> schedule = linear_warmup(warmup_steps=100, delay_steps=50)
      >>> [round(float(schedule(s)), 4) for s in (0, 50, 100, 150, 500)]
      [0.0, 0.0, 0.5, 1.0, 1.0]
    """
    warmup_steps = _check_total_steps(warmup_steps, "warmup_steps")
    delay_steps = _checks.check_positive_int(delay_steps, "delay_steps", allow_zero=True)
    return optax.linear_schedule(
        init_value=_check_number(low, "low"),
        end_value=_check_number(high, "high"),
        transition_steps=warmup_steps,
        transition_begin=int(delay_steps),
    )


def inverse_decay_schedule(
    *, init_value: float, total_steps: int, alpha: float = 10.0, beta: float = 0.75
) -> Schedule:
    r"""The learning-rate annealing of DANN and CDAN.

    .. math::

        \eta(p) = \frac{\eta_0}{(1 + \alpha p)^{\beta}}, \qquad
        p = \operatorname{clip}\!\left(\frac{\text{step}}{\text{total\_steps}}, 0, 1\right).

    DANN uses :math:`\alpha = 10`, :math:`\beta = 0.75`. TLlib's per-iteration
    form :math:`\eta_0 (1 + 0.001\,i)^{-0.75}` is ``alpha = 0.001 * total_steps``,
    without the clip. Pass the result as ``learning_rate`` to any optax optimiser.

    Args:
      init_value: :math:`\eta_0`.
      total_steps: number of steps over which :math:`p` goes from 0 to 1.
      alpha: :math:`\alpha \ge 0`.
      beta: :math:`\beta \ge 0`.

    Returns:
      ``schedule(step) -> value``.

    Examples:
      >>> from dalib.ops import inverse_decay_schedule
      >>> schedule = inverse_decay_schedule(init_value=0.01, total_steps=1000)
      >>> [round(float(schedule(s)), 6) for s in (0, 500, 1000)]
      [0.01, 0.002608, 0.001656]

    References:
      Ganin, Y. et al. *Domain-Adversarial Training of Neural Networks.*
      JMLR 17(59), 2016, Section 5.2.2.
    """
    init_value = _check_number(init_value, "init_value")
    total_steps = _check_total_steps(total_steps)
    alpha = _check_number(alpha, "alpha", minimum=0.0)
    beta = _check_number(beta, "beta", minimum=0.0)

    def schedule(step: ArrayLike) -> jax.Array:
        p = _progress(step, total_steps)
        return init_value * (1.0 + alpha * p) ** (-beta)

    return schedule
