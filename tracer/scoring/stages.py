"""The graph-wide stages of scoring behind one interface, so an engine can replace them one at a time.

``context_from_rows`` (:mod:`tracer.scoring.run`) calls a :class:`Stages` object for the stages whose
cost grows with the whole payment graph: dust limits, hubs, clustering of links into actors, exposure
propagation and compute per actor.  :class:`NetworkxStages` is the embedded default (in memory, on
:class:`graphs.build.TracerGraph`); :class:`tracer.scoring.spark_engine.SparkStages` runs the same
stages as Spark DataFrame jobs and must give the same answers (tests/test_spark_engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from graphs.build import TracerGraph
from graphs.clusters import Clusters, Hub, Link, all_links, cluster_links, find_hubs
from graphs.compute import ComputeTotal, cluster_compute
from graphs.dust import dust_limits, priced_assets
from graphs.exposure import ExposureResult, exposure
from tracer.scoring.rules import Params

# (lease, renter, gpu id, gpu-hours, fact id): graphs.compute.LEASE_COLUMNS
LeaseRow = tuple[str, str, str, float, str]


class Stages(Protocol):
    """The graph-wide stages; every method's answer must equal :class:`NetworkxStages`'."""

    name: str

    def dust(self, tg: TracerGraph, p: Params, symbols: Mapping[str, str]) -> dict[str, int]: ...

    def priced(self, tg: TracerGraph, p: Params, symbols: Mapping[str, str]) -> set[str]: ...

    def hubs(self, tg: TracerGraph, tags: list[tuple[str, str, str, str]], listed: Mapping[str, Any],
             dust: Mapping[str, int], p: Params) -> dict[int, Hub]: ...

    def links(self, tg: TracerGraph, hubs: Mapping[int, Hub], deployment_rows: list[dict[str, Any]],
              controlled: frozenset[str], p: Params) -> list[Link]: ...

    def clusters(self, links: list[Link], threshold: float) -> Clusters: ...

    def exposure(self, tg: TracerGraph, listed: Iterable[str], hubs: Mapping[int, Hub], dust: Mapping[str, int],
                 priced: set[str], p: Params) -> ExposureResult: ...

    def compute(self, lease_rows: list[LeaseRow], peaks: Mapping[str, float], clusters: Clusters,
                utilisation: float) -> dict[str, ComputeTotal]: ...


def hub_params(p: Params) -> dict[str, Any]:
    """The behavioural-hub keyword arguments of :func:`graphs.clusters.find_hubs` from ``[scoring]``."""
    return dict(min_counterparties=p.hub_min_counterparties, median_factor=p.hub_median_factor,
                min_deposits=p.hub_min_deposits, deposit_max_senders=p.hub_deposit_max_senders,
                forward_share=p.hub_forward_share, max_star=p.max_star,
                distributor_min_days=p.hub_distributor_min_days)


class NetworkxStages:
    """The embedded default: every stage in memory on the networkx graph."""

    name = "networkx"

    def dust(self, tg: TracerGraph, p: Params, symbols: Mapping[str, str]) -> dict[str, int]:
        return dust_limits(tg, p.dust_min_value, p.dust_median_share, p.dust_min_transfers, symbols)

    def priced(self, tg: TracerGraph, p: Params, symbols: Mapping[str, str]) -> set[str]:
        return priced_assets(tg, p.dust_min_value, symbols)

    def hubs(self, tg: TracerGraph, tags: list[tuple[str, str, str, str]], listed: Mapping[str, Any],
             dust: Mapping[str, int], p: Params) -> dict[int, Hub]:
        return find_hubs(tg, tags, p.hub_degree, behaviour=p.hub_behaviour, never=listed, dust=dust,
                         **hub_params(p))

    def links(self, tg: TracerGraph, hubs: Mapping[int, Hub], deployment_rows: list[dict[str, Any]],
              controlled: frozenset[str], p: Params) -> list[Link]:
        """Every clustering heuristic's links, in :func:`graphs.clusters.all_links` order."""
        return all_links(tg, hubs, deployment_rows, p.funding_window_days * 86400, max_star=p.max_star,
                         controlled=controlled, sync_window_s=p.sync_window_minutes * 60,
                         sync_min_group=p.sync_min_group, sync_alpha=p.sync_alpha, fresh_s=p.fresh_days * 86400,
                         manifest_window_s=int(p.manifest_window_days * 86400),
                         payroll_min_payments=p.payroll_min_payments)

    def clusters(self, links: list[Link], threshold: float) -> Clusters:
        return cluster_links(links, threshold)

    def exposure(self, tg: TracerGraph, listed: Iterable[str], hubs: Mapping[int, Hub], dust: Mapping[str, int],
                 priced: set[str], p: Params) -> ExposureResult:
        return exposure(tg, list(listed), hubs, p.hops, p.exposure_min_share, dust, priced, p.exposure_held_factor)

    def compute(self, lease_rows: list[LeaseRow], peaks: Mapping[str, float], clusters: Clusters,
                utilisation: float) -> dict[str, ComputeTotal]:
        """Per actor: a renter's cluster, else the renter alone."""
        return cluster_compute(lease_rows, peaks, lambda r: clusters.cluster(r) or r, utilisation)
