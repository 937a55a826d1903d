"""The estimator toolkit: helpers several submissions need, so that no estimator imports another.

An estimator file may import from here (and from :mod:`harness.api`); a change here that alters
any value bumps the version of every estimator that uses it.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from torch import nn


def generator_for(tag: str, seed: int, batch_index: int) -> torch.Generator:
    """A CPU generator seeded from a hash of ``(tag, seed, batch_index)``.

    A hash rather than a sum, so that seed 0 / batch 1 and seed 1 / batch 0 differ, and a tag
    so that two estimators never draw the same numbers by accident.
    """
    digest = hashlib.sha256(f"{tag}:{int(seed)}:{int(batch_index)}".encode()).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest[:8], "big") >> 1)
    return gen


def kaiming_normal_fanin_(net: nn.Module, gen: torch.Generator) -> None:
    """The official ``kaiming_norm_fanin`` initialisation, drawn from ``gen`` on the CPU.

    Conv2d/Linear weights ~ ``N(0, 2 / fan_in)`` (``fan_in`` = weight.shape[1] times the
    kernel size, as ``nn.init.kaiming_normal_(mode='fan_in', nonlinearity='relu')``), their
    biases 0; affine BatchNorm2d/GroupNorm weights 1, biases 0. Draws follow
    ``net.modules()`` order and are copied to the weights' device (device-independent values).
    """
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight
                fan_in = w.shape[1] * (w[0][0].numel() if w.dim() > 2 else 1)
                std = math.sqrt(2.0 / fan_in)
                w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) * std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


def gaussian_init_(net: nn.Module, gen: torch.Generator) -> None:
    """The official ``network_weight_gaussian_init`` (Zen-NAS, SWAP), drawn from ``gen`` on the CPU.

    Conv2d/Linear weights ~ ``N(0, 1)``, their biases 0; affine BatchNorm2d/GroupNorm weights 1,
    biases 0 (affine-free ones are left alone). Draws follow ``net.modules()`` order and are
    copied to the weights' device, so a generator state gives the same weights on every device.
    Used by ``zen`` and ``swap``.
    """
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=m.weight.dtype))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


#: The shift of the Jacobian-covariance score (Mellor et al., 2020; zero-cost-nas reference).
JACOV_K = 1e-5


def eigen_score(eigenvalues: np.ndarray) -> float:
    """Jacobian-covariance score of a correlation matrix's eigenvalues:
    ``-sum(ln(λ + k) + 1 / (λ + k))``."""
    shifted = eigenvalues + JACOV_K
    return float(-np.sum(np.log(shifted) + 1.0 / shifted))


def fully_correlated_score(n: int) -> float:
    """The score of ``n`` perfectly correlated Jacobians (correlation matrix of all ones): the
    lowest the formula reaches for ``n`` images."""
    k = JACOV_K
    return -((n - 1) * (math.log(k) + 1.0 / k) + math.log(n + k) + 1.0 / (n + k))


def jacobian_covariance_score(jac: torch.Tensor) -> float:
    """The Jacobian-covariance score of per-image input Jacobians (batch first).

    ``numpy.corrcoef`` of the flattened rows (float64), its ``eigvalsh`` spectrum, then
    :func:`eigen_score`. One image scores as a correlation of 1 with itself; a batch with a
    constant row (undefined correlation, NaN in the reference) scores as fully correlated.
    Used by ``jacob_cov`` and by ``vkdnw_agg``'s ``jacov`` component.
    """
    rows = jac.reshape(jac.shape[0], -1).cpu().double().numpy()
    n = rows.shape[0]
    if n < 2:
        return eigen_score(np.ones(1))
    if np.any(rows.max(axis=1) == rows.min(axis=1)):
        return fully_correlated_score(n)
    return eigen_score(np.linalg.eigvalsh(np.corrcoef(rows)))
