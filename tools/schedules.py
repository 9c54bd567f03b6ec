"""The instructor page's schedules, written from the chapters and the bench (``book/instructor_schedules.md``).

    python -m tools.schedules            (make bench and make execute run it too)

A schedule is a list of slots; a slot names a chapter and which of its numbered sections it covers (or a plain
activity such as a break). Everything else a slot says is read, not written by hand: the chapter's title, the
sections' titles, the exercises they hold (their numbers, from the ``### Exercise N.k`` headings), the minutes of
reading (the sections' prose at the book's reading speed), the exercises' planned minutes, and the seconds of
computing the bench measured for those sections (``data/bench.json``). A slot shorter than its reading and
exercises is refused, and a section number a chapter no longer has is refused, so the page cannot drift from the
chapters: ``tests/test_tools.py`` fails when the committed page is not what this module writes.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

import nbformat

from tools.notebooks import _LINK_TARGET, _WORD, ROOT, STUDY_TIME, WORDS_PER_MINUTE

__all__ = ["EXERCISE_MINUTES", "SCHEDULES", "ScheduleError", "Slot", "page", "plan", "read_chapter", "write"]

PAGE = ROOT / "book" / "instructor_schedules.md"
BENCH = ROOT / "data" / "bench.json"
#: the planning time of one exercise, minutes (an assumption of the page, stated on it; exercises are short)
EXERCISE_MINUTES = 10
_EXERCISE = re.compile(r"^#{2,4}\s*Exercise\s+(\d+\.\d+)", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,2}) (.+)$", re.MULTILINE)


class ScheduleError(ValueError):
    """A slot that names a section its chapter lacks, or that is shorter than what it asks of learners."""


@dataclass
class Section:
    """One ``##`` section of a chapter: its number (None for "Setting up" and closing ones), title, words of prose,
    exercises and measured seconds of computing."""

    number: int | None
    title: str
    words: int = 0
    exercises: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    sections: tuple[Section, ...]


def read_chapter(name: str, bench: dict | None = None) -> Chapter:
    """A chapter's sections with their words, exercises and (from the bench) seconds."""
    bench = json.loads(BENCH.read_text()) if bench is None else bench
    nb = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
    title, sections = "", [Section(None, "(opening)")]
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        prose = re.sub(r"^(```|~~~).*?^\1", "", cell.source, flags=re.MULTILINE | re.DOTALL)
        for level, heading in _HEADING.findall(prose):
            if level == "#":
                title = heading.strip()
            else:
                number = re.match(r"(\d+)\.\s", heading)
                sections.append(Section(int(number.group(1)) if number else None, heading.strip()))
        sections[-1].exercises += _EXERCISE.findall(prose)
        text = _LINK_TARGET.sub("]", re.sub(r"```.*?```", "", STUDY_TIME.sub("", cell.source), flags=re.S))
        sections[-1].words += len(_WORD.findall(text))
    timed = next((c for c in bench["chapters"] if c["chapter"] == name), None)
    if timed is None:
        raise ScheduleError(f"data/bench.json has no chapter {name}: run make bench")
    seconds = {s["section"]: s["seconds"] for s in timed["sections"]}
    for section in sections:
        section.seconds = seconds.get(f"(opening) {title}" if section.title == "(opening)" else section.title, 0.0)
    return Chapter(name, title, tuple(sections))


@dataclass(frozen=True)
class Slot:
    """A time slot: an activity in words, or a chapter and the numbers of the sections it covers (``None``: all)."""

    start: str
    end: str
    activity: str = ""
    chapter: str = ""
    sections: tuple[int, ...] | None = None
    note: str = ""

    @property
    def minutes(self) -> int:
        (h0, m0), (h1, m1) = (map(int, t.split(":")) for t in (self.start, self.end))
        return (h1 * 60 + m1) - (h0 * 60 + m0)


