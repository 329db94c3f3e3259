"""HDF5 intermediates: every file kind's schema is declared here, in one place.

A :class:`FileSchema` lists a file kind's datasets (name, shape in dimension letters, dtype, units, frame,
meaning) and its schema version. :func:`write_h5` validates arrays against the schema and writes them
atomically with chunking, compression and provenance attributes; :func:`read_h5` checks kind and version
and fails with a message naming the file. ``humanrecon inspect FILE.h5`` prints :func:`describe_h5`.

Root attributes of every file: ``kind``, ``schema_version``, ``producer`` (package version),
``config_hash`` and ``version.<package>`` (see :mod:`humanrecon.provenance`), plus per-kind attributes.
Dimension letters follow :mod:`humanrecon.conventions`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humanrecon.io.atomic import atomic_output


class SchemaError(ValueError):
    """An HDF5 file (or arrays to be written) does not match its declared schema; names file and dataset."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a file kind.

    Attributes
    ----------
    name : str
    shape : tuple of str
        Dimension letters (``"N"``, ``"C"``, ``"H"``...) or fixed sizes as strings (``"3"``, ``"24"``).
    dtype : str
        numpy dtype name.
    units : str
    frame : str
        Coordinate frame (``world``, ``camera``, ``pixels``, ``model``) or ``-``.
    description : str
    compress : bool
        gzip-compress (images, masks); chunks follow the leading dimension.
    optional : bool
    """

    name: str
    shape: tuple[str, ...]
    dtype: str
    units: str = "-"
    frame: str = "-"
    description: str = ""
    compress: bool = False
    optional: bool = False


@dataclass(frozen=True)
class FileSchema:
    """A file kind: its version and datasets."""

    kind: str
    version: int
    description: str
    datasets: tuple[DatasetSpec, ...]
    attrs: dict[str, str] = field(default_factory=dict)

    def spec(self, name: str) -> DatasetSpec:
        for d in self.datasets:
            if d.name == name:
                return d
        raise KeyError(name)


def _bind(schema: FileSchema, arrays: dict[str, np.ndarray], where: str) -> dict[str, int]:
    """Check shapes/dtypes and bind dimension letters to sizes; raise SchemaError naming the dataset."""
    dims: dict[str, int] = {}
    names = {d.name for d in schema.datasets}
    extra = set(arrays) - names
    if extra:
        raise SchemaError(f"{where}: datasets {sorted(extra)} are not in the {schema.kind} schema")
    for d in schema.datasets:
        if d.name not in arrays:
            if d.optional:
                continue
            raise SchemaError(f"{where}: missing dataset {d.name!r} ({schema.kind} v{schema.version})")
        a = arrays[d.name]
        if a.ndim != len(d.shape):
            raise SchemaError(f"{where}: {d.name} has shape {a.shape}, expected ({', '.join(d.shape)})")
        for letter, size in zip(d.shape, a.shape, strict=True):
            if letter.isdigit():
                if int(letter) != size:
                    raise SchemaError(f"{where}: {d.name} has shape {a.shape}, expected ({', '.join(d.shape)})")
            elif dims.setdefault(letter, size) != size:
                raise SchemaError(
                    f"{where}: {d.name} has {letter}={size} but another dataset has {letter}={dims[letter]}"
                )
        if d.dtype == "str":
            if a.dtype.kind not in "SUO":
                raise SchemaError(f"{where}: {d.name} has dtype {a.dtype}, expected strings")
        elif np.dtype(a.dtype) != np.dtype(d.dtype):
            raise SchemaError(f"{where}: {d.name} has dtype {a.dtype}, expected {d.dtype}")
    return dims


def _write_root_attrs(f, schema: FileSchema, attrs: dict | None, provenance_record: dict | None) -> None:
    """Kind, schema version, provenance and per-kind attributes on a new file's root."""
    f.attrs["kind"] = schema.kind
    f.attrs["schema_version"] = schema.version
    for k, v in (provenance_record or {}).items():
        f.attrs[k] = v
    for k, v in (attrs or {}).items():
        f.attrs[k] = v


