"""Typed configuration: every key is declared (connectors/*/config.py), a typo at any level or a
wrong type is one line and exit 2 through the real CLI, secrets are masked, and the sample file
that ``tracer config init`` writes is valid and equal to the defaults."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faultserver import cli_env, run_cli
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import ConfigError
from connectors.config import Limits, check, secret_values, to_dict, to_toml
from connectors.http import REDACT, HostLimits, Redactor
from tracer import config as cfgmod
from tracer import registry
from tracer.cli import main

INFURA_KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.secret-io-net-token"


def _drop_none(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_drop_none(v) for v in x]
    return x


def _one_line_usage_error(r: Any) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return str(lines[0])


# -- a typo at each level, through the real CLI -------------------------------------------------------

@pytest.mark.parametrize(("toml", "message"), [
    ('dbb = "x.db"\n', "unknown key dbb (did you mean db?)"),
    ('[stor]\nread_only = true\n', "unknown key stor (did you mean store?)"),
    ('[connectors.ofac_adresses]\nformat = "txt"\n', "unknown key connectors.ofac_adresses (did you mean ofac_addresses?)"),
    ('[connectors.ofac_addresses]\nbse_url = "/data/"\n',
     "unknown key connectors.ofac_addresses.bse_url (did you mean base_url?)"),
    ('[connectors.ofac_addresses.limits]\nconcurency = 2\n',
     "unknown key connectors.ofac_addresses.limits.concurency (did you mean concurrency?)"),
    ('[connectors.lists_ofac.sources.sdn_csv]\nurll = "/x.csv"\n',
     "unknown key connectors.lists_ofac.sources.sdn_csv.urll (did you mean url?)"),
    ('[connectors.evm.chains.polygon]\nconfirmation = 5\n',
     "unknown key connectors.evm.chains.polygon.confirmation (did you mean confirmations?)"),
    ('[store]\nreadonly = true\n', "unknown key store.readonly (did you mean read_only?)"),
    ('[scoring]\nhopz = 3\n', "unknown key scoring.hopz (did you mean hops?)"),
])
def test_a_typo_at_any_level_is_one_line_and_exit_2(tmp_path: Path, toml: str, message: str) -> None:
    f = tmp_path / "f.toml"
    f.write_text(toml)
    db = tmp_path / "t.db"
    line = _one_line_usage_error(run_cli(["--config", str(f), "--db", str(db), "-q", "sync"], timeout=60))
    assert line == f"error: config: {f}: {message}"
    assert not db.exists()  # refused before anything was opened or fetched


def test_config_show_refuses_the_same_typo(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text('[connectors.ofac_addresses]\nbse_url = "/data/"\n')
    line = _one_line_usage_error(run_cli(["--config", str(f), "config", "show"]))
    assert "bse_url (did you mean base_url?)" in line


@pytest.mark.parametrize(("var", "message"), [
    ("TRACER_CONNECTORS__OFAC_ADDRESSES__BSE_URL",
     "unknown key connectors.ofac_addresses.bse_url (did you mean base_url?)"),
    ("TRACER_CONECTORS__OFAC_ADDRESSES__BASE_URL", "unknown key conectors (did you mean connectors?)"),
    ("TRACER_CONNECTORS__CLOR__API_KEY", "unknown key connectors.clor (did you mean clore?)"),
])
def test_an_environment_typo_names_the_variable(var: str, message: str) -> None:
    line = _one_line_usage_error(run_cli(["config", "show"], env=cli_env(**{var: "/data/"})))
    assert line == f"error: config: {var}: {message}"


def test_a_mistyped_new_entry_of_a_table_suggests_the_existing_one(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text("[connectors.lists_ofac.sources.sdn_advnced]\nenabled = true\n")
    line = _one_line_usage_error(run_cli(["--config", str(f), "config", "show"]))
    assert line == "error: config: connectors.lists_ofac.sources.sdn_advnced needs url (did you mean sdn_advanced?)"


# -- wrong types --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("toml", "message"), [
    ('[connectors.akash]\npage_size = "ten"\n', 'connectors.akash.page_size must be an integer, not "ten"'),
    ("[connectors.ofac_addresses]\nassets = \"ETH\"\n",
     'connectors.ofac_addresses.assets must be a list of strings, not "ETH"'),
    ("[connectors.akash.limits]\nconcurrency = 0\n",
     "connectors.akash.limits.concurrency must be an integer >= 1, not 0"),
    ('[connectors.evm.chains.ethereum]\ntokens = "some"\n',
     'connectors.evm.chains.ethereum.tokens must be one of "all" or a list of strings, not "some"'),
    ("[store]\ndefer_indexes = \"later\"\n",
     'store.defer_indexes must be one of "empty", "always", "never", not "later"'),
    ("connectors = 3\n", "connectors must be a table, not 3"),
    ('[scoring]\nhops = "3"\n', 'scoring.hops must be an integer, not "3"'),
])
def test_a_wrong_type_is_one_line_naming_path_and_type(tmp_path: Path, toml: str, message: str) -> None:
    f = tmp_path / "f.toml"
    f.write_text(toml)
    line = _one_line_usage_error(run_cli(["--config", str(f), "config", "show"]))
    assert line == f"error: config: {f}: {message}"


def test_environment_values_are_read_by_the_type_of_their_key() -> None:
    env = {"TRACER_CONNECTORS__CLORE__API_KEY": "1234567890",  # digits: still a key, not a number
           "TRACER_STORE__READ_ONLY": "1", "TRACER_DB": "2026",
           "TRACER_CONNECTORS__EVM__CHAINS__ETHEREUM__TOKENS": "all",
           "TRACER_CONNECTORS__OFAC_ADDRESSES__ASSETS": '["ETH", "XBT"]',
           "TRACER_CONNECTORS__OFAC_ADDRESSES__LIMITS__RATE": "0.5"}
    cfg = cfgmod.load(environ=env)
    assert cfg["connectors"]["clore"]["api_key"] == "1234567890"
    assert cfg["store"]["read_only"] is True and cfg["db"] == "2026"
    assert cfg["connectors"]["evm"]["chains"]["ethereum"]["tokens"] == "all"
    assert cfg["connectors"]["ofac_addresses"] == {"assets": ["ETH", "XBT"], "limits": {"rate": 0.5}}
    with pytest.raises(ConfigError, match=r"^config: TRACER_STORE__READ_ONLY: store.read_only must be true or false"):
        cfgmod.load(environ={"TRACER_STORE__READ_ONLY": "maybe"})


def test_process_variables_are_not_checked_as_config() -> None:
    env = {"TRACER_SERVE_TOKEN": "t", "TRACER_NOW": "2026-01-01T00:00:00Z", "TRACER_CI_BROWSER": "x"}
    assert cfgmod.load(environ=env) == {"db": cfgmod.DEFAULT_DB, "connectors": {}}


# -- secrets ------------------------------------------------------------------------------------------

def test_config_show_masks_secrets(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text(f'[connectors.evm.chains.ethereum]\nrpc_url = "https://mainnet.infura.io/v3/{INFURA_KEY}"\n'
                 '[export]\nwebhook = "https://hooks.example/services/T0/B0/abcdefghijklmnop"\n')
    env = cli_env(TRACER_CONNECTORS__IONET__TOKEN=TOKEN, TRACER_CONNECTORS__CLORE__API_KEY="1234567890")
    for fmt in ([], ["--json"]):
        r = run_cli(["--config", str(f), "config", "show", *fmt], env=env)
        assert r.returncode == 0, r.stderr
        for secret in (INFURA_KEY, TOKEN, "1234567890", "abcdefghijklmnop"):
            assert secret not in r.stdout
        data = json.loads(r.stdout) if fmt else tomllib.loads(r.stdout)
        assert data["connectors"]["ionet"]["token"] == "***"
        assert data["connectors"]["clore"]["api_key"] == "***"
        assert data["export"]["webhook"] == "***"
        assert data["connectors"]["evm"]["chains"]["ethereum"]["rpc_url"] == "https://mainnet.infura.io/v3/***"


def test_secrets_are_derived_from_the_schema() -> None:
    conns = registry.connectors()
    assert conns["ionet"].secrets({**conns["ionet"].default_config(), "token": TOKEN}) == [TOKEN]
    assert conns["clore"].secrets({"api_key": "k" * 12}) == ["k" * 12]
    assert conns["vastai"].secrets({"api_key": None}) == []
    evm = conns["evm"].default_config()
    evm["chains"]["ethereum"]["rpc_url"] = f"https://mainnet.infura.io/v3/{INFURA_KEY}"
    evm["chains"]["polygon"]["rpc_url"] = "https://x.quiknode.pro/abcdefabcdefabcdefabcdef1234/"
    assert {INFURA_KEY, "abcdefabcdefabcdefabcdef1234"} <= set(conns["evm"].secrets(evm))
    assert secret_values(cfgmod.TracerConfig, {"export": {"webhook": "https://h/x"}}) == ["https://h/x"]


def test_the_redactor_is_made_per_run_not_shared() -> None:
    conns = registry.connectors()
    cfg = {"export": {"webhook": "https://hooks.example/abcdef"}}
    c = {**conns["ionet"].default_config(), "token": TOKEN,
         "base_url": "https://api.example/v1/?apikey=QUERYKEY123"}
    r = cfgmod.redactor(cfg, [(conns["ionet"], c)])
    text = f"GET https://api.example/v1/?apikey=QUERYKEY123 said {TOKEN}, QUERYKEY123; hook https://hooks.example/abcdef"
    out = r(text)
    assert TOKEN not in out and "QUERYKEY123" not in out and "hooks.example/abcdef" not in out
    assert cfgmod.redactor({}, [])(TOKEN) == TOKEN  # another run knows nothing of this one's secrets
    assert not (r.secrets & REDACT.secrets)  # and nothing was registered process-wide


def test_a_client_without_a_redactor_gets_its_own() -> None:
    from connectors.http import HttpClient

    a, b = HttpClient(None, redactor=Redactor(["first-secret"])), HttpClient(None)  # type: ignore[arg-type]
    assert a.redact is not b.redact and b.redact is not REDACT
    assert b.redact("x first-secret") == "x first-secret" and a.redact("x first-secret") == "x ***"


# -- defaults and the sample file ---------------------------------------------------------------------

def test_default_config_is_the_schema_defaults() -> None:
    schemas = registry.config_schemas()
    for name, conn in registry.connectors().items():
        schema = schemas[name]
        assert schema is not None, f"{name} declares no config schema"
        assert conn.default_config() == to_dict(schema()), name
        check(conn.default_config(), schema, ("connectors", name), complete=True)


def test_schema_defaults_equal_the_connector_constants() -> None:
    """The endpoints and token lists the connectors' modules still name (until they import them from
    their config module) are the schema's defaults."""
    from connectors.akash import connector as akash
    from connectors.evm import connector as evm
    from connectors.lists import ofac_addresses
    from connectors.markets import clore, golem, ionet, vastai
    from connectors.solana import connector as solana
    from connectors.solana import nosana

    d = {n: c.default_config() for n, c in registry.connectors().items()}
    assert (d["akash"]["lcd_url"], d["akash"]["console_url"]) == (akash.DEFAULT_LCD, akash.DEFAULT_CONSOLE)
    assert tuple(d["akash"]["streams"]) == akash.STREAM_ORDER
    assert d["evm"]["chains"]["ethereum"]["tokens"] == sorted(evm.ETHEREUM_TOKENS.values())
    assert d["evm"]["chains"]["polygon"]["tokens"] == sorted(evm.POLYGON_TOKENS.values())
    from connectors.evm.config import EvmChain

    chain = to_dict(EvmChain(rpc_url="http://node"))
    assert {k: v for k, v in chain.items() if k not in ("rpc_url", "chain_id")} == evm.CHAIN_DEFAULTS
    assert (d["ofac_addresses"]["base_url"], tuple(d["ofac_addresses"]["assets"])) == \
        (ofac_addresses.DEFAULT_BASE_URL, ofac_addresses.ASSETS)
    for mod, name in ((clore, "clore"), (golem, "golem"), (ionet, "ionet"), (vastai, "vastai")):
        assert d[name]["base_url"] == mod.DEFAULT_BASE_URL, name
    assert d["vastai"]["query"] == vastai.DEFAULT_QUERY
    assert (d["solana"]["rpc_url"], d["solana"]["mints"]) == (solana.DEFAULT_RPC, solana.MINTS)
    assert (d["nosana"]["program_id"], d["nosana"]["nos_mint"]) == (nosana.PROGRAM, nosana.NOS_MINT)
    assert d["nosana"]["markets"] == {nosana.RTX4090_MARKET: "rtx-4090"}
    for name, conn in registry.connectors().items():
        legacy = getattr(conn, "default_sources", None)  # list connectors built on ListConnector
        if legacy is not None:
            assert {k: {**v, **{f: d[name]["sources"][k][f] for f in set(d[name]["sources"][k]) - set(v)}}
                    for k, v in legacy().items()} == d[name]["sources"], name


