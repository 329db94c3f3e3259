"""Frames of a session in chunks: the unit of work of every per-frame rule.

A 10 000-frame session with ``chunk_size: 25`` is 400 chunks, so each per-frame stage is 400 jobs,
each batching its 25 frames. Chunk names are ``c00000``, ``c00001``... in frame order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive frames (in session order).

    Attributes
    ----------
    name : str
        ``c`` + 5-digit index.
    frames : tuple of int
    """

    name: str
    frames: tuple[int, ...]


def chunk_frames(frames: tuple[int, ...] | list[int], chunk_size: int) -> list[Chunk]:
    """Split ``frames`` into chunks of at most ``chunk_size`` frames."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    frames = tuple(int(f) for f in frames)
    return [Chunk(f"c{i // chunk_size:05d}", frames[i : i + chunk_size]) for i in range(0, len(frames), chunk_size)]


def session_frames(session_path: str | os.PathLike, synth_settings: dict | None = None) -> tuple[int, ...]:
    """Frames of a session, read from its session.yaml.

    A session the workflow itself generates (``synth_settings`` given) may not exist yet when the DAG is
    built; its frames are then ``range(num_frames)``, as the studio writes them.
    """
    path = Path(session_path)
    if synth_settings is not None and not (path / "session.yaml").exists():
        return tuple(range(int(synth_settings["num_frames"])))
    from humanrecon.session import load_session

    return load_session(path).frames


def chunk_of(chunks: list[Chunk], name: str) -> Chunk:
    """The chunk called ``name`` (KeyError listing the first names otherwise)."""
    for c in chunks:
        if c.name == name:
            return c
    raise KeyError(f"no chunk {name!r}; chunks are {[c.name for c in chunks[:5]]}...")
