"""Fuzz every command of the ``tracer`` CLI (issue 17): hostile arguments never crash it.

Commands are discovered by walking the click group ``tracer.cli.main`` (lazy commands resolved
with ``get_command``, groups recursively), so a new command is fuzzed without touching this file;
``test_every_command_is_fuzzed_or_excluded`` fails by name for one that is neither.  Each
parameter's values come from its click metadata (type, nargs, multiple, flag, count): empty and
blank text, huge, negative and non-finite numbers, floats for ints, 10,000-character strings,
RTL/combining/emoji text, NUL, lone surrogates (``os.fsdecode(b"\\xff\\xfe")``: what argv holds
when a terminal sends bytes that are not UTF-8), ids that look almost right, missing files,
folders, ``/dev/null``, and the names of the command's other options as values.

Each argv runs in-process (``CliRunner``) against its own copy of a small real store
(``investigate_support.build_world``) with a config that points every connector at a 127.0.0.1
port nothing listens on (no retries, short timeouts); non-loopback connections are refused by a
guard and libpq is pointed at a dead port, so nothing reaches the internet or a local database.

Excluded: ``serve`` (starts a server that runs until stopped; its parameters are covered by
tests/test_fuzz_api.py and tests/test_server.py), ``demo`` (ignores the config: it builds and
serves a whole generated world, seconds per run, and ``--clean`` deletes the folder it is given,
so hostile folders would delete real ones), and ``run --every`` with an interval that parses
(``run_every`` then waits that interval, forever without ``--max-runs``): ``--every`` is fuzzed
only with values ``parse_every`` refuses.

Property: exit code 0, 1 or 2; a non-zero exit prints click's usage text ("Usage:" ... "Error:")
or lines starting with "error:" (exactly one for exit 2; exit 1 may instead report in its
output, as ``doctor`` does with one row per probe, or answer "no match" as ``screen`` does); never a traceback, never "internal
error"; ``result.exception`` is None or SystemExit; every run ends within ``HANG_S`` seconds.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from investigate_support import IDS, build_world

from tracer.cli import main

# Per command: ~25 commands x EXAMPLES keeps the file under a minute on two busy cores.  For a
# longer, randomised hunt: TRACER_FUZZ_CLI_EXAMPLES=500 TRACER_FUZZ_CLI_RANDOM=1 pytest tests/test_fuzz_cli.py
EXAMPLES = int(os.environ.get("TRACER_FUZZ_CLI_EXAMPLES", "25"))
SLOW = {"sync", "run", "simulate", "score", "doctor", "migrate", "export report", "export graph",
        "export watchlist"}
HANG_S = 30

EXCLUDED = {
    "serve": "starts a server that runs until stopped (fuzzed over HTTP by tests/test_fuzz_api.py)",
    "demo": "ignores the config, builds and serves a whole world (seconds per run); --clean deletes its folder",
}
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens on it here
DEAD_PG = "postgresql://fuzz@127.0.0.1:9/none"
# Exit 1 as an answer, not an error: `screen` found nothing (like grep).
RESULT_LINES = ("no match",)
BAD = os.fsdecode(b"\xff\xfe")  # lone surrogates, as Python decodes non-UTF-8 argv bytes

HOSTILE = [
    "", " ", "\t\n ", "0", "-1", "-0", "1.5", "-2.5", "1e309", "nan", "inf", "-inf", "0x10", "٣",
    "99999999999999999999999999999", str(2**63), str(-(2**63) - 1), "x" * 10_000, "\u202eevil\u202c",
    "e\u0301\u0301\u0301\u0301", "🔥💀👩\u200d👩\u200d👧", "\x00", "a\x00b", BAD, "Kowloon " + BAD, "wallet:" + BAD,
    "wallet:evm:0xZZ", "wallet::", "lease:akash:", "wallet:evm:", "provider:akash:", "entity:ofac:", "gpu:",
    ":", "::::", "wallet:evm:0x" + "0" * 40, "WALLET:EVM:0x" + "AB" * 20, "%s%n%x", "'; DROP TABLE edges; --",
    "*", "%", "_", "\\", "../../../../etc/passwd", "-", "--", "-h", "--help", "--version", "Kowloon",
]
NUMBERS = ["0", "1", "2", "-1", "6", "7", "500", "501", "1.5", "1e3", "nan", "inf", "-inf", "", " 3 ", "0x10",
           "99999999999999999999999999999", str(2**63), "٣"]


# --- the command tree, discovered from the click group ---------------------------------------------

def _walk(cmd: click.Command, path: tuple[str, ...], ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path + (name,))} is listed but does not load"
            yield from _walk(sub, path + (name,), click.Context(sub, parent=ctx, info_name=name))
    else:
        yield " ".join(path), cmd


COMMANDS: dict[str, click.Command] = dict(_walk(main, (), click.Context(main, info_name="tracer")))
FUZZED = sorted(n for n in COMMANDS if n not in EXCLUDED)


# --- the world: a store, a dead-port config, a guard against the network ----------------------------

def _toml(cfg: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    """A small TOML writer (JSON scalars and lists are valid TOML values)."""
    lines, tables = [], []
    for k, v in cfg.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif v is not None:
            lines.append(f"{json.dumps(k)} = {json.dumps(v)}")
    out = ([f"[{'.'.join(json.dumps(p) for p in prefix)}]"] if prefix and lines else []) + lines
    for k, v in tables:
        out += _toml(v, prefix + (k,))
    return out


def _dead_config() -> dict[str, Any]:
    """Every connector pointed at a loopback port nothing listens on, as ``tracer demo`` points
    them at its world; connectors no demo part configures are disabled."""
    from tracer.demo import DEMO_PARTS, _load
    from tracer.registry import connectors

    conn: dict[str, Any] = {name: {"enabled": False} for name in connectors()}
    for spec in DEMO_PARTS:
        part = _load(spec)()
        for name, c in part.config(f"{DEAD}/{part.name}").items():
            limits = {**c.get("limits", {}), "timeout": 0.5, "max_retries": 0}
            conn[name] = {**c, "enabled": True, "limits": limits}
    return {"connectors": conn}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fuzzcli")
    template = base / "template.db"
    store = build_world(template)
    store.close()
    cfg = base / "tracer.toml"
    cfg.write_text("\n".join(_toml(_dead_config())) + "\n")
    folder = base / "a-folder"
    folder.mkdir()
    garbage = base / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00not,a\nreal\"file\n" * 3)
    (base / "home").mkdir()
    return {"base": base, "template": template, "config": cfg, "folder": folder, "garbage": garbage}


class Hung(BaseException):
    """A command ran longer than HANG_S (not an Exception, so CliRunner does not swallow it)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hung(f"command still running after {HANG_S}s")


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[None]:
    """Refuse every connection that is not to the loopback interface or a Unix socket."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not str(address[0]).startswith(("127.", "::1")):
            raise OSError(errno.ENETUNREACH, f"fuzz test: no connection to {address[0]}")
        real(self, address)

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", connect)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    yield
    signal.signal(signal.SIGALRM, previous)
    mp.undo()


@pytest.fixture
def cell(world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """This command's own copy of the world store, its own working folder."""
    db = tmp_path / "world.db"
    shutil.copy(world["template"], db)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return {**world, "db": db, "work": work}