def test_limits_defaults_are_the_http_clients() -> None:
    assert to_dict(Limits()) == {k: getattr(HostLimits(), k) for k in HostLimits.__dataclass_fields__}


def test_config_init_writes_a_valid_sample_equal_to_the_defaults(tmp_path: Path) -> None:
    p = tmp_path / "tracer.toml"
    r = run_cli(["config", "init", str(p)])
    assert r.returncode == 0, r.stderr
    text = p.read_text()
    data = tomllib.loads(text)
    assert data == _drop_none(cfgmod.sample_values())
    assert set(data["connectors"]) == set(registry.connectors())
    cfgmod.load(p, environ={})  # the sample is a valid config file
    assert "# api_key = <a string>" in text  # optional secrets are commented out, with their doc line
    assert "# requests in flight per host" in text
    again = run_cli(["config", "init", str(p)])
    assert "exists; pass --force" in _one_line_usage_error(again)
    p.write_text("mine\n")
    assert run_cli(["config", "init", "--force", str(p)]).returncode == 0 and p.read_text() == text
    assert CliRunner().invoke(main, ["config", "init", "-"]).output == text


def test_config_show_output_is_a_config_file_with_the_same_values(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text('[connectors.akash]\npage_size = 25\n[connectors.lists_tags.sources.mine]\nformat = "forta_csv"\n'
                 'files = ["a.csv"]\n')
    r = run_cli(["--config", str(f), "config", "show"])
    assert r.returncode == 0, r.stderr
    shown = tmp_path / "shown.toml"
    shown.write_text(r.stdout)
    cfg = cfgmod.load(shown, environ={})
    assert cfg["connectors"]["akash"]["page_size"] == 25
    assert _drop_none(cfgmod.effective(cfg)) == _drop_none(cfgmod.effective(cfgmod.load(f, environ={})))
    part = run_cli(["--config", str(f), "config", "show", "connectors.akash.page_size"])
    assert part.stdout == "[connectors.akash]\npage_size = 25\n"
    bad = run_cli(["config", "show", "connectors.akash.pagesize"])
    assert "did you mean page_size?" in _one_line_usage_error(bad)


def test_config_help_teaches() -> None:
    for args in (["config"], ["config", "show"], ["config", "init"]):
        r = CliRunner().invoke(main, [*args, "--help"])
        assert r.exit_code == 0 and "Examples:" in r.output, args


# -- the TOML writer ----------------------------------------------------------------------------------

KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
SCALARS = (st.booleans() | st.integers(-(2**70), 2**70) | st.text(st.characters(codec="utf-8",
           exclude_categories=("Cs",)), max_size=12) | st.floats(allow_nan=False))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                      max_leaves=8)


@given(st.dictionaries(KEYS, VALUES, max_size=4))
def test_to_toml_round_trips(data: dict[str, Any]) -> None:
    assert tomllib.loads(to_toml(data)) == data
