"""graphs.exposure with amounts: dust carries no taint; taint stays per (wallet, asset) down the walk.

Root causes reproduced (issue 12): one 0.000001 USDC transfer from a listed wallet made a GLM-only
renter severe; a share computed in USDC leaked into the wallet's GLM payments.
"""

from __future__ import annotations

from fractions import Fraction

from graphs.build import build_graph
from graphs.dust import DEFAULT_DUST_MIN_VALUE, dust_limits
from graphs.exposure import exposure
from tracer.scoring import rules as R
from tracer.scoring.run import params_from_config, score_store
from tracer.simulate import World
from tracer.store import Store

L = "wallet:evm:listed"
GLM = "token:polygon:0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf"
USDC_POLYGON = "token:polygon:0x3c499c542cef5e3811e1192ce70d8cc03d5c3359"
NOW = "2026-06-01T00:00:00Z"


def usdc(i: int, src: str, dst: str, units: float, t: int = 0, asset: str = "USDC") -> tuple:
    """A USDC (6 decimals) payment of ``units`` whole USDC."""
    return (f"u{i}", "paid", src, dst, str(round(units * 10**6)), 6, asset, t, None)


def glm(i: int, src: str, dst: str, units: float, t: int = 0) -> tuple:
    """A GLM (18 decimals) payment of ``units`` whole GLM."""
    return (f"g{i}", "paid", src, dst, str(round(units * 10**6) * 10**12), 18, GLM, t, None)


# -- 1. dusting -------------------------------------------------------------------------------------

def test_dust_from_listed_wallet_is_not_exposure() -> None:
    """0.000001 USDC from a listed wallet to a renter that otherwise only moves GLM: no taint."""
    r = "wallet:evm:renter"
    rows = [usdc(1, L, r, 0.000001), glm(1, "wallet:evm:src", r, 5_000), glm(2, r, "wallet:evm:payee", 900)]
    res = exposure(build_graph(rows), [L], {})
    assert r not in res.incoming
    # The same with the stablecoin stored by token contract (as the EVM connector does).
    rows = [usdc(1, L, r, 0.000001, asset=USDC_POLYGON), glm(1, "wallet:evm:src", r, 5_000)]
    assert r not in exposure(build_graph(rows), [L], {}).incoming


def test_value_minimum_boundary_and_configuration() -> None:
    r = "wallet:evm:r"
    at_min = [usdc(1, L, r, float(DEFAULT_DUST_MIN_VALUE["USDC"]))]
    e = exposure(build_graph(at_min), [L], {}, held_factor=0).incoming[r]
    assert e.share == 1 and e.asset == "USDC/6"  # exactly the minimum is not dust
    below = [usdc(1, L, r, float(DEFAULT_DUST_MIN_VALUE["USDC"]) - 0.01)]
    assert r not in exposure(build_graph(below), [L], {}, held_factor=0).incoming
    tg = build_graph(below)
    # Per-asset configuration in display units: symbol, asset/decimals key or token id.
    assert dust_limits(tg, {"USDC": "0.5"})["USDC/6"] == 500_000
    assert dust_limits(tg, {"USDC/6": 2})["USDC/6"] == 2_000_000
    assert r in exposure(tg, [L], {}, dust=dust_limits(tg, {"USDC": "0.5"}), held_factor=0).incoming
    assert r in exposure(tg, [L], {}, dust={}, held_factor=0).incoming  # no minimum at all: the old behaviour


def test_dust_in_an_asset_without_configured_minimum_is_relative_to_its_median() -> None:
    """GLM has no price: a transfer under 1 % of the median GLM transfer in the graph is dust."""
    r = "wallet:evm:r"
    rows = [glm(100 + i, f"wallet:evm:a{i}", f"wallet:evm:b{i}", 40 + i) for i in range(30)]
    rows.append(glm(1, L, r, 0.000001))
    tg = build_graph(rows)
    lim = dust_limits(tg)
    assert lim[f"{GLM}/18"] == (54 * 10**18) // 100  # median of 40..69 GLM (54) / 100
    assert r not in exposure(tg, [L], {}).incoming
    rows[-1] = glm(1, L, r, 5)  # 5 GLM: above 1 % of the median, a real payment...
    rows.append(glm(2, r, "wallet:evm:payee", 4))  # ...that r moves on (pays a provider with it)
    assert exposure(build_graph(rows), [L], {}).incoming[r].share == 1


