"""The derived tables (``flags``, ``evidence``, the stored actor clusters) and the reads scoring needs.

The tables are declared here as data; every statement is a named method of the store
(``tracer.store.reads.Reads``), so both backends serve scoring unchanged.  What stays here is what
scoring makes of the rows: JSON decoding, owner wallets of deployments, block-clock sampling.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connectors import facts, ids
from connectors.base import Column, Table

if TYPE_CHECKING:
    from graphs.clusters import Clusters
    from tracer.store import StoreBackend
    from tracer.store.reads import Reads

#: Clusters as plain rows: ({cluster, member} in each cluster's member order, {cluster, seq, a, b,
#: heuristic, strength, detail, refs} in each cluster's link order).
ClusterRows = tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]]

FLAGS = Table(
    "flags",
    (Column("subject"), Column("score", "REAL"), Column("level"), Column("rules_version"),
     Column("computed_at"), Column("reasons"), Column("cluster"), Column("first_seen"), Column("last_seen")),
    pk=("subject",),
    keep_first_seen=("first_seen",),
    indexes=(("level",), ("score",)),
)
EVIDENCE = Table(
    "evidence",
    (Column("id"), Column("subject"), Column("rule"), Column("score", "REAL"), Column("detail"),
     Column("refs"), Column("path"), Column("rules_version"), Column("computed_at")),
    pk=("id",),
    indexes=(("subject",), ("rule",)),
)
OBS_PREDICATES = ("sanctioned", "listed", "tag", "location", "name_match", "gpu_hours", "role", "organization",
                  "block_time")


# ---- reads for scoring ----------------------------------------------------------------------------
def iter_edges(store: Reads) -> Iterator[tuple[Any, ...]]:
    """Edge rows in graphs.build.EDGE_COLUMNS order; attrs only where the graph needs them.

    ``chain`` and ``block`` let the graph builder anchor its block clock on the rows that carry a
    time and place the ones that carry only a height (no separate pass over the table).
    """
    return store.scoring_edges()


def block_anchors(store: Reads, chains: Sequence[str], blocks: Sequence[int] = (),
                  per_chain: int = 64) -> list[tuple[str, int, int]]:
    """(chain, block, epoch) anchors of the block clock, sampled, for ``chains`` only.

    From stored edges that carry both a block and a time (transfers found by tx search, EVM logs)
    and from ``block_time`` observations (head height and time a connector measured).  Every read
    walks the ``(kind, chain, block)`` index: with ``blocks`` (the heights to be placed, at most 256
    used) the nearest timed edge at or below and at or above each; without, ``per_chain`` timed edges
    spread over the chain's height range.  A 1M-edge store costs a few hundred index probes.
    """
    from graphs.build import to_epoch

    out: list[tuple[str, int, int]] = []
    if not chains:
        return out
    kinds = store.edge_kinds()
    for chain in chains:
        for raw in store.block_time_attrs(f"chain:{chain}"):
            at = json.loads(raw or "{}")
            t = to_epoch(at.get("head_time"))
            if at.get("head") is not None and t:
                out.append((chain, int(at["head"]), t))
        for kind in kinds:
            if not store.has_timed_edges(kind, chain):
                continue  # this kind never carries a time on this chain
            if blocks:
                targets = sorted(set(int(b) for b in blocks))[:256]
            else:
                lo, hi = store.block_range(kind, chain)
                n = max(2, per_chain)
                targets = sorted({lo + (hi - lo) * i // (n - 1) for i in range(n)})
            seen: set[int] = set()
            for b in targets:
                for above in (True, False):
                    for r in store.nearest_timed_edge(kind, chain, b, above):
                        t = to_epoch(r["time"])
                        if r["block"] not in seen and t:
                            seen.add(r["block"])
                            out.append((chain, int(r["block"]), t))
    return out


def block_clock_inputs(store: Reads, chains: Sequence[str]) -> list[dict[str, Any]]:
    """``block_time`` observations of ``chains`` (head, head_time, seconds_per_block in attrs)."""
    if not chains:
        return []
    return store.block_time_observations([f"chain:{c}" for c in chains])


def observations(store: Reads, now: str) -> list[dict[str, Any]]:
    """Observations scoring reads, still valid at ``now`` (delisted ones have valid_to <= now)."""
    return store.observations_for_scoring(OBS_PREDICATES, now)


def deployments(store: Reads) -> list[dict[str, Any]]:
    """Deployment entities with their manifest hash (:class:`connectors.facts.DeploymentAttrs`) and owner
    wallet (from the parsed id: ``deployment:<chain>:<owner>/<dseq>``)."""
    out = []
    for r in store.deployment_entities():
        n = ids.try_parse(r["id"])
        out.append({"id": r["id"], "owner": (n.owner_wallet if n is not None else None) or "",
                    "hash": facts.manifest_hash(json.loads(r["attrs"] or "{}"))})
    return out


def token_symbols(store: Reads) -> dict[str, str]:
    """Token id -> symbol from the token entities the EVM connector writes (label = ``symbol()``)."""
    return store.token_labels()


# ---- writes -----------------------------------------------------------------------------------------
def cluster_rows(clusters: Clusters | ClusterRows, subjects: Collection[str]) -> tuple[list[dict[str, Any]],
                                                                                      list[dict[str, Any]]]:
    """The store's rows (members, links) of the clusters that hold one of ``subjects`` (the flagged).

    ``clusters``: scoring's :class:`graphs.clusters.Clusters`, or :data:`ClusterRows` (refs as a list
    or JSON text).  Other clusters are left out so the stored tables grow with the flags, not with
    the graph; members and links keep their order, links numbered from 0 within each cluster."""
    if isinstance(clusters, tuple):
        given_members, given_links = clusters
        keep = {str(m["cluster"]) for m in given_members if m["member"] in subjects}
        members = [{"cluster": str(m["cluster"]), "member": str(m["member"])} for m in given_members
                   if m["cluster"] in keep]
        links = [{**{c: lk.get(c) for c in ("cluster", "seq", "a", "b", "heuristic", "strength", "detail")},
                  "refs": lk["refs"] if isinstance(lk.get("refs"), str) else json.dumps(list(lk.get("refs") or ()))}
                 for lk in given_links if lk["cluster"] in keep]
        return members, links
    cids = sorted({cid for s in subjects if (cid := clusters.of.get(s)) is not None})
    members = [{"cluster": cid, "member": m} for cid in cids for m in clusters.members[cid]]
    links = [{"cluster": cid, "seq": i, "a": lk.a, "b": lk.b, "heuristic": lk.heuristic, "strength": lk.strength,
              "detail": lk.detail, "refs": json.dumps(list(lk.refs))}
             for cid in cids for i, lk in enumerate(clusters.links.get(cid, ()))]
    return members, links


def write_results(store: StoreBackend, flags: Sequence[dict[str, Any]], evidence: Sequence[dict[str, Any]],
                  computed_at: str | None = None, clusters: Clusters | ClusterRows | None = None) -> dict[str, Any]:
    """Replace the derived tables with this run's results in ONE transaction, and log what changed.

    Flags keep ``first_seen`` across runs; subjects no longer flagged are removed, so delisting a
    wallet removes the flags that depended on it at the next ``tracer score``.  The same transaction
    appends the run to ``scoring_runs`` and every flag that is new, left or moved level to
    ``flag_changes`` (``tracer changes``), and replaces the stored actor clusters with ``clusters``'
    that hold a flagged subject (:func:`cluster_rows`; None: none stored, so ``tracer cluster`` never
    shows a previous run's).  ``computed_at``: the run's time (default the flags', else the
    evidence's, else now; a run that flags nothing still needs one).  Returns the run's log row.
    """
    from tracer.scoring.combine import LEVELS, RULES_VERSION

    if computed_at is None:
        first = flags[0] if flags else evidence[0] if evidence else None
        if first is not None:
            computed_at = str(first["computed_at"])
        else:
            from tracer.config import now

            computed_at = now()
    store.ensure_tables([FLAGS, EVIDENCE])
    members, links = cluster_rows(clusters, {f["subject"] for f in flags}) if clusters is not None else ([], [])
    return store.replace_scoring_results(
        [{"subject": f["subject"], "score": f["score"], "level": f["level"], "rules_version": f["rules_version"],
          "computed_at": f["computed_at"], "reasons": json.dumps(f["reasons"]), "cluster": f.get("cluster"),
          "first_seen": f["computed_at"], "last_seen": f["computed_at"]} for f in flags],
        [{"id": e["id"], "subject": e["subject"], "rule": e["rule"], "score": e["score"], "detail": e["detail"],
          "refs": json.dumps(e["refs"]), "path": json.dumps(e["path"]), "rules_version": e["rules_version"],
          "computed_at": e["computed_at"]} for e in evidence],
        computed_at=computed_at, rules_version=flags[0]["rules_version"] if flags else RULES_VERSION,
        levels=[name for name, _ in LEVELS], cluster_members=members, cluster_links=links)


# ---- reads for users ------------------------------------------------------------------------------
def read_flags(store: Reads, limit: int | None = None, min_score: float = 0.0) -> list[dict[str, Any]]:
    """Stored flags, strongest first, reasons decoded ([] before the first scoring run)."""
    rows = store.flag_rows(min_score, limit)
    for r in rows:
        r["reasons"] = json.loads(r["reasons"] or "[]")
    return rows


def read_flag(store: Reads, subject: str) -> dict[str, Any] | None:
    """One subject's flag (None when it is not flagged)."""
    row = store.flag_of(subject)
    if row is None:
        return None
    row["reasons"] = json.loads(row["reasons"] or "[]")
    return row


def read_evidence(store: Reads, subject: str | None = None, evidence_id: str | None = None) -> list[dict[str, Any]]:
    """Evidence rows (one by id, or a subject's), refs and path decoded, provenance columns dropped."""
    rows = store.evidence_rows(subject, evidence_id)
    for r in rows:
        r["refs"] = json.loads(r["refs"] or "[]")
        r["path"] = json.loads(r["path"] or "[]")
        r.pop("raw_sha256", None)
        r.pop("run_id", None)
    return rows


def fact(store: Reads, ref: str) -> dict[str, Any] | None:
    """A stored fact by id (edge, observation or entity) with its raw-payload provenance."""
    out = store.fact_with_provenance(ref)
    if out is not None and out["table"] == "edges" and not out.get("time") and out.get("block") is not None \
            and out.get("chain"):
        out.update(estimated_time(store, out["chain"], int(out["block"])))
    return out


def estimated_time(store: Reads, chain: str, block: int) -> dict[str, Any]:
    """``time_estimated`` (RFC 3339) and ``time_note`` for a fact stored with a height and no time."""
    from graphs.timeline import BlockClock, iso

    clock = BlockClock(block_anchors(store, [chain], [block]))
    for o in block_clock_inputs(store, [chain]):
        clock.add_observation(o["subject"], o["value"], o["attrs"])
    est = clock.estimate(chain, block)
    if est is None:
        return {"time_estimated": None, "time_note": f"time unknown: no block-time anchors for {chain}"}
    return {"time_estimated": iso(est), "time_note": clock.note(chain, block)}


def fact_exists(store: Reads, ref: str) -> bool:
    """Whether ``ref`` is a stored edge, observation or entity id."""
    return store.fact_exists(ref)


def has_other_sources(store: Reads, source: str) -> bool:
    """True when the core tables hold rows from any source other than ``source`` (synced data)."""
    return store.has_rows_from_other_sources(source)
