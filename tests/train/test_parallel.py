"""Data-parallel training on 8 simulated CPU devices equals training on one device.

The device count must be fixed before JAX initialises, so the check runs in a
subprocess with ``--xla_force_host_platform_device_count=8``.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, jax.numpy as jnp, numpy as np, optax
    from flax import nnx
    from dalib import kernels, losses, train as T
    from dalib.nn import DomainDiscriminator, MLPEncoder

    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    data = T.Batch(rng.normal(size=(64, 5)).astype(np.float32), rng.integers(0, 3, 64),
                   (rng.normal(size=(48, 5)) + 0.5).astype(np.float32))
    example = T.sample_batch(data, jax.random.key(0), batch_size=(16, 24))
    trainer = T.make_trainer(
        encoder=T.from_nnx(lambda r: MLPEncoder(5, (16,), dropout=0.3, rngs=r)),
        classifier=T.from_nnx(lambda r: nnx.Linear(16, 3, rngs=r)),
        optimizer=optax.adam(1e-2), example_batch=example,
        terms=[T.MMD(kernel=kernels.Gaussian(bandwidth=2.0)),
               T.DomainAdversarial(network=T.from_nnx(
                   lambda r: DomainDiscriminator(16, hidden=(8,), dropout=0.0, rngs=r)))])
    dp = T.data_parallel(trainer)
    key = jax.random.key(1)
    single = jax.jit(trainer.step)
    s1, s8 = trainer.init(key), dp.init(key)
    out = {"loss_1": [], "loss_8": [], "mmd_1": [], "mmd_8": []}
    for t in range(3):
        batch = T.sample_batch(data, jax.random.fold_in(key, t), batch_size=(16, 24))
        sharded = dp.shard(batch)
        out["batch_shards"] = len(sharded.source_inputs.addressable_shards)
        s1, m1 = single(s1, batch, key)
        s8, m8 = dp.step(s8, sharded, key)
        for k, m in (("1", m1), ("8", m8)):
            out["loss_" + k].append(float(m["loss"]))
            out["mmd_" + k].append(float(m["mmd/value"]))
    out["param_diff"] = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                            for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8)))
    out["replicated"] = all(a.sharding.is_fully_replicated for a in jax.tree.leaves(s8.params))
    # What per-device MMDs (no gathering) would have given: the mean over the 8 shards.
    f, _ = trainer.forward(s1.params, jnp.concatenate([batch.source_inputs, batch.target_inputs]))
    fs, ft = f[:16], f[16:]
    k = kernels.Gaussian(bandwidth=2.0)
    out["mmd_full"] = float(losses.mmd(fs, ft, kernel=k))
    out["mmd_per_shard"] = float(np.mean([losses.mmd(fs[2*i:2*i+2], ft[3*i:3*i+3], kernel=k)
                                          for i in range(8)]))
    try:
        dp.shard(T.Batch(batch.source_inputs[:12], batch.source_labels[:12],
                         batch.target_inputs))
    except ValueError as err:
        out["shard_error"] = str(err)
    print("RESULT" + json.dumps(out))
    """
)


def test_sharded_equals_single_device():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    out = json.loads(line[len("RESULT") :])
    assert out["batch_shards"] == 8
    assert out["replicated"]
    np.testing.assert_allclose(out["loss_8"], out["loss_1"], rtol=1e-5)
    np.testing.assert_allclose(out["mmd_8"], out["mmd_1"], rtol=1e-5)
    assert out["param_diff"] < 1e-5
    # The alignment loss saw the gathered batch, not per-device pieces.
    assert abs(out["mmd_full"] - out["mmd_per_shard"]) > 1e-2
    assert "multiple of the 8 local devices" in out["shard_error"]


_WORKER = textwrap.dedent(
    """
    import json, os, sys
    pid, nproc, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if nproc > 1:
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np, optax
    from flax import nnx
    from dalib import kernels, train as T
    from dalib.nn import MLPEncoder

    if nproc > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                                   num_processes=nproc, process_id=pid)
    rng = np.random.default_rng(0)
    data = T.Batch(rng.normal(size=(64, 5)).astype(np.float32),
                   rng.integers(0, 3, 64).astype(np.int32),
                   (rng.normal(size=(48, 5)) + 0.5).astype(np.float32))
    example = T.sample_batch(data, jax.random.key(0), batch_size=(16, 24))
    trainer = T.make_trainer(
        encoder=T.from_nnx(lambda r: MLPEncoder(5, (16,), rngs=r)),
        classifier=T.from_nnx(lambda r: nnx.Linear(16, 3, rngs=r)),
        optimizer=optax.adam(1e-2), example_batch=example,
        terms=[T.MMD(kernel=kernels.Gaussian(bandwidth=2.0))])
    key = jax.random.key(1)
    dp = T.data_parallel(trainer)
    state, losses = dp.init(key), []
    for t in range(3):
        batch = T.sample_batch(data, jax.random.fold_in(key, t), batch_size=(16, 24))
        # Each process feeds its own rows of the global batch.
        local = T.Batch(*(np.asarray(a)[pid * len(a) // nproc:(pid + 1) * len(a) // nproc]
                          for a in batch))
        state, m = dp.step(state, dp.shard(local), key)
        losses.append(float(m["loss"]))
    print("RESULT" + json.dumps([jax.process_count(), jax.device_count(), losses]), flush=True)
    if nproc > 1:
        jax.distributed.shutdown()
    """
)


@pytest.mark.slow
def test_two_processes_equal_one():
    """jax.distributed on localhost: 2 processes x 4 CPU devices, as documented for multi-host."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)

    def start(pid, nproc):
        return subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(pid), str(nproc), port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    procs = [start(0, 2), start(1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    single = start(0, 1).communicate(timeout=600)
    results = []
    for out, err in [*outs, single]:
        line = [x for x in out.splitlines() if x.startswith("RESULT")]
        assert line, err[-3000:]
        results.append(json.loads(line[0][len("RESULT") :]))
    assert results[0][:2] == [2, 8] and results[1][:2] == [2, 8]
    np.testing.assert_allclose(results[0][2], results[2][2], rtol=1e-5)
    np.testing.assert_allclose(results[1][2], results[2][2], rtol=1e-5)
