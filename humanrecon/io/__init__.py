"""File I/O shared by every stage: atomic writes, provenance, image reading (HDF5 schemas come here too)."""

from humanrecon.io.atomic import atomic_output, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_output", "atomic_write_bytes", "atomic_write_text"]
