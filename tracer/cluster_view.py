"""The actor-cluster view of a node: every member scoring linked to it, and the links as sentences.

Why apart from :mod:`tracer.queries`: the cluster answer reads scoring's stored clusters
(``cluster_members``, ``cluster_links``: schema 7) beside the connectors' ``same_actor`` links, and
words each link for a person; the other investigator queries walk edges only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphs import queries as gq
from tracer.queries import (
    MAX_NODES,
    SqlGraph,
    _chunks,
    check_int,
    describe,
    has_table,
    listings,
    node_names,
    require,
)

if TYPE_CHECKING:
    from tracer.store.reads import Reads


LINK_LEADS = {
    "common_funder": "{a} was funded by {b}",
    "payroll": "{a} is paid by {b}",
    "deposit_reuse": "{a} pays into deposit address {b}",
    "escrow_third_party": "{a} paid for a rental of {b}",
    "payout_to": "{a} pays out to {b}",
    "shared_payout": "{a} and {b} share a payout wallet",
    "manifest_hash": "{a} and {b} deploy the same private manifest",
    "sync_rentals": "{a} and {b} first rented controlled GPUs together",
}
NO_CLUSTER = "not in an actor cluster: scoring linked it to no other wallet"
NO_FLAGGED_CLUSTER = ("not in an actor cluster that holds a flagged subject: scoring keeps only those, and linked "
                      "this node to none of them")
NOT_SCORED = "not in an actor cluster as far as the store knows: it was never scored (tracer score links wallets)"
FLAGGED_ONLY = ("only the flagged members are known, and no link: the latest scoring stored no cluster rows (a "
                "store scored before schema 7); run tracer score again for every member and the links")


def link_sentence(a: str, b: str, heuristic: str | None, detail: str | None, strength: Any) -> str:
    """One clustering link in words: who did what with whom, the heuristic's own detail, its strength
    (``a``/``b`` as the reader should see them: names where known)."""
    lead = LINK_LEADS.get(str(heuristic), "{a} and {b} are linked by " + str(heuristic or "clustering"))
    text = lead.format(a=a, b=b) + (f": {detail}" if detail else "")
    return text + (f" ({heuristic}, strength {float(strength):g})" if strength is not None else f" ({heuristic})")


def _hops(start: str, known: Mapping[str, int], pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Links from ``start`` to each node over ``pairs`` (either way), never more than ``known`` says."""
    adj: dict[str, list[str]] = {}
    for a, b in pairs:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    out, frontier = {start: 0}, [start]
    while frontier:
        nxt = []
        for n in frontier:
            for m in adj.get(n, ()):
                if m not in out:
                    out[m] = out[n] + 1
                    nxt.append(m)
        frontier = nxt
    for n, h in known.items():
        out[n] = min(h, out.get(n, h))
    return out


def cluster(store: Reads, node: str, max_size: int = 500) -> dict[str, Any]:
    """The actor cluster of a node: every member scoring put in it (stored for clusters that hold a
    flagged subject), each with its flag level and listing, and the links that joined them (heuristic,
    strength, detail, refs), plus ``same_actor`` links a connector stored.  A node in no cluster gets
    ``note`` saying why, never only an empty list (an analyst reads silence as "no other wallet")."""
    node = require(store, node)
    max_size = check_int(max_size, "max_size", 1, MAX_NODES)
    g = SqlGraph(store, node)
    sub = gq.component(g.fetch, node, ("same_actor",), max_size)
    cid = store.stored_cluster_of(node)
    note = None
    if cid is not None:
        scored = store.stored_cluster_members(cid, max_size + 1)
        stored_links = store.stored_cluster_links(cid, 4 * max_size + 1)
    else:
        cid = store.flag_cluster(node)  # a store scored before migration 7: the flagged members only
        scored = store.cluster_members(cid, max_size + 1) if cid else []
        stored_links = []
        note = FLAGGED_ONLY if cid else None
    truncated = sub.truncated or len(scored) > max_size or len(stored_links) > 4 * max_size
    scored, stored_links = scored[:max_size], stored_links[:4 * max_size]
    hops = _hops(node, dict(sub.nodes), [(str(lk["a"]), str(lk["b"])) for lk in stored_links])
    ids_ = sorted(set(sub.nodes) | set(scored) | {node})
    info, listed = describe(store, ids_), listings(store, ids_)
    names = node_names(info, listed)
    # in a sentence: the label, else the id, with its listing (an unlabelled listed wallet keeps its address)
    who = {n: f"{info[n].get('label') or n}" + (f" [{listed[n]}]" if n in listed else "") for n in ids_}
    members = [{**info[n], "name": names.get(n), "listed": listed.get(n), "hop": hops.get(n),
                "via": "subject" if n == node else "same_actor" if n in sub.nodes else f"scoring {cid}"}
               for n in sorted(ids_, key=lambda x: (hops.get(x, MAX_NODES), x))]
    why: dict[str, Any] = {}
    for chunk in _chunks(sorted(sub.edges)):
        why.update(store.edge_attrs(chunk))
    links: list[dict[str, Any]] = []
    for e in sub.edges.values():
        attrs: dict[str, Any] = {}
        with contextlib.suppress(TypeError, ValueError):
            attrs = dict(json.loads(why.get(str(e["id"])) or "{}"))
        src, dst = str(e["src"]), str(e["dst"])
        links.append({"kind": "same_actor", "src": src, "dst": dst, "id": e["id"], "why": why.get(str(e["id"])),
                      "heuristic": attrs.get("heuristic"), "strength": attrs.get("strength"),
                      "detail": attrs.get("detail"), "refs": [e["id"]],
                      "sentence": link_sentence(who.get(src, src), who.get(dst, dst), attrs.get("heuristic"),
                                                attrs.get("detail"), attrs.get("strength"))})
    for lk in stored_links:
        a, b = str(lk["a"]), str(lk["b"])
        refs: list[str] = []
        with contextlib.suppress(TypeError, ValueError):
            refs = list(json.loads(lk["refs"] or "[]"))
        links.append({"kind": "scoring", "src": a, "dst": b, "id": None, "why": None, "heuristic": lk["heuristic"],
                      "strength": lk["strength"], "detail": lk["detail"], "refs": refs,
                      "sentence": link_sentence(who.get(a, a), who.get(b, b), lk["heuristic"], lk["detail"],
                                                lk["strength"])})
    if len(members) <= 1 and cid is None:
        flagged = store.flag_of(node) is not None
        note = NO_CLUSTER if flagged else NO_FLAGGED_CLUSTER if has_table(store, "flags") else NOT_SCORED
    return {"subject": node, "cluster": cid, "members": members, "links": links, "truncated": truncated,
            "note": note}
