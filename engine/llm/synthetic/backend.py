"""The synthetic coder: an offline, seeded test double for the trial loop (not a claim about LLMs).

It reads only its prompt, like any backend, and never the simulator: on the first turn it writes
a program (see :mod:`.programs`) that, most of the time, looks at the scene again after lifting
and prints how far the cube rose. On later turns it reads that line and the errors in the
output (CaP-X's feedback: code, stdout, stderr): it answers FINISH when its own check says the
cube is up (or, without a check, when nothing went wrong), and otherwise fixes the mistake it
can see in its own code with the profile's probability, or tries again. Replies stream token by
token with configurable latency. Same seed and same messages give the same reply. Token counts
are estimates (characters / 4).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import AsyncIterator

from engine.errors import UserError
from engine.llm.base import LLMReply, TextDelta
from engine.llm.synthetic import programs
from engine.llm.synthetic.profiles import PROFILES, Profile
from engine.llm.synthetic.reading import Reading, read_prompt

_TOKEN = re.compile(r"\s*\S{1,4}|\s+")
LIFTED_M = 0.05
"""How far the cube must have risen by its own measurement for the coder to call it lifted."""


class SyntheticBackend:
    """``synthetic-strong`` or ``synthetic-weak``; always labelled synthetic."""

    name = "synthetic"
    synthetic = True

    def __init__(
        self, profile: str = "strong", seed: int = 0, latency_s_per_token: float = 0.0
    ) -> None:
        if profile not in PROFILES:
            raise UserError(f"unknown synthetic profile {profile!r} (known: {', '.join(PROFILES)})")
        self.profile: Profile = PROFILES[profile]
        self.model = f"synthetic-{profile}"
        self.seed = seed
        self.latency_s_per_token = latency_s_per_token
        self.last_choices: programs.Choices | None = None
        """The choices behind the last program (for tests; never part of the reply text)."""

    def _rng(self, messages: list[dict]) -> random.Random:
        digest = hashlib.sha256(
            json.dumps([self.seed, self.model, messages], sort_keys=True, default=str).encode()
        ).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def _style(self, reading: Reading) -> dict:
        p = self.profile
        return dict(
            bug_rate=p.bug_rate,
            helper_style=p.helper_style,
            docstring=p.docstring,
            skills=reading.skills,
            skill_use=p.skill_use,
            verify=p.verify,
        )

    def _program(self, rng: random.Random, reading: Reading, **overrides: object) -> str:
        choices = programs.choose(rng, **self._style(reading), **overrides)  # type: ignore[arg-type]
        self.last_choices = choices
        return programs.write_program(choices)

    def reply_for(self, messages: list[dict]) -> str:
        """The whole reply text (streaming just slices it)."""
        rng = self._rng(messages)
        reading = read_prompt(messages)
        if not reading.follow_up:
            self.last_choices = None
            return self._program(rng, reading)
        p = self.profile
        lifted = reading.rise is not None and reading.rise > LIFTED_M
        unchecked = reading.rise is None and not reading.cube_unseen
        if lifted or (unchecked and not reading.errors):
            if rng.random() < p.finish_on_success:
                return rng.choice(
                    ("FINISH", "FINISH\nThe cube is lifted.", "The cube is up. FINISH")
                )
            if lifted:  # look once more (the earlier block's variables persist)
                check = programs.recheck_program(programs.choose(rng, **self._style(reading)))
                return f"REGENERATE\n```python\n{check}```"
        if rng.random() < p.premature_finish:
            return "FINISH"
        seen = programs.bug_seen(reading.code_so_far)
        failed_skills = frozenset(name for name in reading.skills if name in reading.output)
        avoid = (
            failed_skills
            if failed_skills and rng.random() < p.rewrite_failed_skill
            else frozenset()
        )
        if seen is not None and rng.random() >= p.fix_prob:
            code = self._program(rng, reading, forced_bug=seen, avoid_skills=avoid)
        else:
            code = self._program(rng, reading, avoid_skills=avoid)
            if seen is not None and self.last_choices is not None and self.last_choices.bug == seen:
                self.last_choices.bug = None
                code = programs.write_program(self.last_choices)
        note = rng.choice(("", "The last attempt failed; fixing it.\n", "Let me try again.\n"))
        return f"{note}REGENERATE\n```python\n{code}```"

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        t0 = time.perf_counter()
        text = self.reply_for(messages)
        first = None
        for i, piece in enumerate(_TOKEN.findall(text)):
            if self.latency_s_per_token:
                await asyncio.sleep(self.latency_s_per_token)
            elif i % 64 == 0:
                await asyncio.sleep(0)
            if first is None:
                first = time.perf_counter() - t0
            yield TextDelta(piece)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
        yield LLMReply(
            text=text,
            model=self.model,
            backend=self.name,
            synthetic=True,
            prompt_tokens=prompt_chars // 4,
            completion_tokens=max(1, len(text) // 4),
            latency_s=time.perf_counter() - t0,
            first_token_s=first,
            finish_reason="stop",
        )