def test_passive_receipt_of_an_unpriced_asset_is_not_exposure() -> None:
    """Issue 12 (independent worlds): 0.0066 of an IBC USDT denom tracer cannot value, sent by a
    listed key to Akash renters that never move it, made them severe ("100 % of inflow in ibc").
    An asset with no configured value minimum taints a wallet only if the wallet moves it on."""
    r = "wallet:akash:renter"
    junk = "ibc/659B12CDFFBF0F80BA036DB626D1EBD5725674108630087F3AFC14675DDF5BF9"
    rows = [("j1", "paid", L, r, str(6578 * 10**18), 24, junk, 10, None),
            ("k1", "paid", "wallet:akash:exchange", r, str(500 * 10**24), 24, "uakt", 5, None),
            ("k2", "paid", r, "deployment:akash:x/1", str(300 * 10**24), 24, "uakt", 20, None)]
    assert r not in exposure(build_graph(rows), [L], {}).incoming
    rows.append(("j2", "paid", r, "wallet:akash:other", str(6000 * 10**18), 24, junk, 30, None))
    e = exposure(build_graph(rows), [L], {}).incoming[r]
    assert e.share == 1 and e.asset == f"{junk}/24"  # moved on: it did fund something
    # A valued asset (USD stablecoin) held and never moved: under 1,000 (100 x the dust limit) it is
    # kept apart as a possibly unsolicited receipt; from 1,000 it is a relationship and counts.
    small = exposure(build_graph([usdc(1, L, r, 500)]), [L], {})
    assert r not in small.incoming and small.passive[r].share == 1
    big = exposure(build_graph([usdc(1, L, r, 1_000)]), [L], {})
    assert big.incoming[r].share == 1 and r not in big.passive


def test_dust_does_not_count_as_paying_a_listed_wallet() -> None:
    """Outgoing 'payments' of dust to a listed wallet (e.g. zero-value transferFrom poisoning)."""
    p = "wallet:evm:payer"
    rows = [usdc(1, p, L, 0.000001), glm(1, p, "wallet:evm:z", 300)]  # its only USDC outflow
    assert p not in exposure(build_graph(rows), [L], {}).outgoing
    rows = [usdc(1, p, L, 100), usdc(2, p, "wallet:evm:z", 300)]
    assert exposure(build_graph(rows), [L], {}).outgoing[p].share == Fraction(1, 4)


def test_scoring_params_default_to_the_graph_defaults_and_reach_exposure() -> None:
    assert R.Params().dust_min_value == DEFAULT_DUST_MIN_VALUE
    w = World("t-dust-params")
    src, r = w.wallet("listed"), w.wallet("renter")
    w.listed(src)
    w.pay(src, r, 5, 1)  # 5 USDC: dust by default, not with a 1 USDC minimum
    w.rent(r, w.provider("p", {"h100-sxm": 1}, "US"), "h100-sxm", 10, 3, 1)
    store = Store(":memory:")
    w.write(store)
    ctx = score_store(store, now=NOW).context
    assert ctx is not None and R.exposure(r, ctx) is None
    ctx = score_store(store, params=params_from_config({"scoring": {"dust_min_value": {"USDC": 1}}}), now=NOW).context
    assert ctx is not None and ctx.exposure.incoming[r].share == 1


def test_dusted_renter_is_not_flagged_by_the_exposure_rule() -> None:
    w = World("t-dust")
    src, r, other = w.wallet("listed"), w.wallet("glm-renter"), w.wallet("glm-source")
    w.listed(src)
    w.pay(other, r, 5_000, 1, asset=(GLM, 18))
    w.pay(src, r, 0.000001, 2)  # 1 base unit of USDC
    p = w.provider("p", {"h100-sxm": 1}, "US")
    w.rent(r, p, "h100-sxm", 10, 3, 900)
    store = Store(":memory:")
    w.write(store)
    res = score_store(store, now=NOW)
    assert res.context is not None and R.exposure(r, res.context) is None
    assert r not in {f["subject"] for f in res.flags}


# -- 2. assets never mix down the walk ---------------------------------------------------------------

def test_usdc_share_does_not_taint_glm_payments() -> None:
    m, r_glm, r_usdc = "wallet:evm:m", "wallet:evm:r-glm", "wallet:evm:r-usdc"
    rows = [usdc(1, L, m, 100), glm(1, "wallet:evm:clean", m, 10_000),
            glm(2, m, r_glm, 500), usdc(2, m, r_usdc, 50)]
    res = exposure(build_graph(rows), [L], {}, held_factor=0)
    assert res.incoming[m].share == 1 and res.incoming[m].asset == "USDC/6"
    assert r_glm not in res.incoming  # m holds no tainted GLM
    e = res.incoming[r_usdc]
    assert e.share == 1 and e.asset == "USDC/6" and e.path == (L, m, r_usdc) and e.refs == ("u1", "u2")


def test_taint_per_asset_with_paths_per_asset() -> None:
    """A wallet tainted in two assets by two routes: the best asset is reported, each has its path."""
    m, x, y = "wallet:evm:m", "wallet:evm:x", "wallet:evm:y"
    rows = [usdc(1, L, x, 100), usdc(2, x, m, 100), usdc(3, "wallet:evm:c", m, 300),
            glm(1, L, y, 1_000), glm(2, y, m, 1_000), glm(3, "wallet:evm:c2", m, 1_000),
            glm(4, m, "wallet:evm:payee", 500)]  # m spends GLM (unpriced: must move on to count)
    res = exposure(build_graph(rows), [L], {})
    e = res.incoming[m]
    assert (e.share, e.asset, e.path, e.refs) == (Fraction(1, 2), f"{GLM}/18", (L, y, m), ("g1", "g2"))
    by = res.by_asset[m]
    assert by["USDC/6"].share == Fraction(1, 4) and by["USDC/6"].path == (L, x, m)
    assert by["USDC/6"].refs == ("u1", "u2") and by["USDC/6"].hop == 2


