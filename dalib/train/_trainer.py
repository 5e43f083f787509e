r"""The training step factory: encoder + classifier + alignment terms + optimizer.

:func:`make_trainer` normalises the networks, checks the configuration against
an example batch (shapes only: nothing is computed) and returns a
:class:`Trainer` whose :meth:`Trainer.step` is a pure function

.. math:: (\text{state}, \text{batch}, \text{key}) \mapsto (\text{state}', \text{metrics})

minimising

.. math:: \mathcal L = \mathrm{CE}(c(e(x_s)), y_s) + \sum_k w_k(t)\, \ell_k(\text{outputs})

over the encoder :math:`e` and classifier :math:`c`, with the per-step
randomness ``jax.random.fold_in(key, state.step)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dalib.ops import gradient_reversal
from dalib.train._batch import Batch, check_batch, check_batch_values
from dalib.train._network import Network, as_network
from dalib.train._terms import Outputs, Term, check_weight, weight_at

__all__ = ["MODES", "TrainState", "Trainer", "make_trainer"]

MODES = ("gradient_reversal", "alternating")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything that changes during training (a pytree: jit, vmap, orbax).

    Attributes:
      step: int32 scalar, number of steps taken.
      params: ``{"encoder": ..., "classifier": ...}``.
      adversary_params: ``{term name: params}`` of the terms that own a network.
      opt_state: optimizer state of ``params``.
      adversary_opt_state: optimizer state of ``adversary_params``.
    """

    step: jax.Array
    params: dict
    adversary_params: dict
    opt_state: Any
    adversary_opt_state: Any


def _identity(x: Any) -> Any:
    return x


def _reverse(x: Any) -> Any:
    return gradient_reversal(x, 1.0)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x))


