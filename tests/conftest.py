"""Shared fixtures: seeded models, the shared corpora, and running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lstmzip.model import MODELS_DIR, Model, random_model

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
CORPORA = REPO.parent / "shared" / "corpora"
DEFAULT_MODEL = MODELS_DIR / "default.npz"

needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"shared corpora not found at {CORPORA}")
needs_default_model = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no shipped default model yet")


def corpus_file(*parts: str) -> Path:
    path = CORPORA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A small seeded (untrained) 2-layer model saved as a file."""
    path = tmp_path_factory.mktemp("models") / "tiny.npz"
    random_model(layers=2, hidden=32, seed=11, name="tiny").save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path) -> Model:
    return Model.load(tiny_model_path)


@pytest.fixture(scope="session")
def golden_model() -> Model:
    return Model.load(DATA / "golden-model.npz")


def run_cli(*args, input: bytes | None = None, cwd=None, env_extra=None, check=False):
    """Run `python -m lstmzip ARGS` in a subprocess exactly as a user types it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-m", "lstmzip", *map(str, args)], input=input,
                          capture_output=True, cwd=cwd, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"lstmzip {' '.join(map(str, args))} failed: {proc.stderr.decode()}")
    return proc


def block_methods(blob: bytes) -> list:
    """Method names of a compressed file's blocks, e.g. ["lstm", "zstd"]."""
    import io

    from lstmzip import format as fmt
    from lstmzip.codec import Decompressor
    return [fmt.METHOD_NAMES[bh.method] for _, bh, _ in Decompressor().blocks(io.BytesIO(blob))
            if not isinstance(bh, fmt.End)]


def first_block_at(blob: bytes) -> int:
    """Where a compressed file's first block header starts (after its member header: versions
    1/2 and the compact ones differ in length)."""
    import io

    from lstmzip import format as fmt
    src = io.BytesIO(blob)
    fmt.read_header(src)
    return src.tell()
