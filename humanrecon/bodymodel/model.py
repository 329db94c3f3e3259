"""Load an SMPL-format body model through smplx: the exported Anny model or licensed SMPL files.

Accepted ``path`` layouts (all go through :func:`load_body_model`, the one code path):

* a ``.pkl`` file;
* a folder holding ``smpl/SMPL_NEUTRAL.pkl`` (smplx's layout) or ``SMPL_NEUTRAL.pkl``;
* the licensed SMPL release layouts, e.g. ``SMPL_python_v.1.1.0/smpl/models/
  basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl`` or ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl`` anywhere
  below the folder (the folder you unpacked the release into).

Licensed SMPL pickles contain chumpy arrays and a scipy-sparse ``J_regressor``. They are read without
chumpy (a stub unpickler keeps the numeric payload), converted to plain numpy arrays and cached once under
``<cache>/body_models/<sha256>/smpl/SMPL_NEUTRAL.pkl``; smplx then loads that clean copy. The exported
Anny model is already plain numpy and is loaded in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humanrecon.bodymodel import skeleton
from humanrecon.bodymodel.parts import vertex_part_labels
from humanrecon.io.atomic import atomic_output

log = logging.getLogger(__name__)

GENDER_FILES = {"neutral": "SMPL_NEUTRAL.pkl", "male": "SMPL_MALE.pkl", "female": "SMPL_FEMALE.pkl"}
_RELEASE_PATTERNS = {
    "neutral": ("basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
    "male": ("basicmodel_m_lbs_10_207_0_v1.1.0.pkl", "basicModel_m_lbs_10_207_0_v1.0.0.pkl"),
    "female": ("basicmodel_f_lbs_10_207_0_v1.1.0.pkl", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
}
_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")

#: smplx's default extra-keypoint vertex ids for the licensed SMPL topology (6890 vertices).
_SMPL_TOPOLOGY_VERTICES = 6890


class BodyModelError(ValueError):
    """A body-model file or folder is missing or malformed; the message names the path."""


def resolve_model_file(path: str | os.PathLike, gender: str = "neutral") -> Path:
    """Find the model pickle for ``gender`` under ``path`` (see the module docstring for layouts)."""
    if gender not in GENDER_FILES:
        raise BodyModelError(f"unknown gender {gender!r}; expected one of {sorted(GENDER_FILES)}")
    p = Path(path)
    if p.is_file():
        return p
    if not p.exists():
        raise BodyModelError(f"body model path {p} does not exist (config key body_model.path)")
    for cand in (p / "smpl" / GENDER_FILES[gender], p / GENDER_FILES[gender]):
        if cand.is_file():
            return cand
    for name in _RELEASE_PATTERNS[gender]:
        hits = sorted(p.rglob(name))
        if hits:
            return hits[0]
    raise BodyModelError(
        f"no {gender} SMPL model under {p}: looked for smpl/{GENDER_FILES[gender]}, {GENDER_FILES[gender]} "
        f"and the licensed release names {', '.join(_RELEASE_PATTERNS[gender])}"
    )


class _ChumpyStub:
    """Stands in for chumpy objects while unpickling; keeps the numeric state (``x`` or ``a``)."""

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def to_numpy(self) -> np.ndarray:
        st = self.state
        if isinstance(st, dict):
            for key in ("x", "a", "r"):
                if key in st:
                    val = st[key]
                    return val.to_numpy() if isinstance(val, _ChumpyStub) else np.asarray(val)
        raise BodyModelError("chumpy object without a numeric payload")


class _CleanUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _ChumpyStub
        return super().find_class(module, name)


def _plain(value):
    if isinstance(value, _ChumpyStub):
        return value.to_numpy()
    if hasattr(value, "toarray") and "scipy.sparse" in type(value).__module__:
        return np.asarray(value.toarray())
    return value


def read_model_dict(path: str | os.PathLike) -> dict:
    """Read an SMPL-format pickle into a dict of plain numpy arrays (chumpy and scipy.sparse converted).

    Raises :class:`BodyModelError` naming the file if it is unreadable or lacks an SMPL key.
    """
    path = Path(path)
    try:
        raw = _CleanUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as exc:  # corrupt pickle, wrong file type
        raise BodyModelError(f"{path}: not a readable SMPL pickle ({exc})") from exc
    if not isinstance(raw, dict):
        raise BodyModelError(f"{path}: expected a dict of arrays, got {type(raw).__name__}")
    data = {k: _plain(v) for k, v in raw.items()}
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise BodyModelError(f"{path}: missing SMPL keys {missing}")
    V = np.asarray(data["v_template"]).shape[0]
    checks = {
        "shapedirs": (V, 3),
        "weights": (V, skeleton.NUM_JOINTS),
        "J_regressor": (skeleton.NUM_JOINTS, V),
    }
    for key, shape in checks.items():
        if np.asarray(data[key]).shape[: len(shape)] != shape:
            raise BodyModelError(f"{path}: {key} has shape {np.asarray(data[key]).shape}, expected {shape}+")
    return data


def _is_clean(raw_bytes: bytes) -> bool:
    return b"chumpy" not in raw_bytes and b"scipy.sparse" not in raw_bytes


def clean_model_file(path: Path, cache_dir: Path) -> Path:
    """Return a smplx-loadable plain-numpy copy of ``path`` (``path`` itself if already clean)."""
    raw = path.read_bytes()
    if _is_clean(raw):
        return path
    digest = hashlib.sha256(raw).hexdigest()[:16]
    out = cache_dir / "body_models" / digest / "smpl" / "SMPL_NEUTRAL.pkl"
    if not out.exists():
        data = read_model_dict(path)
        data = {k: (np.asarray(v) if isinstance(v, np.ndarray) or hasattr(v, "shape") else v) for k, v in data.items()}
        with atomic_output(out) as tmp, open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=4)
        log.info("converted licensed SMPL file %s to plain numpy at %s", path, out)
    return out


@dataclass
class BodyModel:
    """An smplx SMPL layer plus the per-vertex tables humanrecon needs.

    Attributes
    ----------
    smpl : smplx.SMPL
        The smplx model (``forward(betas (B,10), body_pose (B,69), global_orient (B,3), transl (B,3))``).
    path : Path
        The pickle smplx loaded.
    faces : (T, 3) int64
    num_surface_vertices : int
        Skin vertices come first; any further vertices are joint helpers (exported Anny model).
    part_labels : (V,) uint8
        12-part id (1..12) per vertex.
    vertex_ids : dict[str, int]
        smplx extra-keypoint vertex ids on this topology.
    coco_regressor : (17+, V) float64 or None
        COCO keypoint regressor (the exported model ships Anny's; None for licensed SMPL).
    coco_labels : list[str]
    extras : dict
        The ``hr_*`` keys of an exported model (empty for licensed files).
    """

    smpl: object
    path: Path
    faces: np.ndarray
    num_surface_vertices: int
    part_labels: np.ndarray
    vertex_ids: dict
    coco_regressor: np.ndarray | None
    coco_labels: list
    extras: dict

    @property
    def surface_faces(self) -> np.ndarray:
        """Faces (T, 3); they only reference the first ``num_surface_vertices`` vertices."""
        return self.faces

    def forward_numpy(self, betas=None, body_pose=None, global_orient=None, transl=None) -> dict[str, np.ndarray]:
        """Batched float64 forward pass on numpy inputs.

        Parameters
        ----------
        betas : (B, 10); body_pose : (B, 69); global_orient : (B, 3); transl : (B, 3)
            Any may be None (zeros). Axis-angle, metres.

        Returns
        -------
        dict with ``vertices`` (B, Vs, 3) skin vertices, ``joints`` (B, 24, 3), world metres.
        """
        import torch

        args = {"betas": betas, "body_pose": body_pose, "global_orient": global_orient, "transl": transl}
        sizes = {"betas": skeleton.NUM_BETAS, "body_pose": 3 * skeleton.NUM_BODY_JOINTS, "global_orient": 3, "transl": 3}
        B = max((np.atleast_2d(v).shape[0] for v in args.values() if v is not None), default=1)
        tens = {}
        for k, v in args.items():
            arr = np.zeros((B, sizes[k])) if v is None else np.atleast_2d(np.asarray(v, dtype=np.float64))
            if arr.shape != (B, sizes[k]):
                raise ValueError(f"{k} must have shape ({B}, {sizes[k]}), got {arr.shape}")
            tens[k] = torch.as_tensor(arr, dtype=self.smpl.shapedirs.dtype)
        with torch.no_grad():
            out = self.smpl(**tens, return_verts=True)
        verts = out.vertices.detach().cpu().numpy().astype(np.float64)
        joints = out.joints.detach().cpu().numpy().astype(np.float64)[:, : skeleton.NUM_JOINTS]
        return {"vertices": verts[:, : self.num_surface_vertices], "joints": joints}


def load_body_model(
    path: str | os.PathLike,
    gender: str = "neutral",
    batch_size: int = 1,
    dtype: str = "float64",
    device: str = "cpu",
    cache_dir: str | os.PathLike | None = None,
) -> BodyModel:
    """Load an SMPL-format model with ``smplx.create(..., model_type="smpl")`` (module docstring).

    Parameters
    ----------
    path : path-like
        ``body_model.path`` from the config: a pickle, an smplx-layout folder or a licensed release folder.
    gender : {"neutral", "male", "female"}
    batch_size : int
        smplx's default batch size (inputs of another batch size are accepted too).
    dtype : {"float32", "float64"}
    cache_dir : path-like, optional
        Where cleaned copies of licensed files go (default ``.cache`` next to the file's folder).
    """
    import smplx
    import torch

    model_file = resolve_model_file(path, gender)
    cache = Path(cache_dir) if cache_dir is not None else model_file.parent / ".cache"
    clean = clean_model_file(model_file, cache)
    data = read_model_dict(clean)
    V = np.asarray(data["v_template"]).shape[0]
    num_surface = int(data.get("hr_num_surface_vertices", V))
    if "hr_vertex_ids" in data:
        vertex_ids = {k: int(v) for k, v in data["hr_vertex_ids"].items()}
    elif num_surface == _SMPL_TOPOLOGY_VERTICES:
        from smplx.vertex_ids import vertex_ids as smplx_vertex_ids

        vertex_ids = dict(smplx_vertex_ids["smplh"])
    else:
        raise BodyModelError(f"{model_file}: {V} vertices but no hr_vertex_ids; cannot place extra keypoints")
    weights = np.asarray(data["weights"], dtype=np.float64)
    part_labels = np.asarray(data.get("hr_part_labels", vertex_part_labels(weights)), dtype=np.uint8)
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note about 10 betas
        smpl = smplx.create(
            str(clean),
            model_type="smpl",
            gender=gender,
            num_betas=skeleton.NUM_BETAS,
            batch_size=batch_size,
            vertex_ids=vertex_ids,
            dtype=torch_dtype,
        ).to(device)
    extras = {k: v for k, v in data.items() if k.startswith("hr_")}
    coco = data.get("hr_coco_regressor")
    return BodyModel(
        smpl=smpl,
        path=clean,
        faces=np.asarray(data["f"], dtype=np.int64),
        num_surface_vertices=num_surface,
        part_labels=part_labels,
        vertex_ids=vertex_ids,
        coco_regressor=None if coco is None else np.asarray(coco, dtype=np.float64),
        coco_labels=list(data.get("hr_coco_labels", [])),
        extras=extras,
    )
