"""Sweep configuration: one TOML file, validated into plain dataclasses.

Every mistake is reported as one line naming the key: an unknown key (with the closest known
one), a wrong type, or a value out of range. API keys are never part of a config: a backbone
names the environment variable that holds its key (``api_key_env``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.trial.prompts import (
    BUILT_IN,
    FEEDBACK_MODES,
    PRIVILEGED_FEEDBACK,
    PromptSet,
    load_prompt_set,
)
from engine.world import CAMERA_SIZE, MAX_CAMERA_SIZE, MIN_CAMERA_SIZE, WorldSpec

# The libraries a condition can name (study names and readable aliases) -> canonical name;
# built by engine.skills.conditions, named here so a config is validated without it.
LIBRARY_ALIASES = {
    "none": "P21_a",
    "P21_a": "P21_a",
    "curated9": "curated9",
    "C1": "C1",
    "all_gated": "C1",
    "C2": "C2",
    "quality_gated": "C2",
    "C3v2": "C3v2",
    "structural_dedup": "C3v2",
    "manual_k": "manual_k",
    "top_k": "manual_k",
    "empty_ns": "empty_ns",
    "C3b": "C3b",
    "behavioural_dedup": "C3b",
    "generated": "generated",
}


class ConfigError(UserError):
    """A config problem, reported as ``config error: <file>: <key>: <problem>``."""


@dataclass
class SessionConfig:
    name: str = "sweep"
    task: str = "cube_lift"
    trials_per_condition: int = 10
    concurrency: int = 2
    max_regenerations: int = 10
    seed: int = 0
    block_timeout_s: float = 180.0
    camera_size: int = CAMERA_SIZE
    quality: str = "full"
    feedback: str = "capx"
    """capx (CaP-X's: code, stdout, stderr) | vision | vdm | privileged (see engine.trial.loop)."""
    privileged_observations: bool = False
    """Object poses in observations: simulator ground truth, PRIVILEGED, off by default."""
    keep_frames: bool = False
    """Keep each block's camera frames before and after it ran (PNG files in the session's
    frames/ folder; the console's timeline opens them). Never shown to the LLM unless the
    feedback mode is vision or vdm."""
    prompts: str = ""
    """A YAML prompt file (CaP-X's keys), relative to the config file; empty: built-in prompts."""
    reference: str = "P21_a"
    """The condition every arm is compared with (report, console); it must be a condition of
    the sweep when set explicitly."""
    noise: dict = field(default_factory=dict)
    max_cost_usd: float = 0.0
    """Budget: no trial starts once the session's LLM calls cost this much (0: no limit)."""
    max_tokens: int = 0
    """Budget: no trial starts once the session's LLM calls used this many tokens (0: none)."""


@dataclass
class AnalysisConfig:
    """``[analysis]``: the pre-registered analysis plan, frozen with the session at start
    (engine.stats.analysis); a later edit is refused on resume, or with --force recorded as a
    deviation the report shows."""

    reference: str = ""
    """The condition every contrast is against (default: session.reference)."""
    contrasts: list = field(default_factory=list)
    """Conditions compared with the reference (default: every other condition)."""
    alpha: float = 0.05
    margin: float = 0.0
    """Equivalence margin, a difference of rates (0.05 = 5 points); 0: no equivalence claim."""
    stop_when: str = "never"
    """never | decided: an arm whose contrast is settled (anytime-valid) gets no more trials."""
    target_difference: float = 0.1
    """The difference the plan should detect (``autocapx plan`` reports its power)."""
    baseline_rate: float = 0.5
    """The reference's expected rate, for that power."""


@dataclass
class ModelConfig:
    """How to reach a model and what it costs (a backbone, or the ``[vdm]`` vision model)."""

    model: str = ""
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 1.0
    max_tokens: int = 4096
    timeout_s: float = 120.0
    max_retries: int = 4
    price_input_per_m: float = 0.0
    price_output_per_m: float = 0.0


RESOLVED = {"resolved": True}
"""Field metadata: filled from a file the config names, not a TOML key (refused as one)."""


@dataclass
class BackboneConfig(ModelConfig):
    name: str = ""
    backend: str = "synthetic"
    profile: str = "strong"
    latency_s_per_token: float = 0.0
    replies: str = ""
    """replay: a JSON-lines file (one {"text": ...} per line, relative to the config file),
    replayed in order from the start of each trial."""
    replay_texts: tuple[str, ...] = field(default=(), metadata=RESOLVED)
    """The replies read from ``replies``, kept with the session (a resume needs no file)."""

    @property
    def model_label(self) -> str:
        """The model name its backend reports (known without building the backend)."""
        if self.backend == "synthetic":
            return f"synthetic-{self.profile}"
        return self.model or self.backend

    @property
    def synthetic(self) -> bool:
        return self.backend == "synthetic"

    vision: bool = False
    concurrency: int = 0
    """Per-backbone limit on trials in flight (0 = only the global limit)."""
    requests_per_minute: float = 0.0
    """Per-backbone limit on LLM requests started per minute, across all trials and nodes
    (0 = no limit; the provider's 429s are still retried)."""
    max_cost_usd: float = 0.0
    """Budget of this backbone: none of its trials starts past this cost (0: no limit)."""
    max_total_tokens: int = 0
    """Budget of this backbone in tokens, all its calls together (0: no limit; ``max_tokens``
    is the cap of one reply, as in the OpenAI API)."""


@dataclass
class VdmConfig(ModelConfig):
    """``[vdm]``: the vision model that describes the scene for ``feedback = "vdm"``."""

    backend: str = "openai"
    """openai (any OpenAI-compatible vision model) or synthetic (an offline test double that
    reads only the images: it reports where the red pixels went)."""
    temperature: float = 0.2
    max_tokens: int = 1024


@dataclass
class ConditionConfig:
    name: str = ""
    library: str = "none"
    """none | curated9 | all_gated | quality_gated | structural_dedup | top_k | empty_ns | a skill round."""
    k: int = 0
    ablate: str = ""
    """Ablation arms generated from this mined condition, on the same seeds
    (engine.skills.ablations): "leave_one_out", "stubs" or "top_k:A-B" (one arm per k)."""
    ablation_of: str = field(default="", metadata=RESOLVED)
    """Set on a generated ablation arm: the condition it ablates."""
    without: str = field(default="", metadata=RESOLVED)
    """Set on a leave-one-out arm: the id of the skill it leaves out."""
    stubbed: bool = field(default=False, metadata=RESOLVED)
    """Set on a stubs arm: the library's signatures and docstrings with empty bodies."""
    cut: int = field(default=0, metadata=RESOLVED)
    """Set on a top-k arm: the library cut to its k best by quality."""


@dataclass
class SkillsConfig:
    """``[skills]``: where candidates come from, gate thresholds, how conditions are built."""

    pool: str = "self"
    """"self": this session's own trials; or the id of another session to mine."""
    mine_every: int = 10
    """Re-mine after this many completed trials (0: only when a sweep or round starts)."""
    min_occurrences: int = 2
    min_success_rate: float = 0.5
    max_magic_constants: int = 2
    min_lines: int = 3
    require_docstring: bool = True
    """The docstring gate: off lets undocumented skills into the library (the study's had some)."""
    c2_drop: int = 2
    """C2 = C1 minus its this-many lowest-quality skills (the study: 16 -> 14)."""
    quality_min: float = 0.0
    """C2 also leaves out skills below this quality score (0..1; 0: no threshold)."""
    survivor_rule: str = "first_seen"
    seeding: str = "namespace"
    sequences: bool = False
    """Also mine recurring API-call sequences of successful trials (inline or in defs) into
    generated candidate functions, gated like the rest and labelled generated."""
    saturation_ratio: float = 0.25
    """A round is saturated when its library arms write at most this share of the first
    round's top-level defs per block (the study's measure of a dense library)."""


@dataclass
class SweepConfig:
    session: SessionConfig = field(default_factory=SessionConfig)
    backbones: list[BackboneConfig] = field(default_factory=list)
    conditions: list[ConditionConfig] = field(default_factory=list)
    skills: SkillsConfig = field(default_factory=SkillsConfig)
    vdm: VdmConfig | None = None
    analysis: AnalysisConfig | None = None
    prompt_set: PromptSet = field(default_factory=PromptSet)
    """The prompt texts in force (built-in, or read from ``session.prompts``), kept with the
    session so a resume uses the same texts even if the file changed or moved."""
    source: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("source")
        if out["vdm"] is None:
            out.pop("vdm")
        if out["analysis"] is None:
            out.pop("analysis")
        return out

    def digest(self) -> str:
        """Hash of everything that determines the trials (used to refuse a changed resume).

        Keys added after sessions existed are left out while at their default, so a session
        started by an older autocapx still resumes with an unchanged config file."""
        data = self.to_dict()
        # Neither the budget nor the analysis plan changes what a trial does: a raised budget
        # resumes without --force, and a changed plan is checked against the frozen one.
        data.pop("analysis", None)
        for key in BUDGET_KEYS:
            data["session"].pop(key, None)
        for item in data["backbones"]:
            item.pop("max_cost_usd", None)
            item.pop("max_total_tokens", None)
        for section, key in _ADDED_LATER:
            items = data[section] if isinstance(data[section], list) else [data[section]]
            for item in items:
                if item.get(key) == _ADDED_LATER[(section, key)]:
                    item.pop(key, None)
        prompts = data.pop("prompt_set")
        prompts.pop("source")
        if prompts != {k: v for k, v in BUILT_IN.to_dict().items() if k != "source"}:
            data["prompt_set"] = prompts  # the texts count, not where they were read from
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def total_trials(self) -> int:
        return self.session.trials_per_condition * len(self.backbones) * len(self.conditions)

    def world(self, seed: int) -> WorldSpec:
        """The world of a trial of this sweep on scene ``seed``."""
        s = self.session
        return WorldSpec(
            task=s.task,
            seed=seed,
            camera_size=s.camera_size,
            quality=s.quality,
            noise=dict(s.noise),
            privileged_observations=s.privileged_observations,
        )

    @property
    def privileged(self) -> bool:
        """Does the LLM see anything of the simulator's ground truth (a labelled option)?"""
        s = self.session
        return s.privileged_observations or s.feedback in PRIVILEGED_FEEDBACK

    @property
    def synthetic_only(self) -> bool:
        return all(b.backend == "synthetic" for b in self.backbones)


BUDGET_KEYS = ("max_cost_usd", "max_tokens", "max_total_tokens")
"""Budget keys: [session] max_cost_usd and max_tokens; a backbone's max_cost_usd and
max_total_tokens (its max_tokens is the cap of one reply, which does change a trial)."""

_ADDED_LATER = {
    ("backbones", "requests_per_minute"): 0.0,
    ("session", "privileged_observations"): False,
    ("session", "keep_frames"): False,
    ("session", "prompts"): "",
    ("session", "reference"): "P21_a",
    ("skills", "sequences"): False,
    ("conditions", "ablate"): "",
    ("conditions", "ablation_of"): "",
    ("conditions", "without"): "",
    ("conditions", "stubbed"): False,
    ("conditions", "cut"): 0,
}
"""(section, key) -> default, for keys added after sessions were stored with their digest."""

_CHOICES = {
    "session.quality": ("full", "fast"),
    "session.feedback": FEEDBACK_MODES,
    "vdm.backend": ("openai", "synthetic"),
    "backbones.backend": ("synthetic", "openai", "replay"),
    "backbones.profile": ("strong", "weak"),
    "skills.survivor_rule": ("first_seen", "docstring_success_name"),
    "skills.seeding": ("namespace", "isolated"),
    "analysis.stop_when": ("never", "decided"),
}
SECONDS_PER_DAY = 86_400.0


class Range(typing.NamedTuple):
    low: float
    high: float
    why: str
    above_low: bool = False
    """The value must be strictly above ``low`` (a duration, a size)."""


_RANGES: dict[str, Range] = {
    # every number must also be finite
    "session.trials_per_condition": Range(1, 100_000, "every trial is planned up front"),
    "session.concurrency": Range(1, 1024, "trials in flight"),
    "session.max_regenerations": Range(0, 100, "turns per trial"),
    "session.seed": Range(0, 2**31 - 1, "a scene seed"),
    "session.block_timeout_s": Range(0, SECONDS_PER_DAY, "seconds per block", above_low=True),
    "session.camera_size": Range(MIN_CAMERA_SIZE, MAX_CAMERA_SIZE, "the scene's offscreen buffer"),
    "backbones.temperature": Range(0, 2, "the OpenAI API's range"),
    "backbones.max_tokens": Range(1, 1_000_000, "tokens per reply"),
    "backbones.timeout_s": Range(0, SECONDS_PER_DAY, "seconds per request", above_low=True),
    "backbones.max_retries": Range(0, 100, "retries per request"),
    "backbones.price_input_per_m": Range(0, 100_000, "USD per million tokens"),
    "backbones.price_output_per_m": Range(0, 100_000, "USD per million tokens"),
    "backbones.latency_s_per_token": Range(0, 60, "seconds per token"),
    "backbones.concurrency": Range(0, 1024, "trials in flight (0: the session's)"),
    "backbones.requests_per_minute": Range(0, 1_000_000, "requests per minute (0: no limit)"),
    "session.max_cost_usd": Range(0, 1_000_000, "USD per session (0: no limit)"),
    "session.max_tokens": Range(0, 10**11, "tokens per session (0: no limit)"),
    "backbones.max_cost_usd": Range(0, 1_000_000, "USD per backbone (0: no limit)"),
    "backbones.max_total_tokens": Range(0, 10**11, "tokens per backbone (0: no limit)"),
    "analysis.alpha": Range(0, 0.5, "a significance level", above_low=True),
    "analysis.margin": Range(0, 0.5, "a difference of rates (0: no equivalence claim)"),
    "analysis.target_difference": Range(0, 1, "a difference of rates", above_low=True),
    "analysis.baseline_rate": Range(0, 1, "a rate"),
    "vdm.temperature": Range(0, 2, "the OpenAI API's range"),
    "vdm.max_tokens": Range(1, 1_000_000, "tokens per reply"),
    "vdm.timeout_s": Range(0, SECONDS_PER_DAY, "seconds per request", above_low=True),
    "vdm.max_retries": Range(0, 100, "retries per request"),
    "vdm.price_input_per_m": Range(0, 100_000, "USD per million tokens"),
    "vdm.price_output_per_m": Range(0, 100_000, "USD per million tokens"),
    "conditions.k": Range(0, 100_000, "skills in the library"),
    "skills.mine_every": Range(0, 10_000_000, "trials between re-minings"),
    "skills.min_occurrences": Range(0, 10_000_000, "trials a skill must appear in"),
    "skills.min_success_rate": Range(0, 1, "a rate"),
    "skills.max_magic_constants": Range(0, 10_000, "constants per skill"),
    "skills.min_lines": Range(0, 100_000, "lines per skill"),
    "skills.quality_min": Range(0, 1, "a quality score"),
    "skills.c2_drop": Range(0, 100_000, "skills dropped from C1"),
    "skills.saturation_ratio": Range(0, 1, "a share of round 0's defs per block"),
}
"""The range of every number a config may set (tests check each numeric field has one)."""
_NOISE_RANGES: dict[str, tuple[type, float, float]] = {
    "fragment_prob": (float, 0, 1),
    "max_fragments": (int, 1, 64),
    "dropout": (float, 0, 1),
    "miss_prob": (float, 0, 1),
    "depth_std": (float, 0, 1),
}
"""``session.noise``: the fields of ``engine.api.perception.PerceptionNoise``, with ranges."""


def _check_number(path: str, where: str, name: str, value: float) -> None:
    if not math.isfinite(value):
        raise _fail(path, where, f"must be a finite number, got {value!r}")
    r = _RANGES[name]
    if (value <= r.low if r.above_low else value < r.low) or value > r.high:
        low = f"above {r.low:g}" if r.above_low else f">= {r.low:g}"
        raise _fail(path, where, f"must be {low} and <= {r.high:g} ({r.why}), got {value!r}")


def _check_noise(path: str, noise: dict) -> dict:
    out = {}
    for key, value in noise.items():
        where = f"session.noise.{key}"
        if key not in _NOISE_RANGES:
            known = ", ".join(_NOISE_RANGES)
            raise _fail(path, where, f"unknown perception noise setting (known: {known})")
        kind, low, high = _NOISE_RANGES[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _fail(path, where, f"must be {kind.__name__}, got {value!r}")
        if not math.isfinite(value) or not low <= value <= high:
            raise _fail(path, where, f"must be between {low:g} and {high:g}, got {value!r}")
        out[key] = value
    return out


def parse_ablation(text: str) -> tuple[str, int, int]:
    """(kind, k_low, k_high) of an ``ablate`` line; ValueError with the reason if malformed."""
    if text in ("leave_one_out", "stubs"):
        return text, 0, 0
    kind, _, span = text.partition(":")
    low, _, high = span.partition("-")
    if kind == "top_k" and low.isdigit() and (high or low).isdigit():
        a, b = int(low), int(high or low)
        if 1 <= a <= b <= 10_000:
            return kind, a, b
        raise ValueError(f"top_k range must be 1 <= A <= B <= 10000, got {text!r}")
    raise ValueError(f"must be leave_one_out, stubs or top_k:A-B (e.g. top_k:10-13), got {text!r}")


ABLATABLE = ("C1", "C2", "C3v2", "C3b", "manual_k", "generated")
"""Canonical mined libraries an ``ablate`` line may vary (empty_ns is already an ablation)."""


def _check_ablation(path: str, where: str, c: ConditionConfig, skills: SkillsConfig) -> None:
    """``ablate``: leave_one_out | stubs | top_k:A-B, on a mined library that is fixed while
    the round runs (the arms must vary one library, not a moving one)."""
    try:
        parse_ablation(c.ablate)
    except ValueError as exc:
        raise _fail(path, where, str(exc)) from None
    if LIBRARY_ALIASES[c.library] not in ABLATABLE:
        raise _fail(path, where, f"only a mined library ({', '.join(ABLATABLE)}) can be ablated")
    if skills.pool == "self" and skills.mine_every:
        raise _fail(
            path,
            where,
            "ablation arms need a library fixed for the round: set skills.mine_every = 0 "
            "(evolve) or skills.pool = the id of the session to mine",
        )


def _fail(path: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"config error: {path}: {key}: {problem}")


def _build(cls: type, raw: Any, section: str, where: str, path: str) -> Any:
    if not isinstance(raw, dict):
        raise _fail(path, where, f"must be a table, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls) if not f.metadata.get("resolved")}
    values = {}
    for key, value in raw.items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            raise _fail(path, f"{where}.{key}", f"unknown key{hint}")
        expected = typing.get_type_hints(cls)[key]
        name = f"{section}.{key}"
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise _fail(path, f"{where}.{key}", f"must be {expected.__name__}, got {value!r}")
        if name == "session.feedback" and value == "text":
            raise _fail(
                path,
                f"{where}.{key}",
                "'text' is gone: it showed the LLM the simulator's state; use 'privileged' for "
                "that (labelled PRIVILEGED) or 'capx' (CaP-X's feedback, the default)",
            )
        if name in _CHOICES and value not in _CHOICES[name]:
            raise _fail(
                path, f"{where}.{key}", f"must be one of {', '.join(_CHOICES[name])}, got {value!r}"
            )
        if expected in (int, float):
            _check_number(path, f"{where}.{key}", name, value)
        if name == "session.noise":
            value = _check_noise(path, value)
        values[key] = value
    return cls(**values)


def parse_config(text: str, path: str = "<config>", *, stored: dict | None = None) -> SweepConfig:
    """Parse and validate TOML text; raises ConfigError with one line naming the problem.

    Files the config names (``session.prompts``, a replay backbone's ``replies``) are read
    relative to ``path``'s folder, unless ``stored`` (the snapshot of the session that already
    read them) is given: then their stored contents are used."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, "toml", str(exc)) from None
    allowed = {"session", "backbones", "conditions", "skills", "vdm", "analysis"}
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(path, key, f"unknown section{hint}")
    session = _build(SessionConfig, raw.get("session", {}), "session", "session", path)
    if session.task not in _known_tasks():
        raise _fail(
            path,
            "session.task",
            f"unknown task {session.task!r} (known: {', '.join(_known_tasks())})",
        )
    backbones = _list(BackboneConfig, raw.get("backbones"), "backbones", path)
    conditions = _list(ConditionConfig, raw.get("conditions"), "conditions", path)
    for i, b in enumerate(backbones):
        if not b.name:
            b.name = b.model or (
                f"synthetic-{b.profile}" if b.backend == "synthetic" else b.backend
            )
        if b.backend == "openai" and not b.model:
            raise _fail(path, f"backbones[{i}].model", "required for the openai backend")
    _check_backbone_keys(raw["backbones"], backbones, path)
    _unique([b.name for b in backbones], "backbones", path)
    for i, c in enumerate(conditions):
        if not c.name:
            raise _fail(path, f"conditions[{i}].name", "required")
    _unique([c.name for c in conditions], "conditions", path)
    if "reference" in (raw.get("session") or {}) and session.reference not in {
        c.name for c in conditions
    }:
        names = ", ".join(c.name for c in conditions)
        raise _fail(
            path, "session.reference", f"{session.reference!r} is not a condition ({names})"
        )
    skills = _build(SkillsConfig, raw.get("skills", {}), "skills", "skills", path)
    for i, c in enumerate(conditions):
        if c.library not in LIBRARY_ALIASES:
            known = ", ".join(sorted(LIBRARY_ALIASES))
            raise _fail(
                path, f"conditions[{i}].library", f"unknown library {c.library!r} (known: {known})"
            )
        if c.library in ("manual_k", "top_k") and c.k <= 0:
            raise _fail(path, f"conditions[{i}].k", "manual_k needs k > 0")
        if c.k and c.library not in ("manual_k", "top_k"):
            raise _fail(path, f"conditions[{i}].k", "only a manual_k (top_k) library has a size k")
        if c.ablate:
            _check_ablation(path, f"conditions[{i}].ablate", c, skills)
        if LIBRARY_ALIASES[c.library] == "generated" and not skills.sequences:
            raise _fail(
                path,
                f"conditions[{i}].library",
                "'generated' holds the candidates mined from call sequences: set "
                "skills.sequences = true",
            )
    vdm = _build(VdmConfig, raw["vdm"], "vdm", "vdm", path) if "vdm" in raw else None
    analysis = None
    if "analysis" in raw:
        analysis = _build(AnalysisConfig, raw["analysis"], "analysis", "analysis", path)
        _check_analysis(path, analysis, session, conditions)
    if session.feedback == "vdm" and vdm is None:
        raise _fail(
            path,
            "session.feedback",
            "'vdm' needs a vision model: add a [vdm] table (backend, model, base_url, api_key_env)",
        )
    if vdm is not None:
        if session.feedback != "vdm":
            raise _fail(
                path,
                "vdm",
                f"a [vdm] model is used only with feedback = 'vdm', not {session.feedback!r}",
            )
        if vdm.backend == "openai" and not vdm.model:
            raise _fail(path, "vdm.model", "required for the openai backend")
    if session.feedback == "vision":
        for i, b in enumerate(backbones):
            if not (b.vision or b.backend == "synthetic"):
                raise _fail(
                    path,
                    f"backbones[{i}].vision",
                    "feedback 'vision' sends camera images to the coder: set vision = true "
                    "for a vision-capable model (or use feedback 'vdm')",
                )
    base = Path(path).parent
    if stored is not None:
        prompt_set = PromptSet.from_dict(stored.get("prompt_set"))
        texts = {b.get("name"): b.get("replay_texts") for b in stored.get("backbones") or []}
        for b in backbones:
            b.replay_texts = tuple(texts.get(b.name) or ())
    else:
        prompt_set = BUILT_IN
        if session.prompts:
            try:
                prompt_set = load_prompt_set(base / session.prompts)
            except UserError as exc:
                raise _fail(path, "session.prompts", str(exc)) from None
        for i, b in enumerate(backbones):
            if b.backend == "replay":
                b.replay_texts = _read_replies(b, base, path, f"backbones[{i}].replies")
    return SweepConfig(session, backbones, conditions, skills, vdm, analysis, prompt_set, text)


def _check_analysis(
    path: str, analysis: AnalysisConfig, session: SessionConfig, conditions: list
) -> None:
    """The plan names conditions of this sweep, and contrasts that are not the reference."""
    names = [c.name for c in conditions]
    analysis.reference = analysis.reference or session.reference
    if analysis.reference not in names:
        raise _fail(
            path,
            "analysis.reference",
            f"{analysis.reference!r} is not a condition ({', '.join(names)})",
        )
    for i, name in enumerate(analysis.contrasts):
        if not isinstance(name, str) or name not in names:
            raise _fail(
                path,
                f"analysis.contrasts[{i}]",
                f"{name!r} is not a condition ({', '.join(names)})",
            )
        if name == analysis.reference:
            raise _fail(path, f"analysis.contrasts[{i}]", "the reference is not a contrast")
    analysis.contrasts = list(analysis.contrasts) or [n for n in names if n != analysis.reference]
    if len(set(analysis.contrasts)) < len(analysis.contrasts):
        raise _fail(path, "analysis.contrasts", "names a condition twice")
    if not analysis.contrasts:
        raise _fail(path, "analysis", "needs a condition besides the reference to compare")


_COMMON_KEYS = {
    "name",
    "backend",
    "price_input_per_m",
    "price_output_per_m",
    "concurrency",
    "requests_per_minute",
    "max_cost_usd",
    "max_total_tokens",
}
BACKEND_KEYS = {
    "synthetic": _COMMON_KEYS | {"profile", "latency_s_per_token"},
    "openai": _COMMON_KEYS
    | {
        "model",
        "base_url",
        "api_key_env",
        "temperature",
        "max_tokens",
        "timeout_s",
        "max_retries",
        "vision",
    },
    "replay": _COMMON_KEYS | {"model", "replies", "latency_s_per_token"},
}
"""The backbone keys each backend honours; any other one set in a config is refused."""


def _check_backbone_keys(raw: list, backbones: list[BackboneConfig], path: str) -> None:
    for i, (table, b) in enumerate(zip(raw, backbones, strict=True)):
        for key in table:
            if key not in BACKEND_KEYS[b.backend]:
                users = [k for k, keys in BACKEND_KEYS.items() if key in keys]
                raise _fail(
                    path,
                    f"backbones[{i}].{key}",
                    f"the {b.backend} backend does not use it (only {', '.join(users)})",
                )


def _read_replies(backbone: BackboneConfig, base: Path, path: str, key: str) -> tuple[str, ...]:
    """A replay backbone's JSON-lines file: one object with a string "text" per line."""
    if not backbone.replies:
        raise _fail(path, key, 'required for the replay backend (a .jsonl of {"text": ...})')
    file = base / backbone.replies
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise _fail(path, key, f"cannot read {file}: {reason}") from None
    texts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, key, f"{file} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise _fail(path, key, f'{file} line {number}: expected an object with a string "text"')
        texts.append(item["text"])
    if not texts:
        raise _fail(path, key, f"{file} holds no replies")
    return tuple(texts)


def _list(cls: type, raw: Any, section: str, path: str) -> list:
    if raw is None:
        raise _fail(path, section, f"at least one [[{section}]] entry is required")
    if not isinstance(raw, list) or not raw:
        raise _fail(path, section, f"must be one or more [[{section}]] tables")
    return [_build(cls, item, section, f"{section}[{i}]", path) for i, item in enumerate(raw)]


def _unique(names: list[str], section: str, path: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise _fail(path, f"{section}[{i}].name", f"duplicate name {name!r}")
        seen.add(name)


def _known_tasks() -> list[str]:
    from engine.sim.tasks import TASKS

    return sorted(TASKS)


def load_config(path: str | Path) -> SweepConfig:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config error: cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config error: {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); TOML files are UTF-8"
        ) from None
    return parse_config(text, str(path))
