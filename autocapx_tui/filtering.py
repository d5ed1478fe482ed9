"""The trials pane's filter line: a few words a researcher types, turned into a query.

``c:C1 b:gpt r:0 failed sort:blocks 12345`` lists round-0 runs of condition C1 on backbone
gpt that failed, most blocks first, whose key or error contains 12345 (or whose run id or
seed is 12345). Unknown ``key:`` words are reported, not ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.store.trial_query import OUTCOMES, SORTS, TrialFilter

KEYS = {"c": "condition", "cond": "condition", "b": "backbone", "bb": "backbone"}


@dataclass(frozen=True)
class ParsedFilter:
    trial_filter: TrialFilter
    sort: str = "run"
    problem: str = ""


def parse_filter(line: str) -> ParsedFilter:
    fields: dict[str, object] = {}
    sort, words, problems = "run", [], []
    for word in line.split():
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep:
            if word.lower() in OUTCOMES:
                fields["outcome"] = word.lower()
            else:
                words.append(word.replace(",", "") if word.replace(",", "").isdigit() else word)
            continue
        if key in KEYS:
            fields[KEYS[key]] = value
        elif key in ("r", "round"):
            if value.isdigit():
                fields["round"] = int(value)
            else:
                problems.append(f"round must be a number, not {value!r}")
        elif key == "sort":
            if value in SORTS:
                sort = value
            else:
                problems.append(f"sort by one of {', '.join(SORTS)}")
        else:
            problems.append(f"unknown filter {key!r} (c:, b:, r:, sort:, an outcome, or text)")
    fields["text"] = " ".join(words)
    return ParsedFilter(TrialFilter(**fields), sort, "; ".join(problems))
