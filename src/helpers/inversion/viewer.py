"""InversionView's display: the verified samples of one query, sorted by distance, as HTML rows.

Each row shows a distance bar, the sample's characters shaded by how much the query activation raised (blue) or
lowered (red) the decoder's probability of each token compared with a no-information activation, and a rule
where the samples leave the ε-ball.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import torch

from .decoder import Decoder
from .distance import EPSILON, in_ball
from .tasks import Task

__all__ = ["draw_preimage", "preimage_html", "token_shading"]


@torch.no_grad()
def token_shading(
    decoder: Decoder, tokens: torch.Tensor, z_query: torch.Tensor, site: int, reference: torch.Tensor
) -> torch.Tensor:
    """``p(x_t | x_<t, z^q) − p_ref(x_t | x_<t)`` for every token after the first (n, T); column 0 is 0.

    ``reference``: the no-information probabilities (n, T − 1) of the same tokens, e.g. the uniform distribution over
    the task's inputs (:func:`~helpers.inversion.analysis.prior_next_token_probs`), which is what a decoder trained
    without any activation approaches."""
    n = tokens.shape[0]
    if reference.shape != (n, tokens.shape[1] - 1):
        raise ValueError(f"reference must be ({n}, {tokens.shape[1] - 1}) probabilities, got {tuple(reference.shape)}")
    sites = torch.full((n,), site, dtype=torch.long)
    p = decoder(tokens[:, :-1], z_query.expand(n, -1), sites).softmax(dim=-1)  # (n, T − 1, vocab)
    return torch.cat([torch.zeros(n, 1), p.gather(-1, tokens[:, 1:, None])[..., 0] - reference], dim=1)


def _shown(task: Task, tokens: torch.Tensor) -> list[tuple[int, int]]:
    """(position, token) of the characters a row shows: up to the first end token, padding left out. What a sampler
    generates after the end token is not part of the input."""
    shown = []
    for t, token in enumerate(tokens.tolist()):
        if token != task.pad:
            shown.append((t, token))
        if token == task.vocab.index("E"):
            break
    return shown


def _colour(value: float) -> str:
    """Blue for a raised probability, red for a lowered one, white for none."""
    v = max(-1.0, min(1.0, value))
    return f"rgba(40, 90, 200, {v:.2f})" if v >= 0 else f"rgba(200, 50, 40, {-v:.2f})"


def preimage_html(
    task: Task,
    tokens: torch.Tensor,
    distance: torch.Tensor,
    *,
    shading: torch.Tensor | None = None,
    epsilon: float = EPSILON,
    rows: int = 30,
    title: str = "",
) -> str:
    """HTML rows for samples (n, T) with their verified distances (n,), sorted by distance, a rule at ε."""
    if tokens.ndim != 2 or distance.shape != (tokens.shape[0],) or tokens.shape[0] == 0:
        raise ValueError(
            f"need a non-empty batch of tokens (n, T) and distances (n,), got {tuple(tokens.shape)} and "
            f"{tuple(distance.shape)}"
        )
    if shading is not None and shading.shape != tokens.shape:
        raise ValueError(f"shading must have the tokens' shape {tuple(tokens.shape)}, got {tuple(shading.shape)}")
    order = torch.argsort(distance, stable=True)[:rows]
    scale = max(float(distance[order].clamp(max=4 * epsilon).max()), 2 * epsilon)
    inside = in_ball(distance, epsilon)  # compared in the distances' dtype, as every ε-ball of the chapter is
    out = ['<div class="inversion-view" style="font-family: monospace; font-size: 13px">']
    if title:
        out.append(f"<div><b>{html.escape(title)}</b></div>")
    ruled = False
    for i in order.tolist():
        d = float(distance[i])
        if not inside[i] and not ruled:
            out.append(f'<hr style="border-top: 2px solid crimson; margin: 2px 0" title="ε = {epsilon:g}">')
            ruled = True
        width = min(d, scale) / scale * 80
        chars = []
        for t, token in _shown(task, tokens[i]):
            shade = _colour(float(shading[i, t])) if shading is not None else "transparent"
            chars.append(f'<span style="background: {shade}">{html.escape(task.vocab[token])}</span>')
        out.append(
            '<div style="white-space: nowrap">'
            f'<span style="display: inline-block; width: 90px"><span style="display: inline-block; '
            f'height: 9px; width: {width:.0f}px; background: {"#3a7" if inside[i] else "#bbb"}"></span></span>'
            f'<span style="display: inline-block; width: 50px">{d:.3f}</span>{"".join(chars)}</div>'
        )
    out.append("</div>")
    return "\n".join(out)


def draw_preimage(
    ax: plt.Axes,
    task: Task,
    tokens: torch.Tensor,
    distance: torch.Tensor,
    *,
    shading: torch.Tensor | None = None,
    epsilon: float = EPSILON,
    title: str = "",
) -> None:
    """The viewer's rows drawn on a matplotlib axis (for figures and the static explorer): per sample, in the order
    given, a distance bar (green inside ε, grey outside), the characters shaded as in :func:`preimage_html`, and a
    crimson rule where the samples leave the ball."""
    if tokens.ndim != 2 or distance.shape != (tokens.shape[0],) or tokens.shape[0] == 0:
        raise ValueError(
            f"need a non-empty batch of tokens (n, T) and distances (n,), got {tuple(tokens.shape)} and "
            f"{tuple(distance.shape)}"
        )
    n, width = tokens.shape[0], tokens.shape[1]
    scale = 4 * epsilon  # bars are drawn on [0, 4ε], longer ones clipped
    rows = torch.arange(n - 1, -1, -1)  # the first sample on top
    inside = in_ball(distance, epsilon)  # compared in the distances' dtype, as every ε-ball of the chapter is
    ax.barh(
        rows,
        distance.clamp(max=scale) / scale * 3.0,
        left=-3.6,
        height=0.6,
        color=["#3a7" if bool(d) else "#bbb" for d in inside],
    )
    cells = torch.zeros(n, width, 4)  # one coloured cell per character shown (RGBA; transparent elsewhere)
    for row in range(n):
        for t, token in _shown(task, tokens[row]):
            face = _colour(float(shading[row, t])) if shading is not None else "none"
            if face != "none":
                cells[row, t] = torch.tensor(_rgba(face))
            ax.text(t, n - 1 - row, task.vocab[token], ha="center", va="center", family="monospace", fontsize=8)
    ax.imshow(
        cells.numpy(), extent=(-0.5, width - 0.5, -0.5, n - 0.5), aspect="auto", interpolation="nearest", zorder=0
    )
    outside = (~inside).nonzero()[:, 0]
    if outside.numel() and outside[0] > 0:
        ax.axhline(n - 1 - int(outside[0]) + 0.5, color="crimson", lw=1.5)
    ax.set_xlim(-3.8, width)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)


def _rgba(css: str):
    """A CSS ``rgba(r, g, b, a)`` colour as a matplotlib tuple (``none`` passes through)."""
    if css == "none":
        return css
    r, g, b, a = (float(v) for v in css[css.index("(") + 1 : -1].split(","))
    return (r / 255, g / 255, b / 255, a)
