"""graphs.compute: GPU-hours -> FLOP with the stated utilisation, summed per actor cluster."""

from __future__ import annotations

import pytest

from graphs.compute import cluster_compute, lease_flop
from tracer.catalog import load_catalog

PEAKS = {g.id: g.fp16_dense_tflops for g in load_catalog().gpus.values()}


def test_h100_hours_to_1e25_matches_domain_estimate() -> None:
    # DOMAIN.md 4.2: 10^25 FLOP ~ 7.0 M H100-hours at 989 TFLOPS dense and 0.4 utilisation.
    hours = 1e25 / lease_flop(1, PEAKS["h100-sxm"], 0.4)
    assert hours == pytest.approx(7.02e6, rel=0.01)


def test_cluster_sum_and_thresholds() -> None:
    leases = [(f"lease:{i}", f"wallet:evm:s{i}", "h100-sxm", 90_000, f"obs{i}") for i in range(8)]
    leases.append(("lease:x", "wallet:evm:other", "rtx-4080", 100, "obsx"))
    leases.append(("lease:y", "wallet:evm:other", "unknown-gpu", 5, "obsy"))
    cluster = {f"wallet:evm:s{i}": "cluster:1" for i in range(8)}
    out = cluster_compute(leases, PEAKS, cluster, 0.4)
    c = out["cluster:1"]
    assert c.flop == pytest.approx(8 * 90_000 * 3600 * 989e12 * 0.4)
    assert c.crossed == [1e24] and all(v < 1e24 for v in c.per_member.values()) and len(c.per_member) == 8
    assert c.gpu_hours == {"h100-sxm": 720_000} and c.utilisation == 0.4 and len(c.refs) == 8
    other = out["wallet:evm:other"]
    assert other.unknown_gpus == {"unknown-gpu"} and other.crossed == []
    assert cluster_compute(leases, PEAKS, cluster, 0.8)["cluster:1"].flop == pytest.approx(2 * c.flop)
