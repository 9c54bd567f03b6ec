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

#: Outputs wider than the text column, or hiding part of themselves in a scroll box.
TOO_WIDE_OUTPUTS = r"""() => {
    const column = document.querySelector('article.bd-article') || document.querySelector('article');
    if (!column) return [];
    const right = column.getBoundingClientRect().right + 1;
    const found = [];
    const selector = ['.cell_output', '.cell_output pre', '.cell_output table', '.cell_output img',
                      '.cell_output .jupyter-widgets', '.output', '.output pre'].join(', ');
    for (const el of document.querySelectorAll(selector)) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;  // not shown (a hidden figure of an explorer)
        const clipped = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible';
        if (box.right > right || clipped) {
            const what = (el.textContent || el.getAttribute('src') || '').trim().replace(/\s+/g, ' ').slice(0, 70);
            found.push(`${el.tagName.toLowerCase()} ${clipped ? 'scrolls' : 'overflows'} ` +
                       `(${Math.round(box.right)} px > column ${Math.round(right)} px): ${what}`);
        }
    }
    return found.slice(0, 5);
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


def _move_first_control(explorer) -> str:
    """Change the first control of an explorer (slider, toggle buttons or dropdown) as a reader would."""
    handle = explorer.locator(".noUi-handle")
    if handle.count():
        handle.first.focus()
        handle.first.press("ArrowRight")
        return "slider moved one step right"
    buttons = explorer.locator(".widget-toggle-button")
    if buttons.count() > 1:
        for i in range(buttons.count()):
            if "mod-active" not in (buttons.nth(i).get_attribute("class") or ""):
                buttons.nth(i).click()
                return f"toggle button {buttons.nth(i).inner_text()!r} clicked"
    select = explorer.locator("select")
    if select.count():
        options = select.first.locator("option")
        current = select.first.input_value()
        for i in range(options.count()):
            value = options.nth(i).get_attribute("value")
            if value != current:
                select.first.select_option(value)
                return f"dropdown set to {options.nth(i).inner_text()!r}"
    return ""


def explorers_respond(page, screenshot_stem: Path | None = None) -> list[str]:
    """Every explorer shows another figure after its first control is moved (screenshots before and after)."""
    problems = []
    explorers = page.locator(".book-explorer")
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        explorer.scroll_into_view_if_needed()
        before = page.evaluate(VISIBLE_EXPLORER_FIGURES)[i]
        if not before:
            problems.append(f"explorer {i + 1} shows no figure")
            continue
        if screenshot_stem is not None:
            explorer.screenshot(path=f"{screenshot_stem}__explorer{i + 1}_before.png")
        moved = _move_first_control(explorer)
        if not moved:
            problems.append(f"explorer {i + 1} has no control to move")
            continue
        try:
            page.wait_for_function(f"(before) => ({VISIBLE_EXPLORER_FIGURES})()[{i}] !== before", arg=before,
                                   timeout=3000)
        except Exception:  # Playwright's TimeoutError
            problems.append(f"explorer {i + 1}: the figure did not change after the {moved}")
            continue
        if screenshot_stem is not None:
            explorer.screenshot(path=f"{screenshot_stem}__explorer{i + 1}_after.png")
    return problems


def http_errors(log: list[tuple[int, str]], start: int = 0) -> list[str]:
    """Every response of the server with status ≥ 400 since ``start`` (a favicon the browser asked for included)."""
    return [f"HTTP {status}: {path}" for status, path in log[start:] if status >= 400]
