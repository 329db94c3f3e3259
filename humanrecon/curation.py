"""Dataset curation: processed sessions -> a versioned, checksummed dataset release.

A release is a folder (``releases/<name>/`` in the workflow)::

    <release>/manifest.json                    what is inside, SHA-256 of every file, provenance
    <release>/shards/<session>/<chunk>.h5      one HDF5 shard per session chunk (schema ``dataset_release``)

Each shard holds, per frame and camera, the input images (or square person crops), the silhouettes of the
segmentation stage, the ground-truth silhouettes and 12-part maps when the session has them, the session's
calibration, the SMPL parameters (ground truth when present) and the reconstructed mesh of every frame as
ragged vertex/face arrays with offsets (:data:`humanrecon.io.hdf5.DATASET_RELEASE`).

``manifest.json`` records the sessions (frames, cameras, the SHA-256 of ``session.yaml``, the DVC content
hash when the session is DVC-tracked, the config hashes of the stages that produced the inputs), the model
files used (SHA-256), the package versions and the git commit of the code. It holds no timestamps and no
absolute paths, and the shards are written with fixed HDF5 settings and no object timestamps, so the same
inputs give a bit-for-bit identical release. The folder is written atomically (temporary sibling, then
rename) and, in a DVC project, registered with ``dvc add`` (``dvc=True``).

:func:`verify_release` checks a release against its manifest and raises :class:`ReleaseError` naming every
missing, modified or unlisted file; it never writes. See ``docs/data-versioning.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from humanrecon.io.atomic import atomic_output, atomic_write_text
from humanrecon.io.hdf5 import CALIBRATION, DATASET_RELEASE, SEGMENTATION, h5_writer, read_h5
from humanrecon.io.images import read_image, read_label_map, read_mask
from humanrecon.provenance import config_hash, package_versions, provenance
from humanrecon.session import load_session

log = logging.getLogger(__name__)

#: ``format`` and ``format_version`` of ``manifest.json``.
RELEASE_FORMAT = "humanrecon-dataset-release"
RELEASE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Files inside a release folder that are not part of it (Snakemake's marker of ``directory()`` outputs;
#: also listed in the project's ``.dvcignore``).
IGNORED_FILES = frozenset({".snakemake_timestamp"})
#: Environment for every ``dvc`` call: no usage analytics (the project's .dvc/config also turns off
#: analytics and update checks).
DVC_ENV = {"DVC_NO_ANALYTICS": "1"}

_SMPL_KEYS = ("betas", "body_pose", "global_orient", "transl", "joints")


class ReleaseError(ValueError):
    """A release cannot be built, or an existing one does not match its manifest; names the file(s)."""


@dataclass(frozen=True)
class SessionSource:
    """One processed session that goes into a release.

    Attributes
    ----------
    name : str
        Session key (``results/<name>/``); shards go to ``shards/<name>/``.
    session : path
        Session folder (``session.yaml``).
    results : path
        The session's results folder (``calibration.h5``, ``segmentation/<chunk>.h5``, ``meshes/<chunk>.json``).
    chunks : tuple of str, optional
        Chunk names to include (the workflow passes its chunks); default every ``segmentation/c*.h5``.
    """

    name: str
    session: str | os.PathLike
    results: str | os.PathLike
    chunks: tuple[str, ...] | None = None


# --------------------------------------------------------------------------------------------------
# checksums, git, DVC
# --------------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _listed_files(folder: Path) -> list[str]:
    """Files of a release folder, relative POSIX paths, sorted; the manifest and ignored files left out."""
    out = []
    for p in folder.rglob("*"):
        if p.is_file() and p.name not in IGNORED_FILES:
            rel = p.relative_to(folder).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git work tree holding ``path`` (default: this code), or None.

    ``dirty`` is true when tracked files differ from the commit (untracked files are not counted).
    """
    root = Path(path) if path is not None else Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())}


