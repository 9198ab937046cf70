"""Which PDQ hits count as matches: a plain hash within the bank's threshold; a variant (a turned,
mirrored, cropped, uncropped or cut-out hash, on either side) only within a stricter distance, and
stricter again or not at all for hashes with flat areas (EUI-1: error rates kept low).

Why: every variant is another draw at the threshold, and flat images (icons, logos, one-colour
art, clip art) have few independent bits: the independent check found flat clip art matching a
flat original through a rotation variant at 22-28 bits. PDQ's quality (0-100, a count of
gradients over its 64 x 64 samples) misses them (a sharp shape on white scores 100), so variants
carry a detail score instead: PDQ's quality lowered by the share of flat samples. Plain hash against plain hash
keeps the bank's own threshold (that is what partners' lists are made for); a low-quality plain
match is already held for a person, never blocked (decide_verdict).

Measured by bench/robustness.py (docs/bench-media.md, 2026-12-07): among 9,492 distinct images the
gate refused 3,098 variant hits between different images; 17 pairs of different images (12 icon, 4
drawing, 1 cut-out pairs) still met through a variant, and no photograph, text screenshot or meme did.
The detail score separates graphics from photographs only at its low end; a better separator is
still to be found.
"""

from __future__ import annotations

__all__ = ["DETAILED", "FLAT_MAX_DISTANCE", "VARIANT_MAX_DISTANCE", "VARIANT_MIN_QUALITY", "admits", "variant_radius"]

# A hit through a variant must be this close (the plain threshold is the bank's, 31 by default)...
VARIANT_MAX_DISTANCE = 25
# ...and closer still when either hash has flat areas (detail below DETAILED): clip art and
# interface chrome collided at 22-28 bits through turns.
FLAT_MAX_DISTANCE = 20
DETAILED = 80
# Below this detail (PDQ quality lowered by the share of flat samples, media.hashing.detail_of) a
# hash never matches through a variant. Where the bank entry's quality is unknown (imported
# lists), the query's alone decides.
VARIANT_MIN_QUALITY = 50


def variant_radius(threshold: int, quality: int | None = 100) -> int:
    limit = VARIANT_MAX_DISTANCE if quality is None or quality >= DETAILED else FLAT_MAX_DISTANCE
    return min(threshold, limit)


def admits(
    *,
    distance: int,
    threshold: int,
    query_variant: str,
    query_quality: int | None,
    entry_variant: str,
    entry_quality: int | None,
) -> bool:
    """Does a PDQ hit at `distance` count, under a bank threshold of `threshold`?"""
    if distance > threshold:
        return False
    if not query_variant and not entry_variant:
        return True
    known = [q for q in (query_quality, entry_quality) if q is not None]
    lowest = min(known) if known else None
    if lowest is not None and lowest < VARIANT_MIN_QUALITY:
        return False
    return distance <= variant_radius(threshold, lowest)
