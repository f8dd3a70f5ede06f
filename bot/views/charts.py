"""The figures as charts: PNGs for a Telegram album, labelled in the reader's language.

matplotlib draws with its Agg backend (no display), on ``Figure`` objects of its own (no
pyplot state shared between requests), at ``WIDTH`` × ``HEIGHT`` pixels: well inside
Telegram's limits for a photo (10 MB, width + height ≤ 10 000, sides at most 20:1).

Scripts: Latin, Cyrillic, Greek and Arabic letters are in DejaVu Sans, which comes with
matplotlib; Arabic is shaped (``arabic-reshaper``) and put in visual order (``python-bidi``),
as Agg draws glyphs left to right one by one. Chinese needs a CJK font: Noto Sans CJK from the
system (Debian's ``fonts-noto-cjk``, installed by ``.ci/run``; README, "Figures"). When no font
on this machine covers a label, the charts are drawn with English labels and ``Album.fallback``
says so, for the caption to tell the reader: never boxes in place of letters.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import matplotlib
from babel.dates import format_date
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from bot.views import texts
from bot.views.i18n import Translator
from core.analytics.figures import FEW_UNITS, Figures, rates_by

WIDTH, HEIGHT, DPI = 1280, 720, 100
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # Telegram: a photo up to 10 MB
PHOTO_MAX_SIDES = 10_000  # width + height
BASE_FAMILY = "DejaVu Sans"  # ships with matplotlib: Latin, Cyrillic, Greek, Arabic
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)
# Marks that only steer the bidi algorithm: python-bidi has ordered the text already.
BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
COLOURS = ("#2f6db5", "#e07b39", "#59a14f", "#b07aa1")


@dataclass(frozen=True)
class Album:
    photos: tuple[bytes, ...]  # PNG
    fallback: bool  # drawn with English labels: no font here for the reader's script


@lru_cache(maxsize=1)
def _fonts() -> tuple[tuple[str, frozenset[int]], ...]:
    """The font families charts use, in fallback order, each with the characters it has."""
    found = _found_fonts()
    if len(found) == 1:  # no CJK font in matplotlib's list: it may predate the font's install
        _add_system_cjk_fonts()
        found = _found_fonts()
    return found


def _add_system_cjk_fonts() -> None:
    """matplotlib lists the system's fonts once, at its first run, and keeps the list in its
    cache: a CJK font installed afterwards (`apt-get install fonts-noto-cjk`) stays unknown
    until that cache is rebuilt. Add the CJK fonts the system has now."""
    for path in font_manager.findSystemFonts():
        name = Path(path).name.lower()
        if "cjk" in name or "wqy" in name or "droidsansfallback" in name:
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # an unreadable font file: the others may do
                continue


def _found_fonts() -> tuple[tuple[str, frozenset[int]], ...]:
    found: list[tuple[str, frozenset[int]]] = []
    paths: set[str] = set()
    for family in (BASE_FAMILY, *CJK_FAMILIES):
        try:
            path = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        if path in paths:
            continue
        paths.add(path)
        found.append((family, frozenset(FT2Font(path).get_charmap())))
        if family != BASE_FAMILY:
            break  # one CJK font is enough
    return tuple(found)


def has_cjk_font() -> bool:
    return len(_fonts()) > 1


def covered(text: str) -> bool:
    """Every visible character of ``text`` has a glyph in one of the chart fonts."""
    fonts = _fonts()
    return all(
        ch.isspace() or any(ord(ch) in chars for _, chars in fonts)
        for ch in text.translate(BIDI_CONTROLS)
    )


def _is_arabic(text: str) -> bool:
    return any("ARABIC" in unicodedata.name(ch, "") for ch in text)


def shape(text: str) -> str:
    """What Agg must draw: Arabic letters joined and the line in visual order."""
    text = text.translate(BIDI_CONTROLS)
    if not _is_arabic(text):
        return text
    import arabic_reshaper
    from bidi import get_display

    return str(get_display(arabic_reshaper.reshape(text)))


def visible(text: str) -> str:
    """Shop data (SKU, supplier) in a script no font here has: its letters become "?"."""
    fonts = _fonts()
    return "".join(
        ch if ch.isspace() or any(ord(ch) in chars for _, chars in fonts) else "?" for ch in text
    )


# ── the three charts ────────────────────────────────────────────────────────────────────────


def _labels(tr: Translator, f: Figures, dimension: str) -> dict[str, str]:
    """Every word the charts will show in ``tr``'s language (checked against the fonts)."""
    titles = {
        "sku": tr("Return rate by SKU"),
        "supplier": tr("Return rate by supplier"),
        "reason": tr("Return rate by reason"),
    }
    words = {
        "title_rates": titles[dimension],
        "axis_rates": tr("Units claimed ÷ units sold"),
        "few": tr.plural("Fewer than one unit sold", "Fewer than {n} units sold", FEW_UNITS),
        "title_claims": tr("Claims per 100 orders, by the month orders were placed"),
        "title_times": tr("Time from the claim to …"),
        "first_response": tr("First response"),
        "decision": tr("Decision"),
        "resolution": tr("Resolution"),
        "median": tr("Median"),
        "p90": tr("90th percentile"),
        "hours": tr("Hours"),
        "nothing": tr("Nothing in this period"),
        "no_supplier": tr("No supplier"),
    }
    for g in rates_by(f, dimension):
        if dimension == "reason":
            words[f"reason:{g.key}"] = texts.reason(tr, g.key)
        if g.rate is not None:
            words[f"pct:{g.key}"] = tr.percent(g.rate * 100)
    for m in f.months:
        words[f"month:{m.month}"] = _month(tr, m.month)
    return words


