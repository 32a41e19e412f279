"""Pure parsing of Akash LCD and Console JSON into tracer records (no I/O, no clock).

Why a separate module: the same lease, deployment or provider arrives in several JSON shapes
(market v1beta5 ``lease.id`` with ``bseq`` vs the older v1beta3/v1beta4 ``lease.lease_id``; escrow v1
``state.deposits[]`` vs v1beta3's flat ``depositor``/``funds``; Console's camelCase), and all of them
must land on the same ids so a second source confirms rather than duplicates a fact.

Money is exact: Cosmos ``DecCoin`` amounts carry 18 fractional digits ("584.635140000000000000"), so
every Akash amount on an edge is scaled by 10^18 into an integer and its ``decimals`` is the denom's
exponent + 18 (``uakt`` -> 24: amount / 10^24 = AKT). The text as received is kept in ``attrs``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors import facts, ids
from connectors.addresses import AddressError, normalize
from connectors.base import Record, check_uint256
from connectors.gpu_names import gpu_id

SOURCE = "akash"
CHAIN = "akash"  # the chain of Akash wallets and the id space of its providers, deployments and leases
USDC_IBC = "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"
# Display exponent of each denom (base unit -> token). Unknown denoms: 0 (amounts stay base units).
DENOM_EXPONENT: dict[str, int] = {"uakt": 6, "uact": 6, USDC_IBC: 6}
DENOM_SYMBOL: dict[str, str] = {"uakt": "AKT", "uact": "ACT", USDC_IBC: "USDC"}
DEC_PLACES = 18
_DEC = re.compile(r"^(\d+)(?:\.(\d{1,18}))?$")


class ParseError(ValueError):
    """A body that is not in any known Akash shape (the message names the field)."""


# -- amounts --------------------------------------------------------------------------------------
def dec_scaled(text: str | int) -> int:
    """A Coin/DecCoin amount as an exact integer scaled by 10^18 ("4.8266" -> 4826600000000000000)."""
    s = str(text).strip()
    m = _DEC.match(s)
    if not m:
        raise ParseError(f"amount {s!r} is not a non-negative decimal with at most 18 fractional digits")
    frac = (m.group(2) or "").ljust(DEC_PLACES, "0")
    return int(m.group(1)) * 10**DEC_PLACES + int(frac or "0")


# Base denoms of IBC vouchers whose exponent is not the micro-unit rule (Injective's Peggy bridge keeps
# the ERC-20's decimals; "inj"/"aevmos" are 18-decimal atto units).
BASE_EXPONENT: dict[str, int] = {"peggy0xdAC17F958D2ee523a2206206994597C13D831ec7": 6,
                                 "peggy0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48": 6, "inj": 18, "aevmos": 18}


def denom_exponent(denom: str, base: str | None = None) -> int:
    """Display exponent of a denom; an IBC voucher takes its base denom's (``.../uusdc`` -> 6)."""
    if denom in DENOM_EXPONENT:
        return DENOM_EXPONENT[denom]
    b = (base or denom).rsplit("/", 1)[-1]
    if b in BASE_EXPONENT:
        return BASE_EXPONENT[b]
    return 6 if re.fullmatch(r"u[a-z]{2,10}", b) else 0


def coin_amount(coin: Mapping[str, Any], base: str | None = None) -> tuple[str, str, int]:
    """(denom, amount as uint256 text scaled by 10^18, decimals = exponent + 18) for an edge."""
    denom = str(coin.get("denom") or "")
    return denom, check_uint256(dec_scaled(coin.get("amount", "0"))), denom_exponent(denom, base) + DEC_PLACES


