"""No false flags through variants (issue 14 item 5; EUI-1): a hit through a variant on either side
needs a stricter distance and enough PDQ quality on both hashes; plain hashes keep the bank's
threshold. Flat graphics (icons, one-colour art) do not match each other through turns."""

from __future__ import annotations

from PIL import Image, ImageDraw

from staydown.matching.gate import DETAILED, FLAT_MAX_DISTANCE, VARIANT_MAX_DISTANCE, VARIANT_MIN_QUALITY, admits
from staydown.media.hashing import hamming, luma_from_rgb, pdq_detail, pdq_from_luma
from staydown.media.variants import bank_variants, query_variants


def test_EUI1_plain_hash_keeps_the_bank_threshold() -> None:
    assert admits(distance=31, threshold=31, query_variant="", query_quality=10, entry_variant="", entry_quality=10)
    assert not admits(
        distance=32, threshold=31, query_variant="", query_quality=100, entry_variant="", entry_quality=100
    )


def test_EUI1_variant_hits_need_a_stricter_distance_and_quality_on_both_sides() -> None:
    ok = {"threshold": 31, "query_quality": 100, "entry_quality": 100}
    assert admits(distance=VARIANT_MAX_DISTANCE, query_variant="rot+2", entry_variant="", **ok)
    assert not admits(distance=VARIANT_MAX_DISTANCE + 1, query_variant="rot+2", entry_variant="", **ok)
    assert not admits(distance=VARIANT_MAX_DISTANCE + 1, query_variant="", entry_variant="crop_l50_t0_r0_b0", **ok)
    low = VARIANT_MIN_QUALITY - 1
    assert not admits(
        distance=10, threshold=31, query_variant="flip_y", query_quality=low, entry_variant="", entry_quality=100
    )
    assert not admits(
        distance=10, threshold=31, query_variant="", query_quality=100, entry_variant="rot+1.5", entry_quality=low
    )
    # an imported list without qualities: the query's quality decides
    assert admits(
        distance=10, threshold=31, query_variant="flip_y", query_quality=100, entry_variant="", entry_quality=None
    )
    # flat hashes (detail below DETAILED) match through variants only closer still
    assert not admits(
        distance=FLAT_MAX_DISTANCE + 1,
        threshold=31,
        query_variant="rot+1",
        query_quality=DETAILED - 1,
        entry_variant="",
        entry_quality=100,
    )
    assert admits(
        distance=FLAT_MAX_DISTANCE,
        threshold=31,
        query_variant="rot+1",
        query_quality=DETAILED - 1,
        entry_variant="",
        entry_quality=100,
    )
    # a bank threshold below the variant distance is never widened
    assert not admits(
        distance=20, threshold=18, query_variant="flip_y", query_quality=100, entry_variant="", entry_quality=100
    )


def _icon(shape: str, colour: tuple[int, int, int], size: int = 256) -> Image.Image:
    im = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(im)
    box = [size * 0.2, size * 0.2, size * 0.8, size * 0.8]
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rounded_rectangle(box, radius=size // 10, fill=colour)
    else:
        d.polygon([(size * 0.5, size * 0.15), (size * 0.85, size * 0.8), (size * 0.15, size * 0.8)], fill=colour)
    return im


def test_EUI1_flat_icons_do_not_match_each_other_through_variants() -> None:
    """Flat graphics have low PDQ quality: whatever their distance, no variant hit between two
    different icons is admitted."""
    # (one colour each: the same shape in another colour is the same picture to a luminance hash)
    icons = [
        _icon(s, c) for s, c in (("circle", (200, 30, 30)), ("square", (20, 20, 20)), ("triangle", (30, 120, 200)))
    ]
    for i, a in enumerate(icons):
        bank = bank_variants(a)
        for j, b in enumerate(icons):
            if i == j:
                continue
            for q in query_variants(b):
                for e in bank:
                    d = hamming(q.pdq, e.pdq)
                    qv = "" if q.name == "original" else q.name
                    ev = "" if e.name == "original" else e.name
                    if admits(
                        distance=d,
                        threshold=31,
                        query_variant=qv,
                        query_quality=q.quality,
                        entry_variant=ev,
                        entry_quality=e.quality,
                    ):
                        assert not qv and not ev, (i, j, q.name, e.name, d)


def test_EUI1_flat_graphics_have_low_detail_though_pdq_quality_is_high() -> None:
    icon = luma_from_rgb(_icon("circle", (200, 30, 30)))
    assert pdq_from_luma(icon).quality == 100  # PDQ's quality does not see flatness
    assert pdq_detail(icon).quality < DETAILED
