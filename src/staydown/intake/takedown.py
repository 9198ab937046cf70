"""TAKE IT DOWN requests: the elements a valid request holds (TID-1), and which of them one lacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from staydown.i18n import N_

# Marked for translation: the public pages and the receipt show them in the requester's language.
TAKE_IT_DOWN_ELEMENTS = {
    "signature": N_(
        "a physical or electronic signature of the person depicted, or of someone authorised to act for them"
    ),
    "items": N_("enough to identify and locate each image (the content id or its URL)"),
    "good_faith_statement": N_("a statement that you believe in good faith the image is not consensual"),
    "explanation": N_("the facts that support that statement"),
    "contact": N_("contact information (an e-mail address) so we can tell you what we did"),
}


def missing_takedown_elements(
    *,
    signature: str | None,
    items: Sequence[Any],
    good_faith: bool,
    explanation: str,
    contact_email: str | None,
    hashed_pictures: int = 0,
) -> list[str]:
    """TID-1: what a valid TAKE IT DOWN request holds, and which of it this one lacks. Pictures
    fingerprinted on the requester's device identify the images as well as an address does: the
    hashes find every stored copy (intake.hash_submissions)."""
    missing = []
    if not (signature or "").strip():
        missing.append("signature")
    if not items and not hashed_pictures:
        missing.append("items")
    if not good_faith:
        missing.append("good_faith_statement")
    if len((explanation or "").strip()) < 10:
        missing.append("explanation")
    if not contact_email:
        missing.append("contact")
    return missing
