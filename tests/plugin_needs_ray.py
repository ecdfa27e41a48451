"""A compute pool module whose engine is not installed (for the plugin registry tests)."""

import ray_missing  # noqa: F401  (the point: this import fails)
