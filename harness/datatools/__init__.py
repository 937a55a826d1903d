"""Tools for the benchmark data directory: ``verify``, ``fetch`` and ``convert``.

Entry point: :func:`harness.datatools.cli.main` (``python -m harness.datatools ...``).

* :mod:`.verify` checks a data directory against its ``SHA256SUMS`` and runs the table checks.
* :mod:`.fetch` downloads the pinned data release (:mod:`.manifest`) from HTTP mirrors.
* :mod:`.convert` builds the same tables from the benchmarks' own official releases.
"""