def coin_text(coin: Mapping[str, Any] | None) -> str | None:
    """``"<amount> <denom>"`` exactly as received (for connector tables), or None."""
    if not coin:
        return None
    return f"{coin.get('amount')} {coin.get('denom')}"


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with its query string (percent-encoded), so the provenance URL names the exact page."""
    from yarl import URL

    return str(URL(url).with_query(dict(params)))


# -- ids ------------------------------------------------------------------------------------------
def addr(a: Any) -> str:
    """A validated, canonical akash1... address (bech32 checksum verified); raises AddressError."""
    return normalize("akash", str(a))


def wallet(a: str) -> str:
    """The wallet id of an address :func:`addr` already validated (no second bech32 check)."""
    return ids.wallet_raw(CHAIN, a)


@dataclass(frozen=True)
class LeaseId:
    owner: str
    dseq: str
    gseq: int
    oseq: int
    provider: str
    bseq: int | None = None

    @property
    def key(self) -> str:
        return ids.akash_lease_key(self.owner, self.dseq, self.gseq, self.oseq, self.provider)

    @property
    def entity(self) -> str:
        return ids.lease(CHAIN, self.key)

    @property
    def deployment(self) -> str:
        return ids.deployment(CHAIN, self.owner, self.dseq)


def lease_id(raw: Mapping[str, Any]) -> LeaseId:
    """The id of a lease object in either shape: v1beta5 ``id{..., bseq}`` or older ``lease_id{...}``."""
    i = raw.get("id") or raw.get("lease_id")
    if not isinstance(i, Mapping):
        raise ParseError("lease has neither 'id' (v1beta5) nor 'lease_id' (v1beta3/v1beta4)")
    b = i.get("bseq")
    return LeaseId(addr(i["owner"]), str(i["dseq"]), int(i["gseq"]), int(i["oseq"]), addr(i["provider"]),
                   int(b) if b is not None else None)


def height(v: Any) -> int | None:
    """A block height field ("25880690", 0, None); 0 means "not set" on Akash (closed_on of an open lease)."""
    if v in (None, ""):
        return None
    h = int(v)
    return h if h > 0 else None


# -- GPU ------------------------------------------------------------------------------------------
def gpu_attrs(key: str) -> dict[str, str]:
    """``[capabilities/gpu/]vendor/nvidia/model/h100/ram/80Gi/interface/sxm`` -> {vendor, model, ram, interface}."""
    parts = [p for p in key.strip("/").split("/") if p]
    if parts[:2] == ["capabilities", "gpu"]:
        parts = parts[2:]
    out: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        if parts[i] in ("vendor", "model", "ram", "interface"):
            out[parts[i]] = parts[i + 1]
    return out


@dataclass(frozen=True)
class GpuRequest:
    """GPUs a group asks for: total units (per-resource units x count) and the attribute keys."""

    units: int
    keys: tuple[str, ...]

    @property
    def models(self) -> list[str]:
        return sorted({gpu_attrs(k).get("model", "") for k in self.keys} - {""})

    @property
    def catalog_id(self) -> str | None:
        """The catalog id when the request names exactly one model (``*`` or several: None)."""
        ids = {gpu_id("akash", k) for k in self.keys if gpu_attrs(k).get("model") not in (None, "*")}
        ids.discard(None)
        return ids.pop() if len(ids) == 1 else None


def group_gpu(resources: list[Mapping[str, Any]] | None) -> GpuRequest:
    """Total GPU units and attribute keys of a group spec's (or a bid's offer's) resources."""
    units, keys = 0, []
    for r in resources or []:
        res = r.get("resource") or r.get("resources") or {}
        gpu = res.get("gpu") or {}
        n = int((gpu.get("units") or {}).get("val") or 0)
        units += n * int(r.get("count") or 1)
        keys += [str(a["key"]) for a in gpu.get("attributes") or [] if a.get("key")]
    return GpuRequest(units, tuple(sorted(set(keys))))


def lease_gpu_hours(created_height: int, closed_height_or_head: int, units: int,
                    seconds_per_block: float) -> float:
    """GPU-hours of a lease: blocks it ran x block time x GPU units (heights, not wall clock, are on chain)."""
    if closed_height_or_head < created_height or units < 0 or seconds_per_block <= 0:
        raise ValueError("need closed/head >= created height, units >= 0 and a positive block time")
    return (closed_height_or_head - created_height) * seconds_per_block * units / 3600.0


# -- records --------------------------------------------------------------------------------------
def wallet_records(a: str, at: str, role: str | None = None) -> Iterator[Record]:
    """The wallet entity of an akash address and, if given, its ``role`` (renter/provider)."""
    w = wallet(a)
    yield facts.wallet_of(w, SOURCE, at)
    if role:
        yield facts.role(w, role, SOURCE, at)  # one per role: a wallet can be renter and provider


def deposit_edge(depositor: str, target: str, xid: str, coin: Mapping[str, Any], at: str, n: int,
                 block: int | None, extra: Mapping[str, Any]) -> Record:
    """``paid`` depositor -> deployment/lease for one escrow deposit, amount exact."""
    denom, amount, dec = coin_amount(coin)
    # n counts this depositor's earlier deposits in the account (not the height, which the v1beta3
    # shape lacks), so both shapes of the same account write the same edge ids.
    return facts.edge(ids.edge(SOURCE, "deposit", xid, depositor, denom, n), "paid", wallet(depositor),
                      target, SOURCE, at, chain=CHAIN, asset=denom, amount=amount, decimals=dec, block=block,
                      attrs={"amount_text": str(coin.get("amount")), "symbol": DENOM_SYMBOL.get(denom),
                             "escrow": xid, **extra})


def _bad(table: str, what: str, reason: str, at: str) -> Record:
    return Record("rejected_inputs", {"stream": table, "value": what[:200], "context": "akash",
                                      "reason": reason[:300], "first_seen": at, "last_seen": at})


def b64json(s: str) -> Any:
    """Decode an IBC packet ``data`` (base64 JSON of FungibleTokenPacketData)."""
    return json.loads(base64.b64decode(s))


__all__ = ["AddressError", "GpuRequest", "LeaseId", "ParseError", "USDC_IBC", "addr", "coin_amount",
           "dec_scaled", "gpu_attrs", "group_gpu", "height", "lease_gpu_hours", "lease_id"]