def write_h5(
    path: str | os.PathLike,
    schema: FileSchema,
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any] | None = None,
    provenance_record: dict[str, str] | None = None,
) -> None:
    """Validate ``arrays`` against ``schema`` and write them to ``path`` atomically.

    Parameters
    ----------
    arrays : dict name -> array
        String datasets (``dtype="str"``) are stored as UTF-8 variable-length strings.
    attrs : dict, optional
        Extra root attributes (JSON-like scalars/strings/arrays).
    provenance_record : dict, optional
        From :func:`humanrecon.provenance.provenance`; stored as root attributes.
    """
    import h5py

    arrays = {k: (np.asarray(v) if not isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
    _bind(schema, arrays, str(path))
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            _write_root_attrs(f, schema, attrs, provenance_record)
            for d in schema.datasets:
                if d.name not in arrays:
                    continue
                a = arrays[d.name]
                if d.dtype == "str":
                    ds = f.create_dataset(d.name, data=a.astype(object), dtype=h5py.string_dtype("utf-8"), track_times=False)
                else:
                    kw = {}
                    if d.compress and a.size:
                        chunk = (1, *a.shape[1:]) if a.ndim > 1 else None
                        kw = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "chunks": chunk}
                    ds = f.create_dataset(d.name, data=a, track_times=False, **kw)
                ds.attrs["dims"] = " ".join(d.shape)
                ds.attrs["units"] = d.units
                ds.attrs["frame"] = d.frame


@contextlib.contextmanager
def h5_writer(
    path: str | os.PathLike,
    schema: FileSchema,
    shapes: dict[str, tuple[int, ...]],
    attrs: dict[str, Any] | None = None,
    provenance_record: dict[str, str] | None = None,
):
    """Create a file of kind ``schema`` with empty datasets of ``shapes`` and yield it for filling.

    For outputs too large to hold in memory (occupancy grids): fill ``f[name][i] = ...`` frame by frame.
    The file appears at ``path`` only when the block completes (atomic).
    """
    import h5py

    class _Shape:
        def __init__(self, shape, dtype):
            self.shape, self.ndim, self.dtype = tuple(shape), len(shape), np.dtype(dtype)

    specs = {d.name: d for d in schema.datasets}
    unknown = set(shapes) - set(specs)
    if unknown:
        raise SchemaError(f"{path}: datasets {sorted(unknown)} are not in the {schema.kind} schema")
    _bind(schema, {k: _Shape(v, specs[k].dtype if specs[k].dtype != "str" else "O") for k, v in shapes.items()}, str(path))
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            _write_root_attrs(f, schema, attrs, provenance_record)
            for name, shape in shapes.items():
                d = specs[name]
                if d.dtype == "str":
                    ds = f.create_dataset(name, shape=shape, dtype=h5py.string_dtype("utf-8"), track_times=False)
                else:
                    kw = {}
                    if d.compress and len(shape) > 1 and all(shape):
                        kw = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "chunks": (1, *shape[1:])}
                    ds = f.create_dataset(name, shape=shape, dtype=d.dtype, track_times=False, **kw)
                ds.attrs["dims"] = " ".join(d.shape)
                ds.attrs["units"] = d.units
                ds.attrs["frame"] = d.frame
            yield f


def read_h5(path: str | os.PathLike, schema: FileSchema, names: list[str] | None = None) -> tuple[dict, dict]:
    """Read (and validate) a file of kind ``schema``.

    Returns
    -------
    arrays : dict name -> array (strings decoded to ``str``)
    attrs : dict of root attributes
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SchemaError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        kind = f.attrs.get("kind")
        version = f.attrs.get("schema_version")
        if kind != schema.kind:
            raise SchemaError(f"{path}: file kind is {kind!r}, expected {schema.kind!r}")
        if version != schema.version:
            raise SchemaError(
                f"{path}: {schema.kind} schema version {version}, this humanrecon reads version {schema.version}; "
                "rerun the stage that produced it"
            )
        arrays = {}
        for d in schema.datasets:
            if names is not None and d.name not in names:
                continue
            if d.name not in f:
                if d.optional:
                    continue
                raise SchemaError(f"{path}: missing dataset {d.name!r}")
            a = f[d.name][()]
            if d.dtype == "str":
                a = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(a)])
            arrays[d.name] = a
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    if names is None:
        _bind(schema, arrays, str(path))
    return arrays, attrs


def describe_h5(path: str | os.PathLike) -> str:
    """Readable summary of any HDF5 file: root attributes and each dataset's shape, dtype, units, frame."""
    import h5py

    lines = [str(path)]
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            lines.append(f"  @{k} = {v.decode() if isinstance(v, bytes) else v}")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                dims = obj.attrs.get("dims", "")
                units = obj.attrs.get("units", "")
                frame = obj.attrs.get("frame", "")
                comp = f" {obj.compression}" if obj.compression else ""
                lines.append(f"  {name:24s} {str(obj.shape):22s} {str(obj.dtype):10s} [{dims}] {units} {frame}{comp}")

        f.visititems(visit)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# File kinds