@dataclasses.dataclass(frozen=True, eq=False)
class Trainer:
    """A built training configuration; create it with :func:`make_trainer`.

    Methods are pure and can be wrapped in ``jax.jit`` / ``jax.vmap``:
    :meth:`init`, :meth:`step`, :meth:`forward`.
    """

    encoder: Network
    classifier: Network
    terms: tuple[Term, ...]
    optimizer: optax.GradientTransformation
    adversary_optimizer: optax.GradientTransformation
    mode: str
    num_classes: int
    feature_sharding: Any = None

    # ------------------------------------------------------------------ state

    def init(self, key: jax.Array) -> TrainState:
        """Initial state: parameters from ``key``, optimizer states, ``step = 0``."""
        k_enc, k_cls, k_adv = jax.random.split(key, 3)
        params = {"encoder": self.encoder.init(k_enc), "classifier": self.classifier.init(k_cls)}
        adversary = {
            term.name: term.network.init(jax.random.fold_in(k_adv, i))
            for i, term in enumerate(self.terms)
            if term.network is not None
        }
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            adversary_params=adversary,
            opt_state=self.optimizer.init(params),
            adversary_opt_state=self.adversary_optimizer.init(adversary),
        )

    # ---------------------------------------------------------------- forward

    def _gather(self, x: jax.Array) -> jax.Array:
        # Under data parallelism the alignment terms must see the whole batch.
        if self.feature_sharding is None:
            return x
        return jax.lax.with_sharding_constraint(x, self.feature_sharding)

    def forward(
        self, params: dict, x: jax.Array, *, train: bool = False, rng: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """``(features, logits)`` of inputs ``x``; evaluation mode unless ``train``."""
        k_enc = k_cls = None
        if rng is not None:
            k_enc, k_cls = jax.random.split(rng)
        features = self.encoder.apply(params["encoder"], x, train=train, rng=k_enc)
        logits = self.classifier.apply(params["classifier"], features, train=train, rng=k_cls)
        return features, logits

    def _outputs(self, params, batch: Batch, rng, step, reverse) -> Outputs:
        n = _shape(batch.source_inputs)[0]
        x = jnp.asarray(batch.source_inputs)
        # Without alignment terms nothing reads the target outputs, so only the
        # source half is forwarded (half the products). The source rows agree with
        # the pooled forward to round-off (XLA may compile a reduction over n rows
        # unlike one over n + m), dropout masks included: a mask's random bits are
        # indexed by the element's flat position, the same in both batches.
        if self.terms or self.feature_sharding is not None:
            x = jnp.concatenate([x, jnp.asarray(batch.target_inputs)])
        k_enc, k_cls = jax.random.split(rng)
        features = self._gather(self.encoder.apply(params["encoder"], x, train=True, rng=k_enc))
        logits = self._gather(
            self.classifier.apply(params["classifier"], features, train=True, rng=k_cls)
        )

        def classify(f: jax.Array) -> jax.Array:
            return self.classifier.apply(params["classifier"], f, train=True, rng=k_cls)

        return Outputs(
            source_features=features[:n],
            target_features=features[n:],
            source_logits=logits[:n],
            target_logits=logits[n:],
            source_labels=jnp.asarray(batch.source_labels),
            step=step,
            reverse=reverse,
            classify=classify,
        )

    def _objective(self, params, adversary_params, batch, key, step, reverse):
        k_fwd, k_terms = jax.random.split(key)
        out = self._outputs(params, batch, k_fwd, step, reverse)
        labels = out.source_labels
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out.source_logits, labels))
        accuracy = jnp.mean(jnp.argmax(out.source_logits, axis=-1) == labels)
        metrics = {"classification_loss": ce, "source_accuracy": accuracy}
        total = ce
        adversary_total = jnp.zeros((), ce.dtype)
        for i, term in enumerate(self.terms):
            weight = weight_at(term.weight, step)
            term_out = out
            if term.reversal is not None and reverse is _reverse:
                strength = weight_at(term.reversal, step)
                term_out = dataclasses.replace(
                    out, reverse=lambda x, s=strength: gradient_reversal(x, s)
                )
            try:
                value, aux = term(
                    term_out, adversary_params.get(term.name), jax.random.fold_in(k_terms, i)
                )
            except (ValueError, TypeError) as err:
                raise _context(
                    err,
                    f"alignment term {term.name!r} ({type(term).__name__}) failed on source "
                    f"features {_shape(out.source_features)}, target features "
                    f"{_shape(out.target_features)}, logits {_shape(out.source_logits)}",
                ) from err
            value = jnp.asarray(value)
            if value.shape != ():
                raise ValueError(
                    f"alignment term {term.name!r} must return a scalar loss, got shape "
                    f"{value.shape}."
                )
            total = total + weight * value
            if term.network is not None:
                adversary_total = adversary_total + weight * value
            metrics[f"{term.name}/value"] = value
            metrics[f"{term.name}/weight"] = weight
            for k, v in aux.items():
                metrics[f"{term.name}/{k}"] = v
        metrics["loss"] = total
        return total, adversary_total, metrics

    # ------------------------------------------------------------------- step

    def step(self, state: TrainState, batch: Batch, key: jax.Array) -> tuple[TrainState, dict]:
        """One training step on ``batch``; randomness from ``fold_in(key, state.step)``.

        Pass the same ``key`` at every step: the step counter makes it fresh.

        Returns:
          ``(new_state, metrics)`` with scalar metrics: ``loss``,
          ``classification_loss``, ``source_accuracy``, and per term
          ``<name>/value``, ``<name>/weight`` (and e.g. ``<name>/domain_accuracy``).
          In ``"alternating"`` mode, when some term owns a network, also
          ``adversary_loss`` (from the adversary's update, before it).
        """
        check_batch(batch)
        key = jax.random.fold_in(key, state.step)
        step = state.step
        adversary_params = state.adversary_params
        adversary_opt_state = state.adversary_opt_state
        extra = {}

        joint = self.mode == "gradient_reversal" or not adversary_params
        if joint:

            def loss_fn(params, adv):
                total, _, metrics = self._objective(params, adv, batch, key, step, _reverse)
                return total, metrics

            (_, metrics), (grads, adv_grads) = jax.value_and_grad(
                loss_fn, argnums=(0, 1), has_aux=True
            )(state.params, adversary_params)
        else:
            frozen = jax.lax.stop_gradient(state.params)

            def adversary_fn(adv):
                _, adv_total, _ = self._objective(frozen, adv, batch, key, step, _identity)
                return adv_total

            adv_loss, adv_grads = jax.value_and_grad(adversary_fn)(adversary_params)
            extra["adversary_loss"] = adv_loss
            updates, adversary_opt_state = self.adversary_optimizer.update(
                adv_grads, adversary_opt_state, adversary_params
            )
            adversary_params = optax.apply_updates(adversary_params, updates)

            def model_fn(params):
                total, _, metrics = self._objective(
                    params, adversary_params, batch, key, step, _reverse
                )
                return total, metrics

            (_, metrics), grads = jax.value_and_grad(model_fn, has_aux=True)(state.params)

        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if joint:
            updates, adversary_opt_state = self.adversary_optimizer.update(
                adv_grads, adversary_opt_state, adversary_params
            )
            adversary_params = optax.apply_updates(adversary_params, updates)
        new_state = TrainState(
            step=state.step + 1,
            params=params,
            adversary_params=adversary_params,
            opt_state=opt_state,
            adversary_opt_state=adversary_opt_state,
        )
        return new_state, {**metrics, **extra}


