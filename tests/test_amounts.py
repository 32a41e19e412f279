"""tracer.amounts: exact amounts in the asset's display unit with its symbol (issue 15, "Money and wording").

Expected values are computed by hand (each comment shows the arithmetic); the Akash inputs go through
the Akash connector's own amount parser, so a change of its scaling (10^18 for DecCoins) shows here."""

from __future__ import annotations

from fractions import Fraction

import pytest

from connectors.akash.parse import USDC_IBC, coin_amount
from connectors.akash.records import ibc_denom
from tracer import amounts as A

GLM_POLYGON = "token:polygon:0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf"
USDC_ETH = "token:ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"


def test_akt_from_a_lease_deposit_is_in_akt_not_uakt() -> None:
    """The issue: 2,106,000.754537 uakt (2.106 AKT) was shown as "2.106000754537 uakt"."""
    denom, base, dec = coin_amount({"denom": "uakt", "amount": "2106000.754537"})
    assert (denom, base, dec) == ("uakt", "2106000754537000000000000", 24)  # 2106000.754537 x 10^18, 6 + 18
    assert A.display(base, denom, dec) == "2.106000754537 AKT"  # 2,106,000.754537 / 10^6
    assert A.amount_fields(base, denom, dec) == {
        "amount_base": "2106000754537000000000000", "symbol": "AKT", "display": "2.106000754537 AKT",
        "value": "2.106000754537"}


def test_uakt_in_base_units_without_decimals() -> None:
    # 2,106,000,754,537 uakt / 10^6 = 2,106,000.754537 AKT; decimals unknown or 0: the denom's exponent
    assert A.display(2_106_000_754_537, "uakt", None) == "2,106,000.754537 AKT"
    assert A.display(2_106_000_754_537, "uakt", 0) == "2,106,000.754537 AKT"
    assert A.display(1, "uakt", None) == "0.000001 AKT"


def test_ibc_usdc_by_known_denom_and_by_denom_trace() -> None:
    denom, base, dec = coin_amount({"denom": USDC_IBC, "amount": "1750000000"})
    assert A.display(base, denom, dec) == "1,750 USDC"  # 1,750,000,000 uusdc / 10^6
    # a voucher over another channel: the Akash connector's own hash of its trace
    voucher, trace = ibc_denom({"destination_port": "transfer", "destination_channel": "channel-9",
                                "source_port": "transfer", "source_channel": "channel-1"}, "uusdc")
    assert trace == "transfer/channel-9/uusdc"
    assert voucher == "ibc/295548A78785A1007F232DE286149A6FF512F180AF5657780FC89C009E2C348F"
    _, base, dec = coin_amount({"denom": voucher, "amount": "250000000"}, trace)
    assert A.display(base, voucher, dec) == "250 USDC"
    peggy = A.ibc_hash("transfer/channel-35/peggy0xdAC17F958D2ee523a2206206994597C13D831ec7")
    assert A.display(500 * 10**24, peggy, 24) == "500 USDT"
    # a multi-hop voucher no table knows: resolved from the trace stored on its edge, else said to be one
    hop2 = A.ibc_hash("transfer/channel-3000/transfer/channel-1/uusdc")
    assert A.symbol_of(hop2) is None
    assert A.display(5 * 10**24, hop2, 24).startswith("5 IBC voucher ")
    syms = A.traces_from_attrs([(hop2, '{"via": "ibc", "trace": "transfer/channel-3000/transfer/channel-1/uusdc"}')])
    assert A.display(5 * 10**24, hop2, 24, syms) == "5 USDC"


def test_glm_and_usdc_tokens_by_token_metadata() -> None:
    # 12.5 GLM = 12,500,000,000,000,000,000 base units at 18 decimals
    assert A.display(12_500_000_000_000_000_000, GLM_POLYGON, 18, {GLM_POLYGON: "GLM"}) == "12.5 GLM"
    assert A.display(12_500_000_000_000_000_000, GLM_POLYGON, 18) == "12.5 GLM"  # known token, no store
    assert A.display(1_750_000_000, USDC_ETH, 6) == "1,750 USDC"
    other = "token:polygon:0x1111111111111111111111111111111111111111"
    assert A.display(10**18, other, 18, {other: "FOO"}) == "1 FOO"
    assert A.display(10**18, other, 18) == "1 polygon token 0x1111…1111"  # never the whole token id


def test_exact_for_uint256_and_no_float_rounding() -> None:
    top = 2**256 - 1  # 115792089237316195423570985008687907853269984665640564039457584007913129639935
    assert A.display(top, USDC_ETH, 18) == (
        "115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.584007913129639935 USDC")
    assert A.display(10**17 + 2 * 10**16, GLM_POLYGON, 18) == "0.12 GLM"  # 0.1 + 0.02, exactly
    assert A.display(None, "uakt", 24) is None
    assert A.display(7, "weird-denom", None) == "7 base units of weird-denom"


def test_shares_and_parts() -> None:
    assert A.share_text(500, 1750) == "28.6%"  # 28.571... -> 28.6
    assert A.share_text(1, 8) == "12.5%"
    assert A.share_text(1, 2000) == "0.1%"  # 0.05 rounds half up
    assert A.share_text(2, 3) == "66.7%" and A.share_text(1, 1) == "100.0%"
    assert A.part_of_total(500 * 10**6, 1750 * 10**6, USDC_ETH, 6) == "500 of 1,750 USDC (28.6%)"
    # a haircut part (2 hops: 1/3 of 1,000 USDC) rounds to a whole base unit, half up
    assert A.part_of_total(Fraction(10**9, 3), 10**9, USDC_ETH, 6) == "333.333333 of 1,000 USDC (33.3%)"
    assert A.base_units(Fraction(5, 2)) == 3 and A.base_units(Fraction(3, 2)) == 2


@pytest.mark.parametrize("text,expected", [("0", "0"), ("999", "999"), ("1000", "1,000"),
                                           ("2106000.754537", "2,106,000.754537"), ("-1234.5", "-1,234.5")])
def test_grouped(text: str, expected: str) -> None:
    assert A.grouped(text) == expected
