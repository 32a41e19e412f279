"""The store's side of ``connectors.base.StoredFacts``: the named questions a stream may ask.

Why here: a connector must not know the schema or the database engine, so each question it asks
about earlier runs is one method with portable SQL (see :mod:`tracer.store.base`).  A table that
no stream created yet answers empty: the check is for the table, never a caught exception (an
SQL error is a bug and must surface).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from connectors.ids import evm_transfer_edge_range, key_of
from tracer.store.reads import Reads

PAGE = 400  # (owner, dseq) pairs per query: 2 parameters each, under SQLite's 999-variable floor


class FactsPort(Reads):
    """Implements :class:`connectors.base.StoredFacts` on top of the backend's ``query``."""

    # -- EVM ---------------------------------------------------------------------------------------
    def evm_known_tokens(self, chain: str) -> dict[str, int | None]:
        """Token address -> decimals of the tokens already resolved on ``chain`` (errors excluded)."""
        if not self.has_table("evm_tokens"):
            return {}
        rows = self.query("SELECT address, decimals FROM evm_tokens WHERE chain = ? AND status != 'error'", [chain])
        return {r["address"]: r["decimals"] for r in rows}

    def evm_block_hashes(self, chain: str, after: int, upto: int) -> list[tuple[int, str]]:
        """(number, hash) of the stored blocks of ``chain`` in (after, upto], by number."""
        if not self.has_table("evm_blocks"):
            return []
        rows = self.query("SELECT number, hash FROM evm_blocks WHERE chain = ? AND number > ? AND number <= ? "
                          "ORDER BY number", [chain, after, upto])
        return [(r["number"], r["hash"]) for r in rows]

    def evm_transfer_wallets(self, chain: str, after: int, upto: int, cap: int) -> set[str]:
        """Addresses (without the wallet prefix) on stored transfers of blocks (after, upto], at most ``cap``.

        A range scan of the edges' primary key: transfer ids are ``evm:<chain>:<block 12 digits>:<log
        6 digits>``, so the blocks (after, upto] are the ids in [prefix + after+1, prefix + upto+1).
        The cap counts addresses, checked per transfer as the connector's own set is."""
        out: set[str] = set()
        if after >= upto or cap <= 0:
            return out
        lo, hi = evm_transfer_edge_range(chain, after, upto)
        for src, dst in self.iter_rows("SELECT src, dst FROM edges WHERE id >= ? AND id < ? ORDER BY id",
                                       [lo, hi], size=1000):
            if len(out) >= cap:
                break
            out.add(key_of(str(src)))
            out.add(key_of(str(dst)))
        return out

    # -- Akash -------------------------------------------------------------------------------------
    def akash_provider_owners(self) -> list[str]:
        """Owner addresses of the stored Akash providers, sorted."""
        if not self.has_table("akash_providers"):
            return []
        return [r["owner"] for r in self.query("SELECT owner FROM akash_providers ORDER BY owner")]

    def akash_lease_owners(self, limit: int) -> list[str]:
        """Owners of stored Akash leases, those with an open lease first, newest lease first."""
        if limit <= 0 or not self.has_table("akash_leases"):
            return []
        rows = self.query(
            "SELECT owner, max(CASE WHEN closed_on IS NULL OR closed_on = 0 THEN 1 ELSE 0 END) AS open, "
            "max(created_at) AS last FROM akash_leases GROUP BY owner "
            "ORDER BY open DESC, last DESC, owner LIMIT ?", [limit])
        return [r["owner"] for r in rows]

    def akash_group_gpus(self, deployments: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """``owner/dseq/gseq`` -> {gpu_units, gpu_keys} of the stored groups of these (owner, dseq)."""
        return self._gpus_of("SELECT owner, dseq, gseq, gpu_units, gpu_keys FROM akash_groups WHERE {where}",
                             "akash_groups", deployments, ("owner", "dseq", "gseq"))

    def akash_bid_gpus(self, deployments: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """``owner/dseq/gseq/oseq/provider`` -> {gpu_units, gpu_keys} of stored GPU bids of these deployments."""
        return self._gpus_of("SELECT owner, dseq, gseq, oseq, provider, gpu_units, gpu_keys FROM akash_bids "
                             "WHERE gpu_units > 0 AND ({where})", "akash_bids", deployments,
                             ("owner", "dseq", "gseq", "oseq", "provider"))

    def _gpus_of(self, sql: str, table: str, deployments: Sequence[tuple[str, str]],
                 key: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Rows of ``table`` for these deployments keyed ``a/b/c`` by the ``key`` columns."""
        pairs = sorted(set(deployments))
        if not pairs or not self.has_table(table):
            return {}
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(pairs), PAGE):
            chunk = pairs[i:i + PAGE]
            where = " OR ".join("(owner = ? AND dseq = ?)" for _ in chunk)
            for r in self.query(sql.format(where=where), [v for pair in chunk for v in pair]):
                out["/".join(str(r[k]) for k in key)] = {"gpu_units": r["gpu_units"], "gpu_keys": r["gpu_keys"]}
        return out

    # -- lists -------------------------------------------------------------------------------------
    def list_latest_snapshot(self, source: str) -> str | None:
        """The newest stored snapshot of a list source, or None."""
        if not self.has_table("list_snapshots"):
            return None
        rows = self.query("SELECT max(snapshot) AS s FROM list_snapshots WHERE source = ?", [source])
        return rows[0]["s"] if rows and rows[0]["s"] else None

    def list_members(self, source: str, snapshot: str) -> list[dict[str, Any]]:
        """Members of one snapshot: dicts with kind, key, label, list_type."""
        if not self.has_table("list_members"):
            return []
        return self.query("SELECT kind, key, label, list_type FROM list_members WHERE source = ? AND snapshot = ?",
                          [source, snapshot])

    def open_listings(self, source: str, predicates: Sequence[str] = ("listed", "sanctioned"),
                      seen_before: str | None = None) -> list[dict[str, Any]]:
        """Still-valid listing observations of ``source``: id, subject, attrs (parsed), last_seen.

        ``seen_before``: only those last seen before that time (not in a complete newer load)."""
        if not predicates:
            return []
        sql = (f"SELECT id, subject, attrs, last_seen FROM observations WHERE source = ? AND predicate IN "
               f"({', '.join('?' for _ in predicates)}) AND valid_to IS NULL")
        params: list[Any] = [source, *predicates]
        if seen_before is not None:
            sql += " AND last_seen < ?"
            params.append(seen_before)
        rows = self.query(sql + " ORDER BY id", params)
        for r in rows:
            r["attrs"] = json.loads(r["attrs"] or "{}")
        return rows

    def tag_totals(self, source: str, stream: str, actors: bool) -> dict[str, int]:
        """{tags, addresses, rejected} of an attribution-tag source (actors: count actor entities too)."""
        row = self.query("SELECT count(*) AS n, count(DISTINCT subject) AS w FROM observations "
                         "WHERE source = ? AND predicate = 'tag'", [source])[0]
        n_actors = 0
        if actors:
            n_actors = self.query("SELECT count(*) AS n FROM entities WHERE source = ? AND kind = 'actor'",
                                  [source])[0]["n"]
        rejected = 0
        if self.has_table("rejected_inputs"):
            rejected = self.query("SELECT count(*) AS n FROM rejected_inputs WHERE stream = ?", [stream])[0]["n"]
        return {"tags": int(row["n"]) + int(n_actors), "addresses": int(row["w"]), "rejected": int(rejected)}

    # -- markets -----------------------------------------------------------------------------------
    def vastai_machines(self, snapshot: str) -> dict[Any, dict[str, Any]]:
        """machine_id -> {machine_id, host_id, gpu_name, num_gpus, country} of one Vast.ai offers snapshot."""
        if not self.has_table("vastai_offers"):
            return {}
        rows = self.query("SELECT machine_id, max(host_id) AS host_id, max(gpu_name) AS gpu_name, "
                          "max(num_gpus) AS num_gpus, max(country) AS country FROM vastai_offers "
                          "WHERE snapshot = ? GROUP BY machine_id", [snapshot])
        return {r["machine_id"]: r for r in rows}
