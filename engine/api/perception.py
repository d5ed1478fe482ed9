"""Simulated perception: open-vocabulary prompts resolved through the rendered segmentation.

Stands in for SAM3 / Molmo: a text prompt is matched against the task's object names, colours
and nouns, and the instance masks come from the camera's segmentation render (what the camera
actually sees, occlusions included), never from the true object pose. Optional seeded noise
fragments masks, drops pixels or whole detections and perturbs depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from engine.sim.tasks.base import ObjectSpec

_COLOURS = {"red", "green", "blue", "yellow", "white", "black", "orange", "purple"}
_STOPWORDS = {"the", "a", "an", "one", "object", "thing", "coloured", "colored"}


@dataclass(frozen=True)
class PerceptionNoise:
    """Seeded perception noise; all zero (off) by default."""

    fragment_prob: float = 0.0
    """Chance that a mask is cut into several pieces (each returned as its own instance)."""
    max_fragments: int = 4
    dropout: float = 0.0
    """Fraction of mask pixels lost."""
    miss_prob: float = 0.0
    """Chance that a visible object is not detected at all."""
    depth_std: float = 0.0
    """Gaussian depth noise (m)."""

    @property
    def enabled(self) -> bool:
        return any((self.fragment_prob, self.dropout, self.miss_prob, self.depth_std))


def match_objects(text: str, objects: tuple[ObjectSpec, ...]) -> list[ObjectSpec]:
    """Objects a free-text prompt refers to.

    A prompt names an object when it contains one of the object's nouns ("cube", "block", ...)
    or consists only of colour words; a colour in the prompt must be the object's colour.
    "red cube", "cube" and "red block" find the red cube; "blue cube" and "banana" find nothing.
    """
    words = set(re.findall(r"[a-z]+", text.lower()))
    words |= {w[:-1] for w in words if w.endswith("s")}  # plurals
    colours = words & _COLOURS
    content = words - _STOPWORDS
    matched = []
    for obj in objects:
        if colours and obj.colour not in colours:
            continue
        if words & set(obj.nouns) or (content and content <= colours):
            matched.append(obj)
    return matched


def instances_from_segmentation(
    segmentation: np.ndarray,
    geom: int,
    score: float,
    noise: PerceptionNoise,
    rng: np.random.Generator,
) -> list[dict]:
    """Masks of one object's visible pixels, split into pieces only when noise says so."""
    mask = segmentation == geom
    if not mask.any():
        return []
    if noise.miss_prob and rng.random() < noise.miss_prob:
        return []
    if noise.dropout:
        mask &= rng.random(mask.shape) >= noise.dropout
    pieces = [mask]
    if noise.fragment_prob and rng.random() < noise.fragment_prob:
        pieces = _fragment(mask, int(rng.integers(2, max(3, noise.max_fragments + 1))), rng)
    total = max(1, int(mask.sum()))
    out = []
    for piece in pieces:
        if not piece.any():
            continue
        rows, cols = np.nonzero(piece)
        share = piece.sum() / total
        out.append(
            {
                "mask": piece,
                "box": [int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())],
                "score": round(float(score * (0.6 + 0.4 * share)), 4),
            }
        )
    out.sort(key=lambda inst: -inst["score"])
    return out


def _fragment(mask: np.ndarray, parts: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut a mask by random lines into connected pieces."""
    rows, cols = np.nonzero(mask)
    cut = mask.copy()
    for _ in range(parts - 1):
        if rng.random() < 0.5:
            c = int(rng.integers(cols.min(), cols.max() + 1))
            cut[:, c] = False
        else:
            r = int(rng.integers(rows.min(), rows.max() + 1))
            cut[r, :] = False
    labels, n = ndimage.label(cut)
    return [labels == i for i in range(1, n + 1)]


def noisy_depth(depth: np.ndarray, noise: PerceptionNoise, rng: np.random.Generator) -> np.ndarray:
    if not noise.depth_std:
        return depth
    return (depth + rng.normal(0.0, noise.depth_std, depth.shape)).astype(np.float32)
