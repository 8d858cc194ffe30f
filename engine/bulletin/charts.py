"""The bulletin's charts as PNG images for the Word document (the workbook draws its own, native
ones): problems by region stacked by light, and the close rate by lead unit.

Drawn with matplotlib's object API on the Agg canvas (no pyplot: its global state is not for
a server's threads). Chinese labels need a Chinese font; the first one installed of `FONTS`
is used, and without any no chart is drawn (`available()` is False) and the document keeps its
tables alone: a chart whose names are empty boxes would mislead.
"""
from __future__ import annotations

import io
import logging
from functools import lru_cache

log = logging.getLogger("duban.bulletin")

# what a Chinese office's or a Debian server's machine has (make install puts WenQuanYi on it)
FONTS = ("SimHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimSun",
         "Noto Serif CJK SC")
MOST_ROWS = 15          # a chart names at most this many regions or units (the largest)
WIDTH_INCHES = 6.1      # the body of an A4 official document is 156 mm wide
DPI = 200
RED, YELLOW, GREEN, CLOSED = "#d9534f", "#f0ad4e", "#5cb85c", "#8c9aa8"


@lru_cache(maxsize=1)
def _font() -> str | None:
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    for name in FONTS:
        if name in installed:
            return name
    log.warning("no Chinese font found (%s): the bulletin's Word document has tables without charts",
                ", ".join(FONTS))
    return None


def available() -> bool:
    return _font() is not None


def largest(rows: list[dict]) -> list[dict]:
    return rows[:MOST_ROWS]  # the bulletin orders its breakdowns by number of problems, largest first


def _figure(count: int):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, 0.9 + 0.32 * max(count, 1)), dpi=DPI)
    figure.set_layout_engine("constrained")
    return figure


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = io.BytesIO()
    FigureCanvasAgg(figure).print_png(out)
    return out.getvalue()


def problems_by_light(rows: list[dict], label: str) -> bytes | None:
    """Horizontal bars per region (or unit): closed, then red, yellow and green in progress."""
    font = _font()
    rows = largest(rows)
    if font is None or not rows:
        return None
    figure = _figure(len(rows))
    axes = figure.add_subplot()
    names = [row["name"] for row in rows][::-1]
    left = [0] * len(rows)
    for key, colour, legend in (("closed", CLOSED, "已销号"), ("red", RED, "红灯"), ("yellow", YELLOW, "黄灯"),
                                ("green", GREEN, "绿灯")):
        values = [row[key] if key != "green" else row["in_progress"] - row["red"] - row["yellow"]
                  for row in rows][::-1]
        axes.barh(names, values, left=left, color=colour, label=legend, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    _style(axes, font, f"{label}问题数（按灯色）")
    figure.legend(prop={"family": font, "size": 8}, ncols=4, loc="outside lower center", frameon=False)
    return _png(figure)


def close_rates(rows: list[dict], label: str) -> bytes | None:
    """Horizontal bars of the close rate (销号率, %) per unit (or region)."""
    font = _font()
    rows = largest(rows)
    if font is None or not rows:
        return None
    figure = _figure(len(rows))
    axes = figure.add_subplot()
    names = [row["name"] for row in rows][::-1]
    rates = [row["close_rate"] for row in rows][::-1]
    bars = axes.barh(names, rates, color=CLOSED, height=0.6)
    axes.bar_label(bars, labels=[f"{r}%" for r in rates], padding=2, fontsize=8)
    axes.set_xlim(0, 110)
    _style(axes, font, f"{label}销号率（%）")
    return _png(figure)


def _style(axes, font: str, title: str) -> None:
    axes.set_title(title, fontfamily=font, fontsize=11)
    for text in axes.get_yticklabels():
        text.set_fontfamily(font)
        text.set_fontsize(9)
    axes.tick_params(axis="x", labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
