r"""Alignment terms: small objects that turn one step's outputs into a loss.

A term is called as ``term(outputs, params, key) -> (value, aux)`` where
``outputs`` (:class:`Outputs`) holds the step's source/target features, logits
and source labels, ``params`` are the term's own network parameters (a domain
discriminator, an adversarial head; ``None`` for distance terms) and ``key`` a
PRNG key for the step. The trainer adds :math:`w(t)\cdot\text{value}` to the source
classification loss, with the term's ``weight`` a number or a ``step -> weight``
schedule (optax style).

**Adversarial terms** return the loss their network *minimises* (a domain
discriminator's cross-entropy, MDD's :math:`-D_\gamma`, ...) and send every
tensor that enters their network through ``outputs.reverse``. The trainer sets
``reverse`` to :func:`dalib.ops.gradient_reversal` where the encoder must ascend
that loss and to the identity where only the network learns, so one definition
serves both training modes (see :func:`dalib.train.make_trainer`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dalib import kernels as _kernels
from dalib import losses
from dalib.train._network import Network

__all__ = [
    "CORAL",
    "JMMD",
    "LMMD",
    "MMD",
    "ClassifierDiscrepancy",
    "ConditionalAdversarial",
    "Distance",
    "DomainAdversarial",
    "Entropy",
    "MarginDisparity",
    "Outputs",
    "Term",
]

Schedule = Callable[[jax.Array], jax.Array]
Weight = float | jax.Array | Schedule


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What an alignment term sees at one training step.

    Attributes:
      source_features: ``[n, d]`` encoder outputs on the source batch.
      target_features: ``[m, d]`` encoder outputs on the target batch.
      source_logits: ``[n, C]`` classifier logits on the source batch.
      target_logits: ``[m, C]`` classifier logits on the target batch.
      source_labels: ``[n]`` integer source labels (there are no target labels).
      step: the step counter (int scalar).
      reverse: apply to whatever enters an adversary network (gradient reversal
        or identity, chosen by the trainer).
      classify: the main classifier with the current parameters,
        ``features -> logits`` (MCD needs it on reversed features).
    """

    source_features: jax.Array
    target_features: jax.Array
    source_logits: jax.Array
    target_logits: jax.Array
    source_labels: jax.Array
    step: jax.Array
    reverse: Callable[[Any], Any] = lambda x: x
    classify: Callable[[jax.Array], jax.Array] | None = None

    @property
    def num_classes(self) -> int:
        return int(self.source_logits.shape[-1])

    @property
    def source_probs(self) -> jax.Array:
        return jax.nn.softmax(self.source_logits, axis=-1)

    @property
    def target_probs(self) -> jax.Array:
        return jax.nn.softmax(self.target_logits, axis=-1)

    def pair(self, on: str) -> tuple[jax.Array, jax.Array]:
        """``(source, target)`` for ``on`` in ``"features"``, ``"logits"``, ``"probs"``."""
        if on == "features":
            return self.source_features, self.target_features
        if on == "logits":
            return self.source_logits, self.target_logits
        if on == "probs":
            return self.source_probs, self.target_probs
        raise ValueError(f'`on` must be "features", "logits" or "probs", got {on!r}.')


def _flat_pair(out: Outputs, on: str, name: str) -> tuple[jax.Array, jax.Array]:
    s, t = out.pair(on)
    for x, side in ((s, "source"), (t, "target")):
        if x.ndim != 2:
            raise ValueError(
                f"alignment term {name!r} needs {on} [n, d], but the {side} {on} have shape "
                f"{tuple(x.shape)}; pool or flatten them in the encoder (features must be "
                "one vector per sample)."
            )
    return s, t


