"""Bookkeeping of an agent's calls (usage) and the self-consistency vote over sampled answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from saboteur.agents.llm.backend import ChatResponse
from saboteur.agents.llm.output import Answer
from saboteur.labels import LabelSet
from saboteur.schemas import LabelScore, SelfAssessment, Usage


class Meter:
    """Sums what an agent's calls cost: tokens, waiting time, calls made, cache hits, retries, repairs."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.latency_s = 0.0
        self.calls = 0
        self.cached_calls = 0
        self.attempts = 0
        self.repairs = 0

    def add(self, response: ChatResponse) -> ChatResponse:
        """Count one response (a cache hit costs no call and no time, but its tokens are still counted)."""
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        self.latency_s += response.latency_s
        if response.cached:
            self.cached_calls += 1
        else:
            self.calls += 1
            self.attempts += response.attempts
        return response

    def usage(self) -> Usage:
        """The verdict's ``usage``: ``calls`` counts model calls actually made (cache hits excluded)."""
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            latency_s=round(self.latency_s, 4),
            calls=self.calls,
        )

    def extra(self) -> dict[str, Any]:
        """Details kept in the verdict's ``extra``."""
        return {"cached_calls": self.cached_calls, "attempts": self.attempts, "repairs": self.repairs}


def vote(answers: Sequence[Answer], labels: LabelSet) -> tuple[Answer, dict[str, int]]:
    """Self-consistency: the majority label, vote shares as confidence and ranking.

    Ties are broken by the mean verbalised confidence of the tied labels' voters, then by label-set order.
    The self-assessment is the voters' mean score with their issues (first five distinct); the rationale is
    that of the first answer voting for the winner.
    """
    counts = Counter(answer.label for answer in answers)
    mean_conf = {
        label: sum(a.confidence for a in answers if a.label == label) / counts[label] for label in counts
    }
    order = sorted(counts, key=lambda label: (-counts[label], -mean_conf[label], labels.labels.index(label)))
    total = len(answers)
    winner = order[0]
    assessments = [a.self_assessment for a in answers if a.self_assessment is not None]
    issues: list[str] = []
    for assessment in assessments:
        for issue in assessment.issues:
            if issue not in issues and len(issues) < 5:
                issues.append(issue)
    self_assessment = None
    if assessments:
        self_assessment = SelfAssessment(
            score=sum(a.score for a in assessments) / len(assessments),
            issues=issues,
            rationale=assessments[0].rationale,
        )
    answer = Answer(
        label=winner,
        confidence=counts[winner] / total,
        ranking=[LabelScore(label=label, confidence=counts[label] / total) for label in order],
        self_assessment=self_assessment,
        rationale=next(a.rationale for a in answers if a.label == winner),
    )
    return answer, {label: counts[label] for label in order}
