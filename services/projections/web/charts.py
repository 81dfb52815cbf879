"""Small SVG charts drawn on the server (no script, readable by screen readers through their title
and a table fallback the page shows beside them). Labels are escaped: they may come from data."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def bars(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    target: float | None = None,
    max_value: float | None = None,
    unit: str = "",
    width: int = 640,
    height: int = 180,
) -> str:
    """A bar per point (None: no data that day), an optional dashed target line."""
    pad_l, pad_b, pad_t = 36, 22, 10
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    values = [v for _, v in points if v is not None]
    top = max_value or max([*values, target or 0, 1])
    n = max(len(points), 1)
    step = plot_w / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" class="axis"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end" class="tick">{top:g}{escape(unit)}</text>',
        f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end" class="tick">0</text>',
    ]
    for i, (label, value) in enumerate(points):
        x = pad_l + i * step + step * 0.15
        if value is not None:
            h = plot_h * min(value, top) / top
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                f'class="bar"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
            )
        if i % max(1, n // 6) == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" class="tick">{escape(label)}</text>')
    if target is not None:
        y = pad_t + plot_h - plot_h * min(target, top) / top
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" class="target"/>')
        parts.append(
            f'<text x="{width - 10}" y="{y - 3:.1f}" text-anchor="end" class="tick">{target:g}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
