"""The leakage-safe Clean-Q vs Broken-Q permutation diagnostic (arXiv 2606.26473).

Does a fusion rule really use per-expert quality scores Q, or do they only correlate with accuracy?
Freeze the experts and the fitted fusion rule, keep evidence and availability fixed, permute Q among
test clips, and measure how much balanced accuracy is lost::

    from saboteur.eval.permutation import PermutationSettings, load_expert_data, permutation_test

    data = load_expert_data("runs/crema-d", agents=["voice", "face"])
    result = permutation_test(data, PermutationSettings(fusion="lr", positive_control="corrupt"))
    print(result.gap_mean, result.p_value_median, result.oracle_headroom)
"""

from saboteur.eval.permutation.data import (
    ExpertData,
    expert_data_from_table,
    load_expert_data,
    resolve_quality,
)
from saboteur.eval.permutation.protocol import (
    FoldOutcome,
    FoldResult,
    LeakageError,
    PermutationResult,
    PermutationSettings,
    check_no_leak,
    iter_folds,
    permutation_test,
    run_fold,
)
from saboteur.eval.permutation.styles import FittedFusion, TrainingSet, fit_style, fusion_style, styles
from saboteur.eval.permutation.synthetic import simulate_experts

__all__ = [
    "ExpertData",
    "FittedFusion",
    "FoldOutcome",
    "FoldResult",
    "LeakageError",
    "PermutationResult",
    "PermutationSettings",
    "TrainingSet",
    "check_no_leak",
    "expert_data_from_table",
    "fit_style",
    "fusion_style",
    "iter_folds",
    "load_expert_data",
    "permutation_test",
    "resolve_quality",
    "run_fold",
    "simulate_experts",
    "styles",
]
