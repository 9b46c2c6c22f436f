"""Importers: external agent outputs become native verdicts in a run directory."""

from saboteur.eval.importers.crema_d import import_crema_d
from saboteur.eval.importers.paper_json import import_paper_json
from saboteur.eval.importers.report import ImportReport

IMPORTERS = {"paper-json": import_paper_json, "crema-d": import_crema_d}

__all__ = ["IMPORTERS", "ImportReport", "import_crema_d", "import_paper_json"]
