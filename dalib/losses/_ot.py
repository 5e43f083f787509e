r"""Optimal-transport alignment through ott-jax: Sinkhorn divergence and DeepJDOT.

No solver lives here: geometries come from :mod:`ott.geometry`, the entropic
problems are solved by :func:`ott.solvers.linear.solve` (Sinkhorn) and the
divergence by :func:`ott.tools.sinkhorn_divergence.sinkhorn_divergence`.

Sinkhorn stops when the marginal error falls below ``threshold`` (ott's
default 1e-3) or after ``max_iterations``; values and gradients are accurate to
about that tolerance. Lower it for tests and evaluation.

ott-jax is imported on first use (it takes about 1.4 s to import), so that
``import dalib.losses`` and ``import dalib.train`` stay quick for the methods
that do not transport.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from dalib import _checks
from dalib.kernels import pairwise_sq_dists

if TYPE_CHECKING:
    from ott.geometry import costs

__all__ = ["OTDiagnostics", "jdot", "jdot_cost", "sinkhorn_divergence"]

_COST_NAMES = {"sqeuclidean": "SqEuclidean", "euclidean": "Euclidean", "cosine": "Cosine"}


@functools.cache
def _ott() -> types.SimpleNamespace:
    """The ott-jax modules used here, imported once, on first use."""
    from ott.geometry import costs, geometry, pointcloud
    from ott.solvers import linear
    from ott.tools import sinkhorn_divergence

    return types.SimpleNamespace(
        costs=costs,
        geometry=geometry,
        pointcloud=pointcloud,
        linear=linear,
        sinkhorn_divergence=sinkhorn_divergence,
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OTDiagnostics:
    """What the Sinkhorn solver(s) behind an OT loss report (ott-jax's outputs, kept).

    Attributes:
      converged: scalar bool, every solve reached ``threshold`` within
        ``max_iterations``.
      iterations: ``[k]`` int, the iterations of each solve (three for the
        Sinkhorn divergence: source-target, source-source, target-target).
    """

    converged: jax.Array
    iterations: jax.Array


def _cost_fn(cost: str | costs.CostFn) -> costs.CostFn:
    ott_costs = _ott().costs
    if isinstance(cost, ott_costs.CostFn):
        return cost
    if cost not in _COST_NAMES:
        raise ValueError(
            f"`cost` must be one of {tuple(_COST_NAMES)} or an `ott.geometry.costs.CostFn`, "
            f"got {cost!r}."
        )
    return getattr(ott_costs, _COST_NAMES[cost])()


def _check_epsilon(epsilon: float | None) -> None:
    if epsilon is not None and _checks.is_concrete(epsilon) and not float(epsilon) > 0:
        raise ValueError(f"`epsilon` must be positive (or None for ott's default), got {epsilon}.")


def _marginal(w: ArrayLike | None, x: jax.Array, name: str, x_name: str) -> jax.Array:
    w = _checks.check_weights(w, x, name, x_name)
    if w is None:
        return jnp.full((x.shape[0],), 1.0 / x.shape[0], dtype=x.dtype)
    if _checks.is_concrete(w) and (bool(jnp.any(w < 0)) or not float(jnp.sum(w)) > 0):
        raise ValueError(f"`{name}` must be non-negative with a positive sum.")
    return w / jnp.sum(w)


def sinkhorn_divergence(
    source: ArrayLike,
    target: ArrayLike,
    *,
    epsilon: float | None = None,
    source_weights: ArrayLike | None = None,
    target_weights: ArrayLike | None = None,
    cost: str | costs.CostFn = "sqeuclidean",
    threshold: float = 1e-3,
    max_iterations: int = 2000,
    return_diagnostics: bool = False,
) -> jax.Array | tuple[jax.Array, OTDiagnostics]:
    r"""Debiased Sinkhorn divergence between two weighted point clouds.

    .. math::

        S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
          - \tfrac12\,\mathrm{OT}_\varepsilon(\alpha, \alpha)
          - \tfrac12\,\mathrm{OT}_\varepsilon(\beta, \beta),

    where :math:`\mathrm{OT}_\varepsilon` is ott-jax's entropic OT cost
    (``reg_ot_cost``) for the ground cost ``cost`` (default
    :math:`\lVert x - y\rVert^2`), :math:`\alpha = \sum_i a_i\delta_{x_i}`,
    :math:`\beta = \sum_j b_j\delta_{y_j}`. Non-negative up to solver tolerance,
    0 for identical clouds, and a smooth alignment loss: it interpolates between
    OT (:math:`\varepsilon \to 0`) and :math:`\tfrac12` MMD² with kernel
    :math:`-c` (:math:`\varepsilon \to \infty`). Computed by
    :func:`ott.tools.sinkhorn_divergence.sinkhorn_divergence` on
    :class:`ott.geometry.pointcloud.PointCloud` geometries; gradients by
    implicit differentiation.

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features.
      epsilon: entropic regularisation :math:`\varepsilon > 0`, in units of the
        cost. ``None`` uses ott's default, :math:`0.05\,\operatorname{std}` of the
        source–target cost matrix (under ``stop_gradient``), shared by the three
        terms.
      source_weights: optional ``[n]`` non-negative weights; normalised to sum 1
        (uniform by default).
      target_weights: optional ``[m]`` non-negative weights; normalised to sum 1.
      cost: ``"sqeuclidean"``, ``"euclidean"``, ``"cosine"`` or any
        :class:`ott.geometry.costs.CostFn`.
      threshold: Sinkhorn stopping tolerance on the marginals.
      max_iterations: Sinkhorn iteration cap.
      return_diagnostics: also return the solver's :class:`OTDiagnostics`
        (whether each of the three Sinkhorn solves converged, and their
        iteration counts): a value that did not converge is an approximation.

    Returns:
      Scalar divergence, or ``(divergence, diagnostics)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.losses import sinkhorn_divergence
      >>> x = jax.random.normal(jax.random.key(0), (6, 2))
      >>> abs(float(sinkhorn_divergence(x, x, epsilon=0.1))) < 1e-3
      True
      >>> float(sinkhorn_divergence(x, x + 3.0, epsilon=0.1)) > 10.0
      True

    References:
      Genevay, A., Peyré, G. and Cuturi, M. *Learning Generative Models with
      Sinkhorn Divergences.* AISTATS 2018. Feydy, J. et al. *Interpolating
      between Optimal Transport and MMD using Sinkhorn Divergences.* AISTATS
      2019. Cuturi, M. et al. *Optimal Transport Tools (OTT).* arXiv:2201.12324.
    """
    s, t = _checks.feature_pair(source, target)
    _check_epsilon(epsilon)
    a = _marginal(source_weights, s, "source_weights", "source")
    b = _marginal(target_weights, t, "target_weights", "target")
    ott = _ott()
    div, out = ott.sinkhorn_divergence.sinkhorn_divergence(
        ott.pointcloud.PointCloud,
        s,
        t,
        cost_fn=_cost_fn(cost),
        epsilon=epsilon,
        a=a,
        b=b,
        solve_kwargs={"threshold": threshold, "max_iterations": max_iterations},
    )
    if return_diagnostics:
        return div, OTDiagnostics(
            converged=jnp.all(jnp.stack(out.converged)), iterations=jnp.stack(out.n_iters)
        )
    return div


def _source_labels(labels: ArrayLike, source: jax.Array, num_classes: int) -> jax.Array:
    if jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        y = _checks.labels(labels, "source_labels", num_classes=num_classes)
        _checks.check_leading(y, source, "source_labels", "source")
        return jax.nn.one_hot(y, num_classes, dtype=source.dtype)
    y = _checks.as_float(labels, "source_labels", ndim=2)
    _checks.check_finite(y, "source_labels")
    _checks.check_leading(y, source, "source_labels", "source")
    if y.shape[1] != num_classes:
        raise ValueError(
            f"`source_labels` must have one column per class of `target_logits` "
            f"({num_classes}), got shape {tuple(y.shape)}."
        )
    return y


def jdot_cost(
    source: ArrayLike,
    target: ArrayLike,
    source_labels: ArrayLike,
    target_logits: ArrayLike,
    *,
    alpha: float = 1.0,
    lam: float = 1.0,
    from_logits: bool = True,
) -> jax.Array:
    r"""DeepJDOT's joint feature + label ground cost ``[n, m]``.

    .. math::

        C_{ij} = \alpha\,\lVert f^s_i - f^t_j\rVert^2
          + \lambda\, \mathrm{CE}\bigl(y^s_i, \hat g(f^t_j)\bigr),
        \qquad \mathrm{CE}(y, q) = -\sum_c y_c \log q_c,

    where :math:`\hat g(f^t_j)` are the classifier's probabilities on target
    sample :math:`j`. Differentiable in the features and the target logits.

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features.
      source_labels: ``[n]`` integer labels or ``[n, C]`` one-hot (or soft) labels.
      target_logits: ``[m, C]`` classifier logits on the target, or
        probabilities when ``from_logits=False``.
      alpha: weight :math:`\alpha` of the feature distance.
      lam: weight :math:`\lambda` of the label loss.
      from_logits: whether ``target_logits`` are logits (``log_softmax`` is
        taken) or probabilities (their log is taken, floored at the smallest
        normal float).

    Returns:
      ``[n, m]`` cost matrix.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import jdot_cost
      >>> jdot_cost(jnp.zeros((1, 2)), jnp.ones((2, 2)), jnp.array([0]),
      ...           jnp.array([[0.0, 0.0], [10.0, 0.0]]), alpha=0.5).round(4)
      Array([[1.6931, 1.    ]], dtype=float32)
    """
    s, t = _checks.feature_pair(source, target)
    q = _checks.as_float(target_logits, "target_logits", ndim=2)
    _checks.check_finite(q, "target_logits")
    _checks.check_leading(q, t, "target_logits", "target")
    y = _source_labels(source_labels, s, q.shape[1])
    if from_logits:
        log_q = jax.nn.log_softmax(q, axis=-1)
    else:
        log_q = jnp.log(jnp.maximum(q, jnp.finfo(q.dtype).tiny))
    label_cost = -jnp.matmul(y, log_q.T, precision=jax.lax.Precision.HIGHEST)
    return alpha * pairwise_sq_dists(s, t) + lam * label_cost


def jdot(
    source: ArrayLike,
    target: ArrayLike,
    source_labels: ArrayLike,
    target_logits: ArrayLike,
    *,
    alpha: float = 1.0,
    lam: float = 1.0,
    epsilon: float | None = None,
    from_logits: bool = True,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
    return_diagnostics: bool = False,
) -> jax.Array | tuple[jax.Array, OTDiagnostics]:
    r"""DeepJDOT loss: joint feature/label transport cost under a fixed plan.

    With the joint cost :math:`C` of :func:`jdot_cost` and uniform marginals,

    .. math::

        L = \langle \operatorname{sg}(T^\star), C\rangle = \sum_{ij} T^\star_{ij} C_{ij},
        \qquad T^\star = \arg\min_{T \in U(a, b)} \langle T, C\rangle
            - \varepsilon H(T),

    where :math:`T^\star` is the entropic plan from ott-jax's Sinkhorn on
    ``Geometry(cost_matrix=C)`` and ``sg`` is ``stop_gradient``. DeepJDOT
    alternates: fix the plan on the current batch, then take a gradient step on
    :math:`\langle T, C\rangle`; one call does both, the plan being a constant
    for autodiff (so ``jax.grad`` of this function is :math:`\langle T^\star,
    \nabla C\rangle`, not the derivative of the plan). Two differences from the
    authors' code: the plan is entropic instead of exact EMD, and it is computed
    from the same cost as the loss (their code builds it with the squared
    distance between one-hot labels and probabilities in place of CE).

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features.
      source_labels: ``[n]`` integer labels or ``[n, C]`` one-hot/soft labels.
      target_logits: ``[m, C]`` target logits (probabilities if
        ``from_logits=False``).
      alpha: weight of the feature distance (the authors' code defaults to 0.01).
      lam: weight of the label loss (1 in the authors' code).
      epsilon: entropic regularisation of the plan, in units of :math:`C`;
        ``None`` is ott's default, :math:`0.05\,\operatorname{std}(C)`.
      from_logits: see :func:`jdot_cost`.
      threshold: Sinkhorn stopping tolerance on the marginals.
      max_iterations: Sinkhorn iteration cap.
      return_diagnostics: also return the plan's :class:`OTDiagnostics`.

    Returns:
      Scalar loss, or ``(loss, diagnostics)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import jdot
      >>> xs = jnp.array([[0.0], [4.0]])
      >>> logits = jnp.array([[5.0, -5.0], [-5.0, 5.0]])
      >>> round(float(jdot(xs, xs + 0.1, jnp.array([0, 1]), logits, epsilon=0.01)), 3)
      0.01

    References:
      Damodaran, B. B., Kellenberger, B., Flamary, R., Tuia, D. and Courty, N.
      *DeepJDOT: Deep Joint Distribution Optimal Transport for Unsupervised
      Domain Adaptation.* ECCV 2018.
    """
    _check_epsilon(epsilon)
    cost = jdot_cost(
        source,
        target,
        source_labels,
        target_logits,
        alpha=alpha,
        lam=lam,
        from_logits=from_logits,
    )
    out = _entropic_plan(jax.lax.stop_gradient(cost), epsilon, threshold, max_iterations)
    loss = jnp.sum(jax.lax.stop_gradient(out.matrix) * cost)
    if return_diagnostics:
        return loss, OTDiagnostics(converged=out.converged, iterations=out.n_iters[None])
    return loss


def _entropic_plan(
    cost: jax.Array, epsilon: float | None, threshold: float, max_iterations: int
) -> Any:
    ott = _ott()
    geom = ott.geometry.Geometry(cost_matrix=cost, epsilon=epsilon)
    return ott.linear.solve(geom, threshold=threshold, max_iterations=max_iterations)
