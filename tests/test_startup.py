"""A lean start (issue 16): what ``tracer --help`` and ``tracer sync`` import before doing anything.

Module sets, not timings (timings are ``bench/startup.py``'s): each command runs in a fresh
interpreter whose audit hook writes ``sys.modules`` to a file at the first connection to the
loopback port of the test (then ends the process) or at exit.  ``tracer sync evm`` therefore runs
for real up to its first request to the configured RPC URL, and what it imported by then is what
a user waits for.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest
from faultserver import cli_env

from tracer import cli, registry

# Run as ``python -c PROBE <tracer args>``: the console script plus the audit hook.
PROBE = """
import json, os, sys
_out, _port = os.environ["STARTUP_PROBE_OUT"], int(os.environ["STARTUP_PROBE_PORT"])
def _dump(where):
    with open(_out, "w") as f:
        json.dump({"where": where, "modules": sorted(sys.modules)}, f)
def _hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][:2] == ("127.0.0.1", _port):
        _dump("request")
        os._exit(0)
sys.addaudithook(_hook)
import atexit
atexit.register(_dump, "exit")
sys.argv = ["tracer", *sys.argv[1:]]
from tracer.entry import run
run()
"""

# Never imported by `tracer --help`, `tracer --version` or `tracer COMMAND --help` (seconds, together).
HEAVY = ("pandas", "numpy", "pyarrow", "networkx", "web3", "rich", "sqlite_utils", "aiohttp", "pyspark",
         "lxml", "followthemoney", "pydantic")
HEAVY_PREFIXES = ("eth_",)  # eth_utils, eth_abi, eth_hash, eth_account...

# The help of these commands still loads what their modules import at the top (files outside the
# command line: tracer/demo.py imports aiohttp.web and the SQLite store, tracer/store/migrate.py
# the SQLite store, hence sqlite-utils -- without pandas now).  Nothing else is allowed.
HELP_ALLOWED: dict[str, set[str]] = {}

# Never imported by `tracer sync` before the first request of its one selected connector: the
# scoring side (pandas, networkx, Spark, the graphs) and presentation (rich: stderr is no terminal).
# Nor importlib.metadata (~20-25 ms with zipfile, csv and email; tracer.entry_points reads the
# connectors' entry points itself).
SYNC_HEAVY = ("pandas", "numpy", "pyarrow", "networkx", "web3", "rich", "pyspark", "lxml", "followthemoney",
              "pydantic", "graphs", "tracer.scoring", "tracer.server", "tracer.commands", "importlib.metadata")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bytecode cache shared by this module's interpreters (only speed: compiling tracer each time)."""
    return tmp_path_factory.mktemp("pycache")


def _probe(tmp: Path, args: list[str], pycache: Path, port: int = 0,
           ) -> tuple[str, set[str], subprocess.CompletedProcess[str]]:
    out = tmp / "modules.json"
    out.unlink(missing_ok=True)
    env = cli_env(STARTUP_PROBE_OUT=str(out), STARTUP_PROBE_PORT=str(port or _free_port()),
                  PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    res = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp)
    assert out.exists(), res.stderr
    data = json.loads(out.read_text())
    return data["where"], set(data["modules"]), res


