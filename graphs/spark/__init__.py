"""The scoring stages on Apache Spark DataFrames: the engine for graphs that do not fit one machine.

Every stage here takes and returns DataFrames (or small driver-side results) and has a networkx
twin in :mod:`graphs` whose answers it must equal (tests compare them on the same worlds).  pyspark is
imported lazily, only by the functions that need it, so ``graphs`` works without Java or pyspark.
Like the rest of ``graphs``, nothing here imports ``tracer``.
"""