# ----------------------------------------------------------------------------------------------------

#: Datasets every synthetic-sample shard kind has: B samples, C views each, cameras and SMPL parameters.
_SAMPLE_VIEWS = (
        DatasetSpec("rgb", ("B", "C", "H", "W", "3"), "uint8", "sRGB", "pixels", "rendered images", compress=True),
        DatasetSpec("mask", ("B", "C", "H", "W"), "uint8", "{0,1}", "pixels", "person silhouette", compress=True),
        DatasetSpec("parts", ("B", "C", "H", "W"), "uint8", "part id", "pixels", "12-part map, 0 background", compress=True),
        DatasetSpec("K", ("B", "C", "3", "3"), "float64", "pixels", "camera", "intrinsics"),
        DatasetSpec("dist", ("B", "C", "5"), "float64", "-", "camera", "OpenCV k1 k2 p1 p2 k3"),
        DatasetSpec("R", ("B", "C", "3", "3"), "float64", "-", "world->camera", "rotation"),
        DatasetSpec("t", ("B", "C", "3"), "float64", "m", "world->camera", "translation"),
        DatasetSpec("betas", ("B", "10"), "float64", "-", "model", "SMPL shape"),
        DatasetSpec("body_pose", ("B", "69"), "float64", "rad", "model", "axis-angle, joints 1..23"),
        DatasetSpec("global_orient", ("B", "3"), "float64", "rad", "world", "axis-angle root orientation"),
        DatasetSpec("transl", ("B", "3"), "float64", "m", "world", "SMPL translation"),
)

#: Training shard of the synthetic studio: B samples (one body, C views each).
TRAINING_SHARD = FileSchema(
    kind="training_shard",
    version=1,
    description="Synthetic multi-view samples with full ground truth for the learned stages.",
    datasets=(
        *_SAMPLE_VIEWS,
        DatasetSpec("joints", ("B", "24", "3"), "float64", "m", "world", "SMPL joints"),
        DatasetSpec("joints2d", ("B", "C", "24", "2"), "float64", "pixels", "pixels", "projected joints (distorted)"),
        DatasetSpec("subject", ("B",), "int64", "-", "-", "subject index within the shard"),
    ),
)

#: ``data/training/<implicit set>/shard_*.h5``: samples for the implicit reconstruction: the views of
#: :data:`TRAINING_SHARD` plus query points around the clothed surface and their GT inside/outside labels.
IMPLICIT_SHARD = FileSchema(
    kind="implicit_shard",
    version=1,
    description="Synthetic multi-view samples with occupancy-labelled query points (implicit reconstruction).",
    datasets=(
        *_SAMPLE_VIEWS,
        DatasetSpec("points", ("B", "N", "3"), "float32", "m", "world", "query points: near the clothed surface and uniform"),
        DatasetSpec("inside", ("B", "N"), "uint8", "{0,1}", "-", "GT occupancy (winding number of the clothed mesh > 0.5)"),
        DatasetSpec("near_surface", ("B", "N"), "uint8", "{0,1}", "-", "1: drawn near the surface, 0: uniform in the box"),
    ),
)

