"""The session format: one folder per capture, described by ``session.yaml``; every stage reads it.

Layout (all paths relative to the session folder; see ``docs/session-format.md``)::

    <session>/session.yaml
    <session>/calibration/intri.yml, extri.yml   # OpenCV FileStorage, EasyMocap convention
    <session>/images/{camera}/{frame:06d}.png    # or .jpg
    <session>/backgrounds/{camera}.png           # optional empty-studio plates
    <session>/gt/meshes/{frame:06d}.ply          # optional ground truth
    <session>/gt/smpl/{frame:06d}.npz            # optional
    <session>/gt/masks/{camera}/{frame:06d}.png  # optional
    <session>/gt/parts/{camera}/{frame:06d}.png  # optional

``session.yaml`` is checked in two layers: its structure against the JSON schema
``schemas/session.schema.yaml`` (errors rephrased for people: unknown fields get a "did you mean"),
then its meaning by hand (units, up axis, frame ranges, template placeholders, paths that must stay
inside the session folder, known calibration format). Every error is a :class:`SessionError` whose
message starts with the ``session.yaml`` path and names the field.

Paths are checked lexically: ``..`` and absolute paths that leave the session folder are refused, but
symbolic links inside the folder are followed (so ``images/`` may link to a data disk).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import operator
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from humanrecon.calibration import CALIBRATION_FORMATS, CameraRig, load_calibration, validate_camera
from humanrecon.conventions import UP_AXES
from humanrecon.io.atomic import atomic_write_text
from humanrecon.io.images import image_size
from humanrecon.io.yamlutil import UniqueKeyLoader

logger = logging.getLogger(__name__)

#: JSON schema of session.yaml (structure; semantics are checked in this module).
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "session.schema.yaml"
#: File name of the session description inside a session folder.
SESSION_FILE = "session.yaml"
#: Supported world units.
SUPPORTED_UNITS = ("m",)
#: Camera names must be usable as a folder name.
_UNSAFE_NAME = re.compile(r"[/\\\x00]|^\.{1,2}$|^\s|\s$")


class SessionError(ValueError):
    """``session.yaml`` or the session folder is invalid; the message names the file and the field."""


# --------------------------------------------------------------------------------------------------
# the Session
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    """A parsed, validated ``session.yaml``.

    Attributes
    ----------
    root : pathlib.Path
        Absolute session folder (holding ``session.yaml``).
    name : str
        Session name.
    units : str
        World units, always ``"m"``.
    up : str
        World up axis, one of :data:`humanrecon.conventions.UP_AXES`.
    calibration_format : str
        Key of :data:`humanrecon.calibration.CALIBRATION_FORMATS`.
    calibration_path : pathlib.Path
        Absolute calibration location (for ``easymocap`` the folder holding ``intri.yml`` and
        ``extri.yml``).
    camera_names : tuple of str
        Cameras used, in order (from ``cameras:``, else all cameras of the calibration).
    frames : tuple of int
        Frame numbers, ascending, unique, >= 0.
    image_template : str
        Image path template relative to ``root`` with ``{camera}`` and ``{frame...}``.
    background_template, gt_mesh_template, gt_smpl_template, gt_mask_template, gt_part_template : str or None
        Optional templates (``{camera}``; ``{frame}``; ``{frame}``; ``{camera}`` + ``{frame}`` twice).
    yaml_path : pathlib.Path or None
        The ``session.yaml`` this came from (used in error messages).
    """

    root: Path
    name: str
    units: str
    up: str
    calibration_format: str
    calibration_path: Path
    camera_names: tuple[str, ...]
    frames: tuple[int, ...]
    image_template: str
    background_template: str | None = None
    gt_mesh_template: str | None = None
    gt_smpl_template: str | None = None
    gt_mask_template: str | None = None
    gt_part_template: str | None = None
    yaml_path: Path | None = None

    # -- paths ----------------------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return str(self.yaml_path if self.yaml_path is not None else self.root / SESSION_FILE)

    def _check_camera(self, camera: str) -> None:
        if camera not in self.camera_names:
            raise SessionError(
                f"{self._where}: unknown camera {camera!r}; the session's cameras are "
                f"{', '.join(self.camera_names)}"
            )

    def _check_frame(self, frame: int) -> int:
        try:
            value = operator.index(frame)
        except TypeError:
            value = -1
        if isinstance(frame, bool) or value < 0:
            raise SessionError(f"{self._where}: frame must be a non-negative integer, got {frame!r}")
        return value

    def image_path(self, camera: str, frame: int) -> Path:
        """Absolute path of camera ``camera``'s image of frame ``frame`` (not checked to exist)."""
        self._check_camera(camera)
        return self.root / self.image_template.format(camera=camera, frame=self._check_frame(frame))

    def background_path(self, camera: str) -> Path | None:
        """Absolute path of the background plate of ``camera``, or None if not configured."""
        self._check_camera(camera)
        if self.background_template is None:
            return None
        return self.root / self.background_template.format(camera=camera)

    def gt_mesh_path(self, frame: int) -> Path | None:
        """Absolute path of the ground-truth mesh of ``frame`` (PLY), or None if not configured."""
        frame = self._check_frame(frame)
        return None if self.gt_mesh_template is None else self.root / self.gt_mesh_template.format(frame=frame)

    def gt_smpl_path(self, frame: int) -> Path | None:
        """Absolute path of the ground-truth SMPL npz of ``frame``, or None if not configured."""
        frame = self._check_frame(frame)
        return None if self.gt_smpl_template is None else self.root / self.gt_smpl_template.format(frame=frame)

    def gt_mask_path(self, camera: str, frame: int) -> Path | None:
        """Absolute path of the ground-truth mask of ``camera`` at ``frame``, or None if not configured."""
        self._check_camera(camera)
        frame = self._check_frame(frame)
        if self.gt_mask_template is None:
            return None
        return self.root / self.gt_mask_template.format(camera=camera, frame=frame)

    def gt_part_path(self, camera: str, frame: int) -> Path | None:
        """Absolute path of the ground-truth part map of ``camera`` at ``frame``, or None if not configured."""
        self._check_camera(camera)
        frame = self._check_frame(frame)
        if self.gt_part_template is None:
            return None
        return self.root / self.gt_part_template.format(camera=camera, frame=frame)

    # -- calibration and images -----------------------------------------------------------------
    def rig(self, images: bool = True) -> CameraRig:
        """Load the calibration of the session's cameras, sized from the images and validated.

        Cameras come in :attr:`camera_names` order. A camera whose calibration lacks the image size
        gets it from its first image (first frame); otherwise that image's size must equal the
        calibrated one. Reads the calibration files on every call: keep the result.

        Parameters
        ----------
        images : bool
            ``False`` skips the images (for a writer that has not produced them yet): cameras are
            validated as they are in the calibration, so every camera needs ``W_``/``H_`` there.

        Raises
        ------
        SessionError
            A listed camera is not in the calibration, its first image is missing, or its size differs
            from the calibration (the message names the camera and the image file).
        CalibrationError
            The calibration files are invalid (the message names the file and the key).
        humanrecon.io.images.ImageError
            The first image of a camera cannot be read.
        """
        full = load_calibration(self.calibration_format, self.calibration_path)
        unknown = [c for c in self.camera_names if c not in full]
        if unknown:
            raise SessionError(
                f"{self._where}: field 'cameras': camera(s) {', '.join(map(repr, unknown))} not in the "
                f"calibration {self.calibration_path} (it has {', '.join(full.names)})"
            )
        cameras = []
        for cam in full.subset(self.camera_names):
            if not images:
                validate_camera(cam)
                cameras.append(cam)
                continue
            first = self.image_path(cam.name, self.frames[0])
            if not first.is_file():
                raise SessionError(
                    f"{self._where}: missing image {first} (camera {cam.name!r}, frame {self.frames[0]})"
                )
            w, h = image_size(first)
            if cam.width == 0 and cam.height == 0:
                cam = dataclasses.replace(cam, width=w, height=h)
            elif (cam.width, cam.height) != (w, h):
                raise SessionError(
                    f"{self._where}: camera {cam.name!r}: image {first} is {w}x{h} pixels but the "
                    f"calibration says {cam.width}x{cam.height}"
                )
            validate_camera(cam)
            cameras.append(cam)
        return CameraRig(tuple(cameras))

    def check_images(self, sizes: bool = True) -> None:
        """Check that every image of every camera and frame (and every configured background) exists.

        Parameters
        ----------
        sizes : bool
            Also check every image's size (read from the PNG/JPEG header) against the calibration.

        Raises
        ------
        SessionError
            Listing the missing (or wrongly sized) files: the first few by name, and the count.
        """
        missing: list[str] = []
        for cam in self.camera_names:
            for frame in self.frames:
                p = self.image_path(cam, frame)
                if not p.is_file():
                    missing.append(f"{p} (camera {cam!r}, frame {frame})")
            bg = self.background_path(cam)
            if bg is not None and not bg.is_file():
                missing.append(f"{bg} (background of camera {cam!r})")
        if missing:
            raise SessionError(f"{self._where}: " + _listing("missing image", missing))
        if not sizes:
            return
        wrong: list[str] = []
        for cam in self.rig():
            paths = [self.image_path(cam.name, f) for f in self.frames]
            bg = self.background_path(cam.name)
            paths += [bg] if bg is not None else []
            for p in paths:
                w, h = image_size(p)
                if (w, h) != (cam.width, cam.height):
                    wrong.append(f"{p} is {w}x{h}, camera {cam.name!r} is calibrated for {cam.width}x{cam.height}")
        if wrong:
            raise SessionError(f"{self._where}: " + _listing("image of the wrong size", wrong))

    # -- serialisation --------------------------------------------------------------------------
    def to_yaml_dict(self) -> dict[str, Any]:
        """The session as a ``session.yaml`` mapping (canonical key order; frames as a range when possible)."""
        calib = os.path.relpath(self.calibration_path, self.root)
        d: dict[str, Any] = {
            "name": self.name,
            "units": self.units,
            "up": self.up,
            "calibration": {"format": self.calibration_format, "path": Path(calib).as_posix()},
        }
        if self.camera_names:
            d["cameras"] = list(self.camera_names)
        d["frames"] = _frames_to_yaml(self.frames)
        d["images"] = self.image_template
        if self.background_template is not None:
            d["backgrounds"] = self.background_template
        gt = {
            key: value
            for key, value in (
                ("meshes", self.gt_mesh_template),
                ("smpl", self.gt_smpl_template),
                ("masks", self.gt_mask_template),
                ("parts", self.gt_part_template),
            )
            if value is not None
        }
        if gt:
            d["gt"] = gt
        return d


