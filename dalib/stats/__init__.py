"""Statistics about domain shift: A-distance, two-sample tests, power."""

from dalib.stats._a_distance import proxy_a_distance  # noqa: F401
from dalib.stats._mmd_test import (  # noqa: F401
    mmd_test,
    mmd_test_power,
    required_sample_size,
)
