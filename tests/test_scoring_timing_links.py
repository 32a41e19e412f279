"""A synchronized-timing link says wallets act together, never that one wallet's listing, exposure,
name match or restricted rental is another's (issue 12, independent worlds).

Clusters are unions of pairwise links, so one coincidental ``sync_rentals`` link (a first rental that
lands in the window of a real group) joined an unrelated exposed wallet to a payroll team and raised
the whole team to high through ``concealment``'s restricted link; a listed wallet joined the same way
gave every member ``listed_wallet`` 0.8.  A restricted member now counts for a subject only when the
subject reaches it through links other than ``sync_rentals`` alone."""

from __future__ import annotations

from typing import Any

from test_scoring_concealment import at_least, level, scored

from tracer.scoring import rules as R
from tracer.simulate import World

SYNC_DAY = 10 + 3 / 24  # 03:00 UTC on day 10 (not midnight: a time of day)


def background(w: World, ex: str, provider: str, n: int = 60) -> list[str]:
    """Unrelated renters starting at random times over a month (the base rate of first rentals)."""
    bg = []
    for i in range(n):
        b = w.wallet(f"bg-{i}")
        day = w.rnd.uniform(0, 30)
        w.pay(ex, b, 1_000, day)
        start = day + w.rnd.uniform(0.1, 2)
        start += 1 if abs(start - SYNC_DAY) < 0.5 else 0  # keep the planted window for the planted wallets
        w.rent(b, provider, "h100-sxm", 8 * 24, start, 100, units=8)
        bg.append(b)
    return bg


def exposed_wallet(w: World, ex: str, name: str = "exposed") -> tuple[str, str]:
    """A wallet with 12 % of its USDC inflow two hops from a listed wallet (listed -> peel -> it)."""
    listed = w.wallet(f"{name}-listed")
    w.listed(listed)
    peel = w.wallet(f"{name}-peel")
    e = w.wallet(name)
    w.pay(listed, peel, 1_200, 2.0)
    w.pay(peel, e, 1_200, 2.1)
    w.pay(ex, e, 8_800, 2.2)
    return e, listed


def sync_links(out: dict[str, Any]) -> set[str]:
    return {x for lks in out["ctx"].clusters.links.values() for lk in lks if lk.heuristic == "sync_rentals"
            for x in (lk.a, lk.b)}


def test_exposed_wallet_joined_to_a_payroll_team_by_timing_does_not_raise_the_team() -> None:
    w = World("t-payroll-sync")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    p = w.provider("us", {"h100-sxm": 512}, "US", ("audited",))
    treasury = w.wallet("treasury")
    w.pay(ex, treasury, 500_000, 0.1)
    staff = []
    for m in range(4):  # one organisation: a monthly payroll, all starting a job together
        s = w.wallet(f"staff-{m}")
        for month in range(3):
            w.pay(treasury, s, 4_000, 1 + 30 * month + m * 0.01)
        w.rent(s, p, "h100-sxm", 8 * 24 * 4, SYNC_DAY + m * 4 / 1440, 400, units=8)
        staff.append(s)
    e, _ = exposed_wallet(w, ex)
    w.rent(e, p, "h100-sxm", 8 * 24 * 2, SYNC_DAY + 9 / 1440, 200, units=8)  # by coincidence, in the window
    bg = background(w, ex, p)
    out = scored(w)
    ctx = out["ctx"]
    assert e in sync_links(out) and ctx.clusters.cluster(e) == ctx.clusters.cluster(staff[0])  # the contamination
    for s in staff:
        assert not at_least(out, s, "high"), (s, out["flags"].get(s))
        c = R.concealment(s, ctx)
        assert c is not None and c.score < 0.7
        assert "linked only by synchronized timing: not counted" in c.detail and e in c.detail
        assert R.listed_wallet(s, ctx) is None and R.exposure(s, ctx) is None
    # The exposed wallet keeps its own evidence: its exposure, and the restricted link is its own.
    ex_ev = R.exposure(e, ctx)
    assert ex_ev is not None and "12.0%" in ex_ev.detail and at_least(out, e, "medium")
    own = R.concealment(e, ctx)
    assert own is not None and own.score >= 0.7 and "not counted" not in own.detail
    assert not any(at_least(out, b, "medium") for b in bg)


def sybil_star(w: World, provider: str, n: int = 6, funder_name: str = "star-funder") -> tuple[str, list[str]]:
    """A fresh funder's star, every wallet starting 8x H100 within the sync window."""
    src = w.wallet(f"{funder_name}-src")
    funder = w.wallet(funder_name)
    w.pay(src, funder, 30_000, 0.2)
    star = []
    for i in range(n):
        s = w.wallet(f"{funder_name}-{i}")
        w.pay(funder, s, 1_000, 1 + i * 0.01)
        w.rent(s, provider, "h100-sxm", 8 * 24 * 3, SYNC_DAY + i * 3 / 1440, 300, units=8)
        star.append(s)
    return funder, star


def test_exposed_or_listed_wallet_joined_to_a_star_only_by_timing_does_not_make_it_high() -> None:
    w = World("t-star-sync")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    p = w.provider("us", {"h100-sxm": 512}, "US", ("audited",))
    _, star = sybil_star(w, p)
    e, _ = exposed_wallet(w, ex)
    w.rent(e, p, "h100-sxm", 8 * 24, SYNC_DAY + 10 / 1440, 100, units=8)
    listed = w.wallet("listed-renter")  # a listed renter whose first rental also lands in the window
    w.listed(listed)
    w.pay(ex, listed, 5_000, 3)
    w.rent(listed, p, "h100-sxm", 8 * 24, SYNC_DAY + 12 / 1440, 100, units=8)
    background(w, ex, p)
    out = scored(w)
    ctx = out["ctx"]
    assert {e, listed} <= sync_links(out)
    assert ctx.clusters.cluster(e) == ctx.clusters.cluster(star[0]) == ctx.clusters.cluster(listed)
    for s in star:
        assert level(out, s) == "medium", (s, out["flags"].get(s))  # coordination alone: medium
        assert R.listed_wallet(s, ctx) is None
        c = R.concealment(s, ctx)
        assert c is not None and "not counted" in c.detail and "common_funder" in c.detail
    assert level(out, listed) == "severe"  # its own listing is its own


def test_listed_wallet_in_the_star_through_a_common_funder_still_raises_it() -> None:
    w = World("t-star-listed-funder")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    p = w.provider("us", {"h100-sxm": 512}, "US", ("audited",))
    funder, star = sybil_star(w, p, 5)
    w.listed(star[0])  # funded by the same fresh funder in the same burst: a real common_funder link
    e, _ = exposed_wallet(w, ex)  # plus a coincidental timing link, not counted
    w.rent(e, p, "h100-sxm", 8 * 24, SYNC_DAY + 10 / 1440, 100, units=8)
    background(w, ex, p)
    out = scored(w)
    ctx = out["ctx"]
    for s in star[1:]:
        assert at_least(out, s, "high"), (s, out["flags"].get(s))
        lw = R.listed_wallet(s, ctx)
        assert lw is not None and lw.score == 0.8 and lw.path[0] == s and lw.path[-1] == star[0]
        assert funder in lw.path and e not in lw.path  # the path runs over the funder, not the timing link
        c = R.concealment(s, ctx)
        assert c is not None and c.score >= 0.7 and star[0] in c.detail and star[0] in c.path
