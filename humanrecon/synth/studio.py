"""The synthetic capture studio: writes a complete capture session with full ground truth.

One session = one subject (adult Anny phenotype + outfit) performing one smooth motion in front of one
calibrated rig inside one studio environment. Layout (see docs/session-format.md)::

    <session>/session.yaml
    <session>/calibration/intri.yml, extri.yml
    <session>/images/{camera}/{frame:06d}.png
    <session>/backgrounds/{camera}.png          empty-studio plates, lit slightly differently
    <session>/gt/meshes/{frame:06d}.ply         clothed outer surface, world metres
    <session>/gt/smpl/{frame:06d}.npz           betas, body_pose, global_orient, transl, joints, joints2d
    <session>/gt/masks/{camera}/{frame:06d}.png person silhouettes (0/255)
    <session>/gt/parts/{camera}/{frame:06d}.png 12-part maps (0 background, 1..12)
    <session>/gt/depth/{camera}/{frame:06d}.npz depth (float32 metres along the optical axis, 0 = none)
    <session>/gt/subject.json                   phenotype, betas, outfit, settings, provenance

Randomness: one seed is split (``numpy.random.SeedSequence.spawn``) into independent streams for the
subject, rig, studio, lighting, motion and sensor noise, so e.g. more frames do not change the subject.
Same seed and settings -> byte-identical session. The folder is written to a temporary sibling and
renamed at the end: an interrupted run leaves no partial session.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from humanrecon.bodymodel import skeleton
from humanrecon.bodymodel.model import load_body_model
from humanrecon.bodymodel.skinning import posed_transforms
from humanrecon.calibration import write_easymocap
from humanrecon.io.atomic import atomic_output, atomic_write_text
from humanrecon.io.images import write_image, write_label_map, write_mask
from humanrecon.io.npz import write_npz
from humanrecon.provenance import provenance
from humanrecon.session import write_session_yaml
from humanrecon.synth import garments, poses, render, scene
from humanrecon.synth.rig import RigConfig, make_rig
from humanrecon.synth.subjects import PhenotypeSampler

log = logging.getLogger(__name__)

_STREAMS = ("subject", "rig", "studio", "lighting", "motion", "noise")


@dataclass(frozen=True)
class StudioConfig:
    """Settings of one synthetic session (config key ``synth.<name>``).

    Attributes
    ----------
    name : str
    seed : int
    num_frames : int
    num_cameras : int
    image_size : (int, int)
        (width, height) pixels.
    layout : {"ring", "dome"}
    distortion : bool
    fps : float
    clothing : bool
        False renders the naked SMPL-format body (for ablations and tests).
    """

    name: str = "synthetic"
    seed: int = 0
    num_frames: int = 4
    num_cameras: int = 8
    image_size: tuple[int, int] = (512, 512)
    layout: str = "ring"
    distortion: bool = True
    fps: float = 30.0
    clothing: bool = True

    @classmethod
    def from_dict(cls, d: dict, name: str | None = None) -> StudioConfig:
        """Build from a config mapping; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown synthetic-session settings {sorted(unknown)}; known: {sorted(known)}")
        kw = dict(d)
        if name is not None:
            kw["name"] = name
        if "image_size" in kw:
            kw["image_size"] = tuple(int(x) for x in kw["image_size"])
        return cls(**kw)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}


@dataclass
class SessionPlan:
    """Everything sampled for a session before rendering (subject, rig, motion)."""

    config: StudioConfig
    phenotype: dict
    betas: np.ndarray  # (10,)
    outfit: object
    rig: object
    studio: object
    lighting: object
    plate_lighting: object
    global_orient: np.ndarray  # (F, 3)
    body_pose: np.ndarray  # (F, 69)
    transl: np.ndarray  # (F, 3)


def plan_session(config: StudioConfig, body_model, phenotypes: PhenotypeSampler) -> SessionPlan:
    """Sample subject, outfit, rig, studio, lighting and motion (feet on the floor, y = 0)."""
    rng = _streams(config.seed)
    phen, betas = phenotypes.sample(rng["subject"])
    Vs = body_model.num_surface_vertices
    rest = posed_transforms(body_model, betas[None], np.zeros((1, 3)), np.zeros((1, 69)))
    weights = body_model.smpl.lbs_weights.detach().cpu().numpy().astype(np.float64)
    if config.clothing:
        outfit = garments.sample_outfit(
            rng["subject"], rest.v_shaped[0, :Vs], body_model.faces, weights[:Vs], body_model.part_labels[:Vs], rest.joints[0]
        )
    else:
        outfit = garments.no_clothes_outfit(rng["subject"], rest.v_shaped[0, :Vs], body_model.part_labels[:Vs])
    rig = make_rig(
        rng["rig"],
        RigConfig(
            num_cameras=config.num_cameras,
            layout=config.layout,
            image_size=tuple(config.image_size),
            distortion=config.distortion,
        ),
    )
    studio = scene.make_studio(rng["studio"])
    lighting = render.make_lighting(rng["lighting"])
    plate_lighting = render.perturb_lighting(lighting, rng["lighting"])

    F = config.num_frames
    pose_seq = poses.sample_sequence(rng["motion"], F, fps=config.fps)  # (F, 24, 3)
    headings, xz = poses.sample_global_motion(rng["motion"], F, fps=config.fps)
    global_orient = poses.compose_heading(pose_seq[:, 0], headings)  # (F, 3)
    body_pose = pose_seq[:, 1:].reshape(F, -1)
    root = rest.joints[0, 0]
    transl = np.zeros((F, 3))
    transl[:, 0] = xz[:, 0] - root[0]
    transl[:, 2] = xz[:, 1] - root[2]
    # feet on the floor: lowest point of the clothed body (shoes included) at y = 0
    T = posed_transforms(body_model, np.repeat(betas[None], F, 0), global_orient, body_pose, transl)
    for f in range(F):
        Tf = _frame_transforms(T, f)
        lowest = min(s[0][:, 1].min() for s in garments.clothed_surfaces(body_model, outfit, Tf))
        transl[f, 1] = -lowest
    return SessionPlan(config, phen, betas, outfit, rig, studio, lighting, plate_lighting, global_orient, body_pose, transl)


