"""HTTPS still verifies certificates now that aiohttp's default contexts load them lazily (issue 16).

Why: ``connectors.http`` imports aiohttp with the CA certificates of its import-time contexts loaded
at the first handshake instead (~70 ms off every command's start).  A loopback HTTPS server whose
certificate a test CA signed (``tests/data/tls``), and a fresh interpreter whose system trust is that
CA (``SSL_CERT_FILE``, which OpenSSL's default paths honour): the request succeeds, and nothing was
loaded before it; trusting another CA instead, the same request fails on the certificate.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

TLS = Path(__file__).parent / "data" / "tls"
ROOT = Path(__file__).resolve().parents[1]

CLIENT = """
import asyncio, json, ssl, sys
from connectors.http import HostLimits, HttpClient, HttpError, open_session
import aiohttp.connector as c

def loaded() -> int:  # the base class's count: not the lazy context's own, which would load them
    return ssl.SSLContext.cert_store_stats(c._SSL_CONTEXT_VERIFIED)["x509_ca"]

before = loaded()

async def main() -> str:
    async with open_session() as s:
        http = HttpClient(s, default_limits=HostLimits(max_retries=0, timeout=20))
        try:
            return (await http.request("GET", sys.argv[1], parse_json=False)).body.decode()
        except HttpError as e:
            return "error: " + str(e)

out = asyncio.run(main())
print(json.dumps({"before": before, "after": loaded(), "out": out}))
"""


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = b"hello over tls"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/hello"
    finally:
        server.shutdown()
        server.server_close()


def _client(url: str, ca: Path) -> dict[str, object]:
    env = {"SSL_CERT_FILE": str(ca), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", CLIENT, url], env=env, capture_output=True, text=True, timeout=60,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out: dict[str, object] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def test_https_verifies_with_certificates_loaded_at_first_use(https_url: str) -> None:
    got = _client(https_url, TLS / "ca.pem")
    assert got["out"] == "hello over tls"
    assert got["before"] == 0  # importing connectors.http (hence aiohttp) loaded no certificate
    assert got["after"] == 1  # the handshake loaded the trusted CA (SSL_CERT_FILE) before verifying


def test_https_refuses_a_certificate_the_system_does_not_trust(https_url: str) -> None:
    got = _client(https_url, TLS / "other-ca.pem")
    assert str(got["out"]).startswith("error: ") and "certificate verify failed" in str(got["out"]), got