def _listing(what: str, items: list[str], shown: int = 5) -> str:
    if len(items) == 1:
        return f"{what} {items[0]}"
    more = f"\n  ... and {len(items) - shown} more" if len(items) > shown else ""
    return f"{len(items)} {what}s:\n  " + "\n  ".join(items[:shown]) + more


def _frames_to_yaml(frames: tuple[int, ...]) -> dict[str, int] | list[int]:
    if len(frames) >= 2:
        step = frames[1] - frames[0]
        if step > 0 and all(b - a == step for a, b in zip(frames, frames[1:], strict=False)):
            return {"start": frames[0], "stop": frames[-1] + step, "step": step}
    return list(frames)


# --------------------------------------------------------------------------------------------------
# parsing and validation
# --------------------------------------------------------------------------------------------------
class _SessionLoader(UniqueKeyLoader):
    """SafeLoader that refuses duplicate fields (PyYAML would silently keep the last one)."""

    key_word = "field"


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing (empty value)"
    if isinstance(value, bool):
        return f"true/false ({value!r})"
    if isinstance(value, int):
        return f"an integer ({value!r})"
    if isinstance(value, float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_WORDS = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping (key: value)",
    "array": "a list",
    "boolean": "true or false",
}


def _schema_messages(data: Any) -> list[str]:
    """Validate ``data`` against the schema; return messages a studio engineer understands."""
    messages: list[str] = []
    suggested: set[str] = set()
    missing: list[tuple[str, str]] = []
    errors = sorted(
        Draft202012Validator(_schema()).iter_errors(data),
        key=lambda e: ([str(p) for p in e.absolute_path], e.validator),
    )
    for err in errors:
        field = _field(err.absolute_path)
        prefix = f"{field}." if field else ""
        if err.validator == "additionalProperties":
            known = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key in known:
                    continue
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                if close:
                    suggested.add(prefix + close[0])
                    hint = f" (did you mean '{prefix}{close[0]}'?)"
                else:
                    hint = f" (known fields: {', '.join(known)})"
                messages.append(f"unknown field '{prefix}{key}'{hint}")
        elif err.validator == "required":
            for key in err.validator_value:
                if isinstance(err.instance, dict) and key not in err.instance:
                    desc = err.schema.get("properties", {}).get(key, {}).get("description", "")
                    missing.append((prefix + key, f"missing required field '{prefix}{key}'" + (f": {desc}" if desc else "")))
        elif err.validator == "type":
            want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            words = " or ".join(_TYPE_WORDS.get(w, w) for w in want)
            hint = ""
            if "string" in want and isinstance(err.instance, int | float | bool):
                hint = " (put it in quotes so that YAML reads it as text)"
            messages.append(f"field '{field}' must be {words}, got {_yaml_type(err.instance)}{hint}")
        elif err.validator == "minLength":
            messages.append(f"field '{field}' must not be empty")
        elif err.validator == "minItems":
            messages.append(f"field '{field}' must list at least one entry")
        else:  # pragma: no cover - schema keywords not used today
            messages.append(f"field '{field}': {err.message}")
    messages += [msg for key, msg in missing if key not in suggested]
    return messages


