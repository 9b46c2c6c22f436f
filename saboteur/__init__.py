"""saboteur: run multimodal LLM-agent graphs over clips and diagnose modality sabotage.

The public API for notebooks and scripts; every CLI command is a thin layer over one of these.
"""

from __future__ import annotations

from pathlib import Path as _Path

__version__ = "0.1.0"

# In a source checkout the subpackages (agents/, eval/, graph/, prompts/) sit beside this folder and are
# mapped into ``saboteur`` by the installer. When Python imports this folder directly (a notebook started
# at the repository root puts it first on sys.path), let it find them there too.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "eval" / "__init__.py").is_file() and str(_checkout) not in __path__:
    __path__.append(str(_checkout))

from saboteur.errors import SaboteurError  # noqa: E402
from saboteur.eval import (  # noqa: E402
    Attribution,
    Evaluation,
    VerdictTable,
    attribute,
    evaluate,
    fuse,
    fusion_rule,
    load_table,
    rules,
)
from saboteur.eval.evaluate import evaluate_run  # noqa: E402
from saboteur.eval.importers import import_crema_d, import_paper_json  # noqa: E402
from saboteur.labels import LabelSet, builtin_label_sets, get_label_set, make_label_set  # noqa: E402
from saboteur.rundir import RunDir  # noqa: E402
from saboteur.schemas import Clip, Evidence, LabelScore, RunConfig, SelfAssessment, Usage, Verdict  # noqa: E402

_LAZY = {
    "calibrate": "saboteur.eval.calibration",
    "calibrate_run": "saboteur.eval.calibration",
    "cross_fit": "saboteur.eval.calibration",
    "recalibrate_table": "saboteur.eval.calibration",
    "study": "saboteur.eval.calibration",
    "write_plots": "saboteur.eval.calibration",
    "CalibrationData": "saboteur.eval.calibration",
    "run": "saboteur.graph.api",
    "perceive": "saboteur.agents.perception",
    "perceive_modality": "saboteur.agents.perception",
    "Perception": "saboteur.agents.perception",
    "PerceptionConfig": "saboteur.agents.perception",
    "demo": "saboteur.demo",
    "build_report": "saboteur.eval.report",
    "permutation_test": "saboteur.eval.permutation",
    "PermutationSettings": "saboteur.eval.permutation",
    "PermutationResult": "saboteur.eval.permutation",
    "load_expert_data": "saboteur.eval.permutation",
    "compare_runs": "saboteur.eval.report",
    "Comparison": "saboteur.eval.report",
}
"""Public names whose modules are heavy (scikit-learn, matplotlib, LangGraph): imported on first use."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'saboteur' has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(module)
    return loaded if name == "demo" else getattr(loaded, name)


__all__ = [
    "Attribution",
    "CalibrationData",
    "Clip",
    "Evaluation",
    "Evidence",
    "LabelScore",
    "LabelSet",
    "Perception",
    "PerceptionConfig",
    "PermutationResult",
    "PermutationSettings",
    "RunConfig",
    "RunDir",
    "SaboteurError",
    "SelfAssessment",
    "Usage",
    "Verdict",
    "VerdictTable",
    "__version__",
    "attribute",
    "builtin_label_sets",
    "calibrate",
    "calibrate_run",
    "compare_runs",
    "cross_fit",
    "demo",
    "evaluate",
    "evaluate_run",
    "fuse",
    "fusion_rule",
    "get_label_set",
    "import_crema_d",
    "import_paper_json",
    "load_expert_data",
    "load_table",
    "make_label_set",
    "perceive",
    "perceive_modality",
    "permutation_test",
    "recalibrate_table",
    "rules",
    "run",
    "study",
    "write_plots",
]