# -- a true positive keeps its exact share -----------------------------------------------------------

def test_three_hop_renter_with_material_share_keeps_exact_fraction() -> None:
    a, b, c = "wallet:evm:a", "wallet:evm:b", "wallet:evm:c"
    rows = [usdc(1, L, a, 300, t=10), usdc(2, "wallet:evm:c1", a, 100, t=11),
            usdc(3, a, b, 200, t=20), usdc(4, "wallet:evm:c2", b, 200, t=21),
            usdc(5, b, c, 100, t=30), usdc(6, "wallet:evm:c3", c, 300, t=31),
            glm(1, "wallet:evm:g", c, 1_000_000, t=5)]  # a big GLM inflow does not dilute the USDC share
    res = exposure(build_graph(rows), [L], {}, held_factor=0)
    assert res.incoming[a].share == Fraction(3, 4)
    assert res.incoming[b].share == Fraction(3, 8)
    e = res.incoming[c]
    assert e.share == Fraction(3, 32) and e.hop == 3 and e.asset == "USDC/6"
    assert e.path == (L, a, b, c) and e.refs == ("u1", "u3", "u5")


def test_dust_is_nobodys_first_funding() -> None:
    """A listed wallet dusting fresh wallets before their real funding must not become their common
    funder (held-out Polygon worlds: dusted renters joined the listed wallet's cluster and were high)."""
    from graphs.clusters import common_funder_links

    rows, victims = [], [f"wallet:evm:v{i}" for i in range(5)]
    for i, v in enumerate(victims):
        rows.append(usdc(10 + i, L, v, 0.0093, t=100 + i))  # dust first
        rows.append(usdc(20 + i, f"wallet:evm:bank{i}", v, 800, t=5_000 + 86_400 * i))  # real funding
    tg = build_graph(rows)
    assert {tg.first_in[tg.index[v]].src for v in victims} == {tg.index[L]}  # what the attack exploits
    assert tg.ignore_dust_fundings(dust_limits(tg)) == 5
    assert [tg.ids[tg.first_in[tg.index[v]].src] for v in victims] == [f"wallet:evm:bank{i}" for i in range(5)]
    assert not common_funder_links(tg, {})


def test_provider_payee_income_in_an_unpriced_asset_counts() -> None:
    """A provider's payout wallet paid in GLM by a listed renter: income for compute, not a passive
    receipt, even though the payee never moves the GLM on."""
    payee, prov = "wallet:evm:payee", "provider:golem:p"
    rows = [glm(1, L, payee, 700, t=10), glm(2, "wallet:evm:req", payee, 300, t=20),
            ("po", "payout_to", prov, payee, None, None, None, None, None)]
    e = exposure(build_graph(rows), [L], {}).incoming[payee]
    assert e.share == Fraction(7, 10)
    assert payee not in exposure(build_graph(rows[:2]), [L], {}).incoming  # without the payout link


def test_unsolicited_stablecoins_held_are_low_not_severe() -> None:
    """Independent tester: 150 USDC sent unasked by a listed wallet to wallets that never move it
    (Tornado-style amounts, above the 10 USDC dust limit) made them severe. Held and under 1,000: a
    possibly unsolicited receipt, scored low at most; a renter that received 5,000 and holds it, or
    that spent the 150, is exposed as before."""
    w = World("unsolicited")
    src = w.wallet("listed")
    w.listed(src)
    p = w.provider("p", {"h100-sxm": 8}, "US")
    gift, big, spent = w.wallet("gift"), w.wallet("big-holder"), w.wallet("spent")
    for r in (gift, big, spent):
        w.pay(w.wallet(f"own-{r[-6:]}"), r, 2_000, 0.5, asset=("GLM", 18))
        w.rent(r, p, "h100-sxm", 100, 3, 0)  # pays its rent in GLM below (unpriced)
        w.pay(r, w.wallet(f"payee-{r[-6:]}"), 500, 3.5, asset=("GLM", 18))
    w.pay(src, gift, 150, 1)
    w.pay(src, big, 5_000, 1)
    w.pay(src, spent, 150, 1)
    w.pay(spent, w.wallet("shop"), 140, 2)  # moved on: it funded something
    store = Store(":memory:")
    w.write(store)
    res = score_store(store, now=NOW)
    flags = {f["subject"]: f for f in res.flags}
    assert res.context is not None
    ev = R.exposure(gift, res.context)
    assert ev is not None and ev.score <= 0.3 and "never moved on" in ev.detail
    assert gift not in flags or flags[gift]["level"] in ("low", "none")
    assert flags[big]["level"] in ("severe", "high") and flags[spent]["level"] in ("severe", "high")