def _env(c: dict[str, Path]) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TRACER_") or k.startswith("PG")}
    env.update({"HOME": str(c["base"] / "home"), "XDG_CONFIG_HOME": str(c["base"] / "home"),
                "TRACER_FIXTURES": str(c["base"] / "no-fixtures"), "PGHOST": "127.0.0.1", "PGPORT": "9",
                "PGCONNECT_TIMEOUT": "2", "NO_COLOR": "1"})
    return env


def invoke(c: dict[str, Path], args: list[str], root: list[str] | None = None) -> Result:
    argv = ["--config", str(c["config"]), "--db", str(c["db"]), "-q"] if root is None else root
    signal.alarm(HANG_S)
    try:
        return CliRunner().invoke(main, [*argv, *args], env=_env(c), catch_exceptions=True)
    finally:
        signal.alarm(0)


def check(r: Result, args: list[str]) -> None:
    """The property: a known exit code, a one-line error or click's usage text, no traceback."""
    shown = repr(args)[:600]
    err, out = r.stderr, r.stdout
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(r.exception))
        pytest.fail(f"{shown} raised {type(r.exception).__name__}: {r.exception}\n{tb[-3000:]}")
    assert r.exit_code in (0, 1, 2), (shown, r.exit_code, err[-2000:])
    for text in (out, err):
        assert "Traceback" not in text and "internal error" not in text, (shown, text[-2000:])
    if r.exit_code != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if r.exit_code == 2 and any(ln.startswith("Error: ") for ln in lines):  # click's usage error
            # (click quotes the user's text as is: a newline in it continues the Error line)
            assert lines[0].startswith(("Usage:", "Error: ")), (shown, err[-2000:])
            return
        if r.exit_code == 1 and lines and all(ln.startswith(RESULT_LINES) for ln in lines):
            return
        if r.exit_code == 1 and not lines:  # a failed check reported in its output (doctor's probe rows)
            assert out.strip(), (shown, "exit 1 with no output and no error line")
            return
        assert lines, (shown, r.exit_code, "no error line", out[-500:])
        assert all(ln.startswith("error:") for ln in lines), (shown, err[-2000:])
        if r.exit_code == 2:
            assert len(lines) == 1, (shown, err[-2000:])


