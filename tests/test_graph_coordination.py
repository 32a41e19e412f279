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
    # Spread over months but first funded by one (non-hub) wallet: private.
    rows3 = []
    for i in range(5):
        o = f"wallet:akash:m{i}"
        rows3.append(paid(f"a{i}", "wallet:akash:boss", o, 1000 + i * 30 * DAY))
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
    # Not fresh: wallets with an old history renting in sync are not linked.
    rows = []
    for i in range(4):
        o = f"wallet:akash:h{i}"
        rows.append(paid(f"h{i}", f"wallet:akash:src{i}", o, 1000))
        rows.append(paid(f"ho{i}", o, f"wallet:akash:shop{i}", 2000))
        rows += rent_rows(i, o, 60 * DAY + i * 60)
    assert sync_rental_links(build_graph(rows), {}, H100) == []


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