def _heavy(modules: set[str], names: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> set[str]:
    """The names (packages or their submodules) among ``modules``, and top-level modules with a prefix."""
    found = {n for n in names if any(m == n or m.startswith(n + ".") for m in modules)}
    if prefixes:
        found |= {m.partition(".")[0] for m in modules if m.startswith(prefixes)}
    return found


def _commands() -> list[str]:
    ctx = click.Context(cli.main, info_name="tracer")
    return cli.main.list_commands(ctx)


def test_help_and_version_import_nothing_heavy(tmp_path: Path, pycache: Path) -> None:
    for args in (["--help"], ["--version"], []):
        where, modules, res = _probe(tmp_path, args, pycache)
        assert where == "exit", res.stderr
        assert "Usage:" in res.stdout + res.stderr or "version" in res.stdout, res.stderr
        assert not _heavy(modules, HEAVY, HEAVY_PREFIXES), args
        # listing the commands loads none of the lazily registered ones, nor the connector interface
        # (msgspec; the CLI's error handling needs only connectors.errors)
        assert not {m for m in modules if m.startswith(("tracer.commands", "tracer.demo", "connectors.http",
                                                        "connectors.base", "msgspec"))}, args


@pytest.mark.parametrize("command", _commands())
def test_command_help_imports_nothing_heavy(tmp_path: Path, pycache: Path, command: str) -> None:
    where, modules, res = _probe(tmp_path, [command, "--help"], pycache)
    assert res.returncode == 0 and "Usage:" in res.stdout, res.stderr
    assert _heavy(modules, HEAVY, HEAVY_PREFIXES) <= HELP_ALLOWED.get(command, set())


def test_lazy_commands_are_listed_with_their_own_summary() -> None:
    """``tracer --help`` lists lazy commands from ``LAZY_SUMMARIES``: the same lines as click's own listing,
    which imports every command, at every width."""
    assert set(cli.LAZY_SUMMARIES) == set(cli.LAZY_COMMANDS)
    ctx = click.Context(cli.main, info_name="tracer", **cli.main.context_settings)
    for width in (30, 60, 80, 100, 200):
        ours, clicks = click.HelpFormatter(width=width), click.HelpFormatter(width=width)
        cli.main.format_commands(ctx, ours)
        click.Group.format_commands(cli.main, ctx, clicks)
        assert ours.getvalue() == clicks.getvalue(), width
        assert "Commands:" in ours.getvalue()


def _evm_config(tmp: Path, port: int, disable_others: bool) -> Path:
    lines = [f'[connectors.evm.chains.ethereum]\nrpc_url = "http://127.0.0.1:{port}/"',
             "[connectors.evm.chains.polygon]\nenabled = false",
             "[connectors.evm.limits]\nmax_retries = 0"]
    if disable_others:
        lines += [f"[connectors.{name}]\nenabled = false" for name in registry.names() if name != "evm"]
    cfg = tmp / "tracer.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _other_connector_modules(modules: set[str], selected: str) -> set[str]:
    """Modules of connector packages other than ``selected``'s, beyond what validating the config
    file needs (each package's ``config`` module holds its schema)."""
    packages = {ep.module.split(".")[1] for ep in entry_points(group=registry.GROUP)
                if ep.module.startswith("connectors.") and ep.module.count(".") >= 2}
    mine = next(ep.module.split(".")[1] for ep in entry_points(group=registry.GROUP) if ep.name == selected)
    return {m for m in modules if m.count(".") >= 2 and m.split(".")[0] == "connectors"
            and m.split(".")[1] in packages - {mine} and m.split(".")[2] != "config"}


@pytest.mark.parametrize("how", ["selector", "enabled"])
def test_sync_of_one_connector_imports_only_what_it_needs(tmp_path: Path, pycache: Path, how: str) -> None:
    """``tracer sync evm`` (or ``tracer sync`` with every other connector disabled) reaches its first
    request having imported no other connector, no scoring or graph code and no pandas."""
    port = _free_port()
    cfg = _evm_config(tmp_path, port, disable_others=how == "enabled")
    args = ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "sync", *(["evm"] if how == "selector" else [])]
    where, modules, res = _probe(tmp_path, args, pycache, port)
    assert where == "request", f"no request to 127.0.0.1:{port}: {res.stderr}"
    assert "connectors.evm.connector" in modules and "tracer.pipeline" in modules  # the path really ran
    # The first request goes out on a snapshot of the store, before the store (sqlite-utils) opens.
    assert "tracer.store.snapshot" in modules
    assert not _heavy(modules, SYNC_HEAVY, HEAVY_PREFIXES)
    assert not _other_connector_modules(modules, "evm")


# -- sqlite-utils without pandas ---------------------------------------------------------------------------

COLUMN_TYPES = """
import json, sys
{first}
import numpy as np, pandas as pd, sqlite_utils
db = sqlite_utils.Database(memory=True)
db["t"].insert({{"i8": np.int8(1), "i64": np.int64(2), "u64": np.uint64(3), "f32": np.float32(1.5),
                "f64": np.float64(2.5), "ts": pd.Timestamp("2026-01-02"), "n": 4, "s": "x"}})
print(json.dumps({{"columns": {{c.name: c.type for c in db["t"].columns}},
                  "get": sqlite_utils.db.COLUMN_TYPE_MAPPING.get(np.int32),
                  "missing": sqlite_utils.db.COLUMN_TYPE_MAPPING.get(complex, "none")}}))
"""


