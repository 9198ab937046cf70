"""vPDQ signals (matching/vpdq.py): threatexchange's text form, the two-way match rule, the frame index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from staydown.errors import InvalidInput
from staydown.matching import vpdq
from staydown.matching.hamming import pdq_to_hex


def _random_hashes(rng: np.random.Generator, n: int) -> list[str]:
    return pdq_to_hex(rng.integers(0, 256, (n, 32), dtype=np.uint8))


def _flip(h: str, bits: int, rng: np.random.Generator) -> str:
    value = int(h, 16)
    for b in rng.choice(256, bits, replace=False):
        value ^= 1 << int(b)
    return f"{value:064x}"


def _features(hashes: list[str], *, step: float = 0.125, quality: int = 100) -> list[vpdq.Feature]:
    return [vpdq.Feature(h, quality, round(i * step, 3)) for i, h in enumerate(hashes)]


def test_threatexchange_list_form_round_trips() -> None:
    rng = np.random.default_rng(1)
    feats = _features(_random_hashes(rng, 5))
    text = vpdq.serialise(feats)
    assert " " not in text  # one field on a 'type signal' line
    assert json.loads(text)[1] == f"{feats[1].pdq},100,0.125"
    assert vpdq.parse(text) == feats
    assert vpdq.canonical(text) == text and vpdq.digest(text) == vpdq.digest(vpdq.canonical(text))


def test_threatexchange_own_strings_are_read() -> None:
    """threatexchange writes timestamps with three significant digits ('1.23e+02') and JSON with
    spaces; its older form is an object keyed by frame number. Both are read."""
    h = "f" * 64
    assert vpdq.parse(json.dumps([f"{h},90,0.0", f"{h.upper()},80,1.23e+02"])) == [
        vpdq.Feature(h, 90, 0.0),
        vpdq.Feature(h, 80, 123.0),
    ]
    old = json.dumps(
        {"0": {"hash": h, "quality": 100, "timestamp": 0.0}, "30": {"hash": h, "quality": 70, "timestamp": 1.0}}
    )
    assert [f.timestamp for f in vpdq.parse(old)] == [0.0, 1.0]


def test_threatexchange_parses_what_we_write() -> None:
    util = pytest.importorskip("threatexchange.extensions.vpdq.vpdq_util")
    rng = np.random.default_rng(2)
    feats = _features(_random_hashes(rng, 4), step=0.5)
    theirs = util.json_to_vpdq(vpdq.serialise(feats))
    assert [(f.pdq_hex, f.quality, f.timestamp) for f in theirs] == [(f.pdq, f.quality, f.timestamp) for f in feats]
    back = vpdq.parse(util.vpdq_to_json(theirs))
    assert [f.pdq for f in back] == [f.pdq for f in feats]


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "JSON list"),
        ("not json", "not: "),
        ("[]", "at least one frame"),
        ('["abc,100,0.0"]', "64 hexadecimal"),
        (json.dumps(["g" * 64 + ",100,0.0"]), "pdq_hex,quality,timestamp"),
        (json.dumps(["f" * 64 + ",101,0.0"]), "between 0 and 100"),
        (json.dumps(["f" * 64 + ",100,-1"]), "non-negative"),
        (json.dumps(["f" * 64 + ",100"]), "pdq_hex,quality,timestamp"),
        (json.dumps({"a": 1}), "hash, quality and timestamp"),
        ('"just a string"', "JSON list"),
    ],
)
def test_bad_vpdq_text_is_refused_saying_why(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        vpdq.parse(text)
    assert words in err.value.message


def test_too_many_frames_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        vpdq.parse(json.dumps([f"{'a' * 64},100,{i}" for i in range(vpdq.MAX_VPDQ_FRAMES + 1)]))
    assert "at most" in err.value.message


def test_usable_frames_drop_low_quality_and_repeats_and_thin_by_time() -> None:
    rng = np.random.default_rng(3)
    a, b, c = _random_hashes(rng, 3)
    feats = [
        vpdq.Feature(a, 100, 0.0),
        vpdq.Feature(a, 100, 0.125),
        vpdq.Feature(b, 10, 0.25),
        vpdq.Feature(c, 60, 0.5),
        vpdq.Feature(b, 90, 0.625),
    ]
    assert pdq_to_hex(vpdq.usable(feats)) == [a, c, b]
    assert pdq_to_hex(vpdq.usable(feats, spacing=0.5)) == [a, c]


def test_two_way_rule_excerpts_compilations_and_strangers() -> None:
    """The rule (threatexchange's query side, and its mirror image): an excerpt of a banked video
    matches on query%, a compilation containing one on compared%, an unrelated video on neither."""
    rng = np.random.default_rng(4)
    banked = _random_hashes(rng, 40)
    noisy = [_flip(h, 12, rng) for h in banked]  # a re-encode: every frame within the distance
    excerpt = vpdq.usable(_features(noisy[10:18]))
    compilation = vpdq.usable(_features(_random_hashes(rng, 100) + noisy + _random_hashes(rng, 60)))
    stranger = vpdq.usable(_features(_random_hashes(rng, 40)))
    bank = vpdq.usable(_features(banked))

    r = vpdq.two_way(excerpt, bank)
    assert r.query_percent == 100.0 and r.compared_percent == 20.0 and r.matches()
    r = vpdq.two_way(compilation, bank)
    assert r.query_percent == 20.0 and r.compared_percent == 100.0 and r.matches()
    assert not r.matches(compared_percent=101.0)  # threatexchange's rule alone misses it
    r = vpdq.two_way(stranger, bank)
    assert r.query_matched == 0 and not r.matches()
    # A bank's stricter frame distance applies.
    assert not vpdq.two_way(vpdq.usable(_features(noisy)), bank, threshold=8).matches()


def test_one_chance_frame_does_not_match_a_long_video() -> None:
    rng = np.random.default_rng(5)
    bank = _random_hashes(rng, 30)
    query = _random_hashes(rng, 30)
    query[7] = bank[3]
    r = vpdq.two_way(vpdq.usable(_features(query)), vpdq.usable(_features(bank)))
    assert r.query_matched == 1 and not r.matches()
    # ... but a one-frame video (a still shown for a second) matches like an image.
    r = vpdq.two_way(vpdq.usable(_features([bank[3]])), vpdq.usable(_features(bank)))
    assert r.query_percent == 100.0 and r.matches()


def test_video_index_candidates_remove_save_and_load(tmp_path) -> None:
    rng = np.random.default_rng(6)
    index = vpdq.VideoIndex()
    videos = {i: _random_hashes(rng, 20) for i in (11, 12, 13)}
    for row, hashes in videos.items():
        index.add(row, vpdq.usable(_features(hashes)))
    index.add(14, vpdq.usable(_features(_random_hashes(rng, 3), quality=10)))  # nothing usable: not indexed
    query = vpdq.usable(_features([_flip(h, 10, rng) for h in videos[12][:5]]))
    assert index.candidates(query, 31) == {12: 5}
    index.save(tmp_path / "v", checkpoint=7)
    loaded, checkpoint = vpdq.VideoIndex.load(tmp_path / "v")
    assert checkpoint == 7 and set(loaded.rows) == {11, 12, 13}
    assert np.array_equal(loaded.rows[12], index.rows[12])
    index.remove(np.array([12, 99]))
    assert index.candidates(query, 31) == {} and 12 not in index.rows
    assert loaded.candidates(query, 31) == {12: 5}
