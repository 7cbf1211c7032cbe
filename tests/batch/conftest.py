"""The local Ray of the Ray tests (2 CPUs, started once for the session) and their time limit."""

from __future__ import annotations

import signal
from typing import Any, Iterator

import pytest

#: Seconds one Ray test may take before it fails (they take 5-30 s each here): a hang fails, CI goes on.
TIME_LIMIT = 100


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'nst[cluster]' (scripts/install.sh "
                              "does)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def time_limit() -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a Ray test ran past {TIME_LIMIT} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
