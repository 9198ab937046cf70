"""Find the picture inside an upload: caption bands, screenshot chrome, borders and letterboxes cut away.

People re-post a picture inside something else: a meme caption bar that grows the canvas, a phone
screenshot (status bar, app header, the picture scaled to the screen's width, buttons and text under
it), a frame. PDQ of the whole upload is then unrelated to the picture's (a caption bar alone moved
one photo 74 bits; MEASURED.md), so the picture has to be cut out before it is hashed.

The detector is cheap and has no model: projection profiles over a small luminance copy.

* A line (row, or column) is *chrome* when it is made of the interface's background colour with
  some text or icons on it (at least `_CHROME_SHARE` of its pixels within `_TOLERANCE` grey levels of
  that colour), or when it is flat in any colour (`_FLAT_SHARE` of it in one 16-level window: a
  header bar, a blank line). A photograph's lines are neither: their values spread.
* The background colour is the most common colour of the outermost lines: screenshots and caption
  bars start at the canvas edge.
* The picture is the longest run of non-chrome rows (gaps of a few flat rows, e.g. sky, allowed),
  then, within those rows, the longest run of non-chrome columns; a final trim removes uniform
  borders the run kept (`variants.detect_borders`).

Each candidate is returned only when it is clearly smaller than the upload (otherwise the plain hash
already is the picture's), at most `MAX_REGIONS` of them, largest first. Wrong candidates cost
lookups, never a match on their own: each region is hashed and gated like every other variant
(`variants.py`), and a region that is flat or low quality is not used.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["MAX_REGIONS", "Region", "find_picture_regions"]

MAX_REGIONS = 3
# A line within this many grey levels of the chrome colour counts as chrome there.
_TOLERANCE = 10.0
# Chrome lines: at least this share of pixels in the chrome colour (text and icons cover the rest).
_CHROME_SHARE = 0.45
# Lines of text or icons on the chrome colour: at least _TEXT_SHARE background, and _TWO_TONE_SHARE
# of the line either background or within two tolerances of one ink value.
_TEXT_SHARE = 0.25
_TWO_TONE_SHARE = 0.8
# Flat lines of another colour: this share in one 8-level window.
_FLAT_SHARE = 0.9
# A run of lines is a picture only if this share of them are neither chrome nor flat.
_MIN_PICTURE_LINES = 0.3
# Gaps of chrome-looking lines a picture run may contain (a band of flat sky, a dark stripe), as a
# share of the side.
_MAX_GAP = 0.04
# A region must keep this share of each side and cut at least _MIN_CUT of one: smaller regions are
# icons and thumbnails in the chrome; barely smaller ones are what the plain hash and trim cover.
_MIN_KEEP = 0.15
_MIN_CUT = 0.04
_MIN_PIXELS = 24
# Boundary refinement: a step of at least _STEP grey levels on average across the picture's width,
# within _REFINE of the run's length from its end.
_STEP = 24.0
_REFINE = 0.3
# A side column is margin when this share of it, over the picture's rows, is the chrome colour.
_MARGIN_SHARE = 0.97  # a side shorter than this in the working copy carries too little for PDQ


class Region(NamedTuple):
    name: str
    left: int
    top: int
    right: int  # exclusive
    bottom: int  # exclusive

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _mode_colour(values: np.ndarray) -> float:
    """The centre of the most populated 16-level window of a set of grey values."""
    q = np.clip(values, 0, 255).astype(np.int32) >> 3
    counts = np.bincount(q.ravel(), minlength=33)
    pair = counts[:-1] + counts[1:]
    k = int(pair.argmax())
    inside = values[(q == k) | (q == k + 1)]
    return float(inside.mean()) if inside.size else float(k * 8 + 8)


def _line_kinds(p: np.ndarray, chrome: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `p`: (is chrome, is flat in another colour). See the module docstring."""
    rows, cols = p.shape
    near = np.abs(p - chrome) <= _TOLERANCE
    near_share = near.mean(axis=1)
    q = np.clip(p, 0, 255).astype(np.int32) >> 2  # 64 bins of 4 grey levels
    # Per-row histograms in one bincount (np.add.at took 4 ms a call on a 512 px copy).
    counts = np.bincount((np.arange(rows)[:, None] * 65 + q).ravel(), minlength=rows * 65).reshape(rows, 65)
    pairs = counts[:, :-1] + counts[:, 1:]
    flat = pairs.max(axis=1) / cols
    # Text and icons are drawn in one ink: a chrome line is the background plus pixels near one
    # other value (the row's most common value away from the background), bold text included.
    centres = np.arange(64) * 4.0 + 4.0
    away = np.where(np.abs(centres - chrome) > _TOLERANCE, pairs, -1)
    ink = centres[away.argmax(axis=1)]
    two_tone = (near | (np.abs(p - ink[:, None]) <= 2 * _TOLERANCE)).mean(axis=1)
    is_chrome = (near_share >= _CHROME_SHARE) | ((near_share >= _TEXT_SHARE) & (two_tone >= _TWO_TONE_SHARE))
    return is_chrome, ~is_chrome & (flat >= _FLAT_SHARE)


