"""How evidence becomes one score in [0, 1] and a level; the formula is documented and versioned.

    main  = 1 - prod(1 - s)            over evidence of main rules (noisy-OR: independent reasons add up)
    q     = min(0.5, sum(s))           over evidence of qualifier rules
    score = main + (1 - main) * q * main

Qualifiers only amplify existing main evidence, in proportion to it: renting H100s alone scores 0.
Levels: severe >= 0.9, high >= 0.7, medium >= 0.4, low > 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracer.scoring.rules import RULES, Evidence

RULES_VERSION = "2026.11-4"
LEVELS = (("severe", 0.9), ("high", 0.7), ("medium", 0.4), ("low", 0.0))
QUALIFIER_CAP = 0.5
KIND = {fn.__name__: kind for fn, kind in RULES}


def level_of(score: float) -> str:
    """The level name for a score (``none`` for 0)."""
    if score <= 0:
        return "none"
    for name, lo in LEVELS:
        if score >= lo:
            return name
    return "low"


def combine(evidence: Iterable[Evidence]) -> tuple[float, str]:
    """(score, level) from a subject's evidence, by the formula in this module's docstring."""
    keep = 1.0
    q = 0.0
    for e in evidence:
        s = min(1.0, max(0.0, float(e.score)))
        if KIND.get(e.rule, "main") == "qualifier":
            q += s
        else:
            keep *= 1.0 - s
    main = 1.0 - keep
    q = min(QUALIFIER_CAP, q)
    score = main + (1.0 - main) * q * main
    score = round(min(1.0, max(0.0, score)), 4)
    return score, level_of(score)
