r"""Target-side regularisers on class logits: entropy, BNM and MCC.

They need no source batch: added to the task loss on unlabelled target logits
they push predictions to be confident (entropy), confident *and* diverse across
classes (BNM) or free of between-class confusion (MCC).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from dalib import _checks

__all__ = ["bnm", "entropy", "mcc"]


def _logits(x: ArrayLike, name: str = "logits") -> jax.Array:
    x = _checks.as_float(x, name, ndim=2)
    _checks.check_nonempty(x, name)
    _checks.check_finite(x, name)
    return x


def entropy(logits: ArrayLike) -> jax.Array:
    r"""Per-sample entropy of the softmax of ``logits``.

    .. math::

        H(p_i) = -\sum_{c=1}^{C} p_{ic}\log p_{ic}, \qquad
        p_i = \operatorname{softmax}(z_i),

    computed from ``log_softmax`` (finite for any finite logits). Entropy
    minimisation is ``jnp.mean(entropy(target_logits))``; the caller reduces.

    Args:
      logits: ``[n, C]`` class logits.

    Returns:
      ``[n]`` entropies in nats, in :math:`[0, \log C]`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import entropy
      >>> entropy(jnp.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]])).round(4)
      Array([0.6931, 0.3653, 0.6931], dtype=float32)

    References:
      Grandvalet, Y. and Bengio, Y. *Semi-supervised Learning by Entropy
      Minimization.* NeurIPS 2004.
    """
    z = _logits(logits)
    log_p = jax.nn.log_softmax(z, axis=-1)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def bnm(logits: ArrayLike) -> jax.Array:
    r"""Batch nuclear-norm maximisation (BNM) loss.

    .. math::

        L_{\text{BNM}} = -\frac{1}{n}\,\lVert A \rVert_*, \qquad
        A = \operatorname{softmax}(Z) \in \mathbb{R}^{n\times C},

    where :math:`\lVert A\rVert_*` is the sum of the singular values. Minimising
    it raises both prediction confidence and diversity (rank) over the batch.
    The authors' code uses :math:`-\operatorname{mean}(\text{singular values})`
    :math:`= -\lVert A\rVert_*/\min(n, C)`, which differs by a constant factor.
    Differentiable through the SVD; singular values should be distinct for the
    gradient to be well defined (true for generic inputs).

    Args:
      logits: ``[n, C]`` target class logits.

    Returns:
      Scalar in :math:`[-\sqrt{\min(n, C)/n},\, -1/\sqrt{nC}]`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import bnm
      >>> round(float(bnm(jnp.array([[9.0, 0.0], [0.0, 9.0]]))), 4)
      -0.9999

    References:
      Cui, S., Wang, S., Zhuo, J., Li, L., Huang, Q. and Tian, Q. *Towards
      Discriminability and Diversity: Batch Nuclear-norm Maximization under
      Label Insufficient Situations.* CVPR 2020.
    """
    z = _logits(logits)
    probs = jax.nn.softmax(z, axis=-1)
    singular_values = jnp.linalg.svd(probs, compute_uv=False)
    return -jnp.sum(singular_values) / z.shape[0]


def mcc(logits: ArrayLike, *, temperature: float = 2.5) -> jax.Array:
    r"""Minimum class confusion (MCC) loss.

    With temperature-scaled probabilities :math:`\hat Y = \operatorname{softmax}(Z/T)`
    ``[n, C]`` and entropy-based sample weights (constants, ``stop_gradient``)

    .. math::

        W_{ii} = \frac{n\,(1 + e^{-H(\hat y_i)})}{\sum_k (1 + e^{-H(\hat y_k)})},

    the class confusion matrix :math:`M = \hat Y^\top W \hat Y` ``[C, C]`` is
    normalised by rows, :math:`\tilde M_{jk} = M_{jk} / \sum_{k'} M_{jk'}`, and

    .. math::

        L_{\text{MCC}} = \frac{1}{C}\sum_{j=1}^{C}\sum_{k \ne j} \tilde M_{jk}.

    (:math:`M` is symmetric, so normalising by columns, as TLlib's code does by
    broadcasting, gives the same sum.)

    Args:
      logits: ``[n, C]`` target class logits.
      temperature: :math:`T > 0` (2.5 in the paper's standard setting).

    Returns:
      Scalar in :math:`[0, 1)`; 0 for one-hot predictions, :math:`(C-1)/C` for uniform ones.

    Raises:
      ValueError: on a non-positive concrete ``temperature`` or bad logits.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import mcc
      >>> round(float(mcc(jnp.array([[20.0, 0.0], [0.0, 20.0]]), temperature=1.0)), 4)
      0.0
      >>> round(float(mcc(jnp.zeros((4, 3)))), 4)
      0.6667

    References:
      Jin, Y., Wang, X., Long, M. and Wang, J. *Minimum Class Confusion for
      Versatile Domain Adaptation.* ECCV 2020.
    """
    z = _logits(logits)
    if _checks.is_concrete(temperature) and not float(temperature) > 0:
        raise ValueError(f"`temperature` must be positive, got {temperature}.")
    n, num_classes = z.shape
    log_p = jax.nn.log_softmax(z / temperature, axis=-1)
    p = jnp.exp(log_p)
    h = jax.lax.stop_gradient(-jnp.sum(p * log_p, axis=-1))
    w = 1.0 + jnp.exp(-h)
    w = n * w / jnp.sum(w)
    confusion = jnp.matmul((p * w[:, None]).T, p, precision=jax.lax.Precision.HIGHEST)
    confusion = confusion / jnp.sum(confusion, axis=1, keepdims=True)
    return (jnp.sum(confusion) - jnp.trace(confusion)) / num_classes
