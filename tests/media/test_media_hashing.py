"""Signals: MD5/SHA-256, PDQ equal to pdqhash on the same pixels, quality flag, fast-path drift."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pdqhash
import pytest
from PIL import Image

from staydown.media.decode import decode_image
from staydown.media.hashing import (
    DIHEDRAL_NAMES,
    PDQ_MIN_ACTIONABLE_QUALITY,
    compute_signals,
    hamming,
    luma_from_rgb,
    pdq_dihedral,
    pdq_from_image,
    pdq_from_luma,
)


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _pdqhash_hex(img: Image.Image) -> tuple[str, int]:
    vector, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(img.convert("RGB"))))
    bits = "".join(str(int(b)) for b in vector)
    return f"{int(bits, 2):064x}", int(quality)


def test_md5_and_sha256_are_of_the_bytes(photo):
    data = encode(photo, "PNG")
    signals = compute_signals(data)
    assert signals.md5 == hashlib.md5(data).hexdigest()
    assert signals.sha256 == hashlib.sha256(data).hexdigest()
    assert (signals.width, signals.height, signals.format) == (512, 384, "PNG")


def test_pdq_equals_pdqhash_on_the_decoded_pixels(photo):
    data = encode(photo, "WEBP", quality=80)
    signals = compute_signals(data)
    expected = _pdqhash_hex(decode_image(data).image)
    assert (signals.pdq, signals.pdq_quality) == expected
    assert not signals.fast_path


def test_numpy_pdq_equals_pdqhash_bit_for_bit(corpus):
    for seed in range(6):
        img = corpus.synthetic_image(seed, (300 + 37 * seed, 200 + 23 * seed))
        ours = pdq_from_luma(luma_from_rgb(img))
        assert (ours.pdq, ours.quality) == _pdqhash_hex(img)
        assert pdq_from_image(img).pdq == ours.pdq


def test_dihedral_hashes_equal_pdqhash(photo):
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(photo)))
    ours, q = pdq_dihedral(luma_from_rgb(photo))
    assert q == quality
    for name, vector in zip(DIHEDRAL_NAMES, vectors, strict=True):
        assert ours[name] == f"{int(''.join(str(int(b)) for b in vector), 2):064x}", name
    # and they come close to the hashes of the transformed images themselves (not exactly: PDQ's box
    # filter with an even window is off-centre by half a pixel, so mirroring shifts the samples)
    mirrored = pdq_from_image(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)).pdq
    assert hamming(ours["flip_y"], mirrored) <= 24


def test_low_quality_hash_is_flagged_not_actionable():
    flat = Image.new("RGB", (256, 256), (120, 130, 140))
    signals = compute_signals(encode(flat, "PNG"))
    assert signals.pdq_quality < PDQ_MIN_ACTIONABLE_QUALITY
    assert not signals.pdq_actionable


def test_textured_hash_is_actionable(photo):
    assert compute_signals(encode(photo, "PNG")).pdq_actionable


def test_tiny_image_has_zero_quality():
    signals = compute_signals(encode(Image.new("RGB", (3, 3), (9, 9, 9)), "PNG"))
    assert signals.pdq_quality == 0


def test_animated_gif_hashes_sampled_frames(photo, other_photo):
    frames = [photo.resize((128, 96)), other_photo.resize((128, 96))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    signals = compute_signals(data)
    assert signals.frame_count == 2
    assert [f.index for f in signals.frames] == [1]
    assert hamming(signals.pdq, signals.frames[0].pdq) > 31


@pytest.fixture(scope="module")
def drift_corpus(corpus):
    """1024x768 JPEGs (every bundled photo if scikit-image is installed, plus synthetic ones) and a
    few larger sizes, at several JPEG qualities."""
    images = [img for _, img in corpus.distinct_images(30, (1024, 768))]
    images += [corpus.fit(img, (2048, 1536)) for img in images[:3]]
    images += [corpus.fit(img, (1500, 1000)) for img in images[3:6]]
    return [corpus.jpeg_bytes(img, q) for img, q in zip(images, [75, 85, 92] * 20, strict=False)]


def test_fast_path_stays_within_8_bits_of_full_resolution(drift_corpus):
    drifts = []
    for data in drift_corpus:
        fast = compute_signals(data)
        full = compute_signals(data, fast=False)
        assert fast.fast_path and not full.fast_path
        assert (fast.width, fast.height) == (full.width, full.height)
        drifts.append(hamming(fast.pdq, full.pdq))
    assert max(drifts) <= 8, drifts


def test_fast_path_honours_exif_orientation(photo, corpus):
    img = corpus.fit(photo, (1024, 768))
    exif = Image.Exif()
    exif[0x0112] = 8
    data = corpus.jpeg_bytes(img, 90, exif=exif.tobytes())
    fast, full = compute_signals(data), compute_signals(data, fast=False)
    assert fast.fast_path and (fast.width, fast.height) == (768, 1024)
    assert hamming(fast.pdq, full.pdq) <= 8


def test_small_jpegs_use_the_reference_path(photo):
    signals = compute_signals(encode(photo, "JPEG", quality=90))
    assert not signals.fast_path
