"""Types of the compiled C fast path (connectors/evm/_logscan.c)."""

from collections.abc import Callable
from typing import Any

def edge_rows(body: bytes, chain: str, source: str, asset: str, wallet: str,
              block_prefix: Callable[[str, int], str], iso_time: Callable[[int], str],
              decimals: dict[str, int | None]) -> tuple[list[tuple[Any, ...]], int, int, dict[int, int | None],
                                                        dict[int, str], int | None, frozenset[str]] | None: ...
