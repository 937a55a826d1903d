"""Converters from the official benchmark releases to the data directory's tables.

One module per source: :mod:`.nb201` (NATS-Bench topology, fast-mode archive), :mod:`.nb101`
(``nasbench_only108.tfrecord``), :mod:`.nds` (NDS ``ResNet*.json`` / ``ResNeXt-A.json``),
:mod:`.nb301` (DARTS genotypes plus surrogate predictions) and :mod:`.cifar10` (the official
python tarball). Shared CSV writing, safe unpickling and row selection live in :mod:`.common`.
"""
