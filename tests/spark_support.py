"""One Spark session for the whole test run (a JVM takes ~10 s to start here): the ``spark`` fixture.

No pyspark or no Java: the Spark tests skip with the reason, except in CI (``CI=true``), where that is
a failure (``make setup-spark`` installs both).  local[2]: this machine has two cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from graphs.spark.frames import SparkUnavailable, session


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The shared local Spark session (stopped at the end of the run)."""
    try:
        s = session("local[2]", {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"},
                    app="tracer-tests")
    except SparkUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the Spark engine cannot start: {e}")
        pytest.skip(str(e))
    yield s
    s.stop()
