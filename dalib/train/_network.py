"""One interface for every kind of network: ``(init(key) -> params, apply(params, x, ...))``.

The training code never sees a Flax module. Whatever the user brings — a Flax
NNX module (or a constructor ``rngs -> module``), a Flax Linen module, or a plain
function ``apply(params, x)`` with its parameters — is normalised to a
:class:`Network`: a pure ``init(key) -> params`` and a pure
``apply(params, x, *, train, rng) -> y``. Parameters are plain nested dicts of
arrays (string keys), which optax, orbax, ``vmap`` and sharding all handle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as linen
import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["Network", "as_network", "from_function", "from_linen", "from_nnx"]

Params = Any
ApplyFn = Callable[..., jax.Array]


@dataclasses.dataclass(frozen=True)
class Network:
    """A network as two pure functions.

    Attributes:
      init: ``init(key) -> params``, a pytree of float arrays (the trainable
        parameters, nothing else).
      apply: ``apply(params, x, *, train: bool, rng: jax.Array | None) -> y``.
        ``train`` switches dropout on; ``rng`` feeds it (ignored when
        ``train=False``).
      kind: where it came from (``"nnx"``, ``"linen"``, ``"function"``), for messages.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = Network(init=lambda key: {"w": jnp.ones((3, 2))},
      ...               apply=lambda p, x, *, train, rng: x @ p["w"])
      >>> net.apply(net.init(jax.random.key(0)), jnp.ones((4, 3)), train=False, rng=None).shape
      (4, 2)
    """

    init: Callable[[jax.Array], Params]
    apply: ApplyFn
    kind: str = "function"


# --------------------------------------------------------------------------- NNX


def _path_names(path: tuple) -> tuple[str, ...]:
    names = []
    for entry in path:
        if isinstance(entry, jax.tree_util.GetAttrKey) and entry.name == "value":
            continue
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                names.append(str(getattr(entry, attr)))
                break
    return tuple(names)


class _StateCodec:
    """Converts an ``nnx.State`` of parameters to a dict of arrays and back."""

    def __init__(self, state: nnx.State):
        flat, self.treedef = jax.tree_util.tree_flatten_with_path(state)
        self.paths = [_path_names(p) for p, _ in flat]

    def to_tree(self, state: nnx.State) -> dict:
        tree: dict = {}
        for path, leaf in zip(self.paths, jax.tree.leaves(state), strict=True):
            node = tree
            for name in path[:-1]:
                node = node.setdefault(name, {})
            node[path[-1]] = leaf
        return tree

    def to_state(self, tree: dict) -> nnx.State:
        leaves = []
        for path in self.paths:
            node = tree
            for name in path:
                node = node[name]
            leaves.append(node)
        return jax.tree.unflatten(self.treedef, leaves)


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _concrete_rest(rest: nnx.State) -> nnx.State:
    """Fills an abstract RNG state (keys and counters) with concrete placeholders."""

    def fill(x):
        if _is_key(x):
            return (
                jax.random.key(0) if x.shape == () else jax.random.split(jax.random.key(0), x.shape)
            )
        return jnp.zeros(x.shape, x.dtype)

    return jax.tree.map(fill, rest)


def _only_rng_state(state: nnx.State) -> bool:
    return all(isinstance(v, nnx.RngState) for _, v in nnx.to_flat_state(state))


def from_nnx(module: nnx.Module | Callable[[nnx.Rngs], nnx.Module]) -> Network:
    """Wraps a Flax NNX module, or a constructor ``rngs -> module``, as a :class:`Network`.

    With a constructor, ``init(key)`` builds the module from ``nnx.Rngs(key)``, so
    every seed gets its own initialisation (this is what ``vmap`` over seeds
    needs). With a built module, ``init`` ignores the key and returns that
    module's parameters.

    Only ``nnx.Param`` variables are trained. RNG streams (dropout) are re-keyed
    from ``rng`` at every training call. Modules with batch statistics
    (``nnx.BatchNorm``) are rejected: use LayerNorm or GroupNorm, which need no
    state and no cross-device reduction. Other non-parameter variables are
    constants taken from the module as built.

    Args:
      module: an ``nnx.Module`` or a callable ``rngs -> nnx.Module``.

    Returns:
      The :class:`Network`.

    Raises:
      TypeError: if ``module`` is neither.
      ValueError: if the module holds ``nnx.BatchStat`` variables.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> net = from_nnx(lambda rngs: nnx.Linear(3, 2, rngs=rngs))
      >>> params = net.init(jax.random.key(0))
      >>> sorted(params), net.apply(params, jnp.ones((4, 3)), train=False, rng=None).shape
      (['bias', 'kernel'], (4, 2))
    """
    if isinstance(module, nnx.Module):
        label, constructor = type(module).__name__, None
        graphdef, params, stats, rest = nnx.split(module, nnx.Param, nnx.BatchStat, ...)
    elif callable(module):
        constructor = module
        abstract = nnx.eval_shape(lambda: constructor(nnx.Rngs(0)))
        if not isinstance(abstract, nnx.Module):
            raise TypeError(
                f"an NNX constructor must return an nnx.Module, got {type(abstract).__name__}."
            )
        label = type(abstract).__name__
        graphdef, params, stats, rest = nnx.split(abstract, nnx.Param, nnx.BatchStat, ...)
        if _only_rng_state(rest):
            rest = _concrete_rest(rest)
        else:
            graphdef, params, stats, rest = nnx.split(
                constructor(nnx.Rngs(0)), nnx.Param, nnx.BatchStat, ...
            )
    else:
        raise TypeError(
            f"expected an nnx.Module or a constructor `rngs -> nnx.Module`, got {module!r}."
        )
    if jax.tree.leaves(stats):
        raise ValueError(
            f"{label} holds batch "
            "statistics (nnx.BatchStat, e.g. nnx.BatchNorm); dalib.train trains parameters "
            "only. Use nnx.LayerNorm or nnx.GroupNorm instead."
        )
    codec = _StateCodec(params)
    fixed = None if constructor is not None else codec.to_tree(params)
    rest_leaves, rest_def = jax.tree.flatten(rest)

    def init(key: jax.Array) -> Params:
        if fixed is not None:
            return jax.tree.map(jnp.asarray, fixed)
        _, p, _ = nnx.split(constructor(nnx.Rngs(key)), nnx.Param, ...)
        return codec.to_tree(p)

    def apply(params: Params, x: Any, *, train: bool = False, rng: jax.Array | None = None):
        leaves = rest_leaves
        if train and rng is not None:
            # A fresh key per RNG stream: new dropout masks at every step.
            leaves = [
                jax.random.fold_in(rng, i) if _is_key(leaf) and leaf.shape == () else leaf
                for i, leaf in enumerate(rest_leaves)
            ]
        model = nnx.merge(graphdef, codec.to_state(params), jax.tree.unflatten(rest_def, leaves))
        model = nnx.view(model, deterministic=not train, raise_if_not_found=False)
        return model(x)

    return Network(init=init, apply=apply, kind="nnx")


# ------------------------------------------------------------------------- Linen


def from_linen(
    module: linen.Module,
    sample_input: Any,
    *,
    train_kwarg: str | None = None,
    rng_collections: tuple[str, ...] = ("dropout",),
) -> Network:
    """Wraps a Flax Linen module as a :class:`Network`.

    ``init(key)`` runs ``module.init`` on ``sample_input`` (only its shape and dtype
    matter) and keeps the ``"params"`` collection.

    Args:
      module: the Linen module.
      sample_input: an example input (array or ``jax.ShapeDtypeStruct``).
      train_kwarg: the keyword the module's ``__call__`` takes for the mode, if
        any: ``"train"`` receives ``train``, ``"deterministic"`` receives
        ``not train``.
      rng_collections: RNG collections fed from ``rng`` in training mode.

    Returns:
      The :class:`Network`.

    Raises:
      ValueError: if the module has variable collections other than ``"params"``
        (e.g. ``batch_stats``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> import flax.linen as nn
      >>> net = from_linen(nn.Dense(2), jnp.ones((1, 3)))
      >>> net.apply(net.init(jax.random.key(0)), jnp.ones((4, 3)), train=True,
      ...           rng=jax.random.key(1)).shape
      (4, 2)
    """
    if not isinstance(module, linen.Module):
        raise TypeError(f"expected a flax.linen.Module, got {type(module).__name__}.")

    def mode(train: bool) -> dict:
        if train_kwarg is None:
            return {}
        return {train_kwarg: (not train) if train_kwarg == "deterministic" else train}

    sample = jax.tree.map(lambda a: jnp.zeros(jnp.shape(a), a.dtype), sample_input)

    def init_all(key: jax.Array):
        rngs = {"params": key, **{c: key for c in rng_collections}}
        return module.init(rngs, sample, **mode(False))

    collections = set(jax.eval_shape(init_all, jax.random.key(0)))
    if collections - {"params"}:
        raise ValueError(
            f"{type(module).__name__} has variable collections {sorted(collections)}; "
            "dalib.train trains the 'params' collection only (no batch statistics: use "
            "LayerNorm or GroupNorm)."
        )

    def init(key: jax.Array) -> Params:
        return dict(init_all(key).get("params", {}))

    def apply(params: Params, x: Any, *, train: bool = False, rng: jax.Array | None = None):
        rngs = None
        if train and rng is not None:
            rngs = {c: jax.random.fold_in(rng, i) for i, c in enumerate(rng_collections)}
        return module.apply({"params": params}, x, rngs=rngs, **mode(train))

    return Network(init=init, apply=apply, kind="linen")


# ---------------------------------------------------------------------- function


def from_function(
    apply: Callable[[Params, Any], jax.Array],
    *,
    params: Params | None = None,
    init: Callable[[jax.Array], Params] | None = None,
) -> Network:
    """Wraps a plain ``apply(params, x) -> y`` as a :class:`Network`.

    Give either fixed ``params`` or an ``init(key) -> params`` (needed for a
    different initialisation per seed). The function has no training mode and
    no randomness.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = from_function(lambda p, x: jnp.tanh(x @ p["w"]), params={"w": jnp.eye(2)})
      >>> net.apply(net.init(jax.random.key(0)), jnp.zeros((3, 2)), train=True, rng=None)
      Array([[0., 0.],
             [0., 0.],
             [0., 0.]], dtype=float32)
    """
    if (params is None) == (init is None):
        raise ValueError("from_function needs exactly one of `params=` or `init=`.")
    if not callable(apply):
        raise TypeError(f"`apply` must be callable, got {apply!r}.")
    if init is None:
        fixed = params

        def init(key: jax.Array) -> Params:
            return jax.tree.map(jnp.asarray, fixed)

    def wrapped(p: Params, x: Any, *, train: bool = False, rng: jax.Array | None = None):
        return apply(p, x)

    return Network(init=init, apply=wrapped, kind="function")


def as_network(obj: Any, *, sample_input: Any = None, name: str = "network") -> Network:
    """Normalises anything a user may pass as a network.

    * a :class:`Network` — returned as is;
    * an ``nnx.Module`` — :func:`from_nnx`;
    * a Linen module — :func:`from_linen` on ``sample_input``;
    * a pair ``(apply, params)`` or ``(apply, init)`` — :func:`from_function`.

    For an NNX constructor ``rngs -> module`` (a different init per seed) call
    :func:`from_nnx` yourself: a bare callable is ambiguous.

    Raises:
      TypeError: for anything else, naming ``name``.
    """
    if isinstance(obj, Network):
        return obj
    if isinstance(obj, nnx.Module):
        return from_nnx(obj)
    if isinstance(obj, linen.Module):
        if sample_input is None:
            raise ValueError(f"`{name}` is a Linen module: a sample input is needed to init it.")
        return from_linen(obj, sample_input)
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[0]):
        fn, second = obj
        if callable(second):
            return from_function(fn, init=second)
        return from_function(fn, params=second)
    raise TypeError(
        f"`{name}` must be a dalib.train.Network, an nnx.Module, a flax.linen.Module or a "
        f"pair (apply, params); got {type(obj).__name__}. Wrap an NNX constructor "
        "with dalib.train.from_nnx."
    )
