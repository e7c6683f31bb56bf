"""Exact null distribution of the Mann-Kendall statistic S for short series.

With n values and no ties, S = n(n-1)/2 - 2 * (number of inversions), and the
number of permutations of n items with k inversions is the Mahonian number
T(n, k). The exact two-sided p-value of an observed |S| is therefore
P(|S'| >= |S|) under the uniform distribution over the n! orderings. Ties are not
handled exactly: the table treats them as if absent.
"""

from math import factorial

import pandas as pd


def mahonian_counts(n: int) -> list[int]:
    """Return T(n, k) for k = 0 .. n(n-1)/2: permutations of n with k inversions."""
    counts = [1]
    for size in range(2, n + 1):
        extended = [0] * (len(counts) + size - 1)
        for inversions, count in enumerate(counts):
            for added in range(size):
                extended[inversions + added] += count
        counts = extended
    return counts


def exact_p_values(n: int) -> pd.DataFrame:
    """Return the two-sided exact p-value for every attainable |S| with n values."""
    counts = mahonian_counts(n)
    pairs = n * (n - 1) // 2
    total = factorial(n)
    by_s: dict[int, int] = {}
    for inversions, count in enumerate(counts):
        s = pairs - 2 * inversions
        by_s[s] = by_s.get(s, 0) + count
    rows = []
    for s_abs in sorted({abs(s) for s in by_s}):
        extreme = sum(count for s, count in by_s.items() if abs(s) >= s_abs)
        rows.append({"n": n, "s_abs": s_abs, "p_two_sided": extreme / total})
    return pd.DataFrame(rows)


def exact_table(max_n: int = 25) -> pd.DataFrame:
    """Return the exact p-value table for n = 3 .. max_n."""
    return pd.concat(
        [exact_p_values(n) for n in range(3, max_n + 1)], ignore_index=True
    )