def _range(numbers: list[int]) -> str:
    """1, 2, 3, 6 -> '1–3, 6'."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def _exercise_range(ids: list[str]) -> str:
    if not ids:
        return "no exercise"
    chapter = ids[0].split(".")[0]
    numbers = [int(i.split(".")[1]) for i in ids]
    spans = _range(numbers).split(", ")
    words = ", ".join(f"{chapter}.{s.replace('–', f'–{chapter}.')}" for s in spans)
    return ("Exercise " if len(ids) == 1 else "Exercises ") + words


@dataclass(frozen=True)
class Planned:
    """What a chapter slot asks of learners: reading minutes, exercises, seconds of computing."""

    reading: float
    exercises: list[str]
    seconds: float

    @property
    def minutes(self) -> float:
        return self.reading + EXERCISE_MINUTES * len(self.exercises)


def plan(slot: Slot, chapter: Chapter, computed: int = 0) -> tuple[list[Section], Planned, int]:
    """The sections a slot covers (with the opening and setting-up sections when it starts at the chapter's first
    numbered section) and what they ask. A learner runs a chapter from the top, so its computing is that of every
    section from ``computed`` (the index of the first section an earlier slot has not run) through the slot's last;
    returns the new ``computed`` too."""
    numbered = [s.number for s in chapter.sections if s.number is not None]
    if slot.sections is None:
        chosen = list(chapter.sections)
    else:
        unknown = sorted(set(slot.sections) - set(numbered))
        if unknown:
            raise ScheduleError(
                f"{slot.start}–{slot.end}: {chapter.name} has no section {unknown} (its sections: {_range(numbered)})"
            )
        top = next(i for i, s in enumerate(chapter.sections) if s.number is not None)
        lead = list(chapter.sections[:top]) if min(slot.sections) == min(numbered) else []  # opening, setting up
        chosen = [*lead, *(s for s in chapter.sections if s.number in slot.sections)]
    through = max(chapter.sections.index(s) for s in chosen) + 1
    planned = Planned(
        reading=sum(s.words for s in chosen) / WORDS_PER_MINUTE,
        exercises=[e for s in chosen for e in s.exercises],
        seconds=sum(s.seconds for s in chapter.sections[computed:through]),
    )
    if planned.minutes > slot.minutes:
        raise ScheduleError(
            f"{slot.start}–{slot.end} ({slot.minutes} min) is shorter than what it asks of learners in {chapter.name}: "
            f"{planned.reading:.0f} min of reading and {len(planned.exercises)} exercises at {EXERCISE_MINUTES} min"
        )
    return chosen, planned, max(through, computed)


def _chapter_link(chapter: Chapter) -> str:
    return f"[{chapter.title}](../chapters/{chapter.name}.ipynb)"


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def slot_row(
    slot: Slot, chapters: dict[str, Chapter], computed: dict[str, int]
) -> tuple[str, str, str, Planned | None]:
    """(time, what, asks, plan) of one slot, as table cells; ``computed`` (chapter: sections run so far) is updated."""
    time = f"{slot.start}–{slot.end}"
    if not slot.chapter:
        return time, slot.activity, "", None
    chapter = chapters[slot.chapter]
    chosen, planned, computed[slot.chapter] = plan(slot, chapter, computed.get(slot.chapter, 0))
    numbers = [s.number for s in chosen if s.number is not None]
    where = "all of it" if slot.sections is None else ("§" if len(numbers) == 1 else "§§") + _range(numbers)
    titles = "; ".join(re.sub(r"^\d+\.\s*", "", s.title) for s in chosen if s.number is not None)
    what = f"{_chapter_link(chapter)}, {where}" + (f": {titles}" if titles and slot.sections is not None else "")
    what += f"; {_exercise_range(planned.exercises)}" + (f". {slot.note}" if slot.note else "")
    asks = (
        f"{planned.reading:.0f} min reading, {len(planned.exercises)} × {EXERCISE_MINUTES} min exercises, "
        f"{_seconds(planned.seconds)} computing"
    )
    return time, what, asks, planned


def schedule_table(slots: list[Slot], chapters: dict[str, Chapter], *, alternatives: bool = False) -> str:
    """A schedule as a Markdown table and its totals (``alternatives``: slots that replace one another, each on its
    own, without totals)."""
    computed: dict[str, int] = {}
    rows = [slot_row(slot, chapters, {} if alternatives else computed) for slot in slots]
    plans = [p for *_, p in rows if p is not None]
    lines = ["| time | what | it asks (reading, exercises, computing) |", "|---|---|---|"]
    lines += [f"| {t} | {w} | {a} |" for t, w, a, _ in rows]
    if alternatives:
        return "\n".join(lines)
    total = (
        f"In all: {sum(p.reading for p in plans):.0f} minutes of reading, {sum(len(p.exercises) for p in plans)} "
        f"exercises and {_seconds(sum(p.seconds for p in plans))} of computing."
    )
    return "\n".join(lines) + "\n\n" + total


INSTALL = "Install from the stick (`python3 install.py`, which ends with the self-test); the book's conventions"
#: the page's schedules: (heading, the sentence before the table, its slots)
SCHEDULES: list[tuple[str, str, list[Slot]]] = [
    (
        "A 3-hour session",
        "For an audience that knows PyTorch and wants one method in depth. Learners work in their own copies; the "
        "instructor projects the HTML book.",
        [
            Slot("0:00", "0:15", INSTALL),
            Slot("0:15", "0:55", chapter="00_workbench"),
            Slot("0:55", "1:05", "Break"),
            Slot("1:05", "2:30", chapter="01_bilinear", sections=(1, 2, 3)),
            Slot("2:30", "3:00", chapter="01_bilinear", sections=(6, 8), note="Sections 4, 5 and 7 as reading."),
        ],
    ),
    (
        "Swapping the method of the 3-hour session",
        "Any of these replaces chapter 1 in the slot from 1:05 to 3:00, for an audience more interested in circuits "
        "(LIB), in the theory (degeneracy) or in reading activations (InversionView); their models are cached, so "
        "nothing trains in the session.",
        [
            Slot(
                "1:05",
                "3:00",
                chapter="03_lib",
                sections=tuple(range(1, 8)),
                note="The mod-add transformer (section 8 on) as reading.",
            ),
            Slot(
                "1:05",
                "3:00",
                chapter="02_degeneracy",
                sections=(1, 2, 3, 4),
                note="Modularity and the Interaction Basis (sections 6–7) as reading.",
            ),
            Slot(
                "1:05",
                "3:00",
                chapter="04_inversionview",
                sections=(1, 2, 3, 4, 5, 7, 9),
                note="Sections 6 and 8 as reading.",
            ),
        ],
    ),
    (
        "A one-day workshop",
        "Chapters 0, 1 and 3, ending with the part of chapter 5 that reads one model with the two methods of the day.",
        [
            Slot("9:00", "9:30", INSTALL + '; what "reading a network" means ([the introduction](intro.md))'),
            Slot("9:30", "10:15", chapter="00_workbench"),
            Slot("10:15", "10:30", "Break"),
            Slot("10:30", "12:15", chapter="01_bilinear", sections=(1, 2, 3)),
            Slot("12:15", "13:15", "Lunch"),
            Slot("13:15", "13:45", chapter="01_bilinear", sections=(4, 6, 8), note="Sections 5 and 7 as reading."),
            Slot("13:45", "15:15", chapter="03_lib", sections=tuple(range(1, 8))),
            Slot("15:15", "15:30", "Break"),
            Slot(
                "15:30",
                "16:30",
                chapter="05_four_lenses",
                sections=(1, 2, 3, 6),
                note="The bilinear and LIB lenses on one model, and the four readings side by side.",
            ),
            Slot("16:30", "17:00", "Wrap-up: what each method reads from a network and where it stops"),
        ],
    ),
    (
        "A second day",
        "For a two-day workshop: the two methods the first day left out, and chapter 5 in full.",
        [
            Slot("9:00", "10:45", chapter="02_degeneracy", sections=(1, 2, 3, 4)),
            Slot("10:45", "11:00", "Break"),
            Slot("11:00", "12:00", chapter="02_degeneracy", sections=(5, 6, 7, 8, 9)),
            Slot("12:00", "13:00", "Lunch"),
            Slot(
                "13:00",
                "15:00",
                chapter="04_inversionview",
                sections=(1, 2, 3, 4, 5, 7, 9),
                note="Sections 6, 8 and 10 as reading.",
            ),
            Slot("15:00", "15:15", "Break"),
            Slot("15:15", "16:30", chapter="05_four_lenses", sections=(4, 5, 6, 7)),
            Slot("16:30", "17:00", "Wrap-up and questions"),
        ],
    ),
]


def memory_sentence(bench: dict) -> str:
    """The chapters' peak memory, from the bench."""
    peaks = sorted(bench["chapters"], key=lambda c: c["peak_mib"])
    low, high = peaks[0], peaks[-1]
    return (
        f"The chapters' peak memory, measured by `make bench`, runs from {low['peak_mib'] / 1024:.1f} GiB "
        f"(chapter {int(low['chapter'][:2])}) to {high['peak_mib'] / 1024:.1f} GiB "
        f"(chapter {int(high['chapter'][:2])}); "
        f"a whole chapter computes in {min(c['seconds'] for c in bench['chapters']):.0f} to "
        f"{max(c['seconds'] for c in bench['chapters']):.0f} seconds on the bench's machine ({bench['machine']})."
    )


