"""Typed configuration: every key is declared (connectors/*/config.py), a typo at any level or a
wrong type is one line and exit 2 through the real CLI, secrets are masked, and the sample file
that ``tracer config init`` writes is valid and equal to the defaults."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from faultserver import cli_env, run_cli
from hypothesis import given
from hypothesis import strategies as st

from connectors import http as http_mod
from connectors.base import ConfigError
from connectors.config import Limits, check, secret_values, to_dict, to_toml
from connectors.http import HostLimits, Redactor
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
    # and there is no process-wide redactor to register into: every Redactor belongs to one run
    assert not [k for k, v in vars(http_mod).items() if isinstance(v, Redactor)]


def test_a_client_without_a_redactor_gets_its_own() -> None:
    from connectors.http import HttpClient

    a, b = HttpClient(None, redactor=Redactor(["first-secret"])), HttpClient(None)  # type: ignore[arg-type]
    assert a.redact is not b.redact
    assert b.redact("x first-secret") == "x first-secret" and a.redact("x first-secret") == "x ***"


# -- defaults and the sample file ---------------------------------------------------------------------

def test_default_config_is_the_schema_defaults() -> None:
    schemas = registry.config_schemas()
    for name, conn in registry.connectors().items():
        schema = schemas[name]
        assert schema is not None, f"{name} declares no config schema"
        assert conn.default_config() == to_dict(schema()), name
        check(conn.default_config(), schema, ("connectors", name), complete=True)


def test_defaults_target_the_real_public_endpoints() -> None:
    """Each default is written once (the connector's config.py); pinned here as literals, so a default
    that drifts from the real public endpoint or token contract fails."""
    d = {n: c.default_config() for n, c in registry.connectors().items()}
    assert d["akash"]["lcd_url"] == "https://akash-api.polkachu.com"
    assert d["akash"]["console_url"] == "https://console-api.akash.network"
    assert d["akash"]["streams"] == ["versions", "providers", "audit", "deployments", "orders", "bids", "leases",
                                     "escrow_accounts", "escrow_payments", "console_providers",
                                     "console_deployments", "funding"]
    assert d["vastai"]["base_url"] == "https://console.vast.ai/api/v0"
    assert d["vastai"]["query"] == {"rentable": {"eq": True}, "external": {"eq": False}, "type": "on-demand",
                                    "order": [["score", "desc"]]}
    assert d["golem"]["base_url"] == "https://api.stats.golem.network"
    assert d["ionet"]["base_url"] == "https://api.io.solutions/v1/io-explorer"
    assert d["clore"]["base_url"] == "https://api.clore.ai/v1"
    assert d["solana"]["rpc_url"] == d["nosana"]["rpc_url"] == "https://api.mainnet-beta.solana.com"
    assert d["solana"]["mints"] == {"RENDER": "rndrizKT3MK1iimdxRdWabcF7Zg7AR5T4nud4EkHBof",
                                    "IO": "BZLbGTNCSFfoth2GYDtwr7e4imWzpR5jqcUuGEwr646K",
                                    "NOS": "nosXBVoaCTtYdLvKY6Csb4AC8JCdQKKAaWYtx2ZMoo7",
                                    "USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}
    assert d["solana"]["skip_walking"] == ["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"]
    assert d["nosana"]["program_id"] == "nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM"
    assert d["nosana"]["nos_mint"] == "nosXBVoaCTtYdLvKY6Csb4AC8JCdQKKAaWYtx2ZMoo7"
    assert d["nosana"]["markets"] == {"RXP7JK8MTY4uPJng4UjC9ZJdDDSG6wGr8pvVf3mwgXF": "rtx-4090"}

    eth, pol = d["evm"]["chains"]["ethereum"], d["evm"]["chains"]["polygon"]
    assert (eth["chain_id"], eth["rpc_url"], eth["confirmations"]) == (1, "https://ethereum-rpc.publicnode.com", 12)
    assert (pol["chain_id"], pol["rpc_url"], pol["confirmations"]) == (137, "https://polygon-bor-rpc.publicnode.com", 128)
    assert eth["tokens"] == sorted(["0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",  # USDC
                                    "0xdac17f958d2ee523a2206206994597c13d831ec7",  # USDT
                                    "0x7dd9c5cba05e151c895fde1cf355c9a1d5da6429",  # GLM
                                    "0x6de037ef9ad2725eb40118bb1702ebb27e4aeb24"])  # RNDR
    assert pol["tokens"] == sorted(["0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf",  # GLM
                                    "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",  # USDC
                                    "0x2791bca1f2de4661ed88a30c99a7a9449aa84174",  # USDC.e
                                    "0xc2132d05d31c914a87c6611c10748aeb04b58e8f"])  # USDT
    assert eth["sanctions_oracle"] == pol["sanctions_oracle"] == "0x40c57923924b5c5c5455c48d93317139addac8fb"

    assert d["ofac_addresses"]["base_url"] == \
        "https://raw.githubusercontent.com/0xB10C/ofac-sanctioned-digital-currency-addresses/lists/"
    assert d["ofac_addresses"]["assets"] == ["XBT", "ETH", "XMR", "LTC", "ZEC", "DASH", "BTG", "ETC", "BSV", "BCH",
                                             "XVG", "USDC", "USDT", "XRP", "TRX", "ARB", "BSC"]
    ofac = d["lists_ofac"]["sources"]
    assert ofac["sdn_csv"]["url"] == "https://www.treasury.gov/ofac/downloads/sdn.csv"
    assert ofac["sdn_csv"]["side"] == {"comments": "https://www.treasury.gov/ofac/downloads/sdn_comments.csv",
                                       "alt": "https://www.treasury.gov/ofac/downloads/alt.csv",
                                       "add": "https://www.treasury.gov/ofac/downloads/add.csv"}
    sls = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/"
    assert (ofac["sdn_advanced"]["url"], ofac["sdn_xml"]["url"], ofac["consolidated_xml"]["url"]) == \
        (sls + "SDN_ADVANCED.XML", sls + "SDN.XML", sls + "CONSOLIDATED.XML")
    assert ofac["thomasgregg"]["url"] == \
        "https://raw.githubusercontent.com/thomasgregg/crypto-sanctions-list/main/data/sanctioned-addresses.json"
    assert d["lists_csl"]["sources"]["csl"]["url"] == "https://data.trade.gov/downloaded_files/consolidated.csv"
    assert d["lists_csl"]["sources"]["dpl"]["url"] == "https://www.bis.doc.gov/dpl/dpl.txt"
    assert d["lists_un"]["sources"]["un"]["url"] == "https://scsanctions.un.org/resources/xml/en/consolidated.xml"
    os_ = d["lists_opensanctions"]["sources"]
    assert os_["entities"]["url"] == "https://data.opensanctions.org/datasets/latest/default/entities.ftm.json"
    assert os_["delta"]["url"] == "https://data.opensanctions.org/datasets/latest/sanctions/delta.json"
    tags = d["lists_tags"]["sources"]
    assert tags["graphsense"]["base_url"] == tags["graphsense_actors"]["base_url"] == \
        "https://raw.githubusercontent.com/graphsense/graphsense-tagpacks/master/"
    assert tags["graphsense"]["files"] == [f"packs/{p}" for p in (
        "ofac.yaml", "tornado_cash.yaml", "usdt_blacklist.yaml", "exchange-wallets-binance.yaml",
        "exchange-wallets-okx.yaml", "exchange-wallets-huobi.yaml", "etherscan-wordcloud-exchange.yaml",
        "etherscan-wordcloud-mixing_service.yaml", "lazarus2.yaml", "hacks.yaml", "ronin_bridge.yaml",
        "blender_io.yaml", "sinbad_io.yaml", "hydra.yaml")]
    assert tags["etherscan"]["base_url"] == "https://raw.githubusercontent.com/brianleect/etherscan-labels/main/"
    assert tags["forta"]["base_url"] == "https://raw.githubusercontent.com/forta-network/labelled-datasets/main/"


def test_golem_recognises_the_glm_contracts_the_evm_connector_follows() -> None:
    from connectors.markets import golem

    assets = set(golem.GLM_ASSETS)
    assert assets == {"token:polygon:0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf",
                      "token:ethereum:0x7dd9c5cba05e151c895fde1cf355c9a1d5da6429"}


def test_every_connector_inherits_enabled_and_every_with_one_doc() -> None:
    """``enabled`` and ``every`` are declared once (ConnectorConfig): no connector re-declares them."""
    from connectors.config import ConnectorConfig, doc_of

    base = {f.name: doc_of(f.type) for f in msgspec.structs.fields(ConnectorConfig)}
    for name, schema in registry.config_schemas().items():
        assert schema is not None and issubclass(schema, ConnectorConfig), name
        fields = {f.name: f for f in msgspec.structs.fields(schema)}
        assert {k: doc_of(fields[k].type) for k in base} == base, name
        assert "enabled" not in schema.__annotations__ and "every" not in schema.__annotations__, name


def test_limits_defaults_are_the_http_clients() -> None:
    assert to_dict(Limits()) == {k: getattr(HostLimits(), k) for k in HostLimits.__struct_fields__}


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
