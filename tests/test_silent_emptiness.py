"""Silent emptiness (issue 15): a wrong store, an unknown edge kind, level or id, and an unconfigured
stream are each said out loud (exit 2 / HTTP 4xx with one line, or "skipped: not configured"),
never an empty answer that a cron job or an analyst reads as "no risk"."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from investigate_support import IDS, build_world

from tracer.cli import main
from tracer.server import start

UNKNOWN = "wallet:evm:0x" + "0" * 40

# Every command that only reads the store (plus the writes that need an existing one).
READERS = [
    ["find", "Kowloon"], ["neighbours", IDS["A"]], ["path", IDS["A"], IDS["F"]], ["funding", IDS["A"]],
    ["exposure", IDS["A"]], ["cluster", IDS["A"]], ["timeline", IDS["A"]], ["explain", IDS["A"]],
    ["score"], ["runs"], ["state", "show"], ["state", "reset", "--all"], ["lists"], ["screen", "Kowloon"],
    ["screen", "--all"], ["export", "watchlist", "-o", "w.csv"], ["export", "graph", "-o", "g.gexf"],
    ["export", "report", "-o", "r.html"], ["serve", "--port", "0"],
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_reading_command_refuses_a_missing_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   args: list[str]) -> None:
    """Before: `tracer --db typo.db find Kowloon` created typo.db and printed [] with exit 0."""
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["--db", "typo.db", *args])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr.splitlines() == [r.stderr.strip()]  # one line
    assert r.stderr.startswith("error: no tracer store at typo.db: run tracer sync (or tracer demo)")
    assert r.stdout == ""
    assert os.listdir(tmp_path) == []  # nothing created, not even a lock file


def test_migrate_refuses_a_missing_source_and_creates_its_destination(tmp_path: Path) -> None:
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    r = CliRunner().invoke(main, ["migrate", str(tmp_path / "typo.db"), str(dst)])
    assert r.exit_code == 2 and f"no tracer store at {tmp_path / 'typo.db'}" in r.stderr
    assert not dst.exists()
    build_world(src).close()
    r = CliRunner().invoke(main, ["-q", "migrate", str(src), str(dst)])
    assert r.exit_code == 0, r.stderr
    assert dst.is_file()


# ---- unknown kinds, levels and ids ------------------------------------------------------------------

@pytest.fixture()
def world(tmp_path: Path) -> tuple[Path, list[str]]:
    store = build_world(tmp_path / "w.db")
    kinds = store.edge_kinds()
    store.close()
    return tmp_path / "w.db", kinds


@pytest.mark.parametrize("args", [
    ["neighbours", IDS["A"], "--kind", "bogus"],
    ["neighbours", IDS["A"], "--kind", "paid", "--kind", "payed"],
    ["path", IDS["F2"], IDS["W"], "--kind", "bogus"],
], ids=["neighbours", "neighbours-second-kind", "path"])
def test_an_unknown_edge_kind_is_a_usage_error_listing_the_kinds(world: tuple[Path, list[str]],
                                                                 args: list[str]) -> None:
    """Before: `neighbours ID --kind bogus` printed [] with exit 0."""
    db, kinds = world
    r = CliRunner().invoke(main, ["--db", str(db), *args, "--json"])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    bad = args[-1]
    assert r.stderr == f"error: edge kind {bad!r} is not in this store; its kinds: {', '.join(kinds)}\n"
    assert "paid" in kinds and "rented" in kinds
    assert r.stdout == ""


def test_a_known_kind_still_answers(world: tuple[Path, list[str]]) -> None:
    db, _ = world
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", IDS["A"], "--kind", "rented", "--json"])
    assert r.exit_code == 0, r.stderr
    assert {e["kind"] for e in json.loads(r.stdout)} == {"rented"}


@pytest.mark.parametrize("cmd", ["neighbours", "funding", "exposure", "cluster", "timeline"])
def test_an_unknown_id_is_a_usage_error(world: tuple[Path, list[str]], cmd: str) -> None:
    """An id the store does not hold is the caller's mistake (exit 2), not "no result" (was exit 1)."""
    db, _ = world
    r = CliRunner().invoke(main, ["--db", str(db), cmd, UNKNOWN])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr == (f"error: id {UNKNOWN} is not in the store; try find with part of its address or "
                        "name\n")


def test_an_unknown_level_is_a_usage_error_listing_the_levels(world: tuple[Path, list[str]]) -> None:
    db, _ = world
    r = CliRunner().invoke(main, ["--db", str(db), "score", "--min-level", "critical"])
    assert r.exit_code == 2
    assert "'critical' is not one of 'low', 'medium', 'high', 'severe'" in r.stderr


