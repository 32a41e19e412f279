"""Explainable flags: rules (pure functions) -> evidence -> combined score and level, per actor."""
