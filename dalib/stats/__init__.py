"""Statistics about domain shift: A-distance, two-sample tests, power."""
