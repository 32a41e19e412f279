"""The one thing pyproject.toml cannot say: the C fast path of the EVM decoder (connectors/evm/_logscan.c).

``optional=True``: without a C compiler the install still succeeds and connectors.evm.decode uses its
Python path (the same rows, ~5x the CPU)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("connectors.evm._logscan", ["connectors/evm/_logscan.c"], optional=True,
                             extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"])])
