"""Real-world edits for the robustness benchmark: caption bars, phone screenshots, stickers, crops,
slight turns, collages, and the lookalikes that must not match (flat graphics, text screenshots,
memes sharing a template).

Everything is drawn here from benign sources on this machine (bench/corpus.py says which); fonts
and emoji come from Debian's font packages (fonts-dejavu-core, fonts-liberation2,
fonts-noto-color-emoji) and are found on disk; when one is missing Pillow's default font stands in
(recall figures then say less about real memes).

Every edit takes the picture and a numpy Generator, and returns the edited picture, so a seed fixes
the edit. Layout choices (bar heights, screen sizes, margins, sticker sizes) are drawn from ranges
that cover what phones and meme tools make, not tuned to the detector: the detector's constants were
set on fit seeds (`SEEDS_FIT`) and every figure is reported on others.
"""

from __future__ import annotations

import functools
import glob
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

SEEDS_FIT = 1_000_000  # detector constants were looked at on these
SEEDS_CHECK = 2_000_000  # figures are reported on these

_FONT_GLOBS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf",
    "/usr/share/fonts/truetype/liberation2/Liberation*.ttf",
    "/usr/share/fonts/truetype/liberation/Liberation*.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-*.ttf",
    "/usr/share/fonts/truetype/lato/Lato-*.ttf",
)
_EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
_BOLD = ("Bold", "Black", "Heavy")

WORDS = [
    "when",
    "you",
    "finally",
    "get",
    "the",
    "weekend",
    "off",
    "and",
    "it",
    "rains",
    "all",
    "day",
    "me",
    "explaining",
    "to",
    "my",
    "cat",
    "why",
    "we",
    "cannot",
    "have",
    "breakfast",
    "at",
    "four",
    "nobody",
    "my",
    "brain",
    "at",
    "three",
    "in",
    "the",
    "morning",
    "the",
    "group",
    "chat",
    "after",
    "one",
    "message",
    "that",
    "moment",
    "when",
    "the",
    "bus",
    "leaves",
    "as",
    "you",
    "arrive",
    "monday",
    "again",
    "already",
    "lunch",
    "plans",
    "coffee",
    "first",
    "then",
    "everything",
    "else",
    "how",
    "it",
    "started",
    "how",
    "it",
    "is",
    "going",
]


