"""Amounts as people read them: exact decimals in the asset's display unit, with its symbol.

Why one module: the same uint256 base amount reaches the CLI, the HTTP API, the page, the exports,
the HTML report and the evidence text, and each used to print it its own way (``2.106000754537 uakt``
for 2.106 AKT, ``token:polygon:0x0b22...`` for GLM, IBC vouchers as hashes).  Here:

- the edge's ``decimals`` says where the point goes (Akash stores ``uakt`` with 6 + 18 decimals,
  so ``amount / 10^24`` is AKT, the display unit); an amount without decimals takes the denom's
  known exponent (``uakt`` -> 6), else it stays in base units and says so;
- the symbol comes from the store's token entities (``symbols``: token id -> ``symbol()``), the
  known Akash denoms, IBC vouchers resolved through their denom trace (a stored ``trace``, or the
  voucher hash of a known base denom over ``transfer/channel-N``), else a short readable id;
- everything is :class:`decimal.Decimal` / :class:`fractions.Fraction` over integers: never a float.

Machine formats keep the integer base amount beside the display text (:func:`amount_fields`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Any

from connectors import ids

# Base denoms (the last part of an ICS-20 trace) -> (symbol, display exponent).  Injective's Peggy
# vouchers keep the ERC-20's decimals; "inj" is an 18-decimal atto unit.
BASE_DENOMS: dict[str, tuple[str, int]] = {
    "uakt": ("AKT", 6), "uact": ("ACT", 6), "uusdc": ("USDC", 6), "uatom": ("ATOM", 6), "uosmo": ("OSMO", 6),
    "inj": ("INJ", 18), "peggy0xdAC17F958D2ee523a2206206994597C13D831ec7": ("USDT", 6),
    "peggy0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48": ("USDC", 6),
}
# Token ids whose symbol is known without the store (when the EVM connector has not written the
# token entity yet): USD stablecoins, GLM, and the Solana mints the markets pay in.
KNOWN_TOKENS: dict[str, str] = {
    ids.token("ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"): "USDC",
    ids.token("ethereum", "0xdac17f958d2ee523a2206206994597c13d831ec7"): "USDT",
    ids.token("ethereum", "0x7dd9c5cba05e151c895fde1cf355c9a1d5da6429"): "GLM",
    ids.token("polygon", "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359"): "USDC",
    ids.token("polygon", "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"): "USDC.e",
    ids.token("polygon", "0xc2132d05d31c914a87c6611c10748aeb04b58e8f"): "USDT",
    ids.token("polygon", "0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf"): "GLM",
    ids.token("solana", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"): "USDC",
    ids.token("solana", "BZLbGTNCSFfoth2GYDtwr7e4imWzpR5jqcUuGEwr646K"): "IO",
    ids.token("solana", "rndrizKT3MK1iimdxRdWabcF7Zg7AR5T4nud4EkHBof"): "RENDER",
    ids.token("solana", "nosXBVoaCTtYdLvKY6Csb4AC8JCdQKKAaWYtx2ZMoo7"): "NOS",
}
IBC_CHANNELS = 1_000  # single-hop vouchers over transfer/channel-0 .. channel-999 resolve without the store


def ibc_hash(trace: str) -> str:
    """The Cosmos denom of an ICS-20 voucher: ``ibc/`` + upper-case hex SHA-256 of its trace."""
    return "ibc/" + hashlib.sha256(trace.encode()).hexdigest().upper()


@lru_cache(maxsize=1)
def _denoms() -> dict[str, tuple[str, int]]:
    """Denom -> (symbol, exponent): Akash's own denoms (the connector's table) and the vouchers of
    every known base denom over one ``transfer`` channel (8,000 hashes, computed once)."""
    from connectors.akash.parse import DENOM_EXPONENT, DENOM_SYMBOL

    out = {d: (DENOM_SYMBOL[d], DENOM_EXPONENT.get(d, 0)) for d in DENOM_SYMBOL}
    for base, sym in BASE_DENOMS.items():
        out.setdefault(base, sym)
        for n in range(IBC_CHANNELS):
            out.setdefault(ibc_hash(f"transfer/channel-{n}/{base}"), sym)
    return out


def trace_symbol(trace: str) -> tuple[str, int] | None:
    """(symbol, exponent) of a denom trace (``transfer/channel-9/uusdc`` -> USDC, 6), if its base is known."""
    return BASE_DENOMS.get(trace.rsplit("/", 1)[-1])


def symbol_of(asset: Any, symbols: Mapping[str, str] | None = None) -> str | None:
    """The symbol of an asset as stored (token id, denom, IBC voucher), or None when nothing knows it."""
    if not asset:
        return None
    a = str(asset)
    if symbols and symbols.get(a):
        return str(symbols[a])
    if a in KNOWN_TOKENS:
        return KNOWN_TOKENS[a]
    d = _denoms().get(a)
    if d is not None:
        return d[0]
    if "/" in a and not a.startswith("ibc/"):  # an unhashed trace ("transfer/channel-9/uakt")
        t = trace_symbol(a)
        return t[0] if t else None
    if ":" not in a and a.isalnum() and a.upper() == a and len(a) <= 12:  # already a symbol ("USDC", "ETH")
        return a
    return None


def asset_label(asset: Any, symbols: Mapping[str, str] | None = None) -> str:
    """The asset as a person reads it: its symbol, else a short id that still says what it is."""
    sym = symbol_of(asset, symbols)
    if sym:
        return sym
    a = str(asset or "")
    if not a:
        return "(unknown asset)"
    if a.startswith("ibc/"):
        return f"IBC voucher {a[4:10]}…{a[-4:]}"
    n = ids.try_parse(a)
    if n is not None and n.kind == "token":
        key = n.key
        return f"{n.space} token {key[:6]}…{key[-4:]}" if len(key) > 12 else f"{n.space} token {key}"
    return a


def exponent_of(asset: Any, decimals: Any) -> int | None:
    """Where the point goes: the edge's decimals, else the denom's known exponent, else None."""
    d = _denoms().get(str(asset or ""))
    if decimals is not None and decimals != "" and (int(decimals) > 0 or d is None):
        return int(decimals)
    return d[1] if d else None  # a denom stored in its base unit (decimals 0 or unknown): uakt -> 6


def decimal_text(amount_base: Any, decimals: Any) -> str | None:
    """A base-unit amount as exact decimal text without separators (``1500000``, 6 -> ``1.5``)."""
    if amount_base is None or amount_base == "":
        return None
    n = int(amount_base)
    d = int(decimals or 0)
    if d <= 0:
        return str(n)
    sign, n = ("-", -n) if n < 0 else ("", n)
    whole, frac = divmod(n, 10**d)
    fs = str(frac).rjust(d, "0").rstrip("0")
    return f"{sign}{whole}.{fs}" if fs else f"{sign}{whole}"


def grouped(text: str) -> str:
    """Decimal text with thousands separators in the whole part (``2106000.754537`` -> ``2,106,000.754537``)."""
    sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, frac = body.partition(".")
    return f"{sign}{int(whole):,}{dot}{frac}"


def number(amount_base: Any, decimals: Any) -> str | None:
    """Exact amount in display units with separators, no symbol (``1,750``)."""
    t = decimal_text(amount_base, decimals)
    return None if t is None else grouped(t)


def display(amount_base: Any, asset: Any, decimals: Any, symbols: Mapping[str, str] | None = None) -> str | None:
    """``2.106000754537 AKT``: exact, in the display unit, with the symbol; None without an amount.

    An amount whose scale nobody knows (no decimals, unknown denom) stays in base units and says so.
    """
    if amount_base is None or amount_base == "":
        return None
    exp = exponent_of(asset, decimals)
    label = asset_label(asset, symbols)
    if exp is None:
        return f"{grouped(str(int(amount_base)))} base units of {label}"
    return f"{number(amount_base, exp)} {label}"


def amount_fields(amount_base: Any, asset: Any, decimals: Any,
                  symbols: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The machine fields beside a display text: the integer base amount (as text: uint256), the
    exponent used, the exact decimal value, the symbol (None when unknown) and the display text."""
    if amount_base is None or amount_base == "":
        return {"amount_base": None, "symbol": symbol_of(asset, symbols), "display": None}
    exp = exponent_of(asset, decimals)
    return {"amount_base": str(int(amount_base)), "symbol": symbol_of(asset, symbols),
            "display": display(amount_base, asset, decimals, symbols),
            **({"value": decimal_text(amount_base, exp)} if exp is not None else {})}


