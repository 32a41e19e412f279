"""Solana: SPL token transfers over JSON-RPC, and Nosana's GPU jobs."""
