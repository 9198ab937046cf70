"""Media: safe decoding, content signals (MD5, SHA-256, PDQ, vPDQ) and PDQ matching variants."""

from staydown.media.decode import DEFAULT_LIMITS, DecodedImage, DecodeLimits, MediaInfo, decode_image, probe
from staydown.media.errors import (
    CorruptMedia,
    DecodeTimeout,
    DecompressionBomb,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
)
from staydown.media.hashing import PDQ_MIN_ACTIONABLE_QUALITY, FramePdq, MediaSignals, compute_signals, hamming
from staydown.media.variants import PdqVariant, bank_variants, best_match, query_variants, scan

__all__ = [
    "DEFAULT_LIMITS",
    "PDQ_MIN_ACTIONABLE_QUALITY",
    "CorruptMedia",
    "DecodeLimits",
    "DecodeTimeout",
    "DecodedImage",
    "DecompressionBomb",
    "FramePdq",
    "MediaError",
    "MediaInfo",
    "MediaSignals",
    "MediaTooLarge",
    "PdqVariant",
    "UnsupportedMedia",
    "bank_variants",
    "best_match",
    "compute_signals",
    "decode_image",
    "hamming",
    "probe",
    "query_variants",
    "scan",
]
