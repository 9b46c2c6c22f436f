"""Benchmark of the permutation diagnostic: K = 1000 Broken-Q permutations over 10,000 clips.

``permute_k1000_n10k_s``: seconds for the whole protocol of the ``weighted`` style over 10,000 simulated
clips and 3 experts with 5 folds x 1 seed (every clip is a test clip once, with 1000 batched Broken-Q
evaluations; goal: at most 10 s on the 2-core development machine). ``permute_k1000_n10k_5x5_s``: the
same with the paper's 5 folds x 5 seeds (25 folds, 25,000 Broken-Q evaluations of 2,000 clips).
"""

from __future__ import annotations

import time

from saboteur.eval.permutation import PermutationSettings, permutation_test, simulate_experts


def run() -> dict[str, float]:
    data = simulate_experts(10_000, accuracies=(0.5, 0.6, 0.7), n_labels=6, quality="informative", seed=0)
    settings = PermutationSettings(fusion="weighted", permutations=1000, folds=5, seeds=1)
    permutation_test(data, settings.model_copy(update={"permutations": 10}))  # warm-up (imports, caches)
    started = time.perf_counter()
    result = permutation_test(data, settings)
    elapsed = time.perf_counter() - started
    assert result.p_value_median < 0.01, "informative quality must show a significant gap"
    started = time.perf_counter()
    permutation_test(data, settings.model_copy(update={"seeds": 5}))
    elapsed_5x5 = time.perf_counter() - started
    return {"permute_k1000_n10k_s": round(elapsed, 3), "permute_k1000_n10k_5x5_s": round(elapsed_5x5, 3)}


if __name__ == "__main__":
    print(run())
