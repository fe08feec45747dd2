"""The common pass@k estimator (Chen et al. 2021, HumanEval), one numpy call per problem and k."""
import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))


def grid(n, c, ks) -> np.ndarray:
    return np.array([[pass_at_k(int(a), int(b), int(k)) for k in ks] for a, b in zip(n, c)])
