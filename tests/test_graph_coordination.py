"""graphs.clusters coordination heuristics (issue 12) and graphs.compute concurrency: public templates
are told from private manifests by their users' behaviour, synchronized first rentals are linked only
when chance cannot explain them, payroll cadence is not a Sybil star, unknown times stay unknown."""

from __future__ import annotations

from graphs.build import build_graph
from graphs.clusters import common_funder_links, manifest_links, sync_rental_links
from graphs.compute import peak_concurrent

DAY = 86400
H100 = frozenset({"h100-sxm"})


def paid(i: int | str, src: str, dst: str, t: int | None, amount: int = 100) -> tuple:
    return (f"p{i}", "paid", src, dst, str(amount), 6, "USDC", t, None)


def rent_rows(i: int | str, owner: str, t: int | None, gpu: str = "h100-sxm", provider: str = "provider:akash:p",
              dseq: int = 1) -> list[tuple]:
    lease = f"lease:akash:{owner.split(':')[2]}/{dseq}/1/1/{provider.split(':')[2]}"
    return [(f"r{i}", "rented", owner, lease, None, None, None, t, None),
            (f"lf{i}", "leased_from", lease, provider, None, None, None, t, None),
            (f"u{i}", "uses_gpu", lease, f"gpu:{gpu}", None, None, None, t, '{"units": 8, "hours": 24}')]


def dep(owner: str, h: str, dseq: int = 1) -> dict:
    return {"id": f"deployment:akash:{owner.split(':')[2]}/{dseq}", "owner": owner, "hash": h}


def test_template_used_by_unrelated_owners_over_months_is_not_linked() -> None:
    for n in (8, 30):  # 8 was linked by the old fixed cap (<= 10 owners); 30 was not
        rows, deps = [], []
        for i in range(n):
            o = f"wallet:akash:t{i}"
            rows.append(paid(f"a{i}", f"wallet:akash:old{i}", o, 1000 + i * 3 * DAY - 5 * DAY))
            rows += rent_rows(i, o, 1000 + i * 3 * DAY, provider=f"provider:akash:p{i % 5}")
            deps.append(dep(o, "template"))
        tg = build_graph(rows)
        assert manifest_links(deps, tg, {}) == [], n


def test_private_manifest_shared_by_fresh_wallets_in_a_short_window_is_linked() -> None:
    rows, deps = [], []
    for i in range(5):
        o = f"wallet:akash:m{i}"
        rows.append(paid(f"a{i}", f"wallet:akash:src{i}", o, 1000 + i * 60))
        rows += rent_rows(i, o, 5000 + i * 600)
        deps.append(dep(o, "private"))
    tg = build_graph(rows)
    links = manifest_links(deps, tg, {})
    assert len(links) == 4 and {lk.heuristic for lk in links} == {"manifest_hash"}
    assert all(lk.refs and all(r.startswith("deployment:") for r in lk.refs) for lk in links)
    assert "within" in links[0].detail
    # Spread over months, different funders: the same five owners are template users.
    rows2 = []
    for i in range(5):
        o = f"wallet:akash:m{i}"
        rows2.append(paid(f"a{i}", f"wallet:akash:src{i}", o, 1000 + i * 30 * DAY))
        rows2 += rent_rows(i, o, 5000 + i * 30 * DAY)
    assert manifest_links(deps, build_graph(rows2), {}) == []
    # Deployed over months but first funded by one (non-hub) wallet in one burst: private.
    rows3 = []
    for i in range(5):
        o = f"wallet:akash:m{i}"
        rows3.append(paid(f"a{i}", "wallet:akash:boss", o, 1000 + i * 3600))
        rows3 += rent_rows(i, o, 5000 + i * 30 * DAY)
    assert len(manifest_links(deps, build_graph(rows3), {})) == 4


def test_old_wallets_deploying_a_template_on_one_day_are_not_linked() -> None:
    rows, deps = [], []
    for i in range(4):  # long histories: not fresh, so one day in common is not coordination
        o = f"wallet:akash:o{i}"
        rows.append(paid(f"a{i}", f"wallet:akash:src{i}", o, 1000))
        rows += rent_rows(f"old{i}", o, 2000 + i, dseq=9)
        rows += rent_rows(i, o, 100 * DAY + i * 3600, dseq=1)
        deps.append(dep(o, "hackathon-template", 1))
    assert manifest_links(deps, build_graph(rows), {}) == []


