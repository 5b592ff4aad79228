"""PNG charts for the command line, drawn with Pillow (no Qt, no plotting library): the speed x quality
scatter with its Pareto front, and the reliability diagram of a classifier's calibration."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.quality.pareto import Point

WIDTH, HEIGHT = 900, 600
_MARGIN = (90, 72, 40, 80)  # left, top, right, bottom
_INK, _GRID, _FRONT, _OTHER, _IDEAL = (30, 30, 30), (225, 225, 225), (200, 60, 40), (70, 110, 180), (150, 150, 150)


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"


class _Axes:
    """Maps data to pixels inside the margins and draws the frame, grid, ticks and axis titles."""

    def __init__(self, draw: Any, xr: tuple[float, float], yr: tuple[float, float]) -> None:
        self.draw, self.xr, self.yr = draw, xr, yr
        left, top, right, bottom = _MARGIN
        self.box = (left, top, WIDTH - right, HEIGHT - bottom)

    def px(self, x: float, y: float) -> tuple[float, float]:
        """Pixel position of a data point."""
        left, top, right, bottom = self.box
        fx = (x - self.xr[0]) / ((self.xr[1] - self.xr[0]) or 1.0)
        fy = (y - self.yr[0]) / ((self.yr[1] - self.yr[0]) or 1.0)
        return left + fx * (right - left), bottom - fy * (bottom - top)

    def frame(self, title: str, x_label: str, y_label: str) -> None:
        """Grid lines with tick labels, the frame and the titles."""
        l, t, r, b = self.box  # noqa: E741  (left, top, right, bottom)
        small, big = _font(13), _font(16)
        for x in _nice_ticks(*self.xr):
            px, _ = self.px(x, self.yr[0])
            self.draw.line([(px, t), (px, b)], fill=_GRID)
            self.draw.text((px, b + 6), _fmt(x), fill=_INK, font=small, anchor="ma")
        for y in _nice_ticks(*self.yr):
            _, py = self.px(self.xr[0], y)
            self.draw.line([(l, py), (r, py)], fill=_GRID)
            self.draw.text((l - 8, py), _fmt(y), fill=_INK, font=small, anchor="rm")
        self.draw.rectangle(self.box, outline=_INK)
        self.draw.text(((l + r) / 2, 18), title, fill=_INK, font=big, anchor="ma")
        self.draw.text(((l + r) / 2, HEIGHT - 48), x_label, fill=_INK, font=small, anchor="ma")
        self.draw.text((14, (t + b) / 2), y_label, fill=_INK, font=small, anchor="lm")


def _padded(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    return low - pad, high + pad


def scatter_png(points: Sequence[Point], front: Sequence[bool], path: str | Path, *, title: str, x_label: str,
                y_label: str) -> Path:
    """Write the scatter: every configuration, the Pareto-front ones red and joined by a line."""
    from PIL import Image, ImageDraw

    if not points:
        raise ValueError("no points to draw")
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    axes = _Axes(draw, _padded([p.x for p in points]), _padded([p.y for p in points]))
    # The y label is drawn rotated-free at the left edge, so keep it short; the title carries the rest.
    axes.frame(title, x_label, "")
    draw.text((axes.box[0], axes.box[1] - 18), y_label, fill=_INK, font=_font(13), anchor="ls")
    on_front = sorted((p for p, f in zip(points, front, strict=True) if f), key=lambda p: p.x)
    if len(on_front) > 1:
        draw.line([axes.px(p.x, p.y) for p in on_front], fill=_FRONT, width=2)
    label_font = _font(12)
    for point, is_front in zip(points, front, strict=True):
        x, y = axes.px(point.x, point.y)
        colour = _FRONT if is_front else _OTHER
        draw.ellipse([x - 6, y - 6, x + 6, y + 6], fill=colour, outline=_INK)
        # Labels of points near the right edge go to their left so they stay inside the image.
        if x + 9 + draw.textlength(point.label, font=label_font) > WIDTH - 4:
            draw.text((x - 9, y - 9), point.label, fill=_INK, font=label_font, anchor="ra")
        else:
            draw.text((x + 9, y - 9), point.label, fill=_INK, font=label_font)
    legend_x, legend_y = axes.box[2] - 210, axes.box[1] + 12
    draw.ellipse([legend_x, legend_y, legend_x + 10, legend_y + 10], fill=_FRONT)
    draw.text((legend_x + 16, legend_y - 2), "Pareto front (not beaten on both)", fill=_INK, font=label_font)
    draw.ellipse([legend_x, legend_y + 20, legend_x + 10, legend_y + 30], fill=_OTHER)
    draw.text((legend_x + 16, legend_y + 18), "dominated", fill=_INK, font=label_font)
    target = Path(path)
    image.save(target)
    return target


def reliability_png(reliability: Mapping[str, Any], ece: float, path: str | Path, *, title: str) -> Path:
    """Write the reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration,
    with each bin's share of the images as a bar along the bottom."""
    from PIL import Image, ImageDraw

    bins = reliability["bins"]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    axes = _Axes(draw, (0.0, 1.0), (0.0, 1.0))
    axes.frame(f"{title}  (ECE {ece:.4f})", "confidence (top-1 probability)", "")
    draw.text((axes.box[0], axes.box[1] - 18), "accuracy", fill=_INK, font=_font(13), anchor="ls")
    total = max(sum(int(b["count"]) for b in bins), 1)
    for b in bins:
        x0, _ = axes.px(b["lower"], 0)
        x1, base = axes.px(b["upper"], 0)
        if b["accuracy"] is not None:
            _, top = axes.px(0, b["accuracy"])
            _, expected = axes.px(0, b["confidence"])
            draw.rectangle([x0 + 2, top, x1 - 2, base], fill=_OTHER, outline=_INK)
            # The gap between what the model claimed and what it achieved.
            draw.rectangle([x0 + 2, min(top, expected), x1 - 2, max(top, expected)], outline=_FRONT, width=2)
        share = int(b["count"]) / total
        if share:  # drawn last, over the accuracy bar, so the share of images stays visible
            draw.rectangle([x0 + 8, base - share * 80, x1 - 8, base], fill=(60, 60, 60))
    draw.line([axes.px(0, 0), axes.px(1, 1)], fill=_IDEAL, width=2)
    draw.text((axes.box[0], HEIGHT - 10), "blue: accuracy in the bin    red box: gap to the bin's mean confidence"
              "    grey line: perfect calibration    dark bars: share of the images", fill=_INK, font=_font(12),
              anchor="ls")
    target = Path(path)
    image.save(target)
    return target
