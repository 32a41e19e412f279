"""EVM chains: ERC-20 transfers over JSON-RPC (window, decode, reorg checks) and the sanctions oracle."""
