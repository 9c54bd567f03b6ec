"""What a reader would notice on a page, as checks the browser test runs: each takes a Playwright page (already
loaded) and returns the problems it finds, an empty list when there are none.

``tests/test_page_checks.py`` shows each check failing on a small page with the defect it looks for.
"""

from __future__ import annotations

from pathlib import Path

#: Markdown table syntax left as text: a separator row such as ``|---|---|`` outside code.
RAW_TABLE_TEXT = r"""() => {
    const root = document.querySelector('article') || document.body;
    const clone = root.cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, .highlight').forEach(e => e.remove());
    return clone.textContent.split('\n').map(l => l.trim())
        .filter(l => /\|\s*:?-{3,}:?\s*\|/.test(l) || /^\|(?:[^|]+\|){2,}$/.test(l)).slice(0, 5);
}"""

#: Outputs wider than the text column, or hiding part of themselves in a scroll box. A table may be wider than the
#: column inside its own scroll box (the theme's .pst-scrollable-table-container), which must itself fit.
TOO_WIDE_OUTPUTS = r"""() => {
    const column = document.querySelector('article.bd-article') || document.querySelector('article');
    if (!column) return [];
    const right = column.getBoundingClientRect().right + 1;
    const found = [];
    const selector = ['.cell_output', '.cell_output pre', '.cell_output table', '.cell_output img',
                      '.cell_output .jupyter-widgets', '.output', '.output pre',
                      '.pst-scrollable-table-container'].join(', ');
    for (const el of document.querySelectorAll(selector)) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;  // not shown (a hidden figure of an explorer)
        const tableBox = el.classList.contains('pst-scrollable-table-container');
        if (!tableBox && el.closest('.pst-scrollable-table-container')) continue;  // scrolls inside its own box
        const clipped = !tableBox && el.scrollWidth > el.clientWidth + 1
                        && getComputedStyle(el).overflowX !== 'visible';
        if (box.right > right || clipped) {
            const what = (el.textContent || el.getAttribute('src') || '').trim().replace(/\s+/g, ' ').slice(0, 70);
            found.push(`${el.tagName.toLowerCase()} ${clipped ? 'scrolls' : 'overflows'} ` +
                       `(${Math.round(box.right)} px > column ${Math.round(right)} px): ${what}`);
        }
    }
    return found.slice(0, 5);
}"""

#: Words of a table cell broken across two lines ("bilinea / r"): a word's box on two lines. Breaks at spaces and
#: after hyphens are a reader's normal wrapping; typeset math is left out.
SPLIT_WORDS = r"""() => {
    const found = [];
    for (const cell of document.querySelectorAll('article td, article th')) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (node.parentElement.closest('mjx-container, .math')) continue;
            for (const m of node.textContent.matchAll(/[^\s\-\u2010-\u2014]+/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                     .map(r => Math.round(r.top)));
                if (tops.size > 1) found.push(m[0]);
            }
        }
    }
    return found.slice(0, 5);
}"""

#: Display equations wider than the text column (MathJax draws one line; a long one runs out of the column)
WIDE_EQUATIONS = r"""() => {
    const column = document.querySelector('article.bd-article') || document.querySelector('article');
    if (!column) return [];
    const width = column.getBoundingClientRect().width;
    return [...document.querySelectorAll('mjx-container[display="true"]')]
        .map(m => [m.firstElementChild ? m.firstElementChild.getBoundingClientRect().width : 0,
                   m.textContent.slice(0, 50)])
        .filter(([w]) => w > width + 1)
        .map(([w, text]) => `${Math.round(w)} px > column ${Math.round(width)} px: ${text}`).slice(0, 5);
}"""

#: The markers around an exercise's solution, which are for the learners' copies only.
SOLUTION_MARKERS = r"""() => (document.body.textContent.match(/# (BEGIN|END) SOLUTION/g) || []).slice(0, 3)"""

