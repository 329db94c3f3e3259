"""Deterministic ``.npz`` files: numpy's ``savez`` stamps each zip entry with the current time, which
breaks the byte-identical-output promise; this writer uses a fixed timestamp and sorted keys."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from humanrecon.io.atomic import atomic_output

_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` (readable by ``np.load``), atomically, byte-stable."""
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for key in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())