def test_sync_rentals_links_fresh_first_rentals_and_guards_against_chance() -> None:
    rows = []
    for i in range(4):
        o = f"wallet:akash:s{i}"
        rows += rent_rows(i, o, 10 * DAY + 3 * 3600 + i * 300)
    for i in range(40):  # background first rentals spread over 30 days
        rows += rent_rows(f"b{i}", f"wallet:akash:b{i}", 1000 + i * 18 * 3600 + 7 * 3600)
    tg = build_graph(rows)
    links = sync_rental_links(tg, {}, H100)
    assert {lk.a for lk in links} | {lk.b for lk in links} == {f"wallet:akash:s{i}" for i in range(4)}
    assert {lk.heuristic for lk in links} == {"sync_rentals"} and all(len(lk.refs) == 2 for lk in links)
    # Uncontrolled GPUs: no link.
    assert sync_rental_links(tg, {}, frozenset({"a100"})) == []
    # Dense background (300 first rentals in 2 days): 3 within an hour is chance, not coordination.
    rows = []
    for i in range(300):
        rows += rent_rows(f"d{i}", f"wallet:akash:d{i}", 1000 + i * 576)
    for i in range(3):
        rows += rent_rows(f"x{i}", f"wallet:akash:x{i}", DAY + 3600 + i * 60)
    links = sync_rental_links(build_graph(rows), {}, H100)
    assert not any(lk.a.startswith("wallet:akash:x") for lk in links)
    # Too few first rentals to know a base rate: 4 within 3 minutes and nothing else is not enough.
    rows = []
    for i in range(4):
        o = f"wallet:akash:h{i}"
        rows.append(paid(f"h{i}", f"wallet:akash:src{i}", o, 1000))
        rows += rent_rows(i, o, 60 * DAY + i * 60)
    assert sync_rental_links(build_graph(rows), {}, H100) == []


def test_sync_rentals_do_not_require_fresh_wallets() -> None:
    # Funded (and active) weeks before: their first rentals within 15 minutes, among 40 background
    # first rentals over a month, are still synchronized -- the chance test, not freshness, decides.
    rows = []
    for i in range(4):
        o = f"wallet:akash:s{i}"
        rows.append(paid(f"f{i}", f"wallet:akash:exchange{i % 2}", o, 60 * DAY - (20 + 5 * i) * DAY))
        rows.append(paid(f"o{i}", o, f"wallet:akash:shop{i}", 60 * DAY - 18 * DAY))
        rows += rent_rows(i, o, 60 * DAY + 3 * 3600 + i * 300)
    for i in range(40):
        rows += rent_rows(f"b{i}", f"wallet:akash:b{i}", 40 * DAY + i * 18 * 3600 + 7 * 3600)
    links = sync_rental_links(build_graph(rows), {}, H100)
    assert {lk.a for lk in links} | {lk.b for lk in links} == {f"wallet:akash:s{i}" for i in range(4)}
    # Requiring freshness (the old behaviour) is still available and drops them.
    assert sync_rental_links(build_graph(rows), {}, H100, fresh_s=14 * DAY) == []


def test_template_funded_by_an_exchange_like_wallet_is_not_linked() -> None:
    # One untagged wallet first-funds 10 customers, one a week; 6 of them use a template over months.
    # Most owners share that funder and are most of its wallets, but it onboards wallets week after
    # week like an exchange: that is no common owner.
    rows, deps = [], []
    for i in range(10):
        o = f"wallet:akash:c{i}"
        rows.append(paid(f"a{i}", "wallet:akash:exch", o, 1000 + i * 7 * DAY + i * 3600))
        if i < 6:
            rows += rent_rows(i, o, 80 * DAY + i * 9 * DAY)
            deps.append(dep(o, "template"))
    assert manifest_links(deps, build_graph(rows), {}) == []
    # The same six funded by that wallet in one burst are its own wallets: linked.
    rows = [paid(r[0], r[2], r[3], 1000 + i * 600) if r[1] == "paid" else r for i, r in enumerate(rows)]
    assert len(manifest_links(deps, build_graph(rows), {})) == 5


def fleet_rows(n: int, starts: list[int], hours: float, other: bool = False) -> tuple[list[tuple], list[dict]]:
    rows: list[tuple] = []
    deps: list[dict] = []
    for i in range(n):
        o = f"wallet:akash:f{i}"
        rows.append(paid(f"a{i}", f"wallet:akash:src{i}", o, starts[i] - (5 + 4 * i) * DAY))  # not fresh
        lease = rent_rows(i, o, starts[i])
        lease[2] = (*lease[2][:8], f'{{"units": 8, "hours": {hours}}}')
        rows += lease
        deps.append(dep(o, "fleet"))
        if other and i == 0:
            rows += rent_rows(f"x{i}", o, starts[i] - 3 * DAY, dseq=2)
            deps.append(dep(o, "something-else", 2))
    return rows, deps


