"""Tests for dalib.ops: gradient reversal and schedules."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dalib.ops import dann_schedule, gradient_reversal, inverse_decay_schedule, linear_warmup


def _dann_reference(step, *, gamma, total_steps, high, low):
    p = min(max(step / total_steps, 0.0), 1.0)
    return low + (high - low) * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


# ----------------------------------------------------------------------------- GRL


def test_grl_forward_is_identity():
    x = jax.random.normal(jax.random.key(0), (3, 4))
    out = gradient_reversal(x, 0.7)
    np.testing.assert_array_equal(out, x)
    assert out.dtype == x.dtype


def test_grl_under_jit_with_traced_schedule_scale():
    schedule = dann_schedule(gamma=10.0, total_steps=50)
    x = jax.random.normal(jax.random.key(1), (5,))
    w = jax.random.normal(jax.random.key(2), (5,))

    @jax.jit
    def grads(x, step):
        scale = schedule(step)

        def loss(x, scale):
            return jnp.sum(w * gradient_reversal(x, scale))

        value = loss(x, scale)
        gx, gscale = jax.grad(loss, argnums=(0, 1))(x, scale)
        return value, gx, gscale, scale

    for step in (0, 7, 50, 80):
        value, gx, gscale, scale = grads(x, jnp.asarray(step))
        np.testing.assert_allclose(value, np.sum(np.asarray(w) * np.asarray(x)), rtol=1e-12)
        # Exactly -scale * g, computed the same way in the same dtype.
        np.testing.assert_array_equal(gx, -(scale * w))
        assert float(gscale) == 0.0
        assert float(scale) == pytest.approx(
            _dann_reference(step, gamma=10.0, total_steps=50, high=1.0, low=0.0), rel=1e-12
        )


def test_grl_scale_gradient_through_schedule_is_zero():
    schedule = dann_schedule(total_steps=10)

    def loss(step_float):
        return jnp.sum(gradient_reversal(jnp.arange(3.0), schedule(step_float)) ** 2)

    assert float(jax.grad(loss)(4.0)) == 0.0


def test_grl_pytree_and_integer_leaves():
    tree = {
        "a": jnp.array([1.0, -2.0]),
        "b": (jnp.ones((2, 2), jnp.float32), jnp.array(3.0)),
        "n": jnp.array([1, 2]),
    }
    out = gradient_reversal(tree, 2.0)
    assert jax.tree.structure(out) == jax.tree.structure(tree)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(tree), strict=True):
        np.testing.assert_array_equal(a, b)

    def loss(t):
        r = gradient_reversal(t, 2.0)
        return jnp.sum(r["a"] * 3.0) + jnp.sum(r["b"][0]) + r["b"][1] ** 2 + jnp.sum(r["n"])

    g = jax.grad(loss, allow_int=True)(tree)
    np.testing.assert_array_equal(g["a"], [-6.0, -6.0])
    np.testing.assert_array_equal(g["b"][0], -2.0 * np.ones((2, 2)))
    assert g["b"][0].dtype == jnp.float32
    assert float(g["b"][1]) == -12.0


@pytest.mark.parametrize("scale", [0, 1, 0.25])
def test_grl_integer_and_float_python_scales(scale):
    g = jax.grad(lambda x: jnp.sum(gradient_reversal(x, scale)))(jnp.ones(3))
    np.testing.assert_array_equal(g, -float(scale) * np.ones(3))


def test_grl_vmap_and_default_scale():
    x = jnp.arange(6.0).reshape(2, 3)
    out = jax.vmap(gradient_reversal)(x)
    np.testing.assert_array_equal(out, x)
    g = jax.grad(lambda x: jnp.sum(jax.vmap(gradient_reversal)(x)))(x)
    np.testing.assert_array_equal(g, -np.ones((2, 3)))


def test_grl_rejects_non_scalar_scale():
    with pytest.raises(ValueError, match=r"`scale` must be a scalar.*\(2,\)"):
        gradient_reversal(jnp.ones(2), jnp.ones(2))


# ----------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("gamma", "total_steps", "high", "low"),
    [(10.0, 100, 1.0, 0.0), (1.0, 1000, 0.1, 0.0), (5.0, 7, 2.0, 0.5)],
)
def test_dann_schedule_matches_formula(gamma, total_steps, high, low):
    schedule = dann_schedule(gamma=gamma, total_steps=total_steps, high=high, low=low)
    steps = [-3, 0, 1, total_steps // 3, total_steps - 1, total_steps, 2 * total_steps, 10**6]
    jitted = jax.jit(schedule)
    for step in steps:
        want = _dann_reference(step, gamma=gamma, total_steps=total_steps, high=high, low=low)
        assert float(schedule(step)) == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert float(jitted(jnp.asarray(step))) == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert float(schedule(0)) == low
    # Constant after total_steps.
    assert float(schedule(total_steps)) == float(schedule(5 * total_steps))


def test_dann_schedule_vmaps_over_steps():
    schedule = dann_schedule(total_steps=20)
    steps = jnp.arange(30)
    got = jax.vmap(schedule)(steps)
    want = [_dann_reference(int(s), gamma=10.0, total_steps=20, high=1.0, low=0.0) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(np.diff(np.asarray(got)) >= 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"total_steps": 0}, ValueError, "total_steps"),
        ({"total_steps": -5}, ValueError, "total_steps"),
        ({"total_steps": 10.5}, TypeError, "total_steps"),
        ({"total_steps": True}, TypeError, "total_steps"),
        ({"total_steps": 10, "gamma": 0.0}, ValueError, "gamma"),
        ({"total_steps": 10, "high": float("nan")}, ValueError, "high"),
        ({"total_steps": 10, "low": "a"}, TypeError, "low"),
    ],
)
def test_dann_schedule_validates(kwargs, error, match):
    with pytest.raises(error, match=match):
        dann_schedule(**kwargs)


def test_linear_warmup_values():
    schedule = linear_warmup(warmup_steps=10, high=2.0, low=1.0, delay_steps=5)
    for step in (0, 3, 5, 6, 10, 15, 40):
        want = 1.0 + 1.0 * min(max((step - 5) / 10, 0.0), 1.0)
        assert float(schedule(step)) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"warmup_steps": 0}, ValueError),
        ({"warmup_steps": 3, "delay_steps": -1}, ValueError),
        ({"warmup_steps": 3, "delay_steps": 1.5}, TypeError),
    ],
)
def test_linear_warmup_validates(kwargs, error):
    with pytest.raises(error, match="steps"):
        linear_warmup(**kwargs)


@pytest.mark.parametrize(("alpha", "beta"), [(10.0, 0.75), (0.0, 0.75), (1.0, 2.0)])
def test_inverse_decay_schedule_matches_formula(alpha, beta):
    schedule = inverse_decay_schedule(init_value=0.03, total_steps=200, alpha=alpha, beta=beta)
    for step in (0, 1, 50, 199, 200, 1000):
        p = min(step / 200, 1.0)
        want = 0.03 * (1.0 + alpha * p) ** (-beta)
        assert float(schedule(step)) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"init_value": 0.1, "total_steps": 0}, "total_steps"),
        ({"init_value": 0.1, "total_steps": 10, "alpha": -1.0}, "alpha"),
        ({"init_value": 0.1, "total_steps": 10, "beta": -0.5}, "beta"),
        ({"init_value": float("inf"), "total_steps": 10}, "init_value"),
    ],
)
def test_inverse_decay_schedule_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        inverse_decay_schedule(**kwargs)


def test_schedule_drives_optax_optimizer():
    schedule = inverse_decay_schedule(init_value=0.5, total_steps=4)
    opt = optax.sgd(learning_rate=schedule)
    params = jnp.array([1.0, -1.0])
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(lambda p: 0.5 * jnp.sum(p**2))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    want = np.array([1.0, -1.0])
    for i in range(3):
        params, state = step(params, state)
        want = want - 0.5 * (1 + 10 * i / 4) ** -0.75 * want
    np.testing.assert_allclose(params, want, rtol=1e-12)
