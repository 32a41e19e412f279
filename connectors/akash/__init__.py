"""Akash: the LCD (chain state: providers, deployments, leases, escrow) and the Console API."""