# --- values per parameter ----------------------------------------------------------------------------

def _paths(c: dict[str, Path]) -> list[str]:
    return [str(c["base"] / "missing" / "x.csv"), str(c["base"] / "nope.db"), str(c["folder"]), "/dev/null",
            str(c["garbage"]), str(c["db"]), "out.csv", "sub/dir/out.json", ".", "/", "-"]


def _domain(name: str, c: dict[str, Path]) -> list[str]:
    """Plausible values for a parameter, by its name (the fuzzer mixes them with hostile ones)."""
    if name in {"node_id", "a", "b", "ident", "text"}:
        return [*IDS.values(), "Kowloon", "gpu-farm", "0x" + "ab" * 32, "obs:ofac:A", "ev:1"]
    if name == "queries":
        return ["Kowloon Compute Ltd", "gpu-farm.example", IDS["A"].split(":")[2], "someone@example.com"]
    if name in {"selectors", "streams"}:
        return ["ofac_addresses", "akash", "evm", "nosuch", "ofac_addresses.nosuch", "akash.", ".x"]
    if name in {"src", "dst"}:
        return [str(c["db"]), str(c["base"] / "new.db"), DEAD_PG, "sqlite:///" + str(c["db"]), "mysql://x/y",
                "postgresql://", "sqlite:///", str(c["folder"]), "/dev/null", str(c["garbage"])]
    if name == "key":
        return ["db", "connectors", "connectors.akash", "connectors.akash.lcd_url", "export.dir", "nosuch.key"]
    if name == "kinds":
        return ["paid", "rented", "leased_from", "same_actor", "nosuch"]
    if name == "webhook":
        return [f"{DEAD}/hook", "http://", "ftp://x", "http://[::1", "https://example.invalid/x"]
    if name == "diff_source":
        return ["ofac-sdn-csv", "ofac_addresses", "nosuch"]
    if name == "role":
        return ["reader", "bad role\"", ""]
    return []


def _every_refused(text: str) -> bool:
    from tracer.scheduler import parse_every

    try:
        parse_every(text)
    except Exception:
        return True
    return False


def _values(cmd_name: str, p: click.Parameter, c: dict[str, Path], other_opts: list[str]) -> st.SearchStrategy[str]:
    t = p.type
    pool: list[str] = list(HOSTILE) + other_opts + _domain(p.name or "", c)
    if isinstance(t, click.Choice):
        pool += [str(x) for x in t.choices] * 3
    if isinstance(t, click.types.IntParamType | click.types.FloatParamType):
        pool += NUMBERS * 2
        for bound in ("min", "max"):
            b = getattr(t, bound, None)
            if b is not None:
                pool += [str(b), str(b - 1), str(b + 1)]
    if isinstance(t, click.Path):
        pool += _paths(c) * 2
    strat: st.SearchStrategy[str] = st.one_of(st.sampled_from(pool), st.text(max_size=12))
    if cmd_name == "run" and p.name == "every":
        strat = strat.filter(_every_refused)
    return strat


