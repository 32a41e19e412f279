"""A webhook receiver on loopback, shared by the export and scheduler tests."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def hook_server(received: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    """Serve POST /hook on an ephemeral 127.0.0.1 port, keeping every JSON body it receives."""
    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
