"""Benchmark of the permutation diagnostic: K = 1000 Broken-Q permutations over 10,000 clips.

``permute_k1000_n10k_s``: seconds for the whole protocol (5 folds x 1 seed: fitting, Clean-Q and
1000 batched Broken-Q evaluations per fold) of the ``weighted`` style over 10,000 simulated clips and
3 experts (goal: at most 10 s on the 2-core development machine).
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
    return {"permute_k1000_n10k_s": round(elapsed, 3)}


if __name__ == "__main__":
    print(run())