@st.composite
def argv_for(draw: st.DrawFn, cmd_name: str, c: dict[str, Path]) -> list[str]:
    cmd = COMMANDS[cmd_name]
    opts = [o for p in cmd.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)]
    opts += ["--help"] if draw(st.integers(0, 30)) == 0 else []
    options: list[list[str]] = []
    positional: list[str] = []
    for p in cmd.params:
        values = _values(cmd_name, p, c, opts)
        if isinstance(p, click.Argument):
            if p.nargs == -1:
                positional += draw(st.lists(values, max_size=3))
            elif draw(st.integers(0, 9)) > 0:  # now and then a required argument is missing
                positional += [draw(values) for _ in range(p.nargs)]
            continue
        assert isinstance(p, click.Option)
        if p.is_flag:
            if draw(st.booleans()):
                options.append([draw(st.sampled_from([*p.opts, *p.secondary_opts]))])
            continue
        if p.count:
            options += [[p.opts[0]]] * draw(st.integers(0, 2))
            continue
        times = draw(st.integers(0, 2 if p.multiple else 1))
        for _ in range(times):
            opt = draw(st.sampled_from(p.opts))
            vals = [draw(values) for _ in range(p.nargs)]
            if opt.startswith("--") and p.nargs == 1 and draw(st.booleans()):
                options.append([f"{opt}={vals[0]}"])
            else:
                options.append([opt, *vals])
    options = draw(st.permutations(options)) if options else options
    tail = [a for o in options for a in o]
    cut = draw(st.integers(0, len(tail)))  # positionals anywhere between whole options
    while cut and cut < len(tail) and any(tail[cut - 1] == o for o in opts if not o.startswith("--no-")):
        cut -= 1
    return cmd_name.split() + tail[:cut] + positional + tail[cut:]


FUZZ = dict(deadline=None, derandomize=not os.environ.get("TRACER_FUZZ_CLI_RANDOM"), database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                   HealthCheck.filter_too_much, HealthCheck.data_too_large])


# --- the tests ----------------------------------------------------------------------------------------

def test_every_command_is_fuzzed_or_excluded() -> None:
    assert set(EXCLUDED) <= set(COMMANDS), "an excluded command no longer exists"
    assert {"find", "sync", "state show", "export watchlist", "config show", "migrate"} <= set(FUZZED)


