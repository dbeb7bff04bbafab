"""Hypothesis profiles: ``ci`` is fixed and derandomized, ``dev`` explores more.

The profile comes from ``HYPOTHESIS_PROFILE``; without it, ``ci`` when the
``CI`` variable is set (as ``.ci/run`` sets it) and ``dev`` otherwise.

The ``redis_url`` and ``redis_client`` fixtures (a real redis-server) come from
``tests/servers.py``; the ``redis_cluster_url`` and ``redis_cluster_client`` fixtures
(a real 3-primary Redis Cluster) from ``tests/cluster.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["servers", "cluster"]

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=300,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "soak: the kill soak at a small size (bench/soak.py; deselect with -m 'not soak')",
    )
