"""The synthetic vision model: an offline test double for ``feedback = "vdm"`` (always labelled
synthetic). It reads only its prompt's images, never the simulator: it finds the strongly red
pixels in each PNG and says where they are and how they moved, in image terms, as a cautious
describer would. It is not a claim about vision models.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from engine.llm.base import LLMError, LLMReply, TextDelta


@dataclass(frozen=True)
class Blob:
    """The red pixels of one image: how many, their centre (x, y) and top row."""

    pixels: int
    x: float
    y: float
    top: int


def red_blob(png: bytes) -> Blob | None:
    """Strongly red pixels of a PNG (red well above green and blue), or None if there are none."""
    from PIL import Image

    try:
        rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    except Exception as exc:  # PIL raises many kinds of errors for bad data
        raise LLMError(f"synthetic vision: cannot read an image ({exc})", kind="protocol") from None
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mask = (r > 100) & (r > 2 * g) & (r > 2 * b)
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return Blob(int(mask.sum()), float(xs.mean()), float(ys.mean()), int(ys.min()))


def _where(blob: Blob | None) -> str:
    if blob is None:
        return "no red object is visible"
    return (
        f"a red object is visible around pixel ({blob.x:.0f}, {blob.y:.0f}), "
        f"{blob.pixels} pixels in size"
    )


def describe(images: list[bytes]) -> str:
    """One image: where the red object is. Two: how it moved between them."""
    blobs = [red_blob(png) for png in images]
    if len(blobs) == 1:
        return _where(blobs[0]).capitalize() + "."
    before, after = blobs[0], blobs[-1]
    if before is None or after is None:
        return f"Before: {_where(before)}. After: {_where(after)}."
    dy, dx = before.y - after.y, after.x - before.x
    vertical = f"{abs(dy):.0f} pixels {'up' if dy >= 0 else 'down'}"
    horizontal = f"{abs(dx):.0f} pixels {'right' if dx >= 0 else 'left'}"
    return (
        f"The red object moved {vertical} and {horizontal} in the image (centre "
        f"({before.x:.0f}, {before.y:.0f}) -> ({after.x:.0f}, {after.y:.0f})); its visible size "
        f"went from {before.pixels} to {after.pixels} pixels."
    )


class SyntheticVision:
    """``synthetic-vision``: describes red pixels in the images it is given; labelled synthetic."""

    name = "synthetic"
    synthetic = True
    model = "synthetic-vision"

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        t0 = time.perf_counter()
        if not images:
            raise LLMError("synthetic vision: no images to describe", kind="protocol")
        text = describe(images)
        yield TextDelta(text)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
        yield LLMReply(
            text=text,
            model=self.model,
            backend=self.name,
            synthetic=True,
            prompt_tokens=prompt_chars // 4 + 258 * len(images),
            completion_tokens=max(1, len(text) // 4),
            latency_s=time.perf_counter() - t0,
            finish_reason="stop",
        )