def _month(tr: Translator, month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return str(format_date(date(year, number, 1), format="MMM y", locale=tr.language))


def _canvas() -> tuple[Figure, FigureCanvasAgg]:
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    return figure, FigureCanvasAgg(figure)


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _empty(ax, words: dict[str, str]) -> None:
    ax.text(0.5, 0.5, shape(words["nothing"]), ha="center", va="center", fontsize=20)
    ax.set_axis_off()


def _rates_chart(f: Figures, dimension: str, words: dict[str, str]) -> bytes:
    figure, _ = _canvas()
    ax = figure.add_subplot()
    rows = [g for g in rates_by(f, dimension) if g.rate is not None][::-1]
    ax.set_title(shape(words["title_rates"]), fontsize=18)
    if not rows:
        _empty(ax, words)
        return _png(figure)

    def name(key: str) -> str:
        if dimension == "reason":
            return shape(words[f"reason:{key}"])
        return visible(key) if key else shape(words["no_supplier"])

    values = [float(g.rate or 0) * 100 for g in rows]
    bars = ax.barh(
        [name(g.key) for g in rows],
        values,
        color=COLOURS[0],
        hatch=["//" if g.few else "" for g in rows],
        edgecolor="white",
    )
    for bar, g in zip(bars, rows, strict=True):
        ax.annotate(
            f"{shape(words[f'pct:{g.key}'])} · {g.units_claimed}/{g.units_sold}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=11,
        )
    ax.set_xlabel(shape(words["axis_rates"]), fontsize=13)
    ax.set_xlim(0, max(values) * 1.3 or 1)
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:g}%")
    if any(g.few for g in rows):
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(facecolor=COLOURS[0], hatch="//", edgecolor="white")],
            labels=[shape(words["few"])],
            loc="lower right",
        )
    figure.tight_layout()
    return _png(figure)


def _claims_chart(f: Figures, words: dict[str, str]) -> bytes:
    figure, _ = _canvas()
    ax = figure.add_subplot()
    ax.set_title(shape(words["title_claims"]), fontsize=18)
    months = [m for m in f.months if m.per_100_orders is not None]
    if not months:
        _empty(ax, words)
        return _png(figure)
    values = [float(m.per_100_orders or 0) for m in months]
    bars = ax.bar([shape(words[f"month:{m.month}"]) for m in months], values, color=COLOURS[1])
    for bar, m in zip(bars, months, strict=True):
        ax.annotate(
            f"{m.per_100_orders} ({m.claims}/{m.orders})",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=11,
        )
    ax.set_ylim(0, max(values) * 1.25 or 1)
    figure.tight_layout()
    return _png(figure)


def _times_chart(f: Figures, words: dict[str, str]) -> bytes:
    figure, _ = _canvas()
    ax = figure.add_subplot()
    ax.set_title(shape(words["title_times"]), fontsize=18)
    rows = [t for t in f.times if t.count]
    if not rows:
        _empty(ax, words)
        return _png(figure)
    positions = range(len(rows))
    width = 0.38
    for offset, (key, values) in enumerate(
        (("median", [t.median or 0.0 for t in rows]), ("p90", [t.p90 or 0.0 for t in rows]))
    ):
        ax.bar(
            [p + (offset - 0.5) * width for p in positions],
            values,
            width,
            label=shape(words[key]),
            color=COLOURS[2 + offset],
        )
    ax.set_xticks(list(positions), [shape(words[t.measure]) for t in rows], fontsize=13)
    ax.set_ylabel(shape(words["hours"]), fontsize=13)
    ax.legend()
    figure.tight_layout()
    return _png(figure)


def album(
    tr: Translator,
    f: Figures,
    dimension: str,
    english: Callable[[], Translator] | None = None,
) -> Album:
    """Three charts (return rates by ``dimension``, claims per 100 orders, times) as PNGs in
    ``tr``'s language, or in English (``english()``) when this machine cannot draw it."""
    words = _labels(tr, f, dimension)
    fallback = False
    if english is not None and not all(covered(word) for word in words.values()):
        words = _labels(english(), f, dimension)
        fallback = True
    families = [family for family, _ in _fonts()]
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        photos = (
            _rates_chart(f, dimension, words),
            _claims_chart(f, words),
            _times_chart(f, words),
        )
    return Album(photos, fallback)