#: ``results/<session>/calibration.h5``: the validated calibration of a session's cameras (session order).
CALIBRATION = FileSchema(
    kind="calibration",
    version=1,
    description="Validated camera calibration, OpenCV model, world->camera.",
    datasets=(
        DatasetSpec("camera_names", ("C",), "str", "-", "-", "camera names, session order"),
        DatasetSpec("K", ("C", "3", "3"), "float64", "pixels", "camera", "intrinsics"),
        DatasetSpec("dist", ("C", "5"), "float64", "-", "camera", "OpenCV k1 k2 p1 p2 k3"),
        DatasetSpec("R", ("C", "3", "3"), "float64", "-", "world->camera", "rotation, det +1"),
        DatasetSpec("t", ("C", "3"), "float64", "m", "world->camera", "translation"),
        DatasetSpec("image_size", ("C", "2"), "int64", "pixels", "-", "width, height"),
        DatasetSpec("centers", ("C", "3"), "float64", "m", "world", "camera centres -R^T t"),
    ),
)

#: ``results/<session>/segmentation/<chunk>.h5``: per-camera, per-frame silhouettes (and, from the
#: learned segmenter, 12-part maps and 2D joints).
SEGMENTATION = FileSchema(
    kind="segmentation",
    version=2,
    description=(
        "Silhouettes per frame and camera (0 background, 1 person); with the learned segmenter (attrs "
        "source network|both, model, model_sha256) also 12-part maps and 2D joints. v2: parts and joints2d "
        "written by the segmenter, joints2d confidence in [0, 1]."
    ),
    datasets=(
        DatasetSpec("frames", ("F",), "int64", "-", "-", "frame numbers of this chunk"),
        DatasetSpec("camera_names", ("C",), "str", "-", "-", "camera names, session order"),
        DatasetSpec("masks", ("F", "C", "H", "W"), "uint8", "{0,1}", "pixels", "silhouettes", compress=True),
        DatasetSpec("parts", ("F", "C", "H", "W"), "uint8", "part id", "pixels", "12-part maps (0 background, ids of skeleton.PART_NAMES + 1)", compress=True, optional=True),
        DatasetSpec("joints2d", ("F", "C", "24", "3"), "float32", "pixels", "pixels", "SMPL joints u, v (distorted image) and confidence in [0, 1]", optional=True),
    ),
)

#: ``results/<session>/occupancy/<chunk>.h5``: occupancy grids (quantised to uint8) per frame.
OCCUPANCY = FileSchema(
    kind="occupancy",
    version=1,
    description="Occupancy probability grids occ[i,j,k] (x,y,z), value/255, voxel centres origin + index*voxel_size.",
    datasets=(
        DatasetSpec("frames", ("F",), "int64", "-", "-", "frame numbers of this chunk"),
        DatasetSpec("occupancy", ("F", "R", "R", "R"), "uint8", "1/255", "grid", "occupancy x 255", compress=True),
        DatasetSpec("origin", ("F", "3"), "float64", "m", "world", "centre of voxel (0,0,0)"),
        DatasetSpec("voxel_size", ("F",), "float64", "m", "-", "edge length of a voxel"),
        DatasetSpec("num_queries", ("F",), "int64", "-", "-", "occupancy evaluations (octree)"),
        DatasetSpec("views_used", ("F", "C"), "uint8", "{0,1}", "-",
                    "cameras that took part (0: empty silhouette, left out)", optional=True),
    ),
)

