"""Typed errors for media that cannot be decoded or hashed; the API answers each with 422."""

from __future__ import annotations


class MediaError(Exception):
    """Base class: `code` is a stable machine-readable string, `message` a sentence for people."""

    code: str = "media_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Scans hash in worker processes (media.hashpool): the error crosses a pipe with its code.
        return _rebuild, (type(self), self.message, self.code)


def _rebuild(cls: type[MediaError], message: str, code: str) -> MediaError:
    return cls(message, code=code)


class UnsupportedMedia(MediaError):
    """A format we do not decode (or one that needs an optional extra that is not installed)."""

    code = "unsupported_media"


class CorruptMedia(MediaError):
    """The bytes claim a supported format but cannot be decoded (codes: corrupt_media,
    truncated_media, empty_media)."""

    code = "corrupt_media"


class MediaTooLarge(MediaError):
    """Over a configured limit (codes: too_many_bytes, too_many_pixels, dimension_too_large,
    too_many_frames, too_many_total_pixels, too_long)."""

    code = "media_too_large"


class DecompressionBomb(MediaTooLarge):
    """A small file that declares far more pixels than allowed: refused before any pixel is allocated."""

    code = "decompression_bomb"


class DecodeTimeout(MediaError):
    """Decoding ran past `max_seconds` (checked between frames and stages; see decode.py)."""

    code = "decode_timeout"
