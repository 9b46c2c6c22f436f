"""Statistics over stored verdicts: VerdictTable, fusion, attribution, evaluation, importers.

Nothing here calls a model or imports ``saboteur.agents`` / ``saboteur.graph``: a study over imported
verdicts needs no model installed.
"""

from saboteur.eval.attribution import Attribution, attribute, coalition_correctness, shapley_values
from saboteur.eval.evaluate import AgentProfile, Evaluation, evaluate
from saboteur.eval.fusion import Fused, FusionRule, fuse, fusion_rule, get_rule, rules
from saboteur.eval.load import LoadedRun, load_table
from saboteur.eval.table import VerdictTable

__all__ = [
    "AgentProfile",
    "Attribution",
    "Evaluation",
    "Fused",
    "FusionRule",
    "LoadedRun",
    "VerdictTable",
    "attribute",
    "coalition_correctness",
    "evaluate",
    "fuse",
    "fusion_rule",
    "get_rule",
    "load_table",
    "rules",
    "shapley_values",
]
