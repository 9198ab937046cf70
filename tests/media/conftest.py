"""Fixtures for media tests: benign images generated on the fly, via bench/corpus.py."""

from __future__ import annotations

import importlib.util
import io
import pathlib

import pytest
from PIL import Image

_CORPUS_PATH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "corpus.py"


def _load_corpus():
    spec = importlib.util.spec_from_file_location("staydown_bench_corpus", _CORPUS_PATH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus():
    return _load_corpus()


@pytest.fixture(scope="session")
def photo(corpus) -> Image.Image:
    """A photo-like 512x384 RGB image."""
    return corpus.synthetic_image(7, (512, 384))


@pytest.fixture(scope="session")
def other_photo(corpus) -> Image.Image:
    return corpus.synthetic_image(8, (512, 384))


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()