@dataclasses.dataclass(frozen=True, kw_only=True)
class Term:
    """Base class of alignment terms.

    Attributes:
      weight: a number, or a schedule ``step -> weight`` (any optax schedule).
      name: key of the term in metrics and in the adversary parameters; defaults
        to a short name of the class.
      network: the term's own network (adversarial terms): an ``nnx.Module``, an NNX
        constructor wrapped by :func:`dalib.train.from_nnx`, a Linen module or a
        :class:`dalib.train.Network`; ``None`` for distance terms.
      reversal: the strength (number or schedule) of the gradient reversal in
        front of the term's network, as TLlib's warm-start reversal layer: the
        encoder receives minus this times the gradient while the network learns
        from the full ``weight``. ``None``: 1 (plain reversal).
    """

    weight: Weight = 1.0
    name: str = ""
    network: Any = None
    reversal: Weight | None = None

    default_name = "term"

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", self.default_name)

    def network_input(self, out: Outputs) -> jax.Array:
        """An example of what enters :attr:`network` (used to build Linen modules)."""
        return out.source_features

    def _net(self) -> Network:
        if not isinstance(self.network, Network):
            raise TypeError(
                f"alignment term {self.name!r} has an unbuilt network; build it through "
                "dalib.train.make_trainer."
            )
        return self.network

    def run_network(self, params: Any, x: jax.Array, key: jax.Array) -> jax.Array:
        """Applies the term's network in training mode."""
        return self._net().apply(params, x, train=True, rng=key)

    def __call__(self, out: Outputs, params: Any, key: jax.Array) -> tuple[jax.Array, dict]:
        raise NotImplementedError


# ----------------------------------------------------------------- distances