#: The src of every explorer figure a reader can see now.
VISIBLE_EXPLORER_FIGURES = r"""() => [...document.querySelectorAll('.book-explorer')].map(box =>
    [...box.querySelectorAll('img')].filter(i => i.getBoundingClientRect().width > 0).map(i => i.src).join(' '))"""


def raw_table_text(page) -> list[str]:
    """Markdown tables shown as text (``| a | b |`` lines) instead of drawn as tables."""
    return [f"raw Markdown table text: {line[:80]!r}" for line in page.evaluate(RAW_TABLE_TEXT)]


def too_wide_outputs(page) -> list[str]:
    """Outputs that stick out of the text column or hide numbers in a horizontal scroll box."""
    return [f"output wider than the text column: {line}" for line in page.evaluate(TOO_WIDE_OUTPUTS)]


#: every figure of a page's outputs as shown: its width on the page and its image's own width (explorer figures,
#: inside widgets, with the smallest text their class names)
SHOWN_FIGURES = r"""() => {
    const outputs = [...document.querySelectorAll('article .cell_output img')]
        .filter(i => !i.closest('.jupyter-widgets'))
        .map(i => ({shown: i.getBoundingClientRect().width, natural: i.naturalWidth, src: i.getAttribute('src')}));
    const explorers = [...document.querySelectorAll('.book-explorer img')]
        .filter(i => i.getBoundingClientRect().width > 0)
        .map(i => ({shown: i.getBoundingClientRect().width, natural: i.naturalWidth,
                    cls: [...i.classList].find(c => c.startsWith('book-text-px-')) || ''}));
    return {outputs, explorers};
}"""


def small_figure_text(
    page, figures: list[tuple[float, float]], *, explorer_dpi: float, book_dpi: float, minimum: float
) -> list[str]:
    """Figures whose smallest text is shown below ``minimum`` CSS px. ``figures``: (width at the book's dpi, smallest
    text in CSS px at that width) of each figure output of the chapter, in order, from the notebook's metadata."""
    seen = page.evaluate(SHOWN_FIGURES)
    problems = []
    if len(seen["outputs"]) != len(figures):
        return [f"{len(seen['outputs'])} figures on the page, {len(figures)} in the chapter's outputs"]
    for k, (shown, (width, text_px)) in enumerate(zip(seen["outputs"], figures), start=1):
        rendered = text_px * shown["shown"] / width
        if rendered < minimum:
            problems.append(
                f"figure {k}: smallest text {rendered:.1f} px on the page (drawn {text_px:.1f} px at "
                f"{width:.0f} px wide, shown {shown['shown']:.0f} px wide), under {minimum:g} px"
            )
    for k, image in enumerate(seen["explorers"], start=1):
        if not image["cls"]:
            problems.append(f"explorer figure {k}: no book-text-px-… class (helpers.explorers sets it)")
            continue
        text_px = float(image["cls"].removeprefix("book-text-px-").replace("_", "."))
        rendered = text_px * image["shown"] / (image["natural"] * book_dpi / explorer_dpi)
        if rendered < minimum:
            problems.append(f"explorer figure {k}: smallest text {rendered:.1f} px on the page, under {minimum:g} px")
    return problems


def wide_equations(page) -> list[str]:
    """Display equations wider than the text column (break them into lines with ``aligned`` or ``gathered``)."""
    return [f"equation wider than the text column: {line}" for line in page.evaluate(WIDE_EQUATIONS)]


def split_words(page) -> list[str]:
    """Words of a table broken in the middle across two lines."""
    return [f"word broken across lines in a table: {word!r}" for word in page.evaluate(SPLIT_WORDS)]


def solution_markers(page) -> list[str]:
    return [f"solution marker shown: {marker!r}" for marker in page.evaluate(SOLUTION_MARKERS)]