def _run(code: str) -> Any:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_store_imports_sqlite_utils_without_pandas() -> None:
    out = _run("import json, sys\nfrom tracer.store import open_store\n"
               "s = open_store(':memory:')\ns.close()\n"
               "print(json.dumps(sorted(m for m in ('pandas', 'numpy', 'sqlite_utils') if m in sys.modules)))")
    assert out == ["sqlite_utils"]


def test_store_open_scans_no_plugin_entry_points(tmp_path: Path) -> None:
    """Opening (and creating) a store loads no sqlite-utils plugins: that scans every installed
    package's entry points through importlib.metadata, ~30 ms of each sync's start (issue 16)."""
    db = tmp_path / "t.db"
    out = _run("import json, sys\nfrom tracer.store import open_store\n"
               f"s = open_store({str(db)!r})\ns.close()\ns = open_store({str(db)!r})\ns.close()\n"
               "import sqlite_utils.plugins as p\n"
               "print(json.dumps([p._plugins_loaded, 'importlib.metadata' in sys.modules]))")
    assert out == [False, False]


def test_sqlite_utils_column_types_unchanged_for_numpy_and_pandas_values() -> None:
    """Code that inserts numpy or pandas values through sqlite-utils after the store was opened gets
    the column types sqlite-utils gives them when it imports pandas itself."""
    lean = _run(COLUMN_TYPES.format(first="import tracer.store.sqlite\nassert 'pandas' not in sys.modules"))
    eager = _run(COLUMN_TYPES.format(first="import pandas"))
    assert lean == eager
    assert lean["columns"]["i64"] == "INTEGER" and lean["columns"]["f32"] == "REAL" and lean["columns"]["ts"] == "TEXT"
    assert lean["get"] == "INTEGER" and lean["missing"] == "none"


# -- the cyclic collector during start-up -----------------------------------------------------------------

GC_PROBE = """
import gc, json, os, sys
_out, _seen = os.environ["STARTUP_PROBE_OUT"], []
def _hook(event, args):
    if (event == "import" and args[0] == "aiohttp") or event == "sqlite3.connect":
        _seen.append([event, gc.isenabled(), gc.get_freeze_count() > 0])
sys.addaudithook(_hook)
import atexit
atexit.register(lambda: open(_out, "w").write(json.dumps(_seen)))
sys.argv = ["tracer", *sys.argv[1:]]
from tracer.entry import run
run()
"""


def _gc_seen(tmp: Path, args: list[str], pycache: Path) -> list[list[Any]]:
    out = tmp / "gc.json"
    env = cli_env(STARTUP_PROBE_OUT=str(out), PYTHONPYCACHEPREFIX=str(pycache))
    res = subprocess.run([sys.executable, "-c", GC_PROBE, *args], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp)
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_the_collector_is_paused_while_tracer_starts_and_on_while_it_works(
        tmp_path: Path, pycache: Path, fault_server: Any) -> None:
    """The console script pauses the cyclic collector while the command's modules load (their
    objects live as long as the process: each collection walked them again), then freezes them and
    turns it back on: ``tracer sync`` once its first requests are out, before its store opens;
    every other command as it starts (here ``tracer runs``, whose store opens after)."""
    from conftest import demo_assets
    from faultserver import write_config

    cfg = write_config(tmp_path / "tracer.toml", fault_server.base + "/lists/", assets=demo_assets(),
                       limits={"backoff_base": 0.01, "max_retries": 2, "rate": 0})
    db = ["--config", str(cfg), "--db", str(tmp_path / "t.db")]
    seen = _gc_seen(tmp_path, [*db, "-q", "sync", "ofac_addresses"], pycache)
    assert ["import", False, False] in seen  # aiohttp loaded with the collector paused
    connects = [s for s in seen if s[0] == "sqlite3.connect"]
    assert connects and connects[-1] == ["sqlite3.connect", True, True]  # the store opened after
    seen = _gc_seen(tmp_path, [*db, "runs"], pycache)
    assert seen and all(s == ["sqlite3.connect", True, True] for s in seen)
