"""Measure the assistant on labelled utterances: top-1/top-3, fallback rates, by kind."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intents.dialog import Assistant

DECLINING = ("fallback", "smalltalk")
# The labelled development set, shipped with the package (the console replays a draft on it).
DEV_SET = Path(__file__).resolve().parent / "data" / "assistant_dev.jsonl"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file: {"text", "expected": [codes] ([] = out of scope), "kind"}."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or not isinstance(row.get("expected"), list):
                raise ValueError(f"{path.name} line {number}: needs text and expected")
            rows.append(row)
    return rows


@dataclass
class Tally:
    rows: int = 0
    top1: int = 0
    top3: int = 0
    declined: int = 0

    def share(self, count: int) -> float:
        return count / self.rows if self.rows else 0.0


@dataclass
class Report:
    in_scope: Tally = field(default_factory=Tally)
    out_of_scope: Tally = field(default_factory=Tally)
    by_kind: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    misses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, float]:
        return {
            "top1": self.in_scope.share(self.in_scope.top1),
            "top3": self.in_scope.share(self.in_scope.top3),
            "in_scope_declined": self.in_scope.share(self.in_scope.declined),
            "out_of_scope_declined": self.out_of_scope.share(self.out_of_scope.declined),
        }


def evaluate(assistant: Assistant, rows: Iterable[Mapping[str, Any]]) -> Report:
    """Each row is answered in a fresh session, as a first message."""
    report = Report()
    for row in rows:
        reply, _ = assistant.respond(str(row["text"]))
        ranked = [item["code"] for item in reply.items]
        kind = str(row.get("kind", "other"))
        tally = report.by_kind[kind]
        tally.rows += 1
        expected = set(row["expected"])
        declined = reply.action in DECLINING
        if expected:
            report.in_scope.rows += 1
            hit1 = bool(ranked[:1]) and ranked[0] in expected and not declined
            hit3 = bool(expected & set(ranked[:3])) and not declined
            report.in_scope.top1 += hit1
            report.in_scope.top3 += hit3
            report.in_scope.declined += declined
            tally.top1 += hit1
            tally.top3 += hit3
            tally.declined += declined
            if not hit1:
                report.misses.append(
                    {"text": row["text"], "expected": sorted(expected), "got": ranked[:3], "action": reply.action}
                )
        else:
            report.out_of_scope.rows += 1
            report.out_of_scope.declined += declined
            tally.declined += declined
            if not declined:
                report.misses.append({"text": row["text"], "expected": [], "got": ranked[:3], "action": reply.action})
    return report


def format_report(report: Report, baselines: Mapping[str, Callable[[], Mapping[str, float]]] | None = None) -> str:
    f = report.figures
    lines = [
        f"in-scope utterances: {report.in_scope.rows}, out-of-scope: {report.out_of_scope.rows}",
        f"top-1 accuracy           {f['top1']:7.1%}   (target >= 92%)",
        f"top-3 accuracy           {f['top3']:7.1%}   (target >= 98%)",
        f"in-scope wrongly declined {f['in_scope_declined']:6.1%}   (target <= 2%)",
        f"out-of-scope declined    {f['out_of_scope_declined']:7.1%}   (target >= 95%)",
        "",
        f"{'kind':<14}{'rows':>6}{'top-1':>9}{'top-3':>9}{'declined':>10}",
    ]
    for kind, tally in sorted(report.by_kind.items()):
        lines.append(
            f"{kind:<14}{tally.rows:>6}{tally.share(tally.top1):>9.1%}{tally.share(tally.top3):>9.1%}"
            f"{tally.share(tally.declined):>10.1%}"
        )
    return "\n".join(lines)
