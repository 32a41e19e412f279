"""``tracer doctor``: probe every configured endpoint and local source, one row each."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from connectors.base import ConnectorError
from connectors.http import HostLimits, HttpClient, open_session
from tracer import config as cfgmod
from tracer import registry
from tracer.pipeline import effective_configs


async def run_doctor(cfg: dict[str, Any], timeout: float = 10.0) -> list[dict[str, Any]]:
    """Check reachability of each connector's probes; never raises for an unreachable endpoint."""
    configs = effective_configs(cfg)
    found = registry.connectors()
    redact = cfgmod.redactor(cfg, [(conn, configs[name]) for name, conn in found.items()])
    rows: list[dict[str, Any]] = []
    async with open_session() as session:
        http = HttpClient(session, default_limits=HostLimits(max_retries=0, timeout=timeout, concurrency=4),
                          redactor=redact)

        async def probe(cname: str, p: Any) -> dict[str, Any]:
            row = {"connector": cname, "probe": p.name, "url": redact(p.url), "ok": False, "detail": ""}
            if not p.url.startswith(("http://", "https://")):
                path = p.url[7:] if p.url.startswith("file://") else p.url
                row["ok"] = os.path.exists(path)
                row["detail"] = "local file found" if row["ok"] else "local path missing"
                return row
            try:
                if p.rpc_method:
                    result, _ = await http.rpc(p.url, p.rpc_method, [])
                    row["detail"] = f"{p.rpc_method} -> {str(result)[:40]}"
                else:
                    resp = await http.get_bytes(p.url)
                    row["detail"] = f"HTTP {resp.status}, {len(resp.body)} bytes"
                row["ok"] = True
            except ConnectorError as e:
                row["detail"] = redact(str(e))
            return row

        tasks = []
        for name, conn in found.items():
            c = configs[name]
            if not c.get("enabled", True):
                continue
            tasks += [probe(name, p) for p in conn.probes(c)]
        rows = list(await asyncio.gather(*tasks))
    return rows