def _context(err: Exception, message: str) -> Exception:
    kind = ValueError if isinstance(err, ValueError) else TypeError
    return kind(f"{message}: {err}")


def _spec(x: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x))


def make_trainer(
    *,
    encoder: Any,
    classifier: Any,
    optimizer: optax.GradientTransformation,
    example_batch: Batch,
    terms: Sequence[Term] = (),
    mode: str = "gradient_reversal",
    adversary_optimizer: optax.GradientTransformation | None = None,
    check_steps: Sequence[int] = (0, 1, 10, 100, 1000, 10000),
) -> Trainer:
    r"""Builds a :class:`Trainer` and checks it against ``example_batch``.

    Args:
      encoder: ``x -> features [n, d]``: an ``nnx.Module``, a Linen module, a
        :class:`Network` (e.g. from :func:`from_nnx` with a constructor, for a
        per-seed initialisation) or a pair ``(apply, params)``.
      classifier: ``features -> logits [n, C]``, same kinds.
      optimizer: an optax transformation for encoder and classifier.
      example_batch: a :class:`Batch` (arrays or ``jax.ShapeDtypeStruct``) with the
        shapes of the training batches.
      terms: alignment terms (:class:`MMD`, :class:`DomainAdversarial`, ...), each
        with its weight or schedule; names must be unique. Source and target
        inputs go through the networks as one pooled batch; without terms
        (source only) only the source half does, since nothing reads the
        target outputs. (A network that mixes rows, e.g. with batch
        statistics, then sees the source batch alone.)
      mode: how terms with a network (adversarial terms) are trained:

        * ``"gradient_reversal"``: one gradient of the total loss over all
          parameters, with :func:`dalib.ops.gradient_reversal` in front of the
          adversary networks; one update of both players per step.
        * ``"alternating"``: first the adversaries descend on their losses with
          the encoder fixed; then encoder and classifier descend on the total
          loss with the updated adversaries fixed, the adversarial losses
          entering with reversed gradient (the minimax form).

      adversary_optimizer: optax transformation for the adversary networks;
        defaults to ``optimizer``.
      check_steps: steps at which weight schedules are checked for finite values.

    Returns:
      The :class:`Trainer`.

    Raises:
      ValueError / TypeError: at build time, with the offending shapes, for an
        empty source or target batch, features a term cannot take (wrong rank,
        a discriminator of the wrong input size), a weight or schedule that is
        not finite or negative, duplicate term names, an unknown ``mode``, or
        (when ``example_batch`` holds concrete arrays) labels outside the
        classifier's ``[0, C)`` or non-finite inputs.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from flax import nnx
      >>> from dalib import train
      >>> from dalib.nn import MLPEncoder
      >>> batch = train.Batch(jnp.zeros((8, 5)), jnp.zeros(8, jnp.int32), jnp.zeros((6, 5)))
      >>> trainer = train.make_trainer(
      ...     encoder=MLPEncoder(5, (16,), rngs=nnx.Rngs(0)),
      ...     classifier=nnx.Linear(16, 3, rngs=nnx.Rngs(1)),
      ...     optimizer=optax.adam(1e-3), example_batch=batch, terms=[train.MMD(weight=0.5)])
      >>> state, metrics = jax.jit(trainer.step)(trainer.init(jax.random.key(0)), batch,
      ...                                        jax.random.key(1))
      >>> int(state.step), sorted(metrics)
      (1, ['classification_loss', 'loss', 'mmd/value', 'mmd/weight', 'source_accuracy'])
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
    check_batch(example_batch, "example_batch")
    batch_spec = Batch(*(_spec(a) for a in example_batch))
    xs, xt = batch_spec.source_inputs, batch_spec.target_inputs
    pooled = jax.ShapeDtypeStruct((xs.shape[0] + xt.shape[0], *xs.shape[1:]), xs.dtype)
    key = jax.random.key(0)

    encoder = as_network(encoder, sample_input=pooled, name="encoder")
    try:
        features = jax.eval_shape(
            lambda k, x: encoder.apply(encoder.init(k), x, train=False, rng=None), key, pooled
        )
    except (ValueError, TypeError) as err:
        raise _context(err, f"the encoder failed on inputs of shape {pooled.shape}") from err
    if not hasattr(features, "shape"):
        raise TypeError(f"the encoder must return one array, got {features}.")

    classifier = as_network(classifier, sample_input=features, name="classifier")
    try:
        logits = jax.eval_shape(
            lambda k, f: classifier.apply(classifier.init(k), f, train=False, rng=None),
            key,
            features,
        )
    except (ValueError, TypeError) as err:
        raise _context(
            err, f"the classifier failed on encoder features of shape {features.shape}"
        ) from err
    if len(getattr(logits, "shape", ())) != 2 or logits.shape[0] != pooled.shape[0]:
        raise ValueError(
            f"the classifier must return logits [n, C], got {getattr(logits, 'shape', logits)} "
            f"for features of shape {features.shape}."
        )

    terms = tuple(terms)
    names = [t.name for t in terms if isinstance(t, Term)]
    if len(names) != len(terms):
        bad = next(t for t in terms if not isinstance(t, Term))
        raise TypeError(f"`terms` must be dalib.train terms, got {type(bad).__name__}.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"alignment term names must be unique, {dupes} repeat; pass `name=`.")

    n = xs.shape[0]

    def example_outputs(f, z):
        return Outputs(
            f[:n],
            f[n:],
            z[:n],
            z[n:],
            jnp.zeros((n,), batch_spec.source_labels.dtype),
            jnp.zeros((), jnp.int32),
        )

    built = []
    for term in terms:
        check_weight(term, tuple(check_steps))
        if term.network is not None and not isinstance(term.network, Network):
            try:
                spec = jax.eval_shape(
                    lambda f, z, t=term: t.network_input(example_outputs(f, z)), features, logits
                )
            except (ValueError, TypeError) as err:
                raise _context(
                    err,
                    f"alignment term {term.name!r} cannot use features of shape "
                    f"{features.shape} and logits {logits.shape}",
                ) from err
            network = as_network(
                term.network, sample_input=spec, name=f"network of term {term.name!r}"
            )
            term = dataclasses.replace(term, network=network)
        built.append(term)

    # Concrete example labels are checked against the classifier's width now: a
    # label >= C would otherwise give NaN losses from the first step on.
    check_batch_values(example_batch, "example_batch", int(logits.shape[1]))

    trainer = Trainer(
        encoder=encoder,
        classifier=classifier,
        terms=tuple(built),
        optimizer=optimizer,
        adversary_optimizer=optimizer if adversary_optimizer is None else adversary_optimizer,
        mode=mode,
        num_classes=int(logits.shape[1]),
    )
    # Trace one step on shapes only: every shape error surfaces now, not mid-run.
    state = jax.eval_shape(trainer.init, key)
    jax.eval_shape(trainer.step, state, batch_spec, key)
    return trainer
