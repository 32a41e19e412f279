"""Compute accounting: GPU-hours per lease or job -> FLOP, summed per actor cluster.

FLOP = GPU-hours x 3600 x dense FP16/BF16 peak (from the GPU catalog) x utilisation.  The
utilisation is an assumption, stated in every result (default 0.4, a typical model-FLOP
utilisation of large training runs).  Totals are compared with the policy thresholds 10^24,
10^25 (EU AI Act Art. 51 systemic-risk presumption) and 10^26 (EO 14110 reporting, AI Diffusion
rule 4E091) operations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from connectors import ids
from graphs.build import _rows

DEFAULT_UTILISATION = 0.4
THRESHOLDS = (1e24, 1e25, 1e26)
LEASE_COLUMNS = ("lease", "renter", "gpu", "gpu_hours", "ref")


def lease_flop(gpu_hours: float, fp16_dense_tflops: float, utilisation: float = DEFAULT_UTILISATION) -> float:
    """Operations delivered by ``gpu_hours`` of a GPU with the given dense peak, at ``utilisation``."""
    return float(gpu_hours) * 3600.0 * float(fp16_dense_tflops) * 1e12 * utilisation


@dataclass
class ComputeTotal:
    """One actor's (cluster's) compute: FLOP, GPU-hours per GPU model, leases and their facts."""

    actor: str
    flop: float = 0.0
    gpu_hours: dict[str, float] = field(default_factory=dict)
    leases: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    per_member: dict[str, float] = field(default_factory=dict)
    unknown_gpus: set[str] = field(default_factory=set)
    utilisation: float = DEFAULT_UTILISATION

    @property
    def crossed(self) -> list[float]:
        """The thresholds this total reaches."""
        return [t for t in THRESHOLDS if self.flop >= t]


def cluster_compute(leases: object, peak_tflops: Mapping[str, float],
                    actor_of: Callable[[str], str] | Mapping[str, str] | None = None,
                    utilisation: float = DEFAULT_UTILISATION) -> dict[str, ComputeTotal]:
    """Sum FLOP per actor from lease rows (lease, renter, gpu id, gpu_hours, fact id).

    ``actor_of`` maps a renter to its cluster (default: each renter is its own actor); GPUs missing
    from ``peak_tflops`` count GPU-hours but no FLOP, and are listed in ``unknown_gpus``.
    """
    if actor_of is None:
        resolve: Callable[[str], str] = lambda r: r  # noqa: E731
    elif isinstance(actor_of, Mapping):
        m = actor_of
        resolve = lambda r: m.get(r, r)  # noqa: E731
    else:
        resolve = actor_of
    out: dict[str, ComputeTotal] = {}
    member_flop: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for lease, renter, gpu, hours, ref in _rows(leases, LEASE_COLUMNS):
        if not renter or hours is None:
            continue
        actor = resolve(str(renter))
        tot = out.get(actor)
        if tot is None:
            tot = out[actor] = ComputeTotal(actor, utilisation=utilisation)
        g = ids.gpu_catalog_id(str(gpu or ""))
        tot.gpu_hours[g] = tot.gpu_hours.get(g, 0.0) + float(hours)
        tot.leases.append(str(lease))
        if ref:
            tot.refs.append(str(ref))
        peak = peak_tflops.get(g)
        if peak is None:
            tot.unknown_gpus.add(g)
            continue
        f = lease_flop(float(hours), peak, utilisation)
        tot.flop += f
        member_flop[actor][str(renter)] += f
    for actor, per in member_flop.items():
        out[actor].per_member = dict(per)
    return out


@dataclass(frozen=True)
class Rental:
    """One rental of GPUs by a wallet, as concurrency needs it: when, how many, which GPU, which facts.

    ``start``/``end`` are epoch seconds or None (unknown: counted in GPU-hours, not in concurrency);
    ``estimated`` marks rentals inferred from payments (a Golem requestor paying a provider's payee:
    the provider's offered GPUs, an upper bound, taken as in use since the requestor's previous
    payment to that payee, else over a default period before the payment; see
    ``tracer.scoring.run._payee_rentals``)."""

    lease: str
    renter: str
    gpu: str
    units: int
    start: int | None
    end: int | None
    gpu_hours: float
    refs: tuple[str, ...]
    provider: str | None = None
    estimated: bool = False


@dataclass
class Peak:
    """The most GPUs in use at once: summed weight, GPU count, when, and the facts active then."""

    value: float = 0.0
    units: int = 0
    at: int | None = None
    refs: list[str] = field(default_factory=list)
    by_gpu: dict[str, int] = field(default_factory=dict)


def peak_concurrent(intervals: object) -> Peak:
    """Peak of the summed ``units x weight`` over overlapping half-open intervals [start, end).

    Rows: (start, end, units, weight, ref[, gpu]); rows with an unknown start or end are skipped.
    A sweep over the sorted boundaries (ends before starts at the same instant): O(n log n).
    """
    events: list[tuple[int, int, int]] = []
    rows: list[tuple[int, float, str, str]] = []
    for r in _rows(intervals, ("start", "end", "units", "weight", "ref", "gpu")):
        start, end, units, weight, ref, gpu = r
        if start is None or end is None or end <= start or not units:
            continue
        i = len(rows)
        rows.append((int(units), float(weight if weight is not None else 1.0), str(ref), str(gpu or "")))
        events.append((int(start), 1, i))
        events.append((int(end), 0, i))
    events.sort()
    top, at = 0.0, None
    value = 0.0
    for t, is_start, i in events:
        value += rows[i][0] * rows[i][1] if is_start else -rows[i][0] * rows[i][1]
        if is_start and value > top + 1e-9:
            top, at = value, t
    if at is None:
        return Peak()
    # The intervals active at the peak instant (second pass: linear, whatever the peak's size).
    ends: dict[int, int] = {i: t for t, is_start, i in events if not is_start}
    active = [i for t, is_start, i in events if is_start and t <= at < ends[i]]
    by: dict[str, int] = {}
    for i in active:
        by[rows[i][3]] = by.get(rows[i][3], 0) + rows[i][0]
    return Peak(top, sum(rows[i][0] for i in active), at, sorted(rows[i][2] for i in active), by)