def _runs(chrome: np.ndarray, flat: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """Runs of non-chrome lines (chrome gaps of <= max_gap lines joined) that are mostly picture
    lines, longest first; for each, also the run cut to its first and last picture line (a flat
    header bar in its own colour next to the picture is not the picture)."""
    idx = np.flatnonzero(~chrome)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]])) + 1
    out: list[tuple[int, int]] = []
    for a, b in sorted(zip(starts.tolist(), ends.tolist(), strict=True), key=lambda r: r[0] - r[1]):
        picture = np.flatnonzero(~chrome[a:b] & ~flat[a:b])
        if picture.size < _MIN_PICTURE_LINES * (b - a):
            continue
        out.append((a, b))
        core = (a + int(picture[0]), a + int(picture[-1]) + 1)
        if core != (a, b):
            out.append(core)
    return out


def _chrome_colours(p: np.ndarray) -> list[float]:
    """Candidate interface colours: the modes of the outer lines that are flat (screenshots and
    caption bars reach the canvas edge on at least one side), flattest first; two at most."""
    found: list[tuple[float, float]] = []
    for line in (p[0], p[-1], p[:, 0], p[:, -1]):
        mode = _mode_colour(line)
        share = float((np.abs(line - mode) <= _TOLERANCE).mean())
        if share >= _FLAT_SHARE and all(abs(mode - m) > _TOLERANCE for _, m in found):
            found.append((share, mode))
    return [m for _, m in sorted(found, reverse=True)][:2]


def _regions_for(p: np.ndarray, chrome: float) -> list[Region]:
    rows, cols = p.shape
    row_chrome, row_flat = _line_kinds(p, chrome)
    out: list[Region] = []
    # Runs split at every chrome line, and runs joined over short chrome gaps (a band of flat sky
    # in the chrome's colour); a header just above the picture is split off by the first kind.
    runs = _runs(row_chrome, row_flat, 0)
    runs += [r for r in _runs(row_chrome, row_flat, max(1, round(_MAX_GAP * rows))) if r not in runs]
    for top, bottom in runs:
        if bottom - top < max(_MIN_PIXELS, _MIN_KEEP * rows):
            continue
        # Across, a caption bar or a feed spans the picture's full width; what is left at the
        # sides is a margin in the interface's colour.
        band = p[top:bottom]
        side = (np.abs(band - chrome) <= _TOLERANCE).mean(axis=0) >= _MARGIN_SHARE
        inside = np.flatnonzero(~side)
        if inside.size == 0:
            continue
        left, right = int(inside[0]), int(inside[-1]) + 1
        if right - left < max(_MIN_PIXELS, _MIN_KEEP * cols):
            continue
        cut = max((cols - (right - left)) / cols, (rows - (bottom - top)) / rows)
        if cut < _MIN_CUT:
            continue
        # A picture's top and bottom are straight steps across its width; where a step inside
        # the run is much stronger than the run's edge, a flat bar or an author line was taken in.
        edge = np.abs(np.diff(p[max(top - 1, 0) : bottom, left:right], axis=0)).mean(axis=1)
        span = bottom - top
        t2, b2 = top, bottom
        head = edge[1 : max(2, int(_REFINE * span))]
        if head.size and head.max() >= _STEP and head.max() > 2 * edge[0]:
            t2 = top + 1 + int(head.argmax())
        tail = edge[-max(2, int(_REFINE * span)) :]
        if tail.size and tail.max() >= _STEP and tail.max() > 2 * edge[-1]:
            b2 = bottom - tail.size + int(tail.argmax())
        if (t2, b2) != (top, bottom) and b2 - t2 >= max(_MIN_PIXELS, _MIN_KEEP * rows):
            out.append(Region("region", left, t2, right, b2))
        out.append(Region("region", left, top, right, bottom))
    return out