def _frame_transforms(T, f: int):
    from humanrecon.bodymodel.skinning import PosedTransforms

    return PosedTransforms(A=T.A[f : f + 1], joints=T.joints[f : f + 1], v_shaped=T.v_shaped[f : f + 1], transl=T.transl[f : f + 1])


def _to_render_surfaces(surfaces) -> list:
    return [render.Surface(vertices=s[0], faces=s[1], part_labels=s[2], albedo=s[3], is_body=True) for s in surfaces]


def write_session(
    out_dir: str | os.PathLike,
    config: StudioConfig,
    body_model_path: str | os.PathLike = "resources/body_models",
    anny_cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Render and write a whole synthetic session to ``out_dir`` (atomically; see the module docstring).

    Returns the session folder.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    bm = load_body_model(body_model_path)
    plan = plan_session(config, bm, PhenotypeSampler(bm, anny_cache_dir))
    rng_noise = _streams(config.seed)["noise"]
    cams = list(plan.rig)
    names = [c.name for c in cams]
    F = config.num_frames
    betas_f = np.repeat(plan.betas[None], F, 0)
    T = posed_transforms(bm, betas_f, plan.global_orient, plan.body_pose, plan.transl)
    with atomic_output(out_dir, is_dir=True) as tmp:
        write_easymocap(plan.rig, tmp / "calibration" / "intri.yml", tmp / "calibration" / "extri.yml")
        plates = render.render_background(plan.studio, cams, rng_noise, plan.plate_lighting)
        for cam, plate in zip(cams, plates, strict=True):
            write_image(tmp / "backgrounds" / f"{cam.name}.png", plate)
        for f in range(F):
            tf = time.perf_counter()
            Tf = _frame_transforms(T, f)
            surfaces = garments.clothed_surfaces(bm, plan.outfit, Tf)
            renders = render.render_frame(_to_render_surfaces(surfaces), plan.studio, cams, rng_noise, plan.lighting)
            for cam, r in zip(cams, renders, strict=True):
                write_image(tmp / "images" / cam.name / f"{f:06d}.png", r.rgb)
                write_mask(tmp / "gt" / "masks" / cam.name / f"{f:06d}.png", r.mask)
                write_label_map(tmp / "gt" / "parts" / cam.name / f"{f:06d}.png", r.parts)
                write_npz(tmp / "gt" / "depth" / cam.name / f"{f:06d}.npz", {"depth": r.depth.astype(np.float32)})
            mesh = garments.clothed_mesh(surfaces)
            mesh_path = tmp / "gt" / "meshes" / f"{f:06d}.ply"
            mesh_path.parent.mkdir(parents=True, exist_ok=True)
            mesh.export(mesh_path, file_type="ply")
            joints = Tf.joints[0]  # (24, 3)
            joints2d = np.stack([c.project(joints) for c in cams])  # (C, 24, 2)
            write_npz(
                tmp / "gt" / "smpl" / f"{f:06d}.npz",
                {
                    "betas": plan.betas.astype(np.float64),
                    "body_pose": plan.body_pose[f].astype(np.float64),
                    "global_orient": plan.global_orient[f].astype(np.float64),
                    "transl": plan.transl[f].astype(np.float64),
                    "joints": joints.astype(np.float64),
                    "joints2d": joints2d.astype(np.float64),
                    "camera_names": np.array(names),
                },
            )
            log.info("frame %d/%d rendered in %.2f s", f + 1, F, time.perf_counter() - tf)
        session = {
            "name": config.name,
            "units": "m",
            "up": "y",
            "calibration": {"format": "easymocap", "path": "calibration"},
            "cameras": names,
            "frames": {"start": 0, "stop": F, "step": 1},
            "images": "images/{camera}/{frame:06d}.png",
            "backgrounds": "backgrounds/{camera}.png",
            "gt": {
                "meshes": "gt/meshes/{frame:06d}.ply",
                "smpl": "gt/smpl/{frame:06d}.npz",
                "masks": "gt/masks/{camera}/{frame:06d}.png",
                "parts": "gt/parts/{camera}/{frame:06d}.png",
            },
        }
        write_session_yaml(session, tmp / "session.yaml")
        subject = {
            "phenotype": plan.phenotype,
            "betas": plan.betas.tolist(),
            "outfit": plan.outfit.description,
            "settings": asdict(config),
            "joint_names": list(skeleton.JOINT_NAMES),
            "provenance": provenance(asdict(config)),
        }
        atomic_write_text(tmp / "gt" / "subject.json", json.dumps(subject, indent=2, sort_keys=True) + "\n")
    log.info("wrote session %s (%d frames x %d cameras) in %.1f s", out_dir, F, len(cams), time.perf_counter() - t0)
    return out_dir
