"""Small helpers for the text that commands print for people (never for the LLM: what the LLM
reads is CaP-X's text, word for word)."""

from __future__ import annotations


def plural_word(n: int, noun: str, many: str | None = None) -> str:
    """``noun`` as it goes with a count of ``n``: the singular for exactly 1, else the plural
    (``many``, or ``noun + "s"``). For counts printed apart from their noun (``1/1 trial``)."""
    return noun if n == 1 else (many or noun + "s")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """The count and its noun: ``plural(1, "block")`` is ``"1 block"``, ``plural(0, "block")``
    ``"0 blocks"``, ``plural(2, "child", "children")`` ``"2 children"``."""
    return f"{n} {plural_word(n, noun, many)}"
