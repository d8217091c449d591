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
# Real citizens' messages from a public message board (intents/data/README.md), split tune / report.
REAL_DEV_SET = DEV_SET.with_name("assistant_real_dev.jsonl")


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
    declined: int = 0  # in scope: declined or sent to a complaint channel; out of scope: declined
    handled: int = 0  # out of scope, complaints, suggestions: declined or sent to a complaint channel
    clarified: int = 0  # in scope: asked which of close candidates (life-event lists not counted)
    right_channel: int = 0  # complaints and suggestions with a labelled channel: sent to one of them
    channel_rows: int = 0

    def share(self, count: int) -> float:
        return count / self.rows if self.rows else 0.0


# Message lengths reported apart: the engine was built on short requests, citizens write long ones.
LENGTHS = ((20, "<=20"), (80, "21-80"), (200, "81-200"), (10**9, ">200"))


def length_bucket(text: str) -> str:
    return next(name for limit, name in LENGTHS if len(text) <= limit)


@dataclass
class Report:
    in_scope: Tally = field(default_factory=Tally)
    out_of_scope: Tally = field(default_factory=Tally)
    # Per group: (in-scope tally, out-of-scope tally).
    by_kind: dict[str, tuple[Tally, Tally]] = field(default_factory=lambda: defaultdict(lambda: (Tally(), Tally())))
    by_label: dict[str, tuple[Tally, Tally]] = field(default_factory=lambda: defaultdict(lambda: (Tally(), Tally())))
    by_length: dict[str, tuple[Tally, Tally]] = field(default_factory=lambda: defaultdict(lambda: (Tally(), Tally())))
    misses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, float]:
        return {
            "top1": self.in_scope.share(self.in_scope.top1),
            "top3": self.in_scope.share(self.in_scope.top3),
            "in_scope_declined": self.in_scope.share(self.in_scope.declined),
            "out_of_scope_declined": self.out_of_scope.share(self.out_of_scope.declined),
            "out_of_scope_handled": self.out_of_scope.share(self.out_of_scope.handled),
            "clarify": self.in_scope.share(self.in_scope.clarified),
        }


def evaluate(assistant: Assistant, rows: Iterable[Mapping[str, Any]], channels: frozenset[str] | None = None) -> Report:
    """Each row is answered in a fresh session, as a first message.

    A row with ``expected`` codes is in scope; one without is out of scope, a complaint or a
    suggestion (its ``label``), handled when the assistant declines it or sends it to a complaint
    channel (``channels``: the triage's channel items; an optional ``channel`` field on the row says
    which channels are right for it).
    """
    if channels is None:
        channels = frozenset(c.code for c in assistant.triage.channels)
    report = Report()
    for row in rows:
        reply, _ = assistant.respond(str(row["text"]))
        ranked = [item["code"] for item in reply.items]
        expected = set(row["expected"])
        declined = reply.action in DECLINING
        routed = reply.action == "answer" and reply.triage in ("complaint", "suggestion") and bool(ranked)
        routed = routed or (reply.action == "answer" and bool(ranked) and ranked[0] in channels)
        label = str(row.get("label") or ("service" if expected else "OOS"))
        side = 0 if expected else 1
        tallies = [
            report.by_kind[str(row.get("kind", "other"))][side],
            report.by_label[label][side],
            report.by_length[length_bucket(str(row["text"]))][side],
        ]
        if expected:
            tallies.append(report.in_scope)
            hit1 = bool(ranked[:1]) and ranked[0] in expected and not declined
            hit3 = bool(expected & set(ranked[:3])) and not declined
            lost = declined or (routed and not expected & set(ranked[:1]))
            listed = any(card.get("type") == "life_event" for card in reply.cards)
            for tally in tallies:
                tally.rows += 1
                tally.top1 += hit1
                tally.top3 += hit3
                tally.declined += lost
                tally.clarified += reply.action == "clarify" and not listed
            if not hit1:
                report.misses.append(
                    {"text": row["text"], "expected": sorted(expected), "got": ranked[:3], "action": reply.action}
                )
        else:
            tallies.append(report.out_of_scope)
            handled = declined or routed
            right = row.get("channel")
            for tally in tallies:
                tally.rows += 1
                tally.declined += declined
                tally.handled += handled
                if right:
                    tally.channel_rows += 1
                    tally.right_channel += routed and ranked[0] in right
            if not handled:
                report.misses.append(
                    {"text": row["text"], "expected": [label], "got": ranked[:3], "action": reply.action}
                )
    return report


def _line(name: str, pair: tuple[Tally, Tally]) -> str:
    inside, outside = pair
    left = (
        f"{inside.rows:>6}{inside.share(inside.top1):>8.1%}{inside.share(inside.top3):>8.1%}"
        f"{inside.share(inside.declined):>9.1%}{inside.share(inside.clarified):>9.1%}"
        if inside.rows
        else f"{0:>6}{'-':>8}{'-':>8}{'-':>9}{'-':>9}"
    )
    right = f"{outside.rows:>7}{outside.share(outside.handled):>9.1%}" if outside.rows else f"{0:>7}{'-':>9}"
    return f"{name:<14}{left}{right}"


def format_report(report: Report, baselines: Mapping[str, Callable[[], Mapping[str, float]]] | None = None) -> str:
    f = report.figures
    lines = [
        f"in-scope utterances: {report.in_scope.rows}, out-of-scope/complaint/suggestion: {report.out_of_scope.rows}",
        f"top-1 accuracy            {f['top1']:7.1%}",
        f"top-3 accuracy            {f['top3']:7.1%}",
        f"in-scope declined         {f['in_scope_declined']:7.1%}   (declined, or sent to a complaint channel)",
        f"in-scope clarify asked    {f['clarify']:7.1%}",
        f"out-of-scope declined     {f['out_of_scope_declined']:7.1%}",
        f"out-of-scope handled      {f['out_of_scope_handled']:7.1%}   (declined, or sent to a complaint channel)",
    ]
    channel = report.out_of_scope
    if channel.channel_rows:
        lines.append(
            f"right channel             {channel.right_channel / channel.channel_rows:7.1%}"
            f"   (of {channel.channel_rows} complaints/suggestions with a labelled channel)"
        )
    header = f"{'':<14}{'in':>6}{'top-1':>8}{'top-3':>8}{'declined':>9}{'clarify':>9}{'out':>7}{'handled':>9}"
    for title, groups in (("kind", report.by_kind), ("label", report.by_label), ("length", report.by_length)):
        lines += ["", f"by {title}", header]
        order = [name for _, name in LENGTHS] if title == "length" else sorted(groups)
        lines += [_line(name, groups[name]) for name in order if name in groups]
    return "\n".join(lines)
