"""Public codes: 100 random bits in Crockford base32, typed back in any reasonable way."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from staydown import codes


def test_codes_use_every_symbol_evenly_and_do_not_repeat() -> None:
    drawn = [codes.random_chars() for _ in range(2000)]
    assert len(set(drawn)) == len(drawn) and all(len(c) == 20 for c in drawn)
    counts = Counter("".join(drawn))
    assert set(counts) == set(codes.ALPHABET)
    # 40,000 symbols over 32: 1,250 each on average; a biased or stuck bit would show far outside.
    assert min(counts.values()) > 1050 and max(counts.values()) < 1450


@given(st.text(alphabet=codes.ALPHABET, min_size=20, max_size=20))
def test_a_code_typed_in_lower_case_with_spaces_or_look_alikes_is_found(chars: str) -> None:
    code = codes.grouped(chars, "S")
    assert codes.normalise(code, prefix="S") == code
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert codes.normalise(typed, prefix="S") == code
    assert codes.normalise(chars) == codes.grouped(chars)


def test_what_cannot_be_a_code_is_refused() -> None:
    assert codes.normalise("") is None
    assert codes.normalise("ABCDE-ABCDE-ABCDE") is None
    assert codes.normalise("UUUUU-UUUUU-UUUUU-UUUUU") is None  # U is not in the alphabet
