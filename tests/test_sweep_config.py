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
        ("[session]\nconcurrency = 0", "session.concurrency: must be > 0, got 0"),
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