def _template_problems(
    value: str, field: str, required: tuple[str, ...], allowed: tuple[str, ...], root: Path
) -> list[str]:
    """Check a path template's placeholders and that it stays inside ``root``."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        return [f"field '{field}': invalid template {value!r} ({exc}; write literal braces as {{{{ }}}})"]
    names: list[str] = []
    problems: list[str] = []
    for _, fname, spec, _ in parsed:
        if fname is None:
            continue
        if fname == "":
            problems.append(f"field '{field}': empty placeholder {{}} in {value!r}; name it, e.g. {{{allowed[-1]}}}")
            continue
        if spec and "{" in spec:
            problems.append(f"field '{field}': nested placeholder in {{{fname}:{spec}}} is not supported")
        names.append(fname)
    suggested: set[str] = set()
    for fname in names:
        if fname not in allowed:
            close = difflib.get_close_matches(fname, allowed, n=1, cutoff=0.6)
            hint = ""
            if close and fname not in ("camera", "frame"):
                hint = f"did you mean {{{close[0]}}}? "
                suggested.add(close[0])
            problems.append(
                f"field '{field}': unknown placeholder {{{fname}}} in {value!r} ({hint}allowed: "
                + ", ".join(f"{{{a}}}" for a in allowed) + ")"
            )
    for req in required:
        if req not in names and req not in suggested:
            problems.append(f"field '{field}': template {value!r} lacks the placeholder {{{req}}}")
    if problems:
        return problems
    try:
        sample = value.format(camera="cam00", frame=0)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        return [f"field '{field}': template {value!r} cannot be filled in with camera='cam00', frame=0 ({exc})"]
    return _path_problems(sample, field, root, shown=value)


def _path_problems(rel: str, field: str, root: Path, shown: str | None = None) -> list[str]:
    shown = rel if shown is None else shown
    if os.path.isabs(rel) or rel.startswith("~") or re.match(r"^[A-Za-z]:", rel):
        return [f"field '{field}': {shown!r} must be a path relative to the session folder, not absolute"]
    full = os.path.normpath(os.path.join(root, rel))
    if full != str(root) and not full.startswith(str(root).rstrip(os.sep) + os.sep):
        example = f"e.g. {rel!r} " if rel != shown else ""
        return [f"field '{field}': {shown!r} leaves the session folder {root} ({example}resolves to {full})"]
    return []


def _camera_name_problem(name: str, field: str) -> str | None:
    if _UNSAFE_NAME.search(name):
        return f"field '{field}': camera name {name!r} cannot be used as a folder name"
    return None


def _parse(data: Any, yaml_path: Path, root: Path) -> Session:
    """Validate a loaded session.yaml mapping and build the :class:`Session` (cameras may be empty)."""
    where = str(yaml_path)
    if data is None:
        raise SessionError(f"{where}: file is empty")
    if not isinstance(data, dict):
        raise SessionError(f"{where}: must be a mapping of fields (name: ..., frames: ...), got {_yaml_type(data)}")
    messages = _schema_messages(data)
    if messages:
        _raise(where, messages)

    problems: list[str] = []
    units = data.get("units", "m")
    if units not in SUPPORTED_UNITS:
        problems.append(f"field 'units': {units!r} is not supported; only metres ('m') are supported")
    up = data.get("up", "y")
    if up not in UP_AXES:
        problems.append(f"field 'up': {up!r} is not an axis; use one of {', '.join(UP_AXES)}")

    calib = data["calibration"]
    fmt = calib["format"]
    if fmt not in CALIBRATION_FORMATS:
        problems.append(
            f"field 'calibration.format': unknown calibration format {fmt!r}; known formats: "
            f"{', '.join(sorted(CALIBRATION_FORMATS))}"
        )
    calib_rel = calib.get("path", "calibration")
    problems += _path_problems(calib_rel, "calibration.path", root)

    cameras = tuple(data.get("cameras", ()))
    for i, cam in enumerate(cameras):
        problem = _camera_name_problem(cam, f"cameras[{i}]")
        if problem:
            problems.append(problem)
    dups = sorted({c for c in cameras if cameras.count(c) > 1})
    if dups:
        problems.append(f"field 'cameras': camera(s) {', '.join(map(repr, dups))} listed more than once")

    frames: tuple[int, ...] = ()
    spec = data["frames"]
    if isinstance(spec, dict):
        start, stop, step = int(spec["start"]), int(spec["stop"]), int(spec.get("step", 1))
        if start < 0:
            problems.append(f"field 'frames.start': must be >= 0, got {start}")
        if step <= 0:
            problems.append(f"field 'frames.step': must be >= 1, got {step}")
        if stop <= start:
            problems.append(f"field 'frames': stop ({stop}) must be greater than start ({start}); stop is excluded")
        if start >= 0 and step > 0 and stop > start:
            frames = tuple(range(start, stop, step))
    else:
        values = [int(v) for v in spec]
        negative = [v for v in values if v < 0]
        if negative:
            problems.append(f"field 'frames': frame numbers must be >= 0, got {negative}")
        dup_frames = sorted({v for v in values if values.count(v) > 1})
        if dup_frames:
            problems.append(f"field 'frames': frame(s) {dup_frames} listed more than once")
        frames = tuple(sorted(set(values)))

    cam_frame = ("camera", "frame")
    templates: dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]] = {
        "images": (data["images"], cam_frame, cam_frame),
        "backgrounds": (data.get("backgrounds"), ("camera",), ("camera",)),
    }
    gt = data.get("gt", {})
    for key, req in (("meshes", ("frame",)), ("smpl", ("frame",)), ("masks", cam_frame), ("parts", cam_frame)):
        templates[f"gt.{key}"] = (gt.get(key), req, req)
    for field, (value, req, allowed) in templates.items():
        if value is not None:
            problems += _template_problems(value, field, req, allowed, root)

    if problems:
        _raise(where, problems)
    return Session(
        root=root,
        name=data["name"],
        units=units,
        up=up,
        calibration_format=fmt,
        calibration_path=Path(os.path.normpath(root / calib_rel)),
        camera_names=cameras,
        frames=frames,
        image_template=data["images"],
        background_template=data.get("backgrounds"),
        gt_mesh_template=gt.get("meshes"),
        gt_smpl_template=gt.get("smpl"),
        gt_mask_template=gt.get("masks"),
        gt_part_template=gt.get("parts"),
        yaml_path=yaml_path,
    )


def _raise(where: str, problems: list[str]) -> None:
    if len(problems) == 1:
        raise SessionError(f"{where}: {problems[0]}")
    raise SessionError(f"{where}: {len(problems)} problems:\n  - " + "\n  - ".join(problems))


def _yaml_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml"):
        return p
    return p / SESSION_FILE


def load_session(path: str | os.PathLike) -> Session:
    """Read and validate a session.

    Parameters
    ----------
    path : path-like
        The session folder, or its ``session.yaml``.

    Returns
    -------
    Session
        With :attr:`Session.camera_names` filled from the calibration when ``cameras:`` is absent.
        Images are not touched: see :meth:`Session.check_images` and :meth:`Session.rig`.

    Raises
    ------
    SessionError
        Missing file, invalid YAML, or any invalid field (the message names ``session.yaml`` and the
        field; all problems are listed at once).
    CalibrationError
        ``cameras:`` is absent and the calibration cannot be read.
    """
    p = Path(path)
    yaml_path = p / SESSION_FILE if p.is_dir() else (p if p.is_file() else _yaml_file(p))
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError(f"{yaml_path}: session file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{yaml_path}: cannot read session file ({exc})") from None
    try:
        data = yaml.load(text, Loader=_SessionLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        hint = ""
        if "but got '{'" in str(exc.problem):
            hint = (
                "; a template with {placeholders} inside a { ... } or [ ... ] must be quoted, e.g. "
                "gt: {meshes: 'gt/meshes/{frame:06d}.ply'}, or written one key per line"
            )
        raise SessionError(f"{yaml_path}: invalid YAML ({where}{exc.problem or exc.context}{hint})") from None
    except yaml.YAMLError as exc:
        raise SessionError(f"{yaml_path}: invalid YAML ({exc})") from None
    root = yaml_path.parent.resolve()
    session = _parse(data, yaml_path, root)
    if not session.camera_names:
        names = load_calibration(session.calibration_format, session.calibration_path).names
        for name in names:
            problem = _camera_name_problem(name, "calibration")
            if problem:
                raise SessionError(f"{yaml_path}: {problem} (in {session.calibration_path})")
        session = dataclasses.replace(session, camera_names=names)
    logger.debug(
        "session %r: %d cameras, %d frames", session.name, len(session.camera_names), len(session.frames)
    )
    return session


def _plain(value: Any) -> Any:
    """Mappings -> dict, tuples -> list, paths -> posix text (what YAML and the schema expect)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return Path(value).as_posix()
    return value


def write_session_yaml(session_or_dict: Session | Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Validate and write ``session.yaml`` atomically (canonical key order, deterministic bytes).

    Parameters
    ----------
    session_or_dict : Session or mapping
        A :class:`Session`, or a mapping as it would appear in ``session.yaml``.
    path : path-like
        The ``.yaml``/``.yml`` file to write, or the session folder (``session.yaml`` inside it).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    SessionError
        The mapping is not a valid session (nothing is written).
    """
    yaml_path = _yaml_file(path)
    root = yaml_path.parent.resolve()
    if isinstance(session_or_dict, Session):
        data = session_or_dict.to_yaml_dict()
    else:
        data = _plain(session_or_dict)
    session = _parse(data, yaml_path, root)
    text = "# humanrecon session (format: docs/session-format.md)\n" + yaml.safe_dump(
        session.to_yaml_dict(), sort_keys=False, default_flow_style=None, allow_unicode=True, width=110
    )
    atomic_write_text(yaml_path, text)
    return yaml_path


__all__ = ["SCHEMA_PATH", "Session", "SessionError", "load_session", "write_session_yaml"]