@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    out: list[str] = []
    for pattern in _FONT_GLOBS:
        out += sorted(glob.glob(pattern))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _font_at(path: str | None, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if path is None:
        try:
            return ImageFont.load_default(size=size)
        except (TypeError, OSError):
            return ImageFont.load_default()
    return ImageFont.truetype(path, size)


def font(rng: np.random.Generator, size: int, bold: bool | None = None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    files = font_files()
    if bold is not None:
        chosen = [f for f in files if any(b in f for b in _BOLD) == bold]
        files = tuple(chosen) or files
    return _font_at(str(rng.choice(files)) if files else None, max(6, int(size)))


def words(rng: np.random.Generator, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS, int(rng.integers(lo, hi + 1))))


def _wrap(draw: ImageDraw.ImageDraw, text: str, fnt, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = (line + " " + word).strip()
        if line and draw.textlength(trial, font=fnt) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=int(quality))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


# ---- the edits of the table ----------------------------------------------------------------


def caption_bar(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A meme caption bar that grows the canvas: white (or black) band with text, above the picture
    (most often), below it, or both; 12-40% of the picture's height."""
    w, h = img.size
    dark = rng.random() < 0.2
    bg = (0, 0, 0) if dark else (255, 255, 255)
    ink = (255, 255, 255) if dark else (0, 0, 0)
    where = rng.choice(["top", "top", "top", "bottom", "both"])

    def bar() -> Image.Image:
        bh = int(h * rng.uniform(0.12, 0.4))
        band = Image.new("RGB", (w, bh), bg)
        draw = ImageDraw.Draw(band)
        size = max(10, int(w * rng.uniform(0.045, 0.075)))
        fnt = font(rng, size, bold=rng.random() < 0.6)
        lines = _wrap(draw, words(rng, 3, 14), fnt, int(w * 0.9))
        line_h = int(size * 1.25)
        lines = lines[: max(1, (bh - size // 2) // line_h)]
        y = max(2, (bh - line_h * len(lines)) // 2)
        centre = rng.random() < 0.5
        for line in lines:
            x = (w - draw.textlength(line, font=fnt)) / 2 if centre else w * 0.04
            draw.text((x, y), line, fill=ink, font=fnt)
            y += line_h
        return band

    top = bar() if where in ("top", "both") else None
    bottom = bar() if where in ("bottom", "both") else None
    out = Image.new("RGB", (w, h + (top.height if top else 0) + (bottom.height if bottom else 0)), bg)
    y = 0
    if top:
        out.paste(top, (0, 0))
        y = top.height
    out.paste(img, (0, y))
    if bottom:
        out.paste(bottom, (0, y + h))
    out.info["box"] = (0, y, w, y + h)  # where the picture is: for diagnostics only
    return out


def _icons(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x0: int, y0: int, x1: int, size: int, colour) -> None:
    """A row of simple interface glyphs (circles, squares, hearts-as-circles) between x0 and x1."""
    n = int(rng.integers(2, 6))
    for k in range(n):
        cx = x0 + (x1 - x0) * (k + 0.5) / n if rng.random() < 0.5 else x0 + k * size * 1.8
        if rng.random() < 0.5:
            draw.ellipse([cx, y0, cx + size, y0 + size], outline=colour, width=max(1, size // 8))
        else:
            draw.rounded_rectangle(
                [cx, y0, cx + size, y0 + size], radius=size // 4, outline=colour, width=max(1, size // 8)
            )


def screenshot(img: Image.Image, rng: np.random.Generator, next_picture: Image.Image | None = None) -> Image.Image:
    """A phone screenshot of a feed post: status bar, app header, author line, the picture scaled to
    the screen's width (or with margins, maybe rounded corners), buttons and caption text under it,
    the next post beginning, a navigation bar; light or dark; then scaled down as apps re-save it."""
    sw = int(rng.choice([720, 750, 828, 1080, 1170, 1242]))
    sh = int(sw * rng.choice([16 / 9, 19.5 / 9, 20 / 9]))
    dark = rng.random() < 0.35
    bg = (int(rng.integers(0, 30)),) * 3 if dark else (int(rng.integers(242, 256)),) * 3
    ink = (235, 235, 235) if dark else (20, 20, 20)
    grey = (140, 140, 140)
    out = Image.new("RGB", (sw, sh), bg)
    draw = ImageDraw.Draw(out)
    y = 0
    # status bar
    sb = int(sh * rng.uniform(0.02, 0.035))
    draw.text(
        (sw * 0.05, sb * 0.2),
        f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d}",
        fill=ink,
        font=font(rng, sb * 0.6, bold=True),
    )
    draw.rectangle([sw * 0.85, sb * 0.3, sw * 0.93, sb * 0.7], outline=ink, width=2)
    y += sb
    # app header, sometimes a coloured bar
    hh = int(sh * rng.uniform(0.04, 0.07))
    if rng.random() < 0.3:
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.rectangle([0, y, sw, y + hh], fill=colour)
    draw.text((sw * 0.08, y + hh * 0.25), words(rng, 1, 2).title(), fill=ink, font=font(rng, hh * 0.45, bold=True))
    _icons(draw, rng, int(sw * 0.7), y + hh // 4, int(sw * 0.95), hh // 2, ink)
    y += hh
    # author line
    if rng.random() < 0.8:
        ah = int(sh * rng.uniform(0.035, 0.055))
        draw.ellipse(
            [sw * 0.03, y + ah * 0.15, sw * 0.03 + ah * 0.7, y + ah * 0.85],
            fill=tuple(int(c) for c in rng.integers(0, 256, 3)),
        )
        draw.text(
            (sw * 0.05 + ah * 0.8, y + ah * 0.25),
            words(rng, 1, 2).replace(" ", "_"),
            fill=ink,
            font=font(rng, ah * 0.4, bold=True),
        )
        y += ah
    # the picture
    margin = 0 if rng.random() < 0.5 else int(sw * rng.uniform(0.02, 0.06))
    pw = sw - 2 * margin
    ph = round(img.height * pw / img.width)
    ph = min(ph, int(sh * 0.62))
    pw_fit = round(img.width * ph / img.height)
    pic = img.resize((pw_fit, ph), Image.Resampling.LANCZOS if rng.random() < 0.5 else Image.Resampling.BILINEAR)
    x = (sw - pw_fit) // 2
    if margin and rng.random() < 0.5:
        mask = Image.new("L", pic.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle([0, 0, pic.width - 1, pic.height - 1], radius=int(sw * 0.03), fill=255)
        out.paste(pic, (x, y), mask)
    else:
        out.paste(pic, (x, y))
    box = (x, y, x + pw_fit, y + ph)
    y += ph
    # buttons, likes, caption, comments
    bh = int(sh * 0.045)
    _icons(draw, rng, int(sw * 0.03), y + bh // 4, int(sw * 0.5), bh // 2, ink)
    y += bh
    fnt = font(rng, sh * rng.uniform(0.014, 0.02))
    for _ in range(int(rng.integers(1, 5))):
        draw.text((sw * 0.04, y), words(rng, 3, 9), fill=ink if rng.random() < 0.7 else grey, font=fnt)
        y += int(fnt.size * 1.5)
    # the next post begins
    if next_picture is not None and y < sh * 0.85 and rng.random() < 0.5:
        y += int(sh * 0.02)
        nxt = next_picture.resize((sw, round(next_picture.height * sw / next_picture.width)))
        out.paste(nxt, (0, y))
    # navigation bar
    nb = int(sh * rng.uniform(0.05, 0.07))
    draw.rectangle([0, sh - nb, sw, sh], fill=bg)
    _icons(draw, rng, int(sw * 0.05), sh - nb + nb // 4, int(sw * 0.95), nb // 2, ink)
    scale = rng.uniform(0.35, 1.0)
    if scale < 0.95:
        out = out.resize((round(sw * scale), round(sh * scale)), Image.Resampling.BILINEAR)
        box = tuple(round(v * scale) for v in box)
    out.info["box"] = box  # where the picture is: for diagnostics only
    return out


@functools.lru_cache(maxsize=1)
def emoji_glyphs() -> tuple[str, ...]:
    """Emoji that the colour emoji font draws (faces, animals, food, objects)."""
    ranges = list(range(0x1F600, 0x1F64F)) + list(range(0x1F400, 0x1F4FF)) + list(range(0x1F300, 0x1F3FF))
    return tuple(chr(c) for c in ranges)


@functools.lru_cache(maxsize=512)
def emoji_image(ch: str) -> Image.Image | None:
    if not os.path.exists(_EMOJI_FONT):
        return None
    fnt = ImageFont.truetype(_EMOJI_FONT, 109)  # the size its bitmaps are drawn at
    im = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((0, 0), ch, font=fnt, embedded_color=True)
    box = im.getbbox()
    if box is None or im.getchannel("A").getextrema()[1] == 0:
        return None
    return im.crop(box)


def _sticker_image(rng: np.random.Generator) -> Image.Image:
    glyphs = emoji_glyphs()
    for _ in range(10):
        im = emoji_image(str(rng.choice(glyphs)))
        if im is not None:
            return im
    # No emoji font: a flat cartoon face drawn here.
    im = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse([4, 4, 124, 124], fill=(255, 204, 0, 255), outline=(0, 0, 0, 255), width=4)
    d.ellipse([36, 40, 52, 60], fill=(0, 0, 0, 255))
    d.ellipse([76, 40, 92, 60], fill=(0, 0, 0, 255))
    d.arc([30, 50, 98, 104], 20, 160, fill=(0, 0, 0, 255), width=6)
    return im


def sticker(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One emoji sticker (sometimes two) pasted over the picture, 12-22% of its short side each."""
    out = img.convert("RGBA")
    for _ in range(1 if rng.random() < 0.75 else 2):
        st = _sticker_image(rng)
        side = int(min(img.size) * rng.uniform(0.12, 0.22))
        st = st.resize((side, max(1, round(st.height * side / st.width))), Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            st = st.rotate(float(rng.uniform(-25, 25)), expand=True, resample=Image.Resampling.BICUBIC)
        x = int(rng.uniform(0.02, 0.98) * img.width - st.width / 2)
        y = int(rng.uniform(0.02, 0.98) * img.height - st.height / 2)
        out.alpha_composite(st, (max(0, min(img.width - st.width, x)), max(0, min(img.height - st.height, y))))
    return out.convert("RGB")


def crop_sides(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(left * w), round(top * h), w - round(right * w), h - round(bottom * h)))


def crop_3_1(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """3% off one side and 1% off an adjacent one (the table's 'crop 3% left / 1% top', in any of the
    eight orientations, so no side is favoured)."""
    sides = [0.0, 0.0, 0.0, 0.0]
    a = int(rng.integers(4))
    b = (a + (1 if rng.random() < 0.5 else 3)) % 4
    sides[a], sides[b] = 0.03, 0.01
    return crop_sides(img, *sides)


def crop_centre_5(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return crop_sides(img, 0.05, 0.05, 0.05, 0.05)


def crop_random(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return crop_sides(img, *rng.uniform(0, 0.05, 4))


def rotate_2(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """2 degrees either way. Three ways tools do it: same canvas with black corners; the canvas grown
    to hold it (white corners); straightened, i.e. cropped to the largest upright rectangle inside."""
    a = 2.0 * rng.choice([-1, 1])
    style = int(rng.integers(3))
    if style == 0:
        return img.rotate(a, resample=Image.Resampling.BICUBIC)
    if style == 1:
        return img.rotate(a, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    w, h = img.size
    t = np.radians(abs(a))
    # largest axis-aligned rectangle of the same aspect inside the turned picture
    s = 1.0 / (np.cos(t) + np.sin(t) * max(w / h, h / w))
    turned = img.rotate(a, resample=Image.Resampling.BICUBIC)
    cw, ch = w * s, h * s
    return turned.crop((round((w - cw) / 2), round((h - ch) / 2), round((w + cw) / 2), round((h + ch) / 2)))


def collage(img: Image.Image, rng: np.random.Generator, others: list[Image.Image]) -> Image.Image:
    """The picture as one tile of a 2x2 grid of same-size tiles (with or without a gutter)."""
    tw, th = img.size
    gutter = int(rng.choice([0, 0, 4, 10]))
    out = Image.new("RGB", (2 * tw + 3 * gutter, 2 * th + 3 * gutter), (255, 255, 255))
    slot = int(rng.integers(4))
    tiles = [corpus_fit(o, (tw, th)) for o in others[:3]]
    tiles.insert(slot, img)
    for k, tile in enumerate(tiles):
        out.paste(tile, (gutter + (k % 2) * (tw + gutter), gutter + (k // 2) * (th + gutter)))
    return out.resize((tw, th), Image.Resampling.BILINEAR) if rng.random() < 0.5 else out


def corpus_fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    w, h = size
    scale = max(w / img.width, h / img.height)
    nw, nh = max(w, round(img.width * scale)), max(h, round(img.height * scale))
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - w) // 2, (nh - h) // 2
    return img.crop((left, top, left + w, top + h))


# ---- lookalikes that must not match ----------------------------------------------------------------


def text_screenshot(rng: np.random.Generator, size: tuple[int, int] | None = None) -> Image.Image:
    """A screenshot of text: a chat, an article, a notes app or a terminal, light or dark."""
    kind = int(rng.integers(4))
    w, h = size or (int(rng.choice([720, 1080, 1170])), int(rng.choice([1280, 1920, 2340])))
    if kind == 3 or rng.random() < 0.25:
        w, h = h, w  # a desktop window
    dark = rng.random() < 0.4
    bg = (int(rng.integers(0, 40)),) * 3 if dark else (int(rng.integers(235, 256)),) * 3
    ink = (230, 230, 230) if dark else (25, 25, 25)
    out = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(out)
    size_px = int(min(w, h) * rng.uniform(0.025, 0.05))
    fnt = font(rng, size_px)
    y = int(h * rng.uniform(0.02, 0.08))
    line_h = int(size_px * rng.uniform(1.3, 1.7))
    if kind == 0:  # chat bubbles
        while y < h - line_h * 3:
            mine = rng.random() < 0.5
            text = words(rng, 2, 16)
            lines = _wrap(draw, text, fnt, int(w * 0.6))
            bw = max(draw.textlength(line, font=fnt) for line in lines) + size_px
            bh = line_h * len(lines) + size_px // 2
            x = w - bw - w * 0.04 if mine else w * 0.04
            colour = (
                tuple(int(c) for c in rng.integers(0, 256, 3)) if mine else ((60, 60, 60) if dark else (225, 225, 230))
            )
            draw.rounded_rectangle([x, y, x + bw, y + bh], radius=size_px, fill=colour)
            ty = y + size_px // 4
            for line in lines:
                draw.text((x + size_px // 2, ty), line, fill=ink, font=fnt)
                ty += line_h
            y += bh + size_px
    else:  # article, notes, terminal: paragraphs of lines
        if kind == 1:
            draw.text((w * 0.05, y), words(rng, 2, 6).title(), fill=ink, font=font(rng, size_px * 1.6, bold=True))
            y += int(line_h * 2)
        while y < h - line_h:
            for line in _wrap(draw, words(rng, 10, 40), fnt, int(w * 0.9)):
                if y > h - line_h:
                    break
                draw.text((w * 0.05, y), line if kind != 2 else "$ " + line, fill=ink, font=fnt)
                y += line_h
            y += line_h // 2
    return out


def template_meme(picture: Image.Image, rng_template: np.random.Generator) -> Image.Image:
    """One meme template (its caption bar and text fixed by `rng_template`'s seed) around a picture:
    memes that share the template differ only in the picture."""
    return caption_bar(picture, rng_template)


def rotated_dihedral(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.mirror(img) if rng.random() < 0.5 else img.rotate(int(rng.choice([90, 180, 270])), expand=True)
