"""Data-parallel training over several devices with ``jax.sharding``.

Parameters and optimizer states are replicated; every batch is split along
its sample axis over a one-axis device mesh (``NamedSharding(mesh, P("data"))``).
The encoder and classifier run on each device's shard; the features and logits
are then constrained to be replicated, so every alignment term (MMD's Gram
matrix, the discriminator's batch) sees the *whole* global batch, exactly as on
one device. Gradients are reduced across devices by XLA.

The same code runs on several hosts once each process has called
``jax.distributed.initialize()`` (see ``docs/training.md``): the mesh spans all
processes' devices and each process feeds its own rows of the batch.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dalib.train._batch import Batch, check_batch
from dalib.train._trainer import Trainer, TrainState

__all__ = ["DataParallel", "data_mesh", "data_parallel"]


def data_mesh(devices: Sequence[jax.Device] | None = None, *, axis: str = "data") -> Mesh:
    """A one-axis mesh over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (axis,))


@dataclasses.dataclass(frozen=True, eq=False)
class DataParallel:
    """A trainer bound to a mesh; create it with :func:`data_parallel`.

    Attributes:
      trainer: the trainer, with its features gathered over the mesh.
      mesh: the device mesh.
      axis: the mesh axis the batch is split over.
    """

    trainer: Trainer
    mesh: Mesh
    axis: str

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec())

    @property
    def batch_sharding(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec(self.axis))

    def init(self, key: jax.Array) -> TrainState:
        """The initial state, replicated on every device of the mesh."""
        return jax.jit(self.trainer.init, out_shardings=self.replicated)(key)

    def shard(self, batch: Batch) -> Batch:
        """Places a batch on the mesh, split along the sample axis.

        In a multi-process run each process passes *its own* rows (the global
        batch is their concatenation in process order). Each domain's global row
        count must divide by the number of devices on the axis.
        """
        check_batch(batch)
        local = len(self.mesh.local_devices)
        for name, x in zip(batch._fields, batch, strict=True):
            rows = np.shape(x)[0]
            if rows % local:
                raise ValueError(
                    f"`batch.{name}` has {rows} rows per process, not a multiple of the "
                    f"{local} local devices of mesh axis {self.axis!r}; choose a batch "
                    "size that divides."
                )
        return Batch(
            *(
                jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(x))
                for x in batch
            )
        )

    @functools.cached_property
    def step(self) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, dict]]:
        """``jit(trainer.step)`` with replicated state and key and a sharded batch."""
        return jax.jit(
            self.trainer.step,
            in_shardings=(self.replicated, self.batch_sharding, self.replicated),
            out_shardings=(self.replicated, self.replicated),
        )


def data_parallel(
    trainer: Trainer, mesh: Mesh | None = None, *, axis: str = "data"
) -> DataParallel:
    """Binds ``trainer`` to a device mesh for data-parallel training.

    Args:
      trainer: from :func:`make_trainer`.
      mesh: a mesh with axis ``axis``; default :func:`data_mesh` over all devices.
      axis: the mesh axis to split batches over.

    Returns:
      A :class:`DataParallel` with ``init(key)``, ``shard(batch)`` and ``step``.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from flax import nnx
      >>> from dalib import train
      >>> batch = train.Batch(jnp.ones((4, 3)), jnp.zeros(4, jnp.int32), jnp.ones((2, 3)))
      >>> trainer = train.make_trainer(
      ...     encoder=nnx.Linear(3, 4, rngs=nnx.Rngs(0)),
      ...     classifier=nnx.Linear(4, 2, rngs=nnx.Rngs(1)),
      ...     optimizer=optax.sgd(0.1), example_batch=batch, terms=[train.MMD()])
      >>> dp = train.data_parallel(trainer)
      >>> state, metrics = dp.step(dp.init(jax.random.key(0)), dp.shard(batch), jax.random.key(1))
      >>> int(state.step)
      1
    """
    mesh = data_mesh(axis=axis) if mesh is None else mesh
    if axis not in mesh.axis_names:
        raise ValueError(f"mesh has axes {mesh.axis_names}, not {axis!r}.")
    gathered = dataclasses.replace(trainer, feature_sharding=NamedSharding(mesh, PartitionSpec()))
    return DataParallel(trainer=gathered, mesh=mesh, axis=axis)