def navigation_opens(page) -> list[str]:
    """At a phone's width the chapter list is hidden behind the ☰ button: clicking the visible one must show it."""
    sidebar = page.locator(".bd-sidebar-primary")
    toggles = page.locator(".primary-toggle:visible")
    if sidebar.count() == 0:
        return ["no navigation sidebar (.bd-sidebar-primary) on the page"]
    if toggles.count() != 1:
        return [f"{toggles.count()} visible ☰ buttons, expected one"]

    def shown() -> bool:
        box = sidebar.first.bounding_box()
        return bool(sidebar.first.is_visible() and box and box["x"] >= -1 and box["width"] > 100)

    if shown():
        return []  # nothing to open (a wide window)
    toggles.first.click()
    try:
        page.wait_for_function(
            "() => { const s = document.querySelector('.bd-sidebar-primary'); const b = s.getBoundingClientRect();"
            " return b.x >= -1 && b.width > 100 && getComputedStyle(s).visibility !== 'hidden'; }",
            timeout=3000,
        )
    except Exception:  # Playwright's TimeoutError
        return ["the ☰ button does not open the navigation"]
    page.wait_for_timeout(400)  # let the drawer finish sliding in
    return [] if shown() else ["the ☰ button does not open the navigation"]


#: is the element under the viewport point (x, y) the control (or inside it)? If not, what is there instead
UNDER_POINTER = r"""([control, x, y]) => {
    const hit = document.elementFromPoint(x, y);
    if (hit && (hit === control || control.contains(hit))) return '';
    if (!hit) return 'nothing';
    const cls = (hit.className && hit.className.baseVal === undefined ? hit.className : '') || '';
    return `<${hit.tagName.toLowerCase()} class="${String(cls).slice(0, 60)}">`;
}"""


def _aim(page, control, x: float, y: float, what: str) -> str:
    """'' when a pointer at viewport point (x, y) would reach ``control``; else the problem a reader would meet."""
    covered = page.evaluate(UNDER_POINTER, [control.element_handle(), x, y])
    return f"{what}: the pointer at ({x:.0f}, {y:.0f}) lands on {covered}, not on the control" if covered else ""


def _into_view(page, control) -> None:
    """Scroll the window, as a reader does, until ``control`` is in view. (Playwright's scroll_into_view_if_needed
    also scrolls any box around it, which would reveal a control a reader cannot reach.)"""
    box, height = control.bounding_box(), page.viewport_size["height"]
    if box["y"] < 0 or box["y"] + box["height"] > height:
        page.evaluate("dy => window.scrollBy(0, dy)", box["y"] + box["height"] / 2 - height / 2)
        page.wait_for_timeout(100)