#: ``results/<session>/smpl/<chunk>.h5``: SMPL bodies per frame: refined fit, the fused regression it
#: started from, and every view's own regression.
SMPL = FileSchema(
    kind="smpl",
    version=1,
    description=(
        "SMPL-format bodies per frame in the calibration's world frame (smplx API: the posed root joint is "
        "J_0(betas) + transl). Refined fit (betas ... vertices), the multi-view fusion of the per-view regressions "
        "it started from (fused_*), and each view's own regression (view_*, NaN where the view has no person). "
        "Attributes: session, regressor, regressor_sha256, refined (0/1), body_model."
    ),
    datasets=(
        DatasetSpec("frames", ("F",), "int64", "-", "-", "frame numbers of this chunk"),
        DatasetSpec("camera_names", ("C",), "str", "-", "-", "camera names, session order"),
        DatasetSpec("betas", ("F", "10"), "float64", "-", "model", "shape (shared by the chunk)"),
        DatasetSpec("body_pose", ("F", "69"), "float64", "rad", "model", "axis-angle, joints 1..23"),
        DatasetSpec("global_orient", ("F", "3"), "float64", "rad", "world", "axis-angle root orientation"),
        DatasetSpec("transl", ("F", "3"), "float64", "m", "world", "SMPL translation"),
        DatasetSpec("joints", ("F", "24", "3"), "float64", "m", "world", "SMPL joints of the final body"),
        DatasetSpec("vertices", ("F", "V", "3"), "float32", "m", "world", "skin vertices of the final body", compress=True, optional=True),
        DatasetSpec("reproj_px", ("F",), "float64", "pixels", "pixels", "mean 2D joint reprojection error of the final body"),
        DatasetSpec("views_used", ("F", "C"), "uint8", "{0,1}", "-", "views that saw the person"),
        DatasetSpec("fused_betas", ("F", "10"), "float64", "-", "model", "fusion: median betas"),
        DatasetSpec("fused_body_pose", ("F", "69"), "float64", "rad", "model", "fusion: robust chordal mean per joint"),
        DatasetSpec("fused_global_orient", ("F", "3"), "float64", "rad", "world", "fusion: robust chordal mean of the views' world roots"),
        DatasetSpec("fused_transl", ("F", "3"), "float64", "m", "world", "fusion: from the triangulated root joint"),
        DatasetSpec("fused_joints", ("F", "24", "3"), "float64", "m", "world", "joints of the fused body"),
        DatasetSpec("fused_inliers", ("F", "C"), "uint8", "{0,1}", "-", "views the root-orientation mean kept"),
        DatasetSpec("view_betas", ("F", "C", "10"), "float64", "-", "model", "per-view regression: betas"),
        DatasetSpec("view_body_pose", ("F", "C", "69"), "float64", "rad", "model", "per-view regression: body pose"),
        DatasetSpec("view_global_orient", ("F", "C", "3"), "float64", "rad", "world", "per-view regression: root orientation (world)"),
        DatasetSpec("view_pelvis", ("F", "C", "3"), "float64", "m", "world", "per-view regression: root joint (ray x predicted depth)"),
        DatasetSpec("lr_swapped", ("F", "C", "9"), "uint8", "{0,1}", "-",
                    "left/right pairs (bodyfit.LR_JOINTS order) whose 2D labels the stage swapped in each view", optional=True),
        DatasetSpec("mirrored_limbs", ("F", "2"), "uint8", "{0,1}", "-",
                    "legs / arms whose labels the refinement mirrored (bodyfit.fit_limb_hypotheses)", optional=True),
    ),
)

