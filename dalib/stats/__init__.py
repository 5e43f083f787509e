"""Statistics about domain shift: A-distance, two-sample tests, power."""

from dalib.stats._a_distance import proxy_a_distance
from dalib.stats._mmd_test import (
    mmd_test,
    mmd_test_power,
    required_sample_size,
)

__all__ = [
    "mmd_test",
    "mmd_test_power",
    "proxy_a_distance",
    "required_sample_size",
]