def _centre(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _drive_slider(page, slider, touch: bool) -> tuple[str, str]:
    """Drag the slider's handle a third of its track with the mouse, or tap its track at a finger's width from the
    handle: (what was done, problem or '')."""
    handle, track = slider.locator(".noUi-handle").first, slider.locator(".noUi-base, .noUi-target").first
    _into_view(page, slider)
    hx, hy = _centre(handle.bounding_box())
    base = track.bounding_box()
    # the whole track answers a pointer: a reader clicks or taps anywhere on it, not only on the handle
    for at in (0.05, 0.5, 0.95):
        problem = _aim(
            page,
            slider,
            base["x"] + at * base["width"],
            base["y"] + base["height"] / 2,
            f"{'tap' if touch else 'click'} on the slider's track at {at:.0%}",
        )
        if problem:
            return "slider", problem
    towards = -1 if hx > base["x"] + base["width"] / 2 else 1  # away from the nearer end
    if touch:
        x = hx + towards * max(base["width"] / 3, 30)
        page.touchscreen.tap(x, hy)
        return "slider's track tapped", ""
    problem = _aim(page, slider, hx, hy, "drag of the slider's handle")
    if not problem:
        page.mouse.move(hx, hy)
        page.mouse.down()
        page.mouse.move(hx + towards * base["width"] / 3, hy, steps=8)
        page.mouse.up()
    return "slider's handle dragged with the mouse", problem


def _drive_buttons(page, group, touch: bool) -> tuple[str, str]:
    """Click (or tap) the first toggle button that is not pressed."""
    buttons = group.locator(".widget-toggle-button")
    for i in range(buttons.count()):
        button = buttons.nth(i)
        if "mod-active" in (button.get_attribute("class") or ""):
            continue
        _into_view(page, button)
        x, y = _centre(button.bounding_box())
        problem = _aim(page, button, x, y, f"{'tap' if touch else 'click'} on {button.inner_text()!r}")
        if not problem:
            page.touchscreen.tap(x, y) if touch else page.mouse.click(x, y)
        return f"toggle button {button.inner_text()!r} {'tapped' if touch else 'clicked'}", problem
    return "", "toggle buttons with every button pressed"


def _drive_dropdown(page, select, touch: bool) -> tuple[str, str]:
    """Click (or tap) the dropdown, then choose another option (a native list: chosen as the browser's list does)."""
    _into_view(page, select)
    x, y = _centre(select.bounding_box())
    problem = _aim(page, select, x, y, f"{'tap' if touch else 'click'} on the dropdown")
    if problem:
        return "dropdown", problem
    page.touchscreen.tap(x, y) if touch else page.mouse.click(x, y)
    current, options = select.input_value(), select.locator("option")
    for i in range(options.count()):
        if options.nth(i).get_attribute("value") != current:
            select.select_option(options.nth(i).get_attribute("value"))
            return f"dropdown set to {options.nth(i).inner_text()!r}", ""
    return "", "a dropdown with one option"


def explorer_controls(explorer) -> list:
    """The explorer's sliders, toggle-button groups and dropdowns, in the order a reader meets them."""
    return explorer.locator(".widget-slider, .widget-toggle-buttons, select").all()


def drive_control(page, control, touch: bool = False) -> tuple[str, str]:
    """Move one control the way a person does (mouse, or a finger when ``touch``): (what was done, problem or '')."""
    kind = control.evaluate(
        "e => e.tagName === 'SELECT' ? 'select' : e.classList.contains('widget-slider') ? 'slider' : 'buttons'"
    )
    return {"slider": _drive_slider, "buttons": _drive_buttons, "select": _drive_dropdown}[kind](page, control, touch)


def explorers_respond(page, screenshot_stem: Path | None = None, touch: bool = False) -> list[str]:
    """Every control of every explorer, moved by mouse (or by a finger's tap when ``touch``), shows another figure;
    a control under another element (a figure drawn over a slider) is a problem. Screenshots before the first move
    and after each."""
    problems = []
    explorers = page.locator(".book-explorer")
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        _into_view(page, explorer.locator(".widget-hbox, .widget-inline-hbox").first)
        if not page.evaluate(VISIBLE_EXPLORER_FIGURES)[i]:
            problems.append(f"explorer {i + 1} shows no figure")
            continue
        if screenshot_stem is not None:
            explorer.screenshot(path=f"{screenshot_stem}__explorer{i + 1}_before.png")
        controls = explorer_controls(explorer)
        if not controls:
            problems.append(f"explorer {i + 1} has no control to move")
        for k, control in enumerate(controls):
            before = page.evaluate(VISIBLE_EXPLORER_FIGURES)[i]
            moved, problem = drive_control(page, control, touch)
            if problem:
                problems.append(f"explorer {i + 1}, control {k + 1}: {problem}")
                continue
            try:
                page.wait_for_function(
                    f"(before) => ({VISIBLE_EXPLORER_FIGURES})()[{i}] !== before", arg=before, timeout=3000
                )
            except Exception:  # Playwright's TimeoutError
                problems.append(f"explorer {i + 1}: the figure did not change after the {moved}")
                continue
            if screenshot_stem is not None:
                explorer.screenshot(path=f"{screenshot_stem}__explorer{i + 1}_after{'' if k == 0 else k + 1}.png")
    return problems


def http_errors(log: list[tuple[int, str]], start: int = 0) -> list[str]:
    """Every response of the server with status ≥ 400 since ``start`` (a favicon the browser asked for included)."""
    return [f"HTTP {status}: {path}" for status, path in log[start:] if status >= 400]
