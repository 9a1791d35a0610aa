"""A small kit for drawing pictures as SVG: a canvas, axes with round ticks, a frame, a legend.

SVG is text: a picture is a list of elements such as ``<rect x="60" y="64" .../>`` inside one
``<svg>`` element, in drawing order (later elements on top). Coordinates are pixels from the top
left corner, so y grows *downward*; :class:`Axes` turns data values into pixels, larger values
higher up. Any browser opens the files, and a notebook shows a :class:`Picture` inline.

``lstm_numpy.render`` draws the piano roll and the loss curve with it. Every piece of text goes
through :func:`escape`, so a title such as ``"<Dm7> & G7"`` stays text and the file stays XML.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .files import write_atomically

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK, GRID = "#333333", "#e4e4e4"

# XML 1.0 cannot hold most control characters, not even escaped, and a parser reads tabs and line
# breaks in an attribute as spaces: every one of them is written as a space (a label is one line).
_CONTROL = re.compile("[\x00-\x1f]")
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")  # not characters at all


class Picture:
    """An SVG picture: ``.svg`` is its text, ``save(path)`` writes it, and a notebook shows it.

    width, height: its size in pixels. ``str(picture)`` is the SVG text too.
    """

    def __init__(self, svg: str, width: float, height: float):
        self.svg, self.width, self.height = svg, width, height

    def _repr_svg_(self) -> str:  # the method Jupyter looks for to show an object as SVG
        return self.svg

    def __str__(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"<Picture: SVG of {number(self.width)} x {number(self.height)} px>"

    def save(self, path) -> Path:
        """Write the SVG file atomically; returns the path."""
        return write_atomically(Path(path), self.svg.encode("utf-8"))


def number(x: float) -> str:
    """A number as short as it can be written to two decimals: 12, 3.5, 0.25."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def escape(text) -> str:
    """Text made safe inside an XML element or attribute: & < > " ' escaped, control characters
    written as spaces."""
    return html.escape(_CONTROL.sub(" ", _NOT_XML.sub("", str(text))), quote=True)


def _attribute(key: str, value) -> str:
    """``font_size=11`` -> ``font-size="11"``; a trailing _ is dropped, as in ``class_``."""
    text = number(value) if isinstance(value, float) else escape(value)
    return f' {key.rstrip("_").replace("_", "-")}="{text}"'


