"""Dust: transfers too small to carry taint (the dusting attack on screening).

Anyone can send a tiny amount to any wallet: in August 2022 Tornado Cash funds were sent to
well-known wallets so that screening would flag them, and address poisoning forges zero- and
tiny-value token transfers "from" a victim (``transferFrom`` with amount 0).  If such a transfer
carries taint, the attacker chooses whom tracer flags.  So a ``paid`` edge whose amount is under its
asset's **dust limit** counts for nothing in exposure, in either direction (not in the tainted part,
not in the totals) and is not a counterparty for hub detection.

tracer has no prices, so the limit is per asset, in base units (:func:`dust_limits`):

- an asset with a configured minimum (display units, keyed by ``asset/decimals``, the asset as
  stored - symbol or ``token:<chain>:<contract>`` - case-insensitive): that minimum.  Default
  :data:`DEFAULT_DUST_MIN_VALUE`: 10 for USD stablecoins (USDC, USDT, DAI and the USDC/USDT token
  contracts on Ethereum and Polygon) - about what four H100-hours cost, far above the 0.000001 of
  dusting and poisoning, far below a payment that buys meaningful compute;
- any other asset (no price): ``median_share`` (1 %) of the median transfer of that asset in the
  graph, once the graph holds at least ``min_transfers`` (20) non-zero transfers of it; with fewer
  there is no value minimum for it;
- a zero amount is always dust.

A configured minimum needs the edge's decimals; an asset stored without decimals falls back to the
median rule.  The **share** minimum is applied by :mod:`graphs.exposure`: a wallet whose tainted
share in an asset is under ``min_share`` (1 %) carries no taint in that asset.  Known limits: dust
above the value minimum in an asset the receiver otherwise never uses still counts (100 % of that
asset's inflow) - without prices its value cannot be compared with the receiver's other assets;
and a flood of dust in an unpriced asset lowers that asset's median.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

from connectors import ids
from graphs.build import TracerGraph

# USD stablecoins as the EVM connectors store them (edges.asset = token:<chain>:<contract>).
USD_STABLECOIN_TOKENS = (
    ids.token("ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),  # USDC
    ids.token("ethereum", "0xdac17f958d2ee523a2206206994597c13d831ec7"),  # USDT
    ids.token("polygon", "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359"),  # USDC (native)
    ids.token("polygon", "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"),  # USDC.e
    ids.token("polygon", "0xc2132d05d31c914a87c6611c10748aeb04b58e8f"),  # USDT
)
# Minimum value (display units) below which a transfer is dust, per asset.
DEFAULT_DUST_MIN_VALUE: dict[str, str] = {
    "USDC": "10", "USDT": "10", "DAI": "10", **{t: "10" for t in USD_STABLECOIN_TOKENS}}
DEFAULT_MEDIAN_SHARE = Fraction(1, 100)
DEFAULT_MIN_TRANSFERS = 20


def as_fraction(x: Fraction | float | int | str) -> Fraction:
    """An exact share from a config value (a float is read as its decimal text: 0.01 is 1/100)."""
    return x if isinstance(x, Fraction) else Fraction(str(x))


def _configured(min_value: Mapping[str, Any], key: str, symbols: Mapping[str, str] | None = None) -> int | None:
    """The configured minimum for an ``asset/decimals`` key in base units, or None; ``symbols`` maps
    an asset as stored (token id, denom) to its symbol, so ``USDC`` covers IBC USDC and token ids."""
    asset, _, dec = key.rpartition("/")
    if not dec.isdigit():
        return None
    v = min_value.get(key.lower(), min_value.get(asset.lower()))
    if v is None and symbols and asset in symbols:
        sym = str(symbols[asset]).lower()
        v = min_value.get(f"{sym}/{dec}", min_value.get(sym))
    if v is None:
        return None
    return int((Decimal(str(v)) * 10 ** int(dec)).to_integral_value(rounding=ROUND_CEILING))


def dust_limits(tg: TracerGraph, min_value: Mapping[str, Any] | None = None,
                median_share: Fraction | float = DEFAULT_MEDIAN_SHARE,
                min_transfers: int = DEFAULT_MIN_TRANSFERS, symbols: Mapping[str, str] | None = None
                ) -> dict[str, int]:
    """Per asset key of the graph's ``paid`` edges, the smallest amount (base units) that is not dust.

    ``min_value``: display-unit minimums by ``asset/decimals``, asset or symbol (default
    :data:`DEFAULT_DUST_MIN_VALUE`); other assets get ``median_share`` x their median transfer.
    """
    share = as_fraction(median_share)
    conf = {str(k).lower(): v for k, v in (DEFAULT_DUST_MIN_VALUE if min_value is None else min_value).items()}
    limits: dict[str, int] = {}
    amounts: dict[str, list[int]] = defaultdict(list)
    for key in tg.paid_assets:
        lim = _configured(conf, key, symbols)
        limits[key] = -1 if lim is None else lim  # -1: decided by the median below
    median_keys = {k for k, v in limits.items() if v < 0}
    if median_keys:
        for nbrs in tg.g._succ.values():  # raw adjacency: the edge views cost more than the work here
            for kd in nbrs.values():
                for d in kd.values():
                    if d["k"] == "paid" and d["a"] > 0 and d["s"] in median_keys:
                        amounts[d["s"]].append(d["a"])
    for key, lim in limits.items():
        if lim >= 0:
            continue
        xs = amounts.get(key, [])
        if len(xs) < min_transfers:
            limits[key] = 1  # only a zero amount is dust
            continue
        xs.sort()
        median = xs[(len(xs) - 1) // 2]  # the lower median: an amount that occurred
        limits[key] = max(1, int(median * share))
    return limits


def priced_assets(tg: TracerGraph, min_value: Mapping[str, Any] | None = None,
                  symbols: Mapping[str, str] | None = None) -> set[str]:
    """Asset keys of the graph's ``paid`` edges whose dust limit is a configured value (tracer can
    say what an amount is worth); every other asset is judged by the median rule only."""
    conf = {str(k).lower(): v for k, v in (DEFAULT_DUST_MIN_VALUE if min_value is None else min_value).items()}
    return {k for k in tg.paid_assets if _configured(conf, k, symbols) is not None}


def is_dust(amount: int, asset_key: str, limits: Mapping[str, int]) -> bool:
    """True when ``amount`` (base units) of ``asset_key`` is under its dust limit (zero always is)."""
    return amount < limits.get(asset_key, 1)
