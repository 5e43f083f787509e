r"""Training recipes: how each method family is optimised, as its reference code does it.

A :class:`Recipe` is a value held by each registered method
(:attr:`dalib.experiment.Method.recipe`): the optimiser and its learning-rate
schedule, where the warm-up of the alignment weight goes, and (MCD) the step
structure. ``dalib methods`` prints it with its citation.

The recipes keep the reference values unchanged: our encoder is an MLP trained
from scratch on standardised features, like the layers TLlib trains at its
full rate, and with these rates every adversarial method fits its source rows
early in the budget (training accuracy 0.93-1.0, mean 0.97-1.0 per method,
around step 250 of 1000 on the synthetic SER tasks), so no rescaling was
needed. Nothing here is tuned
on target labels; ``docs/health.md`` and ``docs/experiments.md`` report what
the recipes do.

* :data:`ADAMW` — the house recipe, unchanged from before recipes existed:
  AdamW :math:`10^{-3}`, weight decay :math:`10^{-4}`, constant rate, the
  DANN warm-up :math:`r(p) = 2/(1+e^{-10p}) - 1` on every alignment weight.
  Every method without a reference recipe of its own trains with it (the
  distance- and entropy-based families, ``source_only``).
* :data:`ADVERSARIAL` (DANN, CDAN, CDAN+E) — Ganin et al. (2016, §5.2.2) and
  TLlib's ``dann.py``/``cdan.py``: SGD with Nesterov momentum 0.9, weight
  decay :math:`10^{-3}` (coupled L2, as PyTorch's SGD), learning rate
  :math:`\eta_p = \eta_0 (1+10p)^{-0.75}` with :math:`p` = step / steps and
  :math:`\eta_0 = 0.01` (TLlib's rate for the layers it trains from scratch:
  all of ours are), trade-off 1, and the warm-up on the gradient reversal only
  (TLlib's ``WarmStartGradientReverseLayer``): the discriminator learns at full
  weight from the first step while the encoder's reversed gradient rises as
  :math:`r(p)`.
* :data:`MDD` — Zhang et al. (2019) and TLlib's ``mdd.py``: the same SGD with
  :math:`\eta_0 = 0.004`, weight decay :math:`5\cdot 10^{-4}`, the slower
  decay :math:`(1+4p)^{-0.75}` (TLlib's ``lr_gamma = 0.0002`` per iteration
  over its 20 epochs of 1000 iterations; ``dann.py``/``cdan.py`` use 0.001),
  and the reversal warming up to 0.1 (TLlib's ``hi=0.1``): the encoder feels
  a tenth of the adversarial head's gradient.
* :data:`MCD` — Saito et al. (2018), digit experiments (networks trained from
  scratch, as ours are): Adam :math:`2\cdot 10^{-4}` with L2 weight decay
  :math:`5\cdot 10^{-4}`, and MCD's own three-step update with ``num_k = 4``
  (:func:`mcd_trainer`), no warm-up.

**Architecture** (the methods' options, see ``dalib methods``): TLlib puts a
bottleneck ``Linear -> BatchNorm -> ReLU (-> Dropout)`` between backbone and
classifier; here the MLP encoder's last hidden layer is that bottleneck
(``Linear -> LayerNorm -> ReLU -> Dropout``: the functional training step
keeps no batch statistics, so LayerNorm stands where the reference has
BatchNorm). The DANN/CDAN discriminator is TLlib's ``DomainDiscriminator``
(two hidden layers of 1024, each ``Linear -> LayerNorm -> ReLU``, LayerNorm
again in place of BatchNorm); MDD's adversarial head and its main classifier
are TLlib's heads ``Linear(width) -> ReLU -> Dropout(0.5) -> Linear(C)`` with
the width of the bottleneck. MCD's two classifiers are TLlib's
``ImageClassifierHead`` (the paper's three fully connected layers):
``Dropout(0.5) -> Linear(128) -> LayerNorm -> ReLU -> Dropout(0.5) ->
Linear(128) -> LayerNorm -> ReLU -> Linear(C)``, the bottleneck's width
(option ``head_hidden``; ``()``, two linear classifiers, collapses onto one
class: ``docs/experiments.md``).

**Config** (``train.*``): ``train.recipe = "method"`` (default) uses each
method's recipe; a recipe name (``"adamw"``, ``"adversarial"``, ``"mdd"``,
``"mcd"``) forces that recipe on every method of the run (``"adamw"``
reproduces the runs made before recipes existed; ``"mcd"`` only suits
``mcd``). ``train.learning_rate`` and ``train.weight_decay`` default to
``None`` — the recipe's values; a number overrides the recipe's (the schedule
then starts from it). ``train.ramp = False`` switches the warm-up off
whichever place the recipe puts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = [
    "ADAMW",
    "ADVERSARIAL",
    "MCD",
    "MDD",
    "RECIPES",
    "Recipe",
    "get_recipe",
    "mcd_trainer",
]

OPTIMIZERS = ("adamw", "adam", "sgd")
LR_SCHEDULES = ("constant", "inverse_decay")
WARMUPS = ("weight", "reversal", "none")
STEPS = ("joint", "mcd")


@dataclasses.dataclass(frozen=True)
class Recipe:
    r"""How a method family is trained (optimiser, schedule, warm-up, step structure).

    Attributes:
      name: the recipe's name (``train.recipe`` accepts it).
      summary: one line for ``dalib methods``.
      reference: the paper(s) and reference code the values come from.
      optimizer: ``"adamw"`` (decoupled decay), ``"adam"`` or ``"sgd"`` (both with
        coupled L2 decay ``g + wd * w`` as PyTorch's optimisers).
      learning_rate: :math:`\eta_0`.
      weight_decay: the decay coefficient.
      momentum: SGD momentum (0: none).
      nesterov: Nesterov momentum (SGD).
      lr_schedule: ``"constant"`` or ``"inverse_decay"``
        :math:`\eta_0 (1 + \alpha p)^{-\beta}` (:func:`dalib.ops.inverse_decay_schedule`).
      decay_alpha, decay_beta: :math:`\alpha`, :math:`\beta` of the inverse decay.
      warmup: where the DANN warm-up :math:`r(p)` (:func:`dalib.ops.dann_schedule`)
        goes: ``"weight"`` multiplies every alignment weight (both players of an
        adversarial term); ``"reversal"`` scales only the reversed gradient the
        encoder receives (TLlib's warm-start reversal layer); ``"none"``.
      reversal_high: the value the reversal warm-up rises to (MDD: 0.1).
      steps: ``"joint"`` (one update per step, :func:`dalib.train.make_trainer`)
        or ``"mcd"`` (MCD's three-step update, :func:`mcd_trainer`).
      num_k: MCD's encoder updates per step (step C).
    """

    name: str
    summary: str
    reference: str
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.0
    nesterov: bool = False
    lr_schedule: str = "constant"
    decay_alpha: float = 10.0
    decay_beta: float = 0.75
    warmup: str = "weight"
    reversal_high: float = 1.0
    steps: str = "joint"
    num_k: int = 4

    def __post_init__(self) -> None:
        for field, allowed in (
            ("optimizer", OPTIMIZERS),
            ("lr_schedule", LR_SCHEDULES),
            ("warmup", WARMUPS),
            ("steps", STEPS),
        ):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(f"Recipe.{field} must be one of {allowed}, got {value!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"Recipe.learning_rate must be > 0, got {self.learning_rate}.")
        if self.weight_decay < 0 or self.momentum < 0 or self.num_k < 1:
            raise ValueError(
                "Recipe.weight_decay and momentum must be >= 0 and num_k >= 1, got "
                f"{self.weight_decay}, {self.momentum}, {self.num_k}."
            )

    def values(self) -> dict[str, Any]:
        """Every field that changes training (not the name, summary or reference)."""
        skip = {"name", "summary", "reference"}
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name not in skip}

    def describe(self) -> str:
        """The recipe in one line (``dalib methods``)."""
        opt = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD"}[self.optimizer]
        if self.optimizer == "sgd" and self.momentum:
            opt += f" momentum {self.momentum:g}" + (" nesterov" if self.nesterov else "")
        lr = f"lr {self.learning_rate:g}"
        if self.lr_schedule == "inverse_decay":
            lr += f"*(1+{self.decay_alpha:g}p)^-{self.decay_beta:g}"
        warm = {
            "weight": "warm-up on the term weights",
            "reversal": "warm-up on the gradient reversal"
            + (f" up to {self.reversal_high:g}" if self.reversal_high != 1.0 else ""),
            "none": "no warm-up",
        }[self.warmup]
        step = f", MCD's 3-step update (num_k={self.num_k})" if self.steps == "mcd" else ""
        return f"{self.name}: {opt}, {lr}, wd {self.weight_decay:g}, {warm}{step}"

    def make_optimizer(
        self, learning_rate: float, weight_decay: float, total_steps: int, *, momentum=None
    ):
        """The optax transformation of this recipe with ``learning_rate`` / ``weight_decay``.

        ``momentum`` overrides the recipe's (MCD's encoder optimiser has none).
        """
        import optax

        from dalib import ops

        lr: Any = learning_rate
        if self.lr_schedule == "inverse_decay":
            lr = ops.inverse_decay_schedule(
                init_value=learning_rate,
                total_steps=total_steps,
                alpha=self.decay_alpha,
                beta=self.decay_beta,
            )
        if self.optimizer == "adamw":
            return optax.adamw(lr, weight_decay=weight_decay)
        decay = [optax.add_decayed_weights(weight_decay)] if weight_decay else []
        if self.optimizer == "adam":
            return optax.chain(*decay, optax.adam(lr))
        m = self.momentum if momentum is None else momentum
        return optax.chain(
            *decay, optax.sgd(lr, momentum=m or None, nesterov=bool(m) and self.nesterov)
        )

    def schedules(self, total_steps: int, *, ramp: bool, gamma: float, weight_scale: float = 1.0):
        """``(weight, reversal)``: the term-weight function and the reversal coefficient.

        ``weight(value)`` returns the alignment weight ``value * weight_scale``,
        ramped by the warm-up when :attr:`warmup` is ``"weight"``;
        ``reversal`` is ``None`` (plain reversal), a number, or a schedule.
        """
        from dalib import ops

        ramped = ops.dann_schedule(total_steps=total_steps, gamma=gamma) if ramp else None

        def weight(value: float):
            value = float(value) * weight_scale
            if ramped is None or self.warmup != "weight":
                return value
            return lambda step: value * ramped(step)

        reversal = None
        if self.warmup == "reversal":
            reversal = (
                ops.dann_schedule(total_steps=total_steps, gamma=gamma, high=self.reversal_high)
                if ramp
                else self.reversal_high
            )
        return weight, reversal


ADAMW = Recipe(
    "adamw",
    "the house recipe (AdamW, constant rate, warm-up on the weights)",
    "Loshchilov & Hutter 2019 (AdamW); warm-up of Ganin et al. 2016",
)
ADVERSARIAL = Recipe(
    "adversarial",
    "DANN's SGD recipe with TLlib's reversal warm-up",
    "Ganin et al. 2016, JMLR, sec. 5.2.2; TLlib examples dann.py / cdan.py "
    "(nesterov, wd 1e-3, trade-off 1, WarmStartGradientReverseLayer)",
    optimizer="sgd",
    learning_rate=0.01,
    weight_decay=1e-3,
    momentum=0.9,
    nesterov=True,
    lr_schedule="inverse_decay",
    warmup="reversal",
)
MDD = Recipe(
    "mdd",
    "MDD's SGD recipe, reversal warming up to 0.1",
    "Zhang et al. 2019, ICML; TLlib examples mdd.py (lr 0.004, lr_gamma 2e-4, wd 5e-4, "
    "GRL hi=0.1)",
    optimizer="sgd",
    learning_rate=0.004,
    weight_decay=5e-4,
    momentum=0.9,
    nesterov=True,
    lr_schedule="inverse_decay",
    decay_alpha=4.0,  # TLlib mdd.py: lr_gamma 0.0002 x 20 x 1000 iterations
    warmup="reversal",
    reversal_high=0.1,
)
MCD = Recipe(
    "mcd",
    "MCD's three-step update with Adam",
    "Saito et al. 2018, CVPR, digit experiments (Adam 2e-4, wd 5e-4, num_k 4); TLlib mcd.py",
    optimizer="adam",
    learning_rate=2e-4,
    weight_decay=5e-4,
    warmup="none",
    steps="mcd",
    num_k=4,
)
#: Every recipe by name (``train.recipe`` accepts these names and ``"method"``).
RECIPES: dict[str, Recipe] = {r.name: r for r in (ADAMW, ADVERSARIAL, MDD, MCD)}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``ValueError`` listing the valid names.

    Examples:
      >>> get_recipe("adversarial").optimizer
      'sgd'
    """
    if name not in RECIPES:
        raise ValueError(
            f"unknown recipe {name!r}; use 'method' (each method's own) or one of "
            f"{sorted(RECIPES)}."
        )
    return RECIPES[name]


# ----------------------------------------------------------------------- MCD's step


def mcd_trainer(trainer, recipe: Recipe, learning_rate: float, weight_decay: float, steps: int):
    r"""A trainer whose step is MCD's three-step update (Saito et al. 2018, Algorithm 1).

    ``trainer`` is a :class:`dalib.train.Trainer` with one
    :class:`dalib.train.ClassifierDiscrepancy` term (its network is the second
    classifier :math:`c_2`; the trainer's classifier is :math:`c_1`). Each step,
    on one source and one target batch, with :math:`d` the L1 discrepancy of the
    two softmax outputs on the target and :math:`w` the term's weight:

    * A: encoder and both classifiers descend on
      :math:`\mathrm{CE}(c_1) + \mathrm{CE}(c_2)` (source);
    * B: the classifiers, encoder fixed, descend on
      :math:`\mathrm{CE}(c_1) + \mathrm{CE}(c_2) - w\,d`;
    * C: the encoder descends on :math:`w\,d`, ``num_k`` times.

    The encoder has its own optimiser state, the two classifiers share one (as
    the reference code's ``optimizer_g`` / ``optimizer_f``). Predictions use
    :math:`c_1`. The returned object has the trainer's ``init`` / ``step`` /
    ``forward`` interface, so :func:`dalib.train.run_steps` runs it.
    """
    import jax

    from dalib.train import ClassifierDiscrepancy

    terms = [t for t in trainer.terms if isinstance(t, ClassifierDiscrepancy)]
    if len(trainer.terms) != 1 or not terms:
        raise ValueError(
            "the 'mcd' recipe needs exactly one ClassifierDiscrepancy term (method mcd), got "
            f"{[type(t).__name__ for t in trainer.terms]}; use train.recipe='method'."
        )
    out = _MCDTrainer(
        **{f.name: getattr(trainer, f.name) for f in dataclasses.fields(trainer)},
        num_k=recipe.num_k,
        classifier_optimizer=recipe.make_optimizer(learning_rate, weight_decay, steps),
    )
    state = jax.eval_shape(out.init, jax.random.key(0))
    del state
    return out


def _mcd_class():
    import jax
    import jax.numpy as jnp
    import optax

    from dalib import losses
    from dalib.train import Trainer, TrainState
    from dalib.train._terms import weight_at

    @dataclasses.dataclass(frozen=True, eq=False)
    class MCDTrainer(Trainer):
        num_k: int = 4
        classifier_optimizer: Any = None

        def init(self, key):
            base = Trainer.init(self, key)
            name = self.terms[0].name
            heads = {"c1": base.params["classifier"], "c2": base.adversary_params[name]}
            return TrainState(
                step=base.step,
                params=base.params,
                adversary_params=base.adversary_params,
                opt_state={
                    "encoder": self.optimizer.init(base.params["encoder"]),
                    "heads": self.classifier_optimizer.init(heads),
                },
                adversary_opt_state=(),
            )

        def step(self, state, batch, key):
            term = self.terms[0]
            name = term.name
            key = jax.random.fold_in(key, state.step)
            n = jnp.shape(batch.source_inputs)[0]
            xs, xt = jnp.asarray(batch.source_inputs), jnp.asarray(batch.target_inputs)
            x = jnp.concatenate([xs, xt])
            ys = jnp.asarray(batch.source_labels)
            w = weight_at(term.weight, state.step)

            def run(enc, heads, k):
                ke, k1, k2 = jax.random.split(k, 3)
                f = self.encoder.apply(enc, x, train=True, rng=ke)
                z1 = self.classifier.apply(heads["c1"], f, train=True, rng=k1)
                z2 = term.network.apply(heads["c2"], f, train=True, rng=k2)
                ce1 = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z1[:n], ys))
                ce2 = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z2[:n], ys))
                d = losses.classifier_discrepancy(
                    jax.nn.softmax(z1[n:], axis=-1), jax.nn.softmax(z2[n:], axis=-1)
                )
                return ce1, ce2, d, z1[:n]

            enc = state.params["encoder"]
            heads = {"c1": state.params["classifier"], "c2": state.adversary_params[name]}
            g_state, h_state = state.opt_state["encoder"], state.opt_state["heads"]
            ka, kb, kc = jax.random.split(key, 3)

            def update(opt, grads, opt_state, params):
                updates, opt_state = opt.update(grads, opt_state, params)
                return optax.apply_updates(params, updates), opt_state

            # A: everything learns the source.
            def loss_a(enc, heads):
                ce1, ce2, _, z1s = run(enc, heads, ka)
                return ce1 + ce2, (ce1, ce2, z1s)

            (_, (ce1, ce2, z1s)), (g_enc, g_heads) = jax.value_and_grad(
                loss_a, argnums=(0, 1), has_aux=True
            )(enc, heads)
            enc, g_state = update(self.optimizer, g_enc, g_state, enc)
            heads, h_state = update(self.classifier_optimizer, g_heads, h_state, heads)

            # B: the classifiers disagree on the target, encoder fixed.
            def loss_b(heads):
                ce1, ce2, d, _ = run(jax.lax.stop_gradient(enc), heads, kb)
                return ce1 + ce2 - w * d, d

            (loss_b_value, d_b), g_heads = jax.value_and_grad(loss_b, has_aux=True)(heads)
            heads, h_state = update(self.classifier_optimizer, g_heads, h_state, heads)

            # C: the encoder removes the disagreement, num_k times.
            def loss_c(enc, k):
                _, _, d, _ = run(enc, jax.lax.stop_gradient(heads), k)
                return w * d, d

            d_c = d_b
            for i in range(self.num_k):
                (_, d_c), g_enc = jax.value_and_grad(loss_c, has_aux=True)(
                    enc, jax.random.fold_in(kc, i)
                )
                enc, g_state = update(self.optimizer, g_enc, g_state, enc)

            metrics = {
                "classification_loss": ce1,
                "source_accuracy": jnp.mean(jnp.argmax(z1s, axis=-1) == ys),
                "loss": ce1 + w * d_c,
                "adversary_loss": loss_b_value,
                f"{name}/value": d_c,
                f"{name}/weight": w,
                f"{name}/discrepancy": d_b,
                f"{name}/head_ce": ce2,
            }
            new_state = TrainState(
                step=state.step + 1,
                params={"encoder": enc, "classifier": heads["c1"]},
                adversary_params={name: heads["c2"]},
                opt_state={"encoder": g_state, "heads": h_state},
                adversary_opt_state=(),
            )
            return new_state, metrics

    return MCDTrainer


_MCD_CLASS: list[Callable] = []


def _MCDTrainer(**kwargs):
    if not _MCD_CLASS:
        _MCD_CLASS.append(_mcd_class())
    return _MCD_CLASS[0](**kwargs)