def test_private_fleet_deployed_over_ten_days_is_linked() -> None:
    # Five owners, separate funders, not fresh, deploying one manifest over ~10 days and then running
    # it together for months, doing nothing else: a fleet.
    starts = [100 * DAY + i * int(2.5 * DAY) for i in range(5)]
    rows, deps = fleet_rows(5, starts, 120 * 24)
    links = manifest_links(deps, build_graph(rows), {})
    assert len(links) == 4 and "fleet" in links[0].detail
    # Not all running at once (the first closed before the last started): no fleet.
    rows, deps = fleet_rows(5, starts, 5 * 24)
    assert manifest_links(deps, build_graph(rows), {}) == []
    # One owner also deploys something else: not a wallet made for the fleet, no link.
    rows, deps = fleet_rows(5, starts, 120 * 24, other=True)
    assert manifest_links(deps, build_graph(rows), {}) == []
    # All running at once, but adoption spread over half the hash's life (10 days of a 21-day
    # life): five unrelated owners would do that by chance (~0.16), no link.
    rows, deps = fleet_rows(5, starts, 11 * 24)
    assert manifest_links(deps, build_graph(rows), {}) == []
    assert len(manifest_links(deps, build_graph(rows), {}, fleet_alpha=0.2)) == 4


def test_common_funder_ignores_unknown_times_and_tells_payroll_apart() -> None:
    # Escrow deposits with no time (Akash height-only facts) do not make a wallet "not fresh".
    rows = []
    for i in range(4):
        rows.append(paid(i, "wallet:akash:f", f"wallet:akash:s{i}", 1000 + i * 3600))
        rows.append(paid(f"d{i}", f"wallet:akash:s{i}", f"deployment:akash:s{i}/1", None))
    links = common_funder_links(build_graph(rows), {})
    assert len(links) == 4 and {lk.heuristic for lk in links} == {"common_funder"}
    # A treasury paying the same 3 wallets every month is payroll, not a Sybil star.
    rows = [paid(f"{m}-{k}", "wallet:evm:treasury", f"wallet:evm:staff{m}", 1000 + m * 60 + k * 30 * DAY)
            for m in range(3) for k in range(3)]
    links = common_funder_links(build_graph(rows), {})
    assert len(links) == 3 and {lk.heuristic for lk in links} == {"payroll"}
    assert all(lk.strength >= 0.5 for lk in links)  # still one organisation for compute totals


def test_peak_concurrent_gpus_over_overlapping_intervals() -> None:
    rows = [(0, 10, 8, 1.0, "a"), (5, 15, 8, 1.0, "b"), (10, 20, 8, 1.0, "c"), (30, 40, 16, 0.5, "d"),
            (None, None, 100, 1.0, "unknown")]
    p = peak_concurrent(rows)
    assert p.units == 16 and p.value == 16.0 and p.at == 5 and sorted(p.refs) == ["a", "b"]
    assert peak_concurrent([]).units == 0
    # Weighted: 16 GPUs at 0.5 each weigh 8, less than the 16 full ones.
    assert peak_concurrent([(30, 40, 16, 0.5, "d")]).value == 8.0


def test_a_renter_paying_providers_first_is_not_their_common_funder() -> None:
    """Held-out Polygon+Golem worlds: a listed renter was the first to pay three Golem payees, so
    common_funder put the providers in the listed wallet's cluster (high, unlabelled). A payout wallet
    is paid for compute, not funded."""
    from graphs.build import build_graph
    from graphs.clusters import common_funder_links

    rows: list[tuple] = []
    for i in range(4):
        payee = f"wallet:evm:payee{i}"
        rows.append((f"po{i}", "payout_to", f"provider:golem:p{i}", payee, None, None, None, None, None))
        rows.append((f"r{i}", "paid", "wallet:evm:renter", payee, str(10**19), 18, "GLM", 1_000 + 60 * i, None))
    tg = build_graph(rows)
    assert not common_funder_links(tg, {})
    # The same shape without payout links is a star (what the guard changes).
    assert common_funder_links(build_graph([r for r in rows if r[1] == "paid"]), {})