def share_text(part: Fraction | int, total: Fraction | int, places: int = 1) -> str:
    """``part / total`` as a percentage with ``places`` decimals, rounded half up, exactly (``28.6%``)."""
    if not total:
        return "n/a"
    f = Fraction(part) / Fraction(total) * 100
    with localcontext() as ctx:
        ctx.prec = 60
        q = Decimal(f.numerator) / Decimal(f.denominator)
        return f"{q.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}%"


def base_units(x: Fraction | int) -> int:
    """A haircut amount (an exact fraction of base units) rounded to a whole base unit, half up."""
    f = Fraction(x)
    return int((f * 2 + 1) // 2)


def part_of_total(part: Fraction | int, total: int, asset: Any, decimals: Any,
                  symbols: Mapping[str, str] | None = None) -> str:
    """``500 of 1,750 USDC (28.6%)``: a part of a total in one asset, both exact, and the share."""
    exp = exponent_of(asset, decimals)
    p = base_units(part)
    if exp is None:
        return f"{grouped(str(p))} of {grouped(str(total))} base units of {asset_label(asset, symbols)} " \
               f"({share_text(part, total)})"
    return f"{number(p, exp)} of {number(total, exp)} {asset_label(asset, symbols)} ({share_text(part, total)})"


def traces_from_attrs(rows: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Voucher -> symbol from (asset, attrs) pairs whose attrs carry the ICS-20 ``trace`` or a ``symbol``
    (the Akash connector stores both on the edge): multi-hop vouchers no table can know."""
    import json

    out: dict[str, str] = {}
    for asset, attrs in rows:
        try:
            at = json.loads(attrs) if isinstance(attrs, str) else (attrs or {})
        except ValueError:
            continue
        if not isinstance(at, dict):
            continue
        sym = at.get("symbol")
        if not sym and isinstance(at.get("trace"), str):
            t = trace_symbol(at["trace"])
            sym = t[0] if t else None
        if sym and asset:
            out[str(asset)] = str(sym)
    return out
