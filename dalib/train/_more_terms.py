r"""More alignment terms: reconstruction, joint, optimal-transport and information terms.

These complete the method list of the experiment runner (``ida``, ``djda``,
``sinkhorn``, ``deepjdot``, ``mi_decomposition``) on top of the pure losses of
:mod:`dalib.losses`. They follow the conventions of :mod:`dalib.train._terms`:
``term(outputs, params, key) -> (value, aux)``, a weight or schedule, and a
network only where the term owns one. None of them sees target labels (the
:class:`~dalib.train.Outputs` they read has no such field); target *predictions*
enter the class-conditional terms under ``stop_gradient`` or through the
classifier, as in the papers.

Feature slices: :class:`SliceDistance`, :class:`CLUBSplit` and
:class:`DomainClassifier` act on parts of the encoder output, so that one
encoder can produce a domain-invariant part ``features[:, :split]`` and a
domain-specific part ``features[:, split:]`` (the feature decomposition of the
mutual-information SER method; see ``docs/experiments.md``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from dalib import kernels as _kernels
from dalib import losses
from dalib.train._terms import Outputs, Term, _flat_pair

__all__ = [
    "IDA",
    "CLUBSplit",
    "DeepJDOT",
    "DomainClassifier",
    "JointAlignment",
    "SinkhornDivergence",
    "SliceDistance",
]


def _dim_scale(x: jax.Array, normalize: bool) -> jax.Array:
    # Dividing by sqrt(d) turns squared distances into mean squared differences,
    # so a default weight does not depend on the feature width. The cast to the
    # default float type avoids an ott-jax dtype clash (float32 features with
    # jax_enable_x64 on); it does nothing in the default float32 mode.
    x = x.astype(jnp.result_type(float))
    return x / math.sqrt(x.shape[-1]) if normalize else x


def _split(
    out: Outputs, split: int, name: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    fs, ft = _flat_pair(out, "features", name)
    d = fs.shape[1]
    if not 0 < split < d:
        raise ValueError(
            f"alignment term {name!r}: `split` must lie in [1, {d - 1}] for features of width "
            f"{d}, got {split}."
        )
    return fs[:, :split], fs[:, split:], ft[:, :split], ft[:, split:]


@dataclasses.dataclass(frozen=True, kw_only=True)
class IDA(Term):
    r"""Implicit distribution alignment (DIDAN): rebuild target features from source ones.

    value :math:`= \frac{1}{m d}\lVert F_t^\top - F_s^\top W\rVert_F^2` with the ridge
    (or lasso) codes :math:`W` of :func:`dalib.losses.ida`, differentiated through
    :math:`W`. With ``class_wise=True`` each target row is rebuilt from the source
    rows of its pseudo-label (argmax of the target softmax, no gradient).

    Examples:
      >>> IDA(weight=0.5, reg=1.0).name
      'ida'
    """

    reg: float = 1.0
    method: str = "ridge"
    direction: str = "target_from_source"
    class_wise: bool = False
    default_name = "ida"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        extra = {}
        if self.class_wise:
            extra = {
                "source_labels": out.source_labels,
                "target_probs": jax.lax.stop_gradient(out.target_probs),
            }
        value = losses.ida(
            fs, ft, method=self.method, direction=self.direction, reg=self.reg, **extra
        )
        return value, {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class JointAlignment(Term):
    r"""Joint marginal + conditional alignment with a dynamic balance factor (DJDA, MEDA).

    value :math:`= (1-\mu)\,\mathrm{MMD}^2(F_s, F_t) + \mu\,\mathrm{LMMD}(F_s, F_t, y_s, P_t)`
    (:func:`dalib.losses.joint_alignment`) where :math:`\mu` is
    :func:`dalib.losses.dynamic_factor` of the current batch (proxy A-distances of
    the marginal and of the per-class distributions, target classes from the
    pseudo-labels), recomputed at every step without gradient, or the fixed
    ``factor`` when given. The kernel defaults to DSAN's
    ``MultiGaussian.dsan()``. Reports ``factor``.

    Examples:
      >>> JointAlignment(factor=0.5).name
      'djda'
    """

    kernel: _kernels.Kernel | None = None
    factor: float | None = None
    min_samples: int = 4
    estimator: str = "biased"
    default_name = "djda"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        probs = jax.lax.stop_gradient(out.target_probs)
        if self.factor is None:
            mu = losses.dynamic_factor(
                jax.lax.stop_gradient(fs),
                jax.lax.stop_gradient(ft),
                out.source_labels,
                probs,
                num_classes=out.num_classes,
                key=key,
                min_samples=self.min_samples,
            )
        else:
            mu = jnp.asarray(self.factor, fs.dtype)
        kernel = _kernels.MultiGaussian.dsan() if self.kernel is None else self.kernel
        value = losses.joint_alignment(
            fs,
            ft,
            out.source_labels,
            probs,
            num_classes=out.num_classes,
            kernel=kernel,
            factor=mu,
            estimator=self.estimator,
        )
        return value, {"factor": mu}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SinkhornDivergence(Term):
    r"""Debiased Sinkhorn divergence between source and target features (ott-jax).

    value :math:`= S_\varepsilon(F_s/\sqrt d, F_t/\sqrt d)`
    (:func:`dalib.losses.sinkhorn_divergence`, squared-Euclidean cost); the
    :math:`1/\sqrt d` scaling (``normalize_dim``) makes the cost a mean squared
    difference per feature, so the default weight suits any feature width.
    ``epsilon=None`` is ott's data-driven default (5 % of the cost's spread).

    Examples:
      >>> SinkhornDivergence().name
      'sinkhorn'
    """

    epsilon: float | None = None
    normalize_dim: bool = True
    max_iterations: int = 200
    default_name = "sinkhorn"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        value, diag = losses.sinkhorn_divergence(
            _dim_scale(fs, self.normalize_dim),
            _dim_scale(ft, self.normalize_dim),
            epsilon=self.epsilon,
            max_iterations=self.max_iterations,
            return_diagnostics=True,
        )
        return value, {"converged": diag.converged.astype(value.dtype)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepJDOT(Term):
    r"""DeepJDOT: optimal transport of the joint (feature, label) distribution.

    value :math:`= \langle \mathrm{sg}(T^\star), C\rangle` with
    :math:`C_{ij} = \alpha \lVert f^s_i - f^t_j\rVert^2/d + \lambda\,\mathrm{CE}(y^s_i, g(f^t_j))`
    (:func:`dalib.losses.jdot`; the division by :math:`d` is ``normalize_dim``).
    The plan is entropic (ott-jax Sinkhorn), fixed for the gradient step. The
    label part trains the classifier on the target through the transported
    source labels: no target label is read.

    Examples:
      >>> DeepJDOT(alpha=1.0, lam=1.0).name
      'deepjdot'
    """

    alpha: float = 1.0
    lam: float = 1.0
    epsilon: float | None = None
    normalize_dim: bool = True
    max_iterations: int = 200
    default_name = "deepjdot"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        value, diag = losses.jdot(
            _dim_scale(fs, self.normalize_dim),
            _dim_scale(ft, self.normalize_dim),
            out.source_labels,
            out.target_logits,
            alpha=self.alpha,
            lam=self.lam,
            epsilon=self.epsilon,
            max_iterations=self.max_iterations,
            return_diagnostics=True,
        )
        return value, {"converged": diag.converged.astype(value.dtype)}


# ------------------------------------------------------------ feature decomposition


@dataclasses.dataclass(frozen=True, kw_only=True)
class SliceDistance(Term):
    r"""A distribution distance on the first ``split`` feature columns only.

    value :math:`= \mathrm{fn}(F_s[:, :k], F_t[:, :k])`, e.g. an MMD of the
    domain-invariant part of a decomposed feature vector. ``fn`` defaults to
    :func:`dalib.losses.mmd` with DAN's multi-Gaussian kernel.

    Examples:
      >>> SliceDistance(split=8).name
      'slice_distance'
    """

    split: int
    fn: Callable[[jax.Array, jax.Array], jax.Array] | None = None
    default_name = "slice_distance"

    def __call__(self, out, params, key):
        inv_s, _, inv_t, _ = _split(out, self.split, self.name)
        if self.fn is None:
            return losses.mmd(inv_s, inv_t, kernel=_kernels.MultiGaussian.dan()), {}
        return self.fn(inv_s, inv_t), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CLUBSplit(Term):
    r"""Minimises the CLUB upper bound on :math:`I(f_{inv}; f_{spec})` between two feature parts.

    With :math:`u = F[:, :k]` (invariant) and :math:`v = F[:, k:]` (specific) of
    source and target pooled, a variational Gaussian :math:`q(v \mid u)`
    (``network``, e.g. :class:`dalib.nn.GaussianPosterior` from ``k`` to ``d - k``
    features) is fitted in the same step by maximum likelihood on the features
    under ``stop_gradient``, while the encoder minimises the CLUB estimate computed
    with :math:`q`'s parameters held fixed:

    .. math::

       \text{value} = \underbrace{-\tfrac1N\textstyle\sum_i \log q_{\mathrm{sg}(\phi)}
       (\mathrm{sg}(v_i) \mid \mathrm{sg}(u_i))}_{\text{trains } q}
       + \underbrace{I_{\mathrm{CLUB}}(q_{\mathrm{sg}(\phi)}; u, v)}_{\text{trains the encoder}}

    (the first summand has no gradient for the encoder, the second none for
    :math:`q`; :func:`dalib.losses.gaussian_log_likelihood`, :func:`dalib.losses.club`).
    Reports ``club`` and ``nll``. Works in both trainer modes.

    Examples:
      >>> CLUBSplit(split=8).name
      'club'
    """

    split: int
    default_name = "club"

    def network_input(self, out):
        return jnp.concatenate([out.source_features, out.target_features])[:, : self.split]

    def __call__(self, out, params, key):
        inv_s, spec_s, inv_t, spec_t = _split(out, self.split, self.name)
        u = jnp.concatenate([inv_s, inv_t])
        v = jnp.concatenate([spec_s, spec_t])
        k_fit, k_est = jax.random.split(key)
        sg = jax.lax.stop_gradient
        mu, log_var = self.run_network(params, sg(u), k_fit)
        nll = -jnp.mean(losses.gaussian_log_likelihood(mu, log_var, sg(v)))
        mu_e, log_var_e = self.run_network(sg(params), u, k_est)
        estimate = losses.club(mu_e, log_var_e, v)
        return nll + estimate, {"club": estimate, "nll": nll}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainClassifier(Term):
    r"""A domain classifier on the feature columns ``split:`` trained *with* the encoder.

    value :math:`= \mathrm{BCE}(D(v_s), 1) + \mathrm{BCE}(D(v_t), 0)`
    (:func:`dalib.losses.domain_adversarial` without gradient reversal): both the
    classifier and the encoder minimise it, so the specific part
    :math:`v = F[:, k:]` keeps the domain information. Its negative is, up to the
    constant :math:`H(\text{domain})`, the Barber–Agakov lower bound on
    :math:`I(v; \text{domain})`, so minimising it maximises that bound.
    ``network`` maps ``[n, d - k]`` to ``[n]`` logits (e.g.
    :class:`dalib.nn.DomainDiscriminator`). Reports ``domain_accuracy``.

    Examples:
      >>> DomainClassifier(split=8).name
      'domain_classifier'
    """

    split: int
    default_name = "domain_classifier"

    def network_input(self, out):
        return jnp.concatenate([out.source_features, out.target_features])[:, self.split :]

    def __call__(self, out, params, key):
        _, spec_s, _, spec_t = _split(out, self.split, self.name)
        z = self.run_network(params, jnp.concatenate([spec_s, spec_t]), key)
        zs, zt = z[: spec_s.shape[0]], z[spec_s.shape[0] :]
        value = losses.domain_adversarial(zs, zt)
        return value, {"domain_accuracy": losses.domain_accuracy(zs, zt)}
