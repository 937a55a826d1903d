"""Estimator submissions: one module per estimator, discovered by :mod:`harness.registry`.

To submit an estimator, add ``estimators/<name>.py`` decorating one scoring function with
:func:`harness.api.estimator`. See ``docs/submitting.md``.
"""