@dataclasses.dataclass(frozen=True, kw_only=True)
class Distance(Term):
    """Any distribution distance ``fn(source [n, d], target [m, d]) -> scalar``.

    Examples:
      >>> import functools
      >>> from dalib import losses
      >>> term = Distance(fn=functools.partial(losses.coral, variant="mean_cov"), name="coral")
      >>> term.name, term.on
      ('coral', 'features')
    """

    fn: Callable[[jax.Array, jax.Array], jax.Array]
    on: str = "features"
    default_name = "distance"

    def __call__(self, out, params, key):
        s, t = _flat_pair(out, self.on, self.name)
        return self.fn(s, t), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MMD(Term):
    """MMD between source and target features (DAN): :func:`dalib.losses.mmd`.

    ``kernel`` defaults to DAN's multi-kernel ``MultiGaussian.dan()``.
    """

    kernel: _kernels.Kernel | None = None
    estimator: str = "biased"
    on: str = "features"
    default_name = "mmd"

    def __call__(self, out, params, key):
        s, t = _flat_pair(out, self.on, self.name)
        kernel = _kernels.MultiGaussian.dan() if self.kernel is None else self.kernel
        return losses.mmd(s, t, kernel=kernel, estimator=self.estimator), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class JMMD(Term):
    """Joint MMD over (features, class probabilities) (JAN): :func:`dalib.losses.jmmd`."""

    kernels: tuple[_kernels.Kernel, _kernels.Kernel] | None = None
    estimator: str = "biased"
    default_name = "jmmd"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        kernels = self.kernels
        if kernels is None:
            kernels = (_kernels.MultiGaussian.dan(), _kernels.Gaussian(bandwidth=0.92))
        return losses.jmmd(
            [fs, out.source_probs],
            [ft, out.target_probs],
            kernels=kernels,
            estimator=self.estimator,
        ), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class LMMD(Term):
    """Class-conditional local MMD (DSAN): :func:`dalib.losses.lmmd`.

    Uses the source labels and the target softmax (no gradient through it);
    ``kernel`` defaults to DSAN's ``MultiGaussian.dsan()``.
    """

    kernel: _kernels.Kernel | None = None
    default_name = "lmmd"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        kernel = _kernels.MultiGaussian.dsan() if self.kernel is None else self.kernel
        value = losses.lmmd(
            fs,
            ft,
            out.source_labels,
            jax.lax.stop_gradient(out.target_probs),
            num_classes=out.num_classes,
            kernel=kernel,
        )
        return value, {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CORAL(Term):
    """Correlation alignment (Deep CORAL): :func:`dalib.losses.coral`."""

    variant: str = "deep_coral"
    default_name = "coral"

    def __call__(self, out, params, key):
        s, t = _flat_pair(out, "features", self.name)
        return losses.coral(s, t, variant=self.variant), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Entropy(Term):
    """Entropy minimisation on the target predictions: mean of :func:`dalib.losses.entropy`."""

    default_name = "entropy"

    def __call__(self, out, params, key):
        return jnp.mean(losses.entropy(out.target_logits)), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class BNM(Term):
    """Batch nuclear-norm maximisation on the target predictions (:func:`dalib.losses.bnm`)."""

    default_name = "bnm"

    def __call__(self, out, params, key):
        return losses.bnm(out.target_logits), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MCC(Term):
    """Minimum class confusion on the target predictions (:func:`dalib.losses.mcc`).

    Attributes:
      temperature: the softmax temperature of MCC (2.5 in the paper).
    """

    temperature: float = 2.5
    default_name = "mcc"

    def __call__(self, out, params, key):
        return losses.mcc(out.target_logits, temperature=self.temperature), {}


# -------------------------------------------------------------- adversarial


def _disc_metrics(zs: jax.Array, zt: jax.Array) -> dict:
    return {"domain_accuracy": losses.domain_accuracy(zs, zt)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainAdversarial(Term):
    r"""DANN: a domain discriminator on the features behind gradient reversal.

    value :math:`= \mathrm{BCE}(D(f_s), 1) + \mathrm{BCE}(D(f_t), 0)`
    (:func:`dalib.losses.domain_adversarial`), minimised by :math:`D`, maximised by
    the encoder. With the weight :math:`\lambda_p` (e.g. :func:`dalib.ops.dann_schedule`)
    both players' gradients are scaled by :math:`\lambda_p`, as in Algorithm 1 of
    Ganin et al. (2016). Reports the discriminator's balanced accuracy.

    ``network`` is e.g. ``dalib.nn.DomainDiscriminator(d, rngs=...)``.
    """

    average_domains: bool = False
    default_name = "dann"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        z = self.run_network(params, out.reverse(jnp.concatenate([fs, ft])), key)
        zs, zt = z[: fs.shape[0]], z[fs.shape[0] :]
        value = losses.domain_adversarial(zs, zt, average_domains=self.average_domains)
        return value, _disc_metrics(zs, zt)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConditionalAdversarial(Term):
    r"""CDAN(+E): the discriminator sees the features conditioned on the predictions.

    Its input is :func:`dalib.losses.cdan_features` of (features, softmax); with
    ``entropy_conditioning=True`` (CDAN+E) each sample is weighted by
    :func:`dalib.losses.entropy_weights`. ``randomized=True`` uses the random
    multilinear map of dimension ``out_dim``, drawn once from
    ``jax.random.key(projection_seed)`` and fixed for the whole run. The network
    must take ``C·d`` inputs (``out_dim`` when randomized).
    ``average_domains=True`` halves the sum of the two domains' terms
    (:func:`dalib.losses.domain_adversarial`): with equal batches this is the
    cross-entropy averaged over the concatenated batch, as TLlib's
    ``ConditionalDomainAdversarialLoss`` and the CDAN authors' code compute it.
    """

    randomized: bool = False
    out_dim: int = 1024
    projection_seed: int = 0
    entropy_conditioning: bool = False
    normalize: str = "joint"
    average_domains: bool = False
    default_name = "cdan"

    def _inputs(self, out: Outputs) -> jax.Array:
        fs, ft = _flat_pair(out, "features", self.name)
        probs = jnp.concatenate([out.source_probs, out.target_probs])
        key = jax.random.key(self.projection_seed) if self.randomized else None
        return losses.cdan_features(
            jnp.concatenate([fs, ft]),
            probs,
            randomized=self.randomized,
            out_dim=self.out_dim,
            key=key,
        )

    def network_input(self, out):
        return self._inputs(out)

    def __call__(self, out, params, key):
        n = out.source_features.shape[0]
        h = self._inputs(out)
        z = self.run_network(params, out.reverse(h), key)
        zs, zt = z[:n], z[n:]
        ws = wt = None
        if self.entropy_conditioning:
            ws, wt = losses.entropy_weights(
                (out.source_probs, out.target_probs), normalize=self.normalize
            )
        value = losses.domain_adversarial(
            zs, zt, source_weights=ws, target_weights=wt, average_domains=self.average_domains
        )
        return value, _disc_metrics(zs, zt)


def _check_head(z: jax.Array, out: Outputs, name: str, rows: int) -> None:
    if z.shape != (rows, out.num_classes):
        raise ValueError(
            f"alignment term {name!r}: its network must map features to {out.num_classes} "
            f"class logits like the classifier, got shape {tuple(z.shape)} for {rows} samples."
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class MarginDisparity(Term):
    r"""MDD: an adversarial classifier head behind gradient reversal.

    value :math:`= -D_\gamma` (:func:`dalib.losses.mdd`, margin :math:`\gamma`): the
    head minimises it (maximises the disparity), the encoder maximises it.
    ``network`` maps features ``[n, d]`` to ``[n, C]`` logits.
    """

    margin: float = 4.0
    default_name = "mdd"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        n = fs.shape[0]
        z = self.run_network(params, out.reverse(jnp.concatenate([fs, ft])), key)
        _check_head(z, out, self.name, fs.shape[0] + ft.shape[0])
        disparity = losses.mdd(
            out.source_logits, z[:n], out.target_logits, z[n:], margin=self.margin
        )
        return -disparity, {"disparity": disparity}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassifierDiscrepancy(Term):
    r"""MCD: a second classifier; the two disagree on the target as much as they can.

    value :math:`= \mathrm{CE}(c_2(f_s), y_s) - d(c_1(R f_t), c_2(R f_t))` with
    :math:`d` = :func:`dalib.losses.classifier_discrepancy` and :math:`R` the
    reversal: the classifiers learn the source and maximise the discrepancy, the
    encoder minimises it. ``network`` (:math:`c_2`) maps ``[n, d]`` to ``[n, C]``.
    """

    default_name = "mcd"

    def __call__(self, out, params, key):
        fs, ft = _flat_pair(out, "features", self.name)
        k_s, k_t = jax.random.split(key)
        zs = self.run_network(params, fs, k_s)
        _check_head(zs, out, self.name, fs.shape[0])
        rt = out.reverse(ft)
        z2 = self.run_network(params, rt, k_t)
        z1 = out.classify(rt)
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(zs, out.source_labels))
        discrepancy = losses.classifier_discrepancy(jax.nn.softmax(z1), jax.nn.softmax(z2))
        return ce - discrepancy, {"discrepancy": discrepancy, "head_ce": ce}


def weight_at(weight: Weight, step: jax.Array) -> jax.Array:
    """The value of a term weight (number or schedule) at ``step``."""
    value = weight(step) if callable(weight) else weight
    return jnp.asarray(value, dtype=jnp.result_type(float))


def check_weight(term: Term, steps: tuple[int, ...]) -> None:
    """Raises ``ValueError`` if a term's weight is not a finite scalar ``>= 0`` at ``steps``.

    Traced weights (a weight swept under ``vmap``) cannot be inspected and pass.
    """
    for step in steps if callable(term.weight) else (0,):
        try:
            value = weight_at(term.weight, jnp.asarray(step, jnp.int32))
        except Exception as err:
            raise ValueError(
                f"weight of alignment term {term.name!r} failed at step {step}: {err}"
            ) from err
        if value.shape != ():
            raise ValueError(
                f"weight of alignment term {term.name!r} must be a scalar, got shape "
                f"{tuple(value.shape)} at step {step}."
            )
        if isinstance(value, jax.core.Tracer):
            return
        what = "schedule" if callable(term.weight) else "weight"
        if not np.isfinite(np.asarray(value)):
            raise ValueError(
                f"{what} of alignment term {term.name!r} returned {float(value)} at step "
                f"{step}; a weight must be finite."
            )
        if float(value) < 0:
            raise ValueError(
                f"{what} of alignment term {term.name!r} is {float(value):g} at step {step}; "
                "a weight must be >= 0 (a negative weight maximises the discrepancy the "
                "term measures). Adversarial terms reverse their gradient themselves."
            )