def find_dvc_root(path: str | os.PathLike) -> Path | None:
    """The DVC project (folder holding ``.dvc/``) that contains ``path``, or None."""
    p = Path(path).absolute()
    for d in (p, *p.parents):
        if (d / ".dvc").is_dir():
            return d
    return None


def dvc_file_for(path: str | os.PathLike) -> Path | None:
    """The ``.dvc`` file that tracks ``path`` (itself or an enclosing folder), or None.

    ``dvc add data/sessions/x`` writes ``data/sessions/x.dvc``; a session inside a tracked folder is found
    through that folder's ``.dvc`` file. The search stops at the DVC project root. The returned path has the
    form of ``path`` (relative stays relative), so it can be a Snakemake input.
    """
    p = Path(path)
    for d in (p, *p.parents):
        if d.name in ("", "..") or (d / ".dvc").is_dir():
            break
        cand = d.with_name(d.name + ".dvc")
        if cand.is_file() and d.name in _dvc_out_paths(cand):
            return cand
    return None


def _dvc_out_paths(dvc_file: Path) -> list[str]:
    import yaml

    try:
        data = yaml.safe_load(dvc_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    return [str(o.get("path", "")).rstrip("/") for o in data.get("outs", []) if isinstance(o, dict)]


def dvc_content(dvc_file: str | os.PathLike) -> dict[str, Any]:
    """Content record of a ``.dvc`` file's first output: ``md5`` (``...dir`` for folders), ``size``, ``nfiles``."""
    import yaml

    data = yaml.safe_load(Path(dvc_file).read_text()) or {}
    out = (data.get("outs") or [{}])[0]
    return {k: out[k] for k in ("md5", "size", "nfiles") if k in out}


def run_dvc(args: list[str], cwd: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run ``dvc ARGS`` (this interpreter's dvc) in ``cwd``; raise :class:`ReleaseError` with its message on failure."""
    cmd = [sys.executable, "-m", "dvc", *args]
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **DVC_ENV})
    if run.returncode != 0:
        msg = (run.stderr or run.stdout).strip().splitlines()
        raise ReleaseError(f"dvc {' '.join(args)} failed in {cwd}: {' / '.join(msg[-5:])}")
    return run


def dvc_add(path: str | os.PathLike) -> Path:
    """``dvc add PATH`` in the DVC project holding it; returns the ``.dvc`` file (to commit with git)."""
    path = Path(path).absolute()
    root = find_dvc_root(path)
    if root is None:
        raise ReleaseError(f"{path}: not inside a DVC project (no .dvc/ folder above it); run `dvc init` first")
    run_dvc(["add", "-q", str(path.relative_to(root))], cwd=root)
    return path.with_name(path.name + ".dvc")


# --------------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------------
def read_manifest(release: str | os.PathLike) -> dict:
    """The parsed ``manifest.json`` of a release (format checked)."""
    path = Path(release) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReleaseError(f"{path}: missing: {release} is not a dataset release (or an incomplete one)") from None
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("format") != RELEASE_FORMAT:
        raise ReleaseError(f"{path}: format is {manifest.get('format')!r}, expected {RELEASE_FORMAT!r}")
    if manifest.get("format_version") != RELEASE_FORMAT_VERSION:
        raise ReleaseError(
            f"{path}: format version {manifest.get('format_version')}, this humanrecon reads version {RELEASE_FORMAT_VERSION}"
        )
    return manifest


def verify_release(release: str | os.PathLike) -> dict:
    """Check every file of a release against ``manifest.json``; return the manifest.

    Read-only. Raises :class:`ReleaseError` listing each missing file, each file whose size or SHA-256
    differs from the manifest (``modified``) and each file the manifest does not list.
    """
    release = Path(release)
    manifest = read_manifest(release)
    listed = manifest.get("files", {})
    problems = []
    for rel, entry in sorted(listed.items()):
        p = release / rel
        if not p.is_file():
            problems.append(f"{p}: missing")
            continue
        size = p.stat().st_size
        digest = sha256_file(p)
        if size != entry["bytes"] or digest != entry["sha256"]:
            problems.append(f"{p}: modified (sha256 {digest[:12]}..., {size} bytes; manifest: {entry['sha256'][:12]}..., {entry['bytes']} bytes)")
    for rel in _listed_files(release):
        if rel not in listed:
            problems.append(f"{release / rel}: not listed in {MANIFEST}")
    if problems:
        head = f"{release}: release does not match its manifest ({len(problems)} problem{'s' * (len(problems) > 1)})"
        raise ReleaseError(head + ":\n  - " + "\n  - ".join(problems))
    return manifest


# --------------------------------------------------------------------------------------------------
# shards
# --------------------------------------------------------------------------------------------------
def _square_box(mask: np.ndarray, margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) in whole pixels: a square around the silhouette, ``margin`` x its size on each side."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:  # no silhouette: the whole image, centred
        side = max(w, h)
        return (w - side) // 2, (h - side) // 2, side
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    side = int(np.ceil(max(x1 - x0, y1 - y0, 8) * (1 + 2 * margin)))
    return (x0 + x1 - side) // 2, (y0 + y1 - side) // 2, side


def crop_affine(x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """3x3 map from full-image to crop pixel coordinates (pixel centres): u' = s (u - x0 + 0.5) - 0.5, s = size/side.

    ``crop_K = crop_affine(...) @ K`` (distortion, R and t unchanged).
    """
    s = size / side
    return np.array([[s, 0.0, s * (0.5 - x0) - 0.5], [0.0, s, s * (0.5 - y0) - 0.5], [0.0, 0.0, 1.0]])


def _crop(img: np.ndarray, x0: int, y0: int, side: int, size: int, nearest: bool) -> np.ndarray:
    """The ``side`` x ``side`` pixels from (x0, y0) (zero outside the image) resized to ``size`` x ``size``."""
    import cv2

    h, w = img.shape[:2]
    square = np.zeros((side, side, *img.shape[2:]), img.dtype)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xb > xa and yb > ya:
        square[ya - y0 : yb - y0, xa - x0 : xb - x0] = img[ya:yb, xa:xb]
    interp = cv2.INTER_NEAREST_EXACT if nearest else cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)


def _mesh_arrays(manifest: Path, frames: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    import trimesh

    man = json.loads(manifest.read_text())
    verts, faces = [], []
    for frame in frames:
        entry = man.get("meshes", {}).get(f"{frame:06d}")
        if entry is None:
            raise ReleaseError(f"{manifest}: no mesh for frame {frame}; rerun the meshing stage")
        ply = manifest.parent / entry["path"]
        if not ply.is_file():
            raise ReleaseError(f"{ply}: missing (listed in {manifest})")
        if sha256_file(ply) != entry["sha256"]:
            raise ReleaseError(f"{ply}: SHA-256 differs from {manifest}; the mesh changed after meshing: rerun it")
        m = trimesh.load(ply, file_type="ply", process=False, force="mesh")
        verts.append(np.asarray(m.vertices, dtype=np.float32))
        faces.append(np.asarray(m.faces, dtype=np.int32).reshape(-1, 3))
    return verts, faces


def _smpl_arrays(session, frames: list[int], cams: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, list] = {k: [] for k in (*_SMPL_KEYS, "joints2d")}
    for frame in frames:
        path = session.gt_smpl_path(frame)
        try:
            with np.load(path) as z:
                data = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise ReleaseError(f"{path}: missing ground-truth SMPL file (frame {frame})") from None
        missing = [k for k in _SMPL_KEYS if k not in data]
        if missing:
            raise ReleaseError(f"{path}: missing key(s) {', '.join(missing)}")
        for k in _SMPL_KEYS:
            out[k].append(np.asarray(data[k], dtype=np.float64))
        if "joints2d" in data:
            order = list(range(len(cams)))
            if "camera_names" in data:
                names = [str(c) for c in data["camera_names"]]
                absent = [c for c in cams if c not in names]
                if absent:
                    raise ReleaseError(f"{path}: joints2d lacks camera(s) {', '.join(absent)}")
                order = [names.index(c) for c in cams]
            out["joints2d"].append(np.asarray(data["joints2d"], dtype=np.float64)[order])
    arrays = {k: np.stack(v) for k, v in out.items() if len(v) == len(frames)}
    arrays["betas"] = arrays["betas"].reshape(len(frames), -1)
    return arrays


def write_shard(
    src: SessionSource,
    chunk: str,
    output: str | os.PathLike,
    release: str,
    crop_size: int | None = None,
    crop_margin: float = 0.15,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one ``dataset_release`` shard: chunk ``chunk`` of session ``src``; returns its summary.

    Root attributes: the provenance of ``config`` (producer, config hash, package versions) and the
    per-kind attributes of :data:`humanrecon.io.hdf5.DATASET_RELEASE`.
    """
    session = load_session(src.session)
    results = Path(src.results)
    cal, cal_attrs = read_h5(results / "calibration.h5", CALIBRATION)
    seg_path = results / "segmentation" / f"{chunk}.h5"
    seg, seg_attrs = read_h5(seg_path, SEGMENTATION, names=["frames", "camera_names"])
    frames = [int(f) for f in seg["frames"]]
    cams = [str(c) for c in seg["camera_names"]]
    if cams != [str(c) for c in cal["camera_names"]]:
        raise ReleaseError(f"{seg_path}: cameras {cams} differ from {results / 'calibration.h5'}; rerun the segmentation stage")
    foreign = [f for f in frames if f not in session.frames]
    if foreign:
        raise ReleaseError(f"{seg_path}: frame(s) {foreign} are not frames of session {session.root}; stale results?")
    sizes = {tuple(int(v) for v in s) for s in cal["image_size"]}
    if crop_size is None and len(sizes) > 1:
        raise ReleaseError(f"{src.session}: cameras have different image sizes {sorted(sizes)}; set a crop size (person crops)")
    W, H = (crop_size, crop_size) if crop_size else next(iter(sizes))
    verts, faces = _mesh_arrays(results / "meshes" / f"{chunk}.json", frames)
    smpl = _smpl_arrays(session, frames, cams) if session.gt_smpl_template else {}
    F, C = len(frames), len(cams)
    vo = np.concatenate([[0], np.cumsum([len(v) for v in verts])]).astype(np.int64)
    fo = np.concatenate([[0], np.cumsum([len(f) for f in faces])]).astype(np.int64)
    small = {
        "frames": np.array(frames, dtype=np.int64),
        "camera_names": np.array(cams, dtype=object),
        **{k: cal[k] for k in ("K", "dist", "R", "t", "image_size")},
        **smpl,
        "mesh_vertices": np.concatenate(verts) if verts else np.zeros((0, 3), np.float32),
        "mesh_faces": np.concatenate(faces) if faces else np.zeros((0, 3), np.int32),
        "mesh_vertex_offsets": vo,
        "mesh_face_offsets": fo,
    }
    per_frame = {"images": (F, C, H, W, 3), "masks": (F, C, H, W)}
    if session.gt_mask_template:
        per_frame["gt_masks"] = (F, C, H, W)
    if session.gt_part_template:
        per_frame["parts"] = (F, C, H, W)
    if crop_size:
        per_frame["crop_boxes"] = (F, C, 4)
        per_frame["crop_K"] = (F, C, 3, 3)
    shapes = {d.name: (small[d.name].shape if d.name in small else per_frame[d.name])
              for d in DATASET_RELEASE.datasets if d.name in small or d.name in per_frame}  # fmt: skip
    attrs = {
        "session": src.name,
        "chunk": chunk,
        "release": release,
        "images": "crop" if crop_size else "full",
        "smpl_source": "gt" if smpl else "none",
    }
    masks_all = read_h5(seg_path, SEGMENTATION, names=["masks"])[0]["masks"]
    with h5_writer(output, DATASET_RELEASE, shapes, attrs=attrs, provenance_record=provenance(dict(config or {}))) as f:
        for name, a in small.items():
            f[name][...] = a
        for i, frame in enumerate(frames):
            rows: dict[str, list] = {k: [] for k in per_frame}
            for c, cam in enumerate(cams):
                size = tuple(int(v) for v in cal["image_size"][c])
                layers = {"images": read_image(session.image_path(cam, frame), expect_size=size), "masks": masks_all[i, c]}
                if "gt_masks" in per_frame:
                    layers["gt_masks"] = read_mask(session.gt_mask_path(cam, frame), expect_size=size)
                if "parts" in per_frame:
                    layers["parts"] = read_label_map(session.gt_part_path(cam, frame), expect_size=size)
                if crop_size:
                    x0, y0, side = _square_box(masks_all[i, c], crop_margin)
                    layers = {k: _crop(v, x0, y0, side, crop_size, nearest=(k != "images")) for k, v in layers.items()}
                    layers["crop_boxes"] = np.array([x0, y0, x0 + side, y0 + side], dtype=np.int64)
                    layers["crop_K"] = crop_affine(x0, y0, side, crop_size) @ cal["K"][c]
                for k, v in layers.items():
                    rows[k].append(v)
            for k, v in rows.items():
                f[k][i] = np.stack(v)
    return {
        "frames": frames,
        "config_hashes": {
            "calibration": str(cal_attrs.get("config_hash", "")),
            "segmentation": str(seg_attrs.get("config_hash", "")),
            "meshing": str(json.loads((results / "meshes" / f"{chunk}.json").read_text()).get("provenance", {}).get("config_hash", "")),
        },
        "segmentation_source": str(seg_attrs.get("source", "")),
        "calibration_digest": str(cal_attrs.get("calibration_digest", "")),
    }


# --------------------------------------------------------------------------------------------------
# releases
# --------------------------------------------------------------------------------------------------
def _chunks(src: SessionSource) -> list[str]:
    if src.chunks is not None:
        return list(src.chunks)
    found = sorted(p.stem for p in (Path(src.results) / "segmentation").glob("c*.h5"))
    if not found:
        raise ReleaseError(f"{Path(src.results) / 'segmentation'}: no chunk files; run the pipeline on session {src.name!r} first")
    return found


def _model_record(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    if not files or not all(q.is_file() for q in files):
        raise ReleaseError(f"{p}: model file not found")
    h = hashlib.sha256()
    for q in files:
        h.update(q.relative_to(p).as_posix().encode() if p.is_dir() else b"")
        h.update(sha256_file(q).encode())
    return {"file": p.name, "sha256": h.hexdigest(), "bytes": sum(q.stat().st_size for q in files)}


def curate_release(
    out: str | os.PathLike,
    sessions: Iterable[SessionSource],
    *,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    models: Mapping[str, str | os.PathLike] | None = None,
    crop_size: int | None = None,
    crop_margin: float = 0.15,
    dvc: bool = False,
    overwrite: bool = False,
) -> dict:
    """Build the dataset release folder ``out`` from processed sessions; return its manifest.

    Parameters
    ----------
    out : path
        Release folder, written atomically as a whole.
    sessions : iterable of SessionSource
        Sessions with their results (calibration, segmentation chunks, mesh manifests).
    name : str, optional
        Release name (default: the folder name).
    config : mapping, optional
        Settings that produced the inputs (hashed into the provenance).
    models : mapping name -> path, optional
        Model files (or folders) used, recorded by SHA-256 (e.g. ``{"body_model": ".../SMPL_NEUTRAL.pkl"}``).
    crop_size : int, optional
        Store square person crops of this size (around the stage's silhouette) instead of full images.
    dvc : bool
        Register the folder with ``dvc add`` (the folder must be inside a DVC project).
    overwrite : bool
        Replace an existing release. A release that does not match its own manifest (modified files) is
        never replaced: the error names the files; restore it (``dvc checkout``) or delete it first.
    """
    out = Path(out)
    name = name or out.name
    sessions = list(sessions)
    if not sessions:
        raise ReleaseError(f"{out}: no sessions to release")
    if len({s.name for s in sessions}) != len(sessions):
        raise ReleaseError(f"{out}: duplicate session names {[s.name for s in sessions]}")
    if dvc and find_dvc_root(out) is None:
        raise ReleaseError(f"{out}: not inside a DVC project (no .dvc/ folder above it); run `dvc init` or curate without dvc")
    if out.exists():
        try:
            verify_release(out)
        except ReleaseError as exc:
            raise ReleaseError(f"refusing to replace {exc}\nRestore it (`dvc checkout {out}.dvc`) or delete it first.") from None
        if not overwrite:
            raise ReleaseError(f"{out}: release exists (and matches its manifest); releases are immutable: choose a new name or overwrite")
    model_records = {k: _model_record(v) for k, v in sorted((models or {}).items())}
    with atomic_output(out, is_dir=True) as tmp:
        tmp.chmod(0o755)  # a temporary folder is private (0700); a release is for sharing
        entries = {}
        for src in sessions:
            session = load_session(src.session)
            chunks = _chunks(src)
            infos, shard_paths = [], []
            for chunk in chunks:
                rel = f"shards/{src.name}/{chunk}.h5"
                log.info("release %s: session %s chunk %s", name, src.name, chunk)
                infos.append(write_shard(src, chunk, tmp / rel, name, crop_size=crop_size, crop_margin=crop_margin, config=config))
                shard_paths.append(rel)
            frames = [f for i in infos for f in i["frames"]]
            if len(set(frames)) != len(frames):
                raise ReleaseError(f"{Path(src.results) / 'segmentation'}: chunks {chunks} overlap (stale chunk files?); list the chunks to use")
            dvc_file = dvc_file_for(session.root)
            gt = [k for k, t in (("meshes", session.gt_mesh_template), ("smpl", session.gt_smpl_template),
                                 ("masks", session.gt_mask_template), ("parts", session.gt_part_template)) if t]  # fmt: skip
            entries[src.name] = {
                "session_name": session.name,
                "frames": sorted(frames),
                "cameras": list(session.camera_names),
                "shards": shard_paths,
                "ground_truth": gt,
                "session_yaml_sha256": sha256_file(session.root / "session.yaml"),
                "calibration_digest": sorted({i["calibration_digest"] for i in infos}),
                "dvc": dvc_content(dvc_file) if dvc_file else None,
                "stage_config_hashes": {s: sorted({i["config_hashes"][s] for i in infos}) for s in ("calibration", "segmentation", "meshing")},
                "segmentation_source": sorted({i["segmentation_source"] for i in infos}),
            }
        import h5py

        versions = package_versions()
        versions.update({"h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version})
        manifest = {
            "format": RELEASE_FORMAT,
            "format_version": RELEASE_FORMAT_VERSION,
            "name": name,
            "schema": {"kind": DATASET_RELEASE.kind, "version": DATASET_RELEASE.version},
            "options": {"images": "crop" if crop_size else "full", "crop_size": crop_size, "crop_margin": crop_margin if crop_size else None},
            "sessions": entries,
            "models": model_records,
            "provenance": {
                "producer": f"humanrecon {versions['humanrecon']}",
                "config_hash": config_hash(dict(config or {})),
                "packages": versions,
                "git": git_commit(),
            },
            "files": {rel: {"bytes": (tmp / rel).stat().st_size, "sha256": sha256_file(tmp / rel)} for rel in _listed_files(tmp)},
        }
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("release %s: %d files -> %s", name, len(manifest["files"]), out)
    if dvc:
        dvc_file = dvc_add(out)
        log.info("dvc add %s -> %s (commit it with git)", out, dvc_file)
    return manifest
