"""Dust limits on Spark: the twin of :mod:`graphs.dust` over the ``paid`` frame.

The asset keys are few, so configured minima are decided on the driver by the same helper as the
networkx path (:func:`graphs.dust._configured`); only the median rule touches the transfers.  The
lower median of an asset's non-zero amounts is found by ordering the amounts as ``(al, a)`` (exact
for canonical decimal texts, :func:`graphs.spark.frames.ge`) -- first counted per distinct amount,
then a running count per asset -- so no amount is ever cast to a number inside Spark, and only one
row per asset comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from graphs.dust import (
    DEFAULT_DUST_MIN_VALUE,
    DEFAULT_MEDIAN_SHARE,
    DEFAULT_MIN_TRANSFERS,
    _configured,
    as_fraction,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame


def _conf(min_value: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (DEFAULT_DUST_MIN_VALUE if min_value is None else min_value).items()}


def paid_assets(paid: DataFrame) -> set[str]:
    """The asset keys of the ``paid`` frame (``tg.paid_assets``): one small collect."""
    return {r["s"] for r in paid.select("s").distinct().collect()}


def lower_medians(paid: DataFrame, assets: set[str], min_transfers: int) -> dict[str, int]:
    """Per asset of ``assets`` with at least ``min_transfers`` non-zero transfers, the lower median
    of those amounts (``xs[(n - 1) // 2]`` of the sorted amounts: an amount that occurred)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not assets:
        return {}
    counts = (paid.where(F.col("s").isin(sorted(assets)) & (F.col("a") != "0"))
              .groupBy("s", "al", "a").agg(F.count("*").alias("c")))
    w = Window.partitionBy("s").orderBy("al", "a")
    run = (counts.withColumn("cum", F.sum("c").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
           .withColumn("n", F.sum("c").over(Window.partitionBy("s"))))
    k = F.expr("(n - 1) div 2")  # 0-based index of the lower median (n >= 1 here)
    picked = run.where((F.col("n") >= min_transfers) & (F.col("cum") - F.col("c") <= k) & (k < F.col("cum")))
    return {r["s"]: int(r["a"]) for r in picked.select("s", "a").collect()}


def dust_limits(paid: DataFrame, min_value: Mapping[str, Any] | None = None,
                median_share: Fraction | float = DEFAULT_MEDIAN_SHARE,
                min_transfers: int = DEFAULT_MIN_TRANSFERS, symbols: Mapping[str, str] | None = None
                ) -> dict[str, int]:
    """:func:`graphs.dust.dust_limits` on the ``paid`` frame: per asset key, the smallest amount
    (base units) that is not dust -- a configured minimum, else ``median_share`` x the lower median
    once the asset has ``min_transfers`` non-zero transfers, else 1 (only zero is dust)."""
    share = as_fraction(median_share)
    conf = _conf(min_value)
    limits: dict[str, int] = {}
    median_keys: set[str] = set()
    for key in paid_assets(paid):
        lim = _configured(conf, key, symbols)
        if lim is None:
            median_keys.add(key)
        else:
            limits[key] = lim
    medians = lower_medians(paid, median_keys, min_transfers)
    for key in median_keys:
        m = medians.get(key)
        limits[key] = 1 if m is None else max(1, int(m * share))
    return limits


def priced_assets(paid: DataFrame, min_value: Mapping[str, Any] | None = None,
                  symbols: Mapping[str, str] | None = None) -> set[str]:
    """:func:`graphs.dust.priced_assets` on the ``paid`` frame: asset keys with a configured minimum."""
    conf = _conf(min_value)
    return {k for k in paid_assets(paid) if _configured(conf, k, symbols) is not None}


def non_dust(dust: Mapping[str, int]) -> Column:
    """Whether a frame row's amount (``a``, ``al``, asset ``s``) reaches its asset's dust limit (1 for
    an asset without one, so a zero transfer is always dust), compared exactly as amount texts.  The
    limits are few (one per asset): a literal map in the expression, no join."""
    from pyspark.sql import functions as F

    from graphs.spark.frames import amount_text, ge

    kv = [c for s, v in sorted(dust.items()) for c in (F.lit(s), F.lit(amount_text(v)))]
    la = F.coalesce(F.try_element_at(F.create_map(*kv), F.col("s")), F.lit("1")) if kv else F.lit("1")
    return ge(F.col("a"), F.col("al"), la, F.length(la))


def with_non_dust(paid: DataFrame, dust: Mapping[str, int]) -> DataFrame:
    """``paid`` (or any frame with ``a``, ``al``, ``s``) plus ``nd``: :func:`non_dust`."""
    return paid.withColumn("nd", non_dust(dust))
