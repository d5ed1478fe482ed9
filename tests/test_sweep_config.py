"""Sweep config validation: one line naming the key for every mistake."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, parse_config
from engine.sweep.plan import plan_trials

GOOD = """
[session]
trials_per_condition = 3
[[backbones]]
backend = "synthetic"
[[backbones]]
name = "local"
backend = "openai"
model = "m"
base_url = "http://127.0.0.1:1/v1"
price_input_per_m = 1
[[conditions]]
name = "P21_a"
[[conditions]]
name = "curated9"
library = "curated9"
"""


def test_a_good_config_parses_with_defaults_and_plans_paired_seeds() -> None:
    cfg = parse_config(GOOD)
    assert [b.name for b in cfg.backbones] == ["synthetic-strong", "local"]
    assert cfg.backbones[1].price_input_per_m == 1.0 and cfg.session.concurrency == 2
    assert cfg.total_trials == 12 and not cfg.synthetic_only
    plans = plan_trials(cfg)
    assert len({p.key for p in plans}) == 12
    seeds = {(p.condition, p.backbone): [] for p in plans}
    for p in plans:
        seeds[(p.condition, p.backbone)].append(p.seed)
    assert all(s == [0, 1, 2] for s in seeds.values()), "every arm runs the same scenes"
    assert cfg.digest() == parse_config(GOOD + "\n# a comment\n").digest()
    assert cfg.digest() != parse_config(GOOD.replace("= 3", "= 4")).digest()


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[session]\ntrails_per_condition = 3",
            "session.trails_per_condition: unknown key (did you mean 'trials_per_condition'?)",
        ),
        (
            "[session]\nconcurrency = 0",
            "session.concurrency: must be >= 1 and <= 1024 (trials in flight), got 0",
        ),
        ("[session]\nconcurrency = '2'", "session.concurrency: must be int, got '2'"),
        ("[session]\nquality = 'ultra'", "session.quality: must be one of full, fast, got 'ultra'"),
        ("[session]\ntask = 'juggle'", "session.task: unknown task 'juggle'"),
        ("[sesion]\n", "sesion: unknown section (did you mean 'session'?)"),
        ("[session\n", "toml: "),
        (
            "[[backbones]]\nbackend = 'claude'",
            "backbones[0].backend: must be one of synthetic, openai, replay",
        ),
        (
            "[[backbones]]\nbackend = 'openai'",
            "backbones[0].model: required for the openai backend",
        ),
        ("[[backbones]]\napi_key = 'sk-x'", "backbones[0].api_key: unknown key"),
        (
            "[[backbones]]\n[[conditions]]\nname = 'a'\n[[conditions]]\nname = 'a'",
            "conditions[1].name: duplicate name 'a'",
        ),
        (
            "[[backbones]]\nlatency_s_per_token = -1",
            "backbones[0].latency_s_per_token: must be >= 0",
        ),
    ],
)
def test_mistakes_are_one_line_naming_the_key(text: str, message: str) -> None:
    if "[[backbones]]" not in text:
        text += "\n[[backbones]]\n"
    if "[[conditions]]" not in text and "[session\n" not in text:
        text += "\n[[conditions]]\nname = 'x'\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "s.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("config error: s.toml: ") and "\n" not in str(info.value)


def test_examples_parse() -> None:
    from pathlib import Path

    from engine.config import load_config

    examples = Path(__file__).resolve().parent.parent / "examples"
    demo = load_config(examples / "demo.toml")
    assert demo.synthetic_only
    paper = load_config(examples / "paper_sweep.toml")
    assert not paper.synthetic_only and paper.session.trials_per_condition >= 70


def _numeric_fields() -> list[tuple[str, str, type]]:
    """(section, key, int|float) of every number a config can set, found by introspection."""
    import dataclasses
    import typing

    from engine.config import (
        AnalysisConfig,
        BackboneConfig,
        ConditionConfig,
        SessionConfig,
        SkillsConfig,
        VdmConfig,
    )

    out = []
    for section, cls in (
        ("session", SessionConfig),
        ("backbones", BackboneConfig),
        ("vdm", VdmConfig),
        ("conditions", ConditionConfig),
        ("skills", SkillsConfig),
        ("analysis", AnalysisConfig),
    ):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (int, float) and not f.metadata.get("resolved"):
                out.append((section, f.name, hints[f.name]))
    return out


def _with(section: str, key: str, value: str) -> str:
    """A minimal config setting ``section.key = value`` (TOML text)."""
    head = {
        "session": f"[session]\n{key} = {value}\n[[backbones]]\n[[conditions]]\nname = 'x'\n",
        "backbones": f"[[backbones]]\n{key} = {value}\n[[conditions]]\nname = 'x'\n",
        "conditions": f"[[backbones]]\n[[conditions]]\nname = 'x'\n{key} = {value}\n",
        "skills": f"[skills]\n{key} = {value}\n[[backbones]]\n[[conditions]]\nname = 'x'\n",
        "analysis": (
            "[[backbones]]\n[[conditions]]\nname = 'x'\n[[conditions]]\nname = 'y'\n"
            f"[analysis]\nreference = 'x'\n{key} = {value}\n"
        ),
        "vdm": (
            "[session]\nfeedback = 'vdm'\n[[backbones]]\n[[conditions]]\nname = 'x'\n"
            f"[vdm]\nbackend = 'synthetic'\n{key} = {value}\n"
        ),
    }
    return head[section]


def test_every_numeric_key_has_a_range() -> None:
    from engine.config import _RANGES

    names = {f"{section}.{key}" for section, key, _ in _numeric_fields()}
    assert names == set(_RANGES), "a numeric config key without a range (or a stale range)"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("field", [f for f in _numeric_fields() if f[2] is float], ids=str)
def test_no_float_key_accepts_nan_or_infinity(field, value) -> None:
    section, key, _ = field
    with pytest.raises(ConfigError, match=f"{key}: must be a finite number"):
        parse_config(_with(section, key, value), "s.toml")


@pytest.mark.parametrize("field", _numeric_fields(), ids=str)
def test_every_numeric_key_refuses_absurd_sizes(field) -> None:
    section, key, _ = field
    with pytest.raises(ConfigError, match=f"{key}: must be .* <= "):
        parse_config(_with(section, key, "1000000000000"), "s.toml")


def test_the_reported_values_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="block_timeout_s: must be a finite number, got nan"):
        parse_config(_with("session", "block_timeout_s", "nan"), "s.toml")
    with pytest.raises(ConfigError, match=r"<= 100000 \(every trial is planned up front\)"):
        parse_config(_with("session", "trials_per_condition", "1000000000000"), "s.toml")
    with pytest.raises(ConfigError, match=r"camera_size: must be >= 16 and <= 1024"):
        parse_config(_with("session", "camera_size", "4096"), "s.toml")


def test_noise_settings_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(ConfigError, match="session.noise.dropuot: unknown perception noise"):
        parse_config(_with("session", "noise", "{ dropuot = 0.1 }"), "s.toml")
    with pytest.raises(ConfigError, match="session.noise.dropout: must be between 0 and 1"):
        parse_config(_with("session", "noise", "{ dropout = 1.5 }"), "s.toml")
    with pytest.raises(ConfigError, match="session.noise.depth_std: must be between"):
        parse_config(_with("session", "noise", "{ depth_std = nan }"), "s.toml")
    ok = parse_config(_with("session", "noise", "{ dropout = 0.1, max_fragments = 3 }"))
    assert ok.world(0).noise == {"dropout": 0.1, "max_fragments": 3}


def test_the_noise_ranges_cover_exactly_the_perception_noise_fields() -> None:
    import dataclasses

    from engine.api.perception import PerceptionNoise
    from engine.config import _NOISE_RANGES

    assert set(_NOISE_RANGES) == {f.name for f in dataclasses.fields(PerceptionNoise)}


def test_a_config_that_is_not_utf8_is_one_line(tmp_path, capsys) -> None:
    from engine.cli import main

    path = tmp_path / "s.toml"
    path.write_bytes("[session]\nname = 'caf\xe9'\n".encode("latin-1"))
    assert main(["run", str(path), "--sessions-dir", str(tmp_path / "sessions")]) != 0
    err = capsys.readouterr().err
    assert "not UTF-8 text (byte 0xe9 at offset 21)" in err and err.count("\n") == 1