def find_picture_regions(pixels: np.ndarray) -> list[Region]:
    """Candidate picture rectangles inside a 2-D luminance array, largest first (see the module
    docstring). Empty when the upload looks like a picture already."""
    p = np.asarray(pixels, dtype=np.float32)
    rows, cols = p.shape
    if rows < 2 * _MIN_PIXELS or cols < 2 * _MIN_PIXELS:
        return []
    out: list[Region] = []
    for chrome in _chrome_colours(p):
        for region in _regions_for(p, chrome):
            if len(out) < MAX_REGIONS and all(r[1:] != region[1:] for r in out):
                out.append(region._replace(name=f"region{len(out)}"))
    return out


# ---- collages ----------------------------------------------------------------------------------------
#
# A picture re-posted as one tile of a grid (2 x 2, or two side by side) is a quarter or a half of
# the upload. Tiles are different pictures, so the line between two of them is a step along almost
# all of its length (or a gutter: a flat line); inside a photograph even a horizon is not a step
# everywhere. The seam is looked for near the middle (where grid apps put it), by the median step
# along each line, so a few similar columns do not hide it.

_SEAM_BAND = (0.4, 0.6)  # where a seam is looked for, as a share of the side
_SEAM_STEP = 12.0  # median grey-level step along the seam line...
_SEAM_RATIO = 4.0  # ...and this many times the typical line's


def _seam(p: np.ndarray) -> tuple[int, int] | None:
    """(first row after the upper tile, first row of the lower tile) of a seam or gutter between
    two tiles stacked in `p`, or None."""
    rows = p.shape[0]
    lo, hi = int(rows * _SEAM_BAND[0]), int(rows * _SEAM_BAND[1])
    if hi - lo < 3:
        return None
    band = p[lo - 1 : hi + 1]
    # Medians by sorting along each line (one vectorised sort, not a partition per call).
    steps = np.sort(np.abs(np.diff(band, axis=0)), axis=1)[:, band.shape[1] // 2]  # steps[i]: rows lo-1+i, lo+i
    sample = p[:: max(1, rows // 32)]
    typical = float(np.median(np.sort(np.abs(np.diff(sample, axis=1)), axis=1)[:, sample.shape[1] // 2])) + 1.0
    centre = np.sort(band, axis=1)[:, band.shape[1] // 2 : band.shape[1] // 2 + 1]
    flat_band = (np.abs(band - centre) <= _TOLERANCE).mean(axis=1) >= 0.98
    gutter = np.flatnonzero(flat_band[1:-1])
    if gutter.size:
        start = lo + int(gutter[0])
        end = start
        flat = lambda r: bool((np.abs(p[r] - np.median(p[r])) <= _TOLERANCE).mean() >= 0.98)  # noqa: E731
        while end < rows and end - start <= 0.1 * rows and flat(end):
            end += 1
        while start > 0 and end - start <= 0.1 * rows and flat(start - 1):
            start -= 1
        if end - start <= 0.1 * rows:
            return start, end
    k = int(steps[1:-1].argmax())
    step = float(steps[1 + k])
    if step >= _SEAM_STEP and step >= _SEAM_RATIO * typical:
        return lo + k + 1, lo + k + 1
    return None


def find_grid_cells(pixels: np.ndarray) -> list[Region]:
    """The tiles of a 2 x 2 (or 1 x 2, 2 x 1) collage, or [] when no seam is found."""
    p = np.asarray(pixels, dtype=np.float32)
    rows, cols = p.shape
    if rows < 2 * _MIN_PIXELS or cols < 2 * _MIN_PIXELS:
        return []
    across = _seam(p)
    down = _seam(p.T)
    # Grid apps split equal tiles at the same relative place on both axes: one clear seam stands
    # for the other where two tiles happen to meet without a visible step.
    if across and not down:
        down = (round(cols * across[0] / rows), round(cols * across[1] / rows))
    elif down and not across:
        across = (round(rows * down[0] / cols), round(rows * down[1] / cols))
    ys = [(0, across[0]), (across[1], rows)] if across else [(0, rows)]
    xs = [(0, down[0]), (down[1], cols)] if down else [(0, cols)]
    if len(ys) * len(xs) < 2:
        return []
    cells = [
        Region(f"cell{k}", x0, y0, x1, y1) for k, ((y0, y1), (x0, x1)) in enumerate((y, x) for y in ys for x in xs)
    ]
    return [c for c in cells if c.width >= _MIN_PIXELS and c.height >= _MIN_PIXELS]
