"""Configuration: defaults < TOML file < TRACER_* environment, nested keys with ``__``."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import ConfigError
from tracer import config as cfgmod

SEG = st.from_regex(r"\A[a-z0-9]{1,6}(_[a-z0-9]{1,6}){0,2}\Z")
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(string.printable, max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SEG, inner, max_size=3),
    max_leaves=6,
)


@given(path=st.lists(SEG, min_size=1, max_size=4), value=JSONISH)
def test_env_override_round_trips_json_values(path: list[str], value: Any) -> None:
    key = "TRACER_" + "__".join(p.upper() for p in path)
    out = cfgmod.env_overrides({key: json.dumps(value)})
    node: Any = out
    for p in path:
        node = node[p]
    assert node == value


@given(raw=st.text(max_size=30))
def test_env_value_is_json_when_it_parses_else_the_text(raw: str) -> None:
    got = cfgmod.env_overrides({"TRACER_X": raw})["x"]
    try:
        expected = json.loads(raw)
    except ValueError:
        expected = raw
    assert got == expected or (got != got and expected != expected)  # NaN equals itself here


def test_url_and_path_values_stay_text() -> None:
    env = {"TRACER_CONNECTORS__OFAC_ADDRESSES__BASE_URL": "https://example.org/lists/?apikey=x",
           "TRACER_DB": "/var/lib/tracer.db"}
    out = cfgmod.env_overrides(env)
    assert out == {"connectors": {"ofac_addresses": {"base_url": "https://example.org/lists/?apikey=x"}},
                   "db": "/var/lib/tracer.db"}


@pytest.mark.parametrize("order", [0, 1])
def test_a_key_that_is_both_value_and_table_is_an_error_in_any_order(order: int) -> None:
    items = [("TRACER_A", "1"), ("TRACER_A__B", "2")]
    env = dict(items if order == 0 else items[::-1])
    with pytest.raises(ConfigError, match="both a value and a table"):
        cfgmod.env_overrides(env)


def test_process_variables_are_not_config() -> None:
    env = {"TRACER_CONFIG": "x.toml", "TRACER_NOW": "2026-01-01T00:00:00Z", "TRACER_FIXTURES": "/f",
           "TRACER_DEBUG": "1", "HOME": "/root"}
    assert cfgmod.env_overrides(env) == {}


def test_precedence_defaults_file_env(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('db = "file.db"\n[connectors.ofac_addresses]\nassets = ["ETH"]\nformat = "json"\n'
                 '[connectors.ofac_addresses.limits]\nrate = 5\n')
    env = {"TRACER_CONNECTORS__OFAC_ADDRESSES__FORMAT": "txt",
           "TRACER_CONNECTORS__OFAC_ADDRESSES__LIMITS__CONCURRENCY": "3"}
    cfg = cfgmod.load(f, environ=env)
    assert cfg["db"] == "file.db"
    defaults = {"base_url": "https://real.example/", "assets": ["XBT", "ETH"], "format": "txt",
                "limits": {"rate": 2, "concurrency": 2, "timeout": 30}}
    c = cfgmod.connector_config(cfg, "ofac_addresses", defaults)
    assert c == {"base_url": "https://real.example/", "assets": ["ETH"], "format": "txt",
                 "limits": {"rate": 5, "concurrency": 3, "timeout": 30}}
    assert defaults["limits"] == {"rate": 2, "concurrency": 2, "timeout": 30}  # not mutated


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('db = "from-env-file.db"\n')
    assert cfgmod.load(environ={"TRACER_CONFIG": str(f)})["db"] == "from-env-file.db"
    assert cfgmod.load(environ={})["db"] == cfgmod.DEFAULT_DB


@pytest.mark.parametrize(("text", "env", "match"), [
    ("[x\n", {}, "not valid TOML"),
    ("connectors = 3\n", {}, "must be a table"),
    ("", {"TRACER_CONNECTORS": "5"}, "must be a table"),
])
def test_bad_configuration_is_a_config_error(tmp_path: Path, text: str, env: dict[str, str], match: str) -> None:
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        cfgmod.load(f, environ=env)
    with pytest.raises(ConfigError, match="not found"):
        cfgmod.load(tmp_path / "missing.toml", environ={})


def test_connector_section_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"\[connectors.x\] must be a table"):
        cfgmod.connector_config({"connectors": {"x": 1}}, "x", {})


def test_now_is_pinned_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_NOW", "2026-02-03T04:05:06Z")
    assert cfgmod.now() == "2026-02-03T04:05:06Z"
    monkeypatch.delenv("TRACER_NOW")
    assert cfgmod.now().endswith("Z") and "T" in cfgmod.now()