@pytest.mark.parametrize("cmd_name", FUZZED)
def test_hostile_arguments(cmd_name: str, cell: dict[str, Path]) -> None:
    n = max(3, EXAMPLES // 4) if cmd_name in SLOW else EXAMPLES

    @settings(max_examples=n, **FUZZ)  # type: ignore[arg-type]
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        args = data.draw(argv_for(cmd_name, cell), label="argv")
        check(invoke(cell, args), args)

    run()


def test_root_options(cell: dict[str, Path]) -> None:
    """--config and --db themselves: missing files, folders, /dev/null, garbage, dead URLs."""
    paths = _paths(cell) + [DEAD_PG, "postgresql://", "sqlite:///", "mysql://x/y"]
    value = st.one_of(st.sampled_from(paths + HOSTILE), st.text(max_size=12))

    @settings(max_examples=EXAMPLES * 2, **FUZZ)  # type: ignore[arg-type]
    @given(config=st.one_of(st.none(), value), db=st.one_of(st.none(), value), verbose=st.integers(0, 2),
           sub=st.sampled_from([["state", "show"], ["runs"], ["find", "Kowloon"], ["config", "show", "db"],
                                ["rules", "--json"], ["score", "--dry-run"]]))
    def run(config: str | None, db: str | None, verbose: int, sub: list[str]) -> None:
        root = (["--config", config] if config is not None else []) + ["--db", db or str(cell["db"])]
        root += ["-v"] * verbose
        check(invoke(cell, sub, root=root), root + sub)

    run()


# --- what the fuzzer found, kept as plain tests ----------------------------------------------------

def _one_error(r: Result, code: int, start: str = "error: ") -> str:
    """The run failed with ``code`` and exactly one stderr line starting with ``start``."""
    check(r, [])
    assert r.exit_code == code, r.stderr
    if start == "Error: ":  # click's usage error: Usage / Try / Error lines
        [line] = [ln for ln in r.stderr.splitlines() if ln.startswith("Error: ")]
    else:
        [line] = r.stderr.splitlines()
    assert line.startswith(start), line
    return line


@pytest.mark.parametrize("command", [["export", "report"], ["export", "watchlist"], ["export", "graph"]])
def test_export_to_an_empty_path_is_a_usage_error(cell: dict[str, Path], command: list[str]) -> None:
    # was: IsADirectoryError: [Errno 21] Is a directory: '.'
    line = _one_error(invoke(cell, [*command, "-o", ""]), 2, "Error: ")
    assert "empty path" in line


def test_export_to_a_path_of_non_utf8_bytes_prints_it_escaped(cell: dict[str, Path]) -> None:
    # was: UnicodeEncodeError printing "wrote N flags to <path>" on a UTF-8 stdout
    r = invoke(cell, ["export", "report", "-o", BAD])
    check(r, [])
    assert r.exit_code == 0 and "\\udcff\\udcfe" in r.stdout
    assert (cell["work"] / BAD).exists()


def test_lists_diff_before_any_list_is_loaded_is_a_usage_error(cell: dict[str, Path]) -> None:
    # was: sqlite3.OperationalError: no such table: list_snapshots
    line = _one_error(invoke(cell, ["lists", "--diff", "ofac-sdn-csv"]), 2, "Error: ")
    assert "no snapshots of 'ofac-sdn-csv'" in line


def test_runs_limit_beyond_sqlite_integers_is_a_usage_error(cell: dict[str, Path]) -> None:
    # was: OverflowError: Python int too large to convert to SQLite INTEGER
    _one_error(invoke(cell, ["runs", "--limit", "99999999999999999999999999999"]), 2, "Error: ")
    _one_error(invoke(cell, ["runs", "--limit", "-1"]), 2, "Error: ")
    check(invoke(cell, ["runs", "--limit", "1"]), [])


def test_state_reset_of_non_utf8_stream_name_is_a_usage_error(cell: dict[str, Path]) -> None:
    # was: UnicodeEncodeError: 'utf-8' codec can't encode characters ...: surrogates not allowed
    line = _one_error(invoke(cell, ["state", "reset", BAD]), 2, "Error: ")
    assert "not valid UTF-8" in line


def test_config_files_that_cannot_be_read_are_one_line(cell: dict[str, Path]) -> None:
    db = ["--db", str(cell["db"])]
    # was: UnicodeDecodeError from tomllib
    line = _one_error(invoke(cell, ["state", "show"], root=["--config", str(cell["garbage"]), *db]), 2)
    assert line.endswith("is not UTF-8 text")
    # was: OSError: [Errno 36] File name too long
    line = _one_error(invoke(cell, ["state", "show"], root=["--config", "x" * 10_000, *db]), 2)
    assert "cannot read config file" in line and "too long" in line


def test_control_characters_in_a_db_value_stay_on_one_line(cell: dict[str, Path]) -> None:
    # was: "error: no tracer store at \t\n : run tracer sync ..." over two lines
    line = _one_error(invoke(cell, ["state", "show"], root=["--db", "\t\n "]), 2)
    assert "no tracer store at \\t\\n " in line


@pytest.mark.parametrize("args", [["diff", "\x00", "\x00"], ["--db", "\x00", "state", "show"],
                                  ["find", "a\x00b"]])
def test_a_nul_in_any_argument_is_a_usage_error(cell: dict[str, Path], args: list[str]) -> None:
    # was: ValueError: embedded null byte (os.stat in click.Path, open_store)
    line = _one_error(invoke(cell, args, root=[]), 2, "Error: ")
    assert "NUL" in line


def test_diff_of_files_that_are_not_utf8_is_one_line(cell: dict[str, Path]) -> None:
    # was: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff
    line = _one_error(invoke(cell, ["diff", "/dev/null", str(cell["garbage"])]), 2)
    assert "not a UTF-8 watch-list export" in line


def test_simulate_truth_into_a_missing_folder_is_refused_before_writing(cell: dict[str, Path]) -> None:
    # was: FileNotFoundError after the whole world had been simulated and scored
    truth = cell["base"] / "missing" / "truth.json"
    line = _one_error(invoke(cell, ["simulate", "--truth", str(truth), "--force", "--no-score"]), 2, "Error: ")
    assert "does not exist" in line


def test_explain_of_hostile_ids_is_one_line(cell: dict[str, Path]) -> None:
    # was: "error: \r has no flag ..." split over two lines; lone surrogates: UnicodeEncodeError
    line = _one_error(invoke(cell, ["explain", "\r"]), 2)  # not in the store: a usage error, one line
    assert line.startswith("error: id \\r is not in the store")
    assert "not valid UTF-8" in _one_error(invoke(cell, ["explain", BAD]), 2)


def test_simulate_with_a_non_utf8_seed_is_one_line(cell: dict[str, Path]) -> None:
    # was: UnicodeEncodeError: 'utf-8' codec can't encode characters ...: surrogates not allowed
    assert "not valid UTF-8" in _one_error(invoke(cell, ["simulate", "--seed", BAD, "--force"]), 2)