@pytest.fixture()
async def api(world: tuple[Path, list[str]]):  # type: ignore[no-untyped-def]
    runner, base = await start(world[0], "127.0.0.1", 0)
    async with aiohttp.ClientSession() as s:
        yield s, base, world[1]
    await runner.cleanup()


@pytest.mark.parametrize("path, params", [
    ("/api/neighbours", {"id": IDS["A"], "kind": "bogus"}),
    ("/api/neighbours", {"id": IDS["A"], "kind": "paid,bogus"}),
    ("/api/path", {"from": IDS["F2"], "to": IDS["W"], "kind": "bogus"}),
])
async def test_api_answers_an_unknown_kind_with_400(api, path: str, params: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Before: 200 with no edges."""
    s, base, kinds = api
    async with s.get(f"{base}{path}", params=params) as r:
        assert r.status == 400
        body = await r.json()
    assert body == {"error": f"edge kind 'bogus' is not in this store; its kinds: {', '.join(kinds)}"}


async def test_api_answers_an_unknown_id_with_a_json_error(api) -> None:  # type: ignore[no-untyped-def]
    s, base, _ = api
    async with s.get(f"{base}/api/timeline", params={"id": UNKNOWN}) as r:
        assert r.status == 404
        assert "is not in the store" in (await r.json())["error"]


# ---- unconfigured streams -------------------------------------------------------------------------

def test_an_unconfigured_stream_is_skipped_not_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: `ionet.devices` with no device ids reported "ok, 0 records"."""
    import socket

    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an unconfigured stream made a request: {args[:1]}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    cfg = tmp_path / "t.toml"
    cfg.write_text('[connectors.ionet]\nbase_url = "http://ionet.invalid/v1/io-explorer"\n')
    db = tmp_path / "t.db"
    r = CliRunner().invoke(main, ["--config", str(cfg), "--db", str(db), "sync", "ionet", "--json"])
    assert r.exit_code == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert (row["stream"], row["status"], row["records"], row["error"]) == ("ionet.devices", "skipped", 0, None)
    assert row["note"].startswith("not configured: no device ids")
    runs = CliRunner().invoke(main, ["--db", str(db), "runs", "--streams", "--json"])
    [st] = json.loads(runs.stdout)
    assert (st["stream"], st["status"]) == ("ionet.devices", "skipped")
    assert st["error"].startswith("not configured")
    [run] = json.loads(CliRunner().invoke(main, ["--db", str(db), "runs", "--json"]).stdout)
    assert run["status"] == "ok" and run["error"] is None


def test_a_configured_stream_next_to_a_skipped_one_decides_the_run(tmp_path: Path) -> None:
    """Skipped is not failed: the run fails only for the stream that did (a closed loopback port)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'[connectors.ionet]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                   f'[connectors.ofac_addresses]\nbase_url = "http://127.0.0.1:{port}/lists"\n')
    r = CliRunner().invoke(main, ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "sync", "ionet",
                                  "ofac_addresses", "--json"])
    assert r.exit_code == 1
    status = {row["stream"]: row["status"] for row in json.loads(r.stdout)}
    assert status == {"ionet.devices": "skipped", "ofac_addresses.addresses": "failed"}
    error = (f"ofac_addresses.addresses: GET http://127.0.0.1:{port}/lists/sanctioned_addresses_XBT.txt: "
             f"connection refused by 127.0.0.1:{port}")
    lines = r.stderr.splitlines()
    assert [ln for ln in lines if ln.startswith("error: ")] == [f"error: {error}"]
    # the per-stream lines (stderr is no terminal) tell the skipped stream from the failed one
    assert any(ln.startswith("ionet.devices skipped: not configured: no device ids") for ln in lines), lines
    [failed] = [ln for ln in lines if ln.startswith("ofac_addresses.addresses failed: ")]
    assert failed.endswith(f"; error: {error.split(': ', 1)[1]}"), failed


def test_refuse_unknown_id_tells_a_typo_from_a_node_without_a_flag(world: tuple[Path, list[str]],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The helper `explain` uses once it found no flag: exit 2 for an id the store does not hold,
    nothing for a stored node (whose "no flag" answer is then true)."""
    from tracer.commands.common import refuse_unknown_id
    from tracer.store import open_store

    store = open_store(str(world[0]), create=False)
    try:
        refuse_unknown_id(store, IDS["B1"])  # stored, never flagged: the command goes on
        assert capsys.readouterr().err == ""
        with pytest.raises(SystemExit) as e:
            refuse_unknown_id(store, UNKNOWN)
    finally:
        store.close()
    assert e.value.code == 2
    assert capsys.readouterr().err == (f"error: id {UNKNOWN} is not in the store; try find with part of its "
                                       "address or name\n")
