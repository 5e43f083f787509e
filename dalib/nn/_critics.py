r"""Critics and variational posteriors for mutual-information bounds (Flax NNX).

:class:`MICritic` produces the score matrix consumed by
:func:`dalib.losses.infonce`, :func:`~dalib.losses.nwj`, :func:`~dalib.losses.dv`
and :func:`~dalib.losses.mine`; :class:`GaussianPosterior` produces the
``(mu, log_var)`` consumed by :func:`dalib.losses.club`,
:func:`~dalib.losses.vclub` and :func:`~dalib.losses.gaussian_log_likelihood`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from dalib.nn._discriminators import _MLP, _check_features, _check_hidden

__all__ = ["GaussianPosterior", "MICritic"]

CRITIC_KINDS = ("separable", "concat")


class MICritic(nnx.Module):
    r"""Critic :math:`f(x, y)` evaluated on every pair: ``[n, dx], [m, dy] -> [n, m]``.

    * ``kind="separable"``: :math:`f(x, y) = g(x)^\top h(y)` with two MLPs into
      ``embed_dim``; the score matrix is one matmul :math:`G H^\top`.
    * ``kind="concat"``: :math:`f(x, y) = \mathrm{MLP}([x; y])`, more expressive
      and :math:`O(nm)` network evaluations. Built without a loop over pairs: the
      first layer :math:`W[x; y] + b = W_x x + W_y y + b` is split, the two halves
      are broadcast to ``[n, m, hidden]``, and the rest of the MLP runs on that.

    Row ``i``, column ``j`` is :math:`f(x_i, y_j)`, so for paired batches the
    diagonal holds the positive pairs, as the MI bounds expect.

    Args:
      x_features: ``dx``.
      y_features: ``dy``.
      kind: ``"separable"`` or ``"concat"``.
      hidden: hidden layer sizes (of each of ``g`` and ``h`` when separable).
      embed_dim: embedding size of ``g`` and ``h`` (separable only).
      activation: nonlinearity between layers.
      rngs: ``nnx.Rngs`` for initialisation.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> critic = MICritic(3, 2, kind="concat", hidden=(8,), rngs=nnx.Rngs(0))
      >>> critic(jnp.ones((5, 3)), jnp.ones((5, 2))).shape
      (5, 5)

    References:
      Poole et al., "On Variational Bounds of Mutual Information", ICML 2019
      (separable and concatenated critics).
    """

    def __init__(
        self,
        x_features: int,
        y_features: int,
        *,
        kind: str = "separable",
        hidden: Sequence[int] = (256,),
        embed_dim: int = 32,
        activation: Callable[[jax.Array], jax.Array] = nnx.relu,
        rngs: nnx.Rngs,
    ):
        if kind not in CRITIC_KINDS:
            raise ValueError(f"unknown critic kind {kind!r}; choose one of {CRITIC_KINDS}.")
        hidden = _check_hidden(hidden)
        if embed_dim < 1:
            raise ValueError(f"`embed_dim` must be positive, got {embed_dim}.")
        self.kind = kind
        self.x_features = int(x_features)
        self.y_features = int(y_features)
        self.activation = activation
        if kind == "separable":
            self.g = _MLP((self.x_features, *hidden, embed_dim), activation=activation, rngs=rngs)
            self.h = _MLP((self.y_features, *hidden, embed_dim), activation=activation, rngs=rngs)
        else:
            first = hidden[0] if hidden else 1
            self.x_in = nnx.Linear(self.x_features, first, rngs=rngs)
            self.y_in = nnx.Linear(self.y_features, first, use_bias=False, rngs=rngs)
            self.rest = _MLP((*hidden, 1), activation=activation, rngs=rngs) if hidden else None

    def __call__(self, x: ArrayLike, y: ArrayLike) -> jax.Array:
        """Scores ``[n, m]`` with entries ``f(x_i, y_j)``."""
        x = _check_features(x, "x", self.x_features)
        y = _check_features(y, "y", self.y_features)
        if self.kind == "separable":
            return jnp.matmul(self.g(x), self.h(y).T, precision=jax.lax.Precision.HIGHEST)
        pre = self.x_in(x)[:, None, :] + self.y_in(y)[None, :, :]
        if self.rest is None:
            return pre[..., 0]
        return self.rest(self.activation(pre))[..., 0]


class GaussianPosterior(nnx.Module):
    r"""Diagonal Gaussian :math:`q(y \mid x)`: ``x [n, dx] -> (mu, log_var)``, each ``[n, dy]``.

    Two MLPs, one for the mean and one for the log-variance, as in CLUB's
    reference estimator. The log-variance is squashed to
    ``log_var_scale * tanh(raw / log_var_scale)`` so the precision
    :math:`e^{-s}` stays bounded early in training; CLUB's reference code uses a
    plain ``tanh`` (``log_var_scale=1``), which caps the variance to
    :math:`[e^{-1}, e]`; ``None`` leaves it unbounded.

    Train it by maximising :func:`dalib.losses.gaussian_log_likelihood` and feed
    its outputs to :func:`dalib.losses.club` or :func:`dalib.losses.vclub`.

    Args:
      x_features: ``dx``.
      y_features: ``dy``.
      hidden: hidden layer sizes of each MLP.
      log_var_scale: bound on :math:`|s|`, or ``None``.
      activation: nonlinearity between layers.
      rngs: ``nnx.Rngs`` for initialisation.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> q = GaussianPosterior(3, 2, hidden=(8,), rngs=nnx.Rngs(0))
      >>> mu, log_var = q(jnp.ones((5, 3)))
      >>> mu.shape, log_var.shape
      ((5, 2), (5, 2))

    References:
      Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual
      Information", ICML 2020.
    """

    def __init__(
        self,
        x_features: int,
        y_features: int,
        *,
        hidden: Sequence[int] = (256,),
        log_var_scale: float | None = 5.0,
        activation: Callable[[jax.Array], jax.Array] = nnx.relu,
        rngs: nnx.Rngs,
    ):
        hidden = _check_hidden(hidden)
        if log_var_scale is not None and not log_var_scale > 0:
            raise ValueError(f"`log_var_scale` must be positive or None, got {log_var_scale}.")
        self.x_features = int(x_features)
        self.y_features = int(y_features)
        self.log_var_scale = None if log_var_scale is None else float(log_var_scale)
        sizes = (self.x_features, *hidden, self.y_features)
        self.mu = _MLP(sizes, activation=activation, rngs=rngs)
        self.log_var = _MLP(sizes, activation=activation, rngs=rngs)

    def __call__(self, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
        """``(mu, log_var)``, each ``[n, y_features]``."""
        x = _check_features(x, "x", self.x_features)
        raw = self.log_var(x)
        if self.log_var_scale is not None:
            raw = self.log_var_scale * jnp.tanh(raw / self.log_var_scale)
        return self.mu(x), raw