class Canvas:
    """SVG elements collected in drawing order, on a white background.

    Keyword arguments of the drawing methods become attributes (see ``_attribute``); None leaves
    an attribute out.
    """

    def __init__(self, width: float, height: float, title: str):
        self.width, self.height, self.title = width, height, title
        self.parts: List[str] = []
        self.rect(0, 0, width, height, fill="white")

    def add(self, name: str, inner: str = "", **attributes) -> None:
        """One element; ``inner`` is XML already (escape text first)."""
        attrs = "".join(_attribute(key, value) for key, value in attributes.items()
                        if value is not None)
        self.parts.append(f"<{name}{attrs}>{inner}</{name}>" if inner else f"<{name}{attrs}/>")

    def rect(self, x: float, y: float, width: float, height: float, tooltip: Optional[str] = None,
             **attributes) -> None:
        """A rectangle; a browser shows ``tooltip`` when the pointer rests on it."""
        inner = f"<title>{escape(tooltip)}</title>" if tooltip else ""
        self.add("rect", inner, x=float(x), y=float(y), width=float(width), height=float(height), **attributes)

    def line(self, x1: float, y1: float, x2: float, y2: float, **attributes) -> None:
        self.add("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), **attributes)

    def polyline(self, points: Sequence[Tuple[float, float]], **attributes) -> None:
        text = " ".join(f"{number(x)},{number(y)}" for x, y in points)
        self.add("polyline", points=text, fill="none", **attributes)

    def circle(self, x: float, y: float, r: float, **attributes) -> None:
        self.add("circle", cx=float(x), cy=float(y), r=float(r), **attributes)

    def text(self, x: float, y: float, text: str, **attributes) -> None:
        self.add("text", escape(text), x=float(x), y=float(y), **attributes)

    def picture(self) -> Picture:
        """The finished picture; its <title> (the canvas title) names it in a browser tab."""
        w, h = number(self.width), number(self.height)
        head = (f'<svg xmlns="{SVG_NAMESPACE}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
                f'font-family="{FONT}" font-size="12" fill="{INK}">')
        body = "\n".join([f"<title>{escape(self.title)}</title>", *self.parts])
        return Picture(f"{head}\n{body}\n</svg>\n", self.width, self.height)


class Axes:
    """A plotting box on the canvas and the data it spans.

    left, top, width, height: the box in pixels. x_range, y_range: the data values at its left
    and right, bottom and top edges. log_y: a logarithmic y axis (y_range then positive).
    """

    def __init__(self, left: float, top: float, width: float, height: float,
                 x_range: Tuple[float, float], y_range: Tuple[float, float], log_y: bool = False):
        self.left, self.top, self.width, self.height = left, top, width, height
        self.x_range, self.y_range, self.log_y = x_range, y_range, log_y

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / (high - low) * self.width

    def y(self, value: float) -> float:
        low, high = self.y_range
        if self.log_y:
            value, low, high = math.log10(value), math.log10(low), math.log10(high)
        return self.top + (high - value) / (high - low) * self.height  # larger values higher up


Ticks = List[Tuple[float, str]]  # (data value, label)


def _tick_label(value: float, digits: int = 6) -> str:
    """``value`` to ``digits`` significant digits, which also hides float noise (0.30000000000000004)."""
    return f"{value:.{digits}g}"


def linear_ticks(low: float, high: float, count: int = 6, whole: bool = False) -> Ticks:
    """Round values (1, 2 or 5 times a power of ten apart) from low to high, about ``count``."""
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(k * power for k in (1, 2, 5, 10) if k * power >= raw)
    if whole:
        step = max(1.0, float(round(step)))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    # as many digits as tell neighbours apart: 1000.5 and 1001 need five
    largest = max(abs(low), abs(high), step)
    digits = max(1, math.floor(math.log10(largest)) - math.floor(math.log10(step)) + 1)
    return [(k * step, _tick_label(k * step, max(6, digits))) for k in range(first, last + 1)]


def log_ticks(low: float, high: float) -> Ticks:
    """1, 2 and 5 times each power of ten between low and high (only the powers if too many)."""
    marks = [(k * 10.0 ** e, k) for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
             for k in (1, 2, 5) if low <= k * 10.0 ** e <= high]
    if len(marks) > 8:
        marks = [(value, k) for value, k in marks if k == 1]
    if len(marks) < 2:  # a narrow range: round values on a linear step instead
        return linear_ticks(low, high, count=4)
    return [(value, _tick_label(value)) for value, _ in marks]


def draw_grid(canvas: Canvas, axes: Axes, x_ticks: Ticks, y_ticks: Ticks) -> None:
    """Light lines across the box at the ticks, drawn before (under) the data."""
    for value, _ in x_ticks:
        canvas.line(axes.x(value), axes.top, axes.x(value), axes.bottom, stroke=GRID)
    for value, _ in y_ticks:
        canvas.line(axes.left, axes.y(value), axes.right, axes.y(value), stroke=GRID)


def draw_frame(canvas: Canvas, axes: Axes, x_ticks: Ticks, y_ticks: Ticks, x_label: str,
               y_label: str, title: str, title_gap: float = 12) -> None:
    """The box, tick marks and labels, axis labels, and the title ``title_gap`` px above the box."""
    canvas.rect(axes.left, axes.top, axes.width, axes.height, fill="none", stroke=INK)
    for value, label in x_ticks:
        x = axes.x(value)
        canvas.line(x, axes.bottom, x, axes.bottom + 4, stroke=INK)
        canvas.text(x, axes.bottom + 17, label, text_anchor="middle", class_="tick")
    for value, label in y_ticks:
        y = axes.y(value)
        canvas.line(axes.left - 4, y, axes.left, y, stroke=INK)
        canvas.text(axes.left - 7, y + 4, label, text_anchor="end", class_="tick")
    middle_x, middle_y = axes.left + axes.width / 2, axes.top + axes.height / 2
    canvas.text(middle_x, axes.bottom + 36, x_label, text_anchor="middle")
    canvas.text(axes.left - 50, middle_y, y_label, text_anchor="middle",
                transform=f"rotate(-90 {number(axes.left - 50)} {number(middle_y)})")
    canvas.text(middle_x, axes.top - title_gap, title, text_anchor="middle", font_size=14,
                font_weight="bold", class_="title")


def draw_legend(canvas: Canvas, axes: Axes, entries: Sequence[Tuple[str, Dict[str, str]]],
                below: bool = False) -> None:
    """A legend, (label, style) per entry: a style with "fill" is drawn as a box, one with
    "stroke" only as a short line. In the top right corner of ``axes``, or ``below`` it, in one
    row under the right end of the box, where it covers nothing."""
    widths = [40 + 7 * len(label) for label, _ in entries]
    if below:
        spots = [(axes.right - sum(widths[k:]), axes.bottom + 36) for k in range(len(entries))]
    else:
        width = max(widths)
        left, top = axes.right - width - 8, axes.top + 8
        canvas.rect(left, top, width, 8 + 18 * len(entries), fill="white", fill_opacity="0.85", stroke=GRID)
        spots = [(left, top + 13 + 18 * k) for k in range(len(entries))]
    for (label, style), (left, y) in zip(entries, spots):
        if "fill" in style:
            canvas.rect(left + 8, y - 5, 20, 10, **style)
        else:
            canvas.line(left + 8, y, left + 28, y, stroke_width="2", **style)
        canvas.text(left + 34, y + 4, label)
