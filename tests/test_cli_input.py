"""Hostile CLI input (issue 17): argv bytes that are not UTF-8 are one line, never "internal error".

`tracer find` with the bytes 0xFF 0xFE ended in `internal error: UnicodeEncodeError` (Python
decodes such argv with surrogateescape and SQLite cannot encode the surrogates).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from faultserver import TRACER, cli_env, run_cli, write_config

BAD = b"\xff\xfe"


def _run_bytes(args: list[bytes]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([os.fsencode(TRACER), *args], capture_output=True, env=cli_env(), timeout=60)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A real (empty) store: sync from a missing local folder creates it, then fails its stream."""
    cfg = write_config(tmp_path / "tracer.toml", str(tmp_path / "none") + "/", assets=["ETH"])
    db = tmp_path / "t.db"
    run_cli(["--config", str(cfg), "--db", str(db), "-q", "sync", "ofac_addresses"])
    assert db.exists()
    return db


@pytest.mark.parametrize("text", [BAD, b"Kowloon " + BAD, b"0x" + BAD + b"ab"])
def test_find_with_non_utf8_bytes_is_a_usage_error(store: Path, text: bytes) -> None:
    r = _run_bytes([b"--db", os.fsencode(store), b"find", text])
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert err.splitlines() == ["error: search text is not valid UTF-8 (check the terminal's or the file's encoding)"]


@pytest.mark.parametrize("command", [b"neighbours", b"funding", b"exposure", b"cluster", b"timeline"])
def test_id_commands_with_non_utf8_bytes_are_usage_errors(store: Path, command: bytes) -> None:
    r = _run_bytes([b"--db", os.fsencode(store), command, b"wallet:evm:0x" + BAD])
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    [line] = err.splitlines()
    assert line.startswith("error: id ") and "is not a tracer id" in line and "internal error" not in line


def test_screen_and_explain_with_non_utf8_bytes_do_not_crash(store: Path) -> None:
    for args in ([b"screen", BAD], [b"explain", BAD]):
        r = _run_bytes([b"--db", os.fsencode(store), *args])
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode in (0, 1, 2), err
        assert "internal error" not in err and "Traceback" not in err
        assert len(err.splitlines()) <= 1, err


def test_the_api_find_refuses_surrogates() -> None:
    from tracer import queries as q

    with pytest.raises(q.QueryError, match="not valid UTF-8") as e:
        q.find(None, "\udcff\udcfe")  # type: ignore[arg-type]  # refused before the store is read
    assert e.value.status == 400