def page(bench: dict | None = None) -> str:
    """The Markdown of book/instructor_schedules.md."""
    bench = json.loads(BENCH.read_text()) if bench is None else bench
    names = sorted({s.chapter for _, _, slots in SCHEDULES for s in slots if s.chapter})
    chapters = {name: read_chapter(name, bench) for name in names}
    parts = [
        "<!-- Written by `python -m tools.schedules` from the chapters and data/bench.json: do not edit. -->",
        "",
        f"Each slot lists the sections it covers and the exercises they hold, read from the chapters, and what it "
        f"asks of learners: the sections' prose at {WORDS_PER_MINUTE} words a minute, {EXERCISE_MINUTES} minutes "
        f"per exercise (a planning figure), and the seconds of computing the bench measured for the chapter up to "
        f"the slot's last section (learners run a chapter from the top, sections left as reading included). "
        + memory_sentence(bench),
    ]
    for heading, before, slots in SCHEDULES:
        table = schedule_table(slots, chapters, alternatives=heading.startswith("Swapping"))
        parts += ["", f"### {heading}", "", before, "", table]
    return "\n".join(parts) + "\n"


def write() -> bool:
    text = page()
    if PAGE.exists() and PAGE.read_text() == text:
        return False
    PAGE.write_text(text)
    return True


def main(argv: list[str]) -> int:
    try:
        changed = write()
    except ScheduleError as err:
        print(f"tools.schedules: {err}", file=sys.stderr)
        return 1
    print(f"{PAGE.relative_to(ROOT)} {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