#: ``releases/<name>/shards/<session>/<chunk>.h5``: one chunk of one session in a curated dataset release
#: (:mod:`humanrecon.curation`; the release's ``manifest.json`` lists every shard with its SHA-256).
DATASET_RELEASE = FileSchema(
    kind="dataset_release",
    version=1,
    description=(
        "A chunk of a processed session for a dataset release: images (or person crops), silhouettes, ground truth "
        "when the session has it, SMPL parameters and the reconstructed mesh of every frame (ragged: frame i's "
        "vertices are mesh_vertices[mesh_vertex_offsets[i]:mesh_vertex_offsets[i+1]], its faces likewise, with "
        "indices into that frame's own vertices). Attributes: session, chunk, release, images (full | crop), "
        "smpl_source (gt | none)."
    ),
    datasets=(
        DatasetSpec("frames", ("F",), "int64", "-", "-", "frame numbers of this chunk"),
        DatasetSpec("camera_names", ("C",), "str", "-", "-", "camera names, session order"),
        DatasetSpec("K", ("C", "3", "3"), "float64", "pixels", "camera", "intrinsics of the full images"),
        DatasetSpec("dist", ("C", "5"), "float64", "-", "camera", "OpenCV k1 k2 p1 p2 k3"),
        DatasetSpec("R", ("C", "3", "3"), "float64", "-", "world->camera", "rotation"),
        DatasetSpec("t", ("C", "3"), "float64", "m", "world->camera", "translation"),
        DatasetSpec("image_size", ("C", "2"), "int64", "pixels", "-", "width, height of the full images"),
        DatasetSpec("images", ("F", "C", "H", "W", "3"), "uint8", "sRGB", "pixels", "input images, or person crops", compress=True),
        DatasetSpec("masks", ("F", "C", "H", "W"), "uint8", "{0,1}", "pixels", "silhouettes of the segmentation stage", compress=True),
        DatasetSpec("gt_masks", ("F", "C", "H", "W"), "uint8", "{0,1}", "pixels", "ground-truth silhouettes", compress=True, optional=True),
        DatasetSpec("parts", ("F", "C", "H", "W"), "uint8", "part id", "pixels", "ground-truth 12-part maps, 0 background", compress=True, optional=True),
        DatasetSpec("crop_boxes", ("F", "C", "4"), "int64", "pixels", "pixels", "crops: x0, y0, x1, y1: the crop is full-image pixels [x0, x1) x [y0, y1) (zero outside), resized", optional=True),
        DatasetSpec("crop_K", ("F", "C", "3", "3"), "float64", "pixels", "camera", "crops: intrinsics of each crop (same dist, R, t)", optional=True),
        DatasetSpec("betas", ("F", "10"), "float64", "-", "model", "SMPL shape (smpl_source)", optional=True),
        DatasetSpec("body_pose", ("F", "69"), "float64", "rad", "model", "axis-angle, joints 1..23", optional=True),
        DatasetSpec("global_orient", ("F", "3"), "float64", "rad", "world", "axis-angle root orientation", optional=True),
        DatasetSpec("transl", ("F", "3"), "float64", "m", "world", "SMPL translation", optional=True),
        DatasetSpec("joints", ("F", "24", "3"), "float64", "m", "world", "SMPL joints", optional=True),
        DatasetSpec("joints2d", ("F", "C", "24", "2"), "float64", "pixels", "pixels", "projected joints (distorted, full images)", optional=True),
        DatasetSpec("mesh_vertices", ("V", "3"), "float32", "m", "world", "reconstructed mesh vertices, all frames"),
        DatasetSpec("mesh_faces", ("T", "3"), "int32", "-", "-", "triangles, indices into the frame's own vertices"),
        DatasetSpec("mesh_vertex_offsets", ("F+1",), "int64", "-", "-", "frame i: vertices [o[i], o[i+1])"),
        DatasetSpec("mesh_face_offsets", ("F+1",), "int64", "-", "-", "frame i: faces [o[i], o[i+1])"),
    ),
)

SCHEMAS = {s.kind: s for s in (TRAINING_SHARD, IMPLICIT_SHARD, CALIBRATION, SEGMENTATION, SMPL, OCCUPANCY, DATASET_RELEASE)}


def schemas_markdown() -> str:
    """Markdown reference of every file kind (``docs/hdf5-schemas.md`` is this text; a test keeps it so)."""
    out = [
        "# HDF5 intermediates",
        "",
        "Generated from `humanrecon/io/hdf5.py` by `humanrecon schemas > docs/hdf5-schemas.md`; do not edit by hand.",
        "",
        "Every file carries root attributes `kind`, `schema_version`, `producer`, `config_hash` and",
        "`version.<package>`, plus the per-kind attributes below. Each dataset has attributes `dims`,",
        "`units` and `frame`. Readers check kind and version and name the file when they differ.",
        "Dimension letters: see `humanrecon/conventions.py` (B batch, F frames, C cameras, H x W pixels,",
        "R grid samples per axis).",
        "",
    ]
    for s in SCHEMAS.values():
        out += [f"## `{s.kind}` (version {s.version})", "", s.description, "", "| dataset | shape | dtype | units | frame | meaning |", "|---|---|---|---|---|---|"]
        for d in s.datasets:
            opt = " (optional)" if d.optional else ""
            comp = ", gzip" if d.compress else ""
            out.append(f"| `{d.name}`{opt} | ({', '.join(d.shape)}) | {d.dtype}{comp} | {d.units} | {d.frame} | {d.description} |")
        out.append("")
    return "\n".join(out)
