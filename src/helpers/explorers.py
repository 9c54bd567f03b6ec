"""Explorers that respond in the static book: every figure precomputed, switched in the browser with no kernel.

An ipywidgets explorer built with ``interactive`` needs Python behind it: in the HTML book its sliders move and
nothing happens. :func:`static_explorer` draws the figure once for every combination of the controls' values, puts
the PNGs into nested ``Stack`` widgets and links each control's ``index`` to its stacks' ``selected_index`` with
``jslink``. The links run in the browser, from the widget state saved in the notebook, so the explorer responds in
the static book exactly as in Jupyter::

    explorer = static_explorer(draw, {"digit": range(10), "sign": ["positive", "negative"]})
    display(explorer)

Every figure is drawn at once (a progress bar shows it), so keep the grid small: the saved state of a page should
stay under 3 MB (:func:`state_bytes` measures it). For values between the grid's, call the drawing function itself.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from .runtime import STYLE, fit_to_column, png_size, smallest_text_px
from .training import progress

__all__ = ["static_explorer", "state_bytes", "option_label"]

#: The resolution of explorer figures: a little below the book's 100 dpi, to keep saved widget state small. Each is
#: fitted to the text column and shown at the book's dpi, so its text is as large as in the book's other figures.
EXPLORER_DPI = 80


def option_label(value: Any) -> str:
    """How a control shows a value: numbers with ``:g`` (``0.05``, never ``0.0501``), anything else with ``str``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _png(figure: plt.Figure, dpi: int) -> tuple[bytes, float]:
    """The figure fitted to the column, as PNG bytes at ``dpi``, and the size of its smallest text (CSS px)."""
    fit_to_column(figure)
    text_px = smallest_text_px(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue(), text_px


def _control(name: str, values: Sequence[Any], default: Any):
    import ipywidgets as widgets

    options = [(option_label(v), i) for i, v in enumerate(values)]
    name = name.replace("_", " ")  # min_edge → "min edge" beside the control
    index = list(values).index(default)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(values) > 2:
        control = widgets.SelectionSlider(options=options, value=index, description=name, continuous_update=True)
    elif len(values) <= 4:
        control = widgets.ToggleButtons(options=options, value=index, description=name)
    else:
        control = widgets.Dropdown(options=options, value=index, description=name)
    return control


def static_explorer(
    draw: Callable[..., plt.Figure],
    controls: Mapping[str, Sequence[Any]],
    *,
    defaults: Mapping[str, Any] | None = None,
    dpi: int = EXPLORER_DPI,
    desc: str = "explorer figures",
):
    """A widget with one control per parameter whose figure switches in the browser, with no kernel.

    Args:
        draw: ``draw(**params) -> Figure`` for one value of every control (the figure is closed after saving).
        controls: parameter name → the values its control offers, in order (at least one each).
        defaults: the value each control starts at (default: each one's first value).
        dpi: resolution of the saved PNGs.

    Returns:
        An ``ipywidgets.VBox``: the controls, then the figure. Its ``.figures`` attribute maps each combination of
        values (a tuple in the order of ``controls``) to its PNG bytes; ``.links`` holds the ``jslink`` of each stack.

    Raises:
        ValueError: no controls, a control with no values or repeated values, or a default not among its values.
    """
    import ipywidgets as widgets

    if not controls:
        raise ValueError("static_explorer needs at least one control")
    names = list(controls)
    grids = {name: list(values) for name, values in controls.items()}
    for name, values in grids.items():
        if not values:
            raise ValueError(f"control {name!r} offers no values")
        if len({option_label(v) for v in values}) != len(values):
            raise ValueError(f"control {name!r} repeats a value: {values}")
    defaults = dict(defaults or {})
    unknown = set(defaults) - set(names)
    if unknown:
        raise ValueError(f"defaults name unknown controls {sorted(unknown)}; controls are {names}")
    for name in names:
        defaults.setdefault(name, grids[name][0])
        if defaults[name] not in grids[name]:
            raise ValueError(f"default {defaults[name]!r} of {name!r} is not among its values {grids[name]}")

    combinations = list(itertools.product(*(grids[n] for n in names)))
    drawn = {combo: _png(draw(**dict(zip(names, combo))), dpi) for combo in progress(combinations, desc=desc)}
    figures = {combo: png for combo, (png, _) in drawn.items()}
    text_px = min(px for _, px in drawn.values())
    control_widgets = [_control(name, grids[name], defaults[name]) for name in names]

    links = []

    def build(level: int, prefix: tuple) -> widgets.Widget:
        if level == len(names):
            png = figures[prefix]
            shown = round(png_size(png)[0] * float(STYLE["figure.dpi"]) / dpi)  # at the book's dpi
            image = widgets.Image(value=png, format="png", layout=widgets.Layout(width=f"{shown}px", max_width="100%"))
            image.add_class(f"book-text-px-{text_px:.2f}".replace(".", "_"))  # for the browser test's measure
            return image
        children = [build(level + 1, prefix + (value,)) for value in grids[names[level]]]
        stack = widgets.Stack(children, selected_index=control_widgets[level].value)
        links.append(widgets.jslink((control_widgets[level], "index"), (stack, "selected_index")))
        return stack

    box = widgets.VBox([widgets.HBox(control_widgets, layout=widgets.Layout(flex_flow="row wrap")), build(0, ())])
    box.add_class("book-explorer")
    box.figures = figures
    box.text_px = text_px
    box.links = links
    return box


def state_bytes(widget) -> int:
    """Bytes of saved widget state this widget and everything it holds add to a notebook (base64 PNGs included)."""
    import json

    from ipywidgets.embed import dependency_state

    return len(json.dumps(dependency_state(widget, drop_defaults=True)))
