"""Attribution: who helped and who sabotaged each fused decision.

Definitions (papers.md, arXiv 2511.02794, plus saboteur's counterfactual extensions), per clip with a
known truth and per agent that produced a valid verdict:

- potential saboteur: confidence >= tau and primary label != truth;
- successful saboteur: a potential saboteur whose wrong label is the fused top-1;
- contributor: primary label == truth and the fused top-1 == truth;
- decisive contributor / saboteur: removing that agent alone flips the fused top-1 from right to wrong /
  from wrong to right;
- Shapley value: the agent's exact Shapley value in the cooperative game whose players are the agents
  and whose value v(S) is 1 when fusing only the agents in S gives the right top-1 (v(empty) = 0). Values
  sum to v(all agents) per clip (efficiency).

Every coalition is fused once over all clips (2^M fusions of [N, K] arrays); decisive flips reuse the
coalitions "all but one".
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from saboteur.errors import SaboteurError
from saboteur.eval.fusion import TieOrder, get_rule, top1_only
from saboteur.eval.table import BoolArray, FloatArray, IntArray, VerdictTable

MAX_EXACT_AGENTS = 12
"""Beyond this many agents exact Shapley (2^M fusions) is refused rather than silently slow."""


@dataclass(frozen=True)
class Attribution:
    """Per clip x agent attribution flags and Shapley values (rows: clips with a known truth)."""

    agents: list[str]
    rows: IntArray
    """[n] rows of the table that were attributed (clips with a known truth)."""
    available: BoolArray
    """[n, M] agent produced a valid verdict."""
    correct: BoolArray
    """[n, M] agent's primary label is the truth."""
    fused_correct: BoolArray
    """[n] fused top-1 (all agents) is the truth."""
    potential_saboteur: BoolArray
    successful_saboteur: BoolArray
    contributor: BoolArray
    decisive_contributor: BoolArray
    decisive_saboteur: BoolArray
    shapley: FloatArray
    """[n, M] exact Shapley values of fused correctness."""

    def counts(self) -> dict[str, dict[str, int]]:
        """Per agent: integer counts of each flag."""
        flags = {
            "potential_saboteur": self.potential_saboteur,
            "successful_saboteur": self.successful_saboteur,
            "contributor": self.contributor,
            "decisive_saboteur": self.decisive_saboteur,
            "decisive_contributor": self.decisive_contributor,
        }
        return {
            agent: {name: int(values[:, col].sum()) for name, values in flags.items()}
            for col, agent in enumerate(self.agents)
        }


def coalition_correctness(table: VerdictTable, rule: str, ties: TieOrder | None = None) -> BoolArray:
    """[2^M, N] whether fusing only the agents of each coalition (bit m = agent m) gives the right top-1."""
    m = table.n_agents
    if m > MAX_EXACT_AGENTS:
        raise SaboteurError(f"exact attribution over {m} agents needs 2^{m} fusions; choose --agents")
    registered = get_rule(rule)
    bits = (np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1  # [2^M, M]
    values = np.zeros((2**m, table.n_clips), dtype=np.bool_)
    for coalition in range(1, 2**m):
        mask = table.mask & bits[coalition].astype(np.bool_)[None, :]
        top = top1_only(table, registered, mask, ties)
        values[coalition] = (top == table.truth) & table.has_truth
    return values


def shapley_values(values: BoolArray) -> FloatArray:
    """[N, M] exact Shapley values from coalition values [2^M, N] (vectorised over clips)."""
    n_coalitions = values.shape[0]
    m = int(np.log2(n_coalitions))
    sizes = np.array([bin(c).count("1") for c in range(n_coalitions)])
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) if s < m else 0.0 for s in sizes])
    v = values.astype(np.float64)
    phi = np.zeros((values.shape[1], m), dtype=np.float64)
    coalitions = np.arange(n_coalitions)
    for agent in range(m):
        bit = 1 << agent
        without = coalitions[(coalitions & bit) == 0]
        phi[:, agent] = weight[without] @ (v[without | bit] - v[without])
    return phi


def attribute(
    table: VerdictTable, rule: str = "confidence", tau: float = 0.7, ties: TieOrder | None = None
) -> Attribution:
    """Attribute every clip's fused decision to its agents (see the module docstring)."""
    if not 0.0 <= tau <= 1.0:
        raise SaboteurError(f"--tau must be in [0, 1], got {tau}")
    m = table.n_agents
    full = 2**m - 1
    values = coalition_correctness(table, rule, ties)
    fused_top1 = top1_only(table, rule, table.mask, ties)
    rows = np.flatnonzero(table.has_truth)

    truth = table.truth[rows]
    available = table.mask[rows]
    primary = table.primary[rows]
    correct = available & (primary == truth[:, None])
    fused_correct = values[full, rows]
    confident_wrong = available & ~correct & (table.confidence[rows] >= tau)
    successful = confident_wrong & (primary == fused_top1[rows][:, None])
    contributor = correct & fused_correct[:, None]

    without = np.stack([values[full & ~(1 << agent), rows] for agent in range(m)], axis=1)  # [n, M]
    decisive_contributor = available & fused_correct[:, None] & ~without
    decisive_saboteur = available & ~fused_correct[:, None] & without
    phi = shapley_values(values[:, rows])
    return Attribution(
        agents=list(table.agents),
        rows=rows,
        available=available,
        correct=correct,
        fused_correct=fused_correct,
        potential_saboteur=confident_wrong,
        successful_saboteur=successful,
        contributor=contributor,
        decisive_contributor=decisive_contributor,
        decisive_saboteur=decisive_saboteur,
        shapley=phi,
    )
