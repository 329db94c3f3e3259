"""The ``humanrecon`` command.

Subcommands::

    humanrecon build-body-model      export Anny as the SMPL-format model
    humanrecon synth session OUT     render a synthetic capture session
    humanrecon synth shards OUT      HDF5 training shards for the learned stages
    humanrecon inspect FILE.h5       readable summary of an HDF5 intermediate
    humanrecon check-session PATH    validate a session folder (session.yaml, calibration, images)
    humanrecon summary CSV...        print the mean metrics of results/<session>/metrics.csv
    humanrecon curate OUT --session NAME=DIR   dataset release (HDF5 shards + manifest.json); --verify checks one
    humanrecon train-segmenter SHARDS WORKDIR   train (or resume) the learned segmenter
    humanrecon eval-segmenter WEIGHTS SHARDS    silhouette/part/joint metrics on held-out shards
    humanrecon train-implicit SHARDS WORKDIR    train (or resume) the implicit occupancy network
    humanrecon eval-implicit WEIGHTS SHARDS     point classification on held-out implicit shards
    humanrecon version               print versions

Errors in user input (bad session, missing file) print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("humanrecon")


def _cmd_build_body_model(args) -> int:
    from humanrecon.bodymodel.build import build_body_model

    report = build_body_model(args.out, num_samples=args.samples, seed=args.seed, cache_dir=args.cache_dir)
    print(json.dumps(report, indent=2))
    return 0


def _cmd_synth_session(args) -> int:
    from humanrecon.synth.studio import StudioConfig, write_session

    cfg = StudioConfig(
        name=args.name or Path(args.out).name,
        seed=args.seed,
        num_frames=args.frames,
        num_cameras=args.cameras,
        image_size=(args.size[0], args.size[1]),
        layout=args.layout,
        distortion=not args.no_distortion,
        fps=args.fps,
        clothing=not args.no_clothing,
    )
    out = write_session(args.out, cfg, body_model_path=args.body_model, anny_cache_dir=args.cache_dir)
    print(out)
    return 0


def _cmd_synth_shards(args) -> int:
    from humanrecon.synth.shards import ShardConfig, write_shards

    if args.kind == "implicit":
        from humanrecon.pipeline.training import build_training_set

        settings = {"kind": "implicit", "seed": args.seed, "shards": args.shards, "samples": args.samples,
                    "cameras": args.cameras, "size": args.size, "points": args.points}  # fmt: skip
        print(build_training_set(args.out, settings, args.body_model, args.cache_dir))
        return 0
    cfg = ShardConfig(
        seed=args.seed,
        num_shards=args.shards,
        samples_per_shard=args.samples,
        num_cameras=args.cameras,
        image_size=args.size,
        samples_per_subject=args.samples_per_subject,
    )
    for p in write_shards(args.out, cfg, body_model_path=args.body_model, anny_cache_dir=args.cache_dir, workers=args.workers):
        print(p)
    return 0


def _cmd_inspect(args) -> int:
    from humanrecon.io.hdf5 import describe_h5

    for path in args.files:
        print(describe_h5(path))
    return 0


def _cmd_schemas(args) -> int:
    from humanrecon.io.hdf5 import schemas_markdown

    print(schemas_markdown())
    return 0


def _cmd_check_session(args) -> int:
    from humanrecon.session import load_session

    s = load_session(args.path)
    rig = s.rig()
    s.check_images()
    print(f"session {s.name!r} at {s.root}: {len(rig)} cameras, {len(s.frames)} frames "
          f"({s.frames[0]}..{s.frames[-1]}), images {rig.cameras[0].width}x{rig.cameras[0].height}: OK")
    return 0


def _cmd_summary(args) -> int:
    import csv

    for path in args.tables:
        with open(path) as fh:
            rows = list(csv.DictReader(fh))
        mean = next((r for r in rows if r["frame"] == "mean"), None)
        n = sum(1 for r in rows if r["frame"] != "mean")
        print(f"{path}: {n} frames")
        if mean:
            for k, v in mean.items():
                if k != "frame" and v:
                    print(f"  {k:18s} {float(v):10.4f}")
    return 0


def _cmd_curate(args) -> int:
    from humanrecon.curation import SessionSource, curate_release, verify_release

    if args.verify:
        manifest = verify_release(args.out)
        print(f"{args.out}: release {manifest['name']!r} OK ({len(manifest['files'])} files match manifest.json)")
        return 0
    pairs = [item.split("=", 1) for item in args.session]
    if not pairs or any(len(p) != 2 or not all(p) for p in pairs):
        raise ValueError(f"--session takes NAME=SESSION_DIR (one per session), got {args.session}")
    models = [item.split("=", 1) for item in args.model]
    if any(len(m) != 2 or not all(m) for m in models):
        raise ValueError(f"--model takes NAME=PATH, got {args.model}")
    sources = [SessionSource(name, path, Path(args.results) / name) for name, path in pairs]
    manifest = curate_release(args.out, sources, models=dict(models), crop_size=args.crop_size, dvc=args.dvc, overwrite=args.overwrite)
    print(f"{args.out}: release {manifest['name']!r}, {len(manifest['files'])} shard(s)")
    if args.dvc:
        print(f"tracked by DVC: git add {args.out}.dvc && git commit; dvc push")
    return 0


def _train_config(args):
    from dataclasses import replace

    from humanrecon.segmenter.train import QUICK, TrainConfig

    cfg = QUICK if args.quick else TrainConfig()
    over = {k: getattr(args, k) for k in ("steps", "batch_size", "input_size", "seed", "widths") if getattr(args, k) is not None}
    if "widths" in over:
        over["widths"] = tuple(over["widths"])
    return replace(cfg, **over)


def _cmd_train_segmenter(args) -> int:
    from humanrecon.segmenter.train import train

    print(train(args.shards, args.workdir, _train_config(args)))
    return 0


def _shard_paths(path: Path) -> list[Path]:
    """A shard file, or the ``shard_*.h5`` files of a folder."""
    return sorted(Path(path).glob("shard_*.h5")) if Path(path).is_dir() else [Path(path)]


def _print_json(obj: dict, output: Path | None) -> None:
    """Print ``obj`` as JSON and, with ``output``, write it there too."""
    text = json.dumps(obj, indent=2)
    if output:
        Path(output).write_text(text + "\n")
    print(text)


def _cmd_eval_segmenter(args) -> int:
    from humanrecon.segmenter.data import load_crops, store_size
    from humanrecon.segmenter.infer import load_segmenter
    from humanrecon.segmenter.train import evaluate

    model, size = load_segmenter(args.weights)
    _print_json(evaluate(model, load_crops(_shard_paths(args.shards), store_size(size)), size), args.output)
    return 0


def _cmd_train_implicit(args) -> int:
    from dataclasses import replace

    from humanrecon.implicit.train import QUICK, TrainConfig, train

    cfg = QUICK if args.quick else TrainConfig()
    over = {k: getattr(args, k) for k in ("steps", "batch_size", "seed") if getattr(args, k) is not None}
    if args.body:
        over.update(net=replace(cfg.net, body_features=True), body_model=str(args.body_model))
    print(train(args.shards, args.workdir, replace(cfg, **over)))
    return 0


def _cmd_eval_implicit(args) -> int:
    from humanrecon.implicit.body import BodyNoise
    from humanrecon.implicit.data import load_samples
    from humanrecon.implicit.infer import load_implicit
    from humanrecon.implicit.train import evaluate, make_poser

    model, _ = load_implicit(args.weights)
    samples = load_samples(_shard_paths(args.shards), model.config.crop_size)
    poser = make_poser(model.config, args.body_model)
    noise = None if args.gt_body or poser is None else BodyNoise()
    _print_json({f"{v}_views": evaluate(model, samples, v, poser=poser, noise=noise) for v in args.views}, args.output)
    return 0


def _cmd_version(args) -> int:
    from humanrecon.provenance import package_versions

    for k, v in package_versions().items():
        print(f"{k} {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="humanrecon", description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build-body-model", help="export Anny as an SMPL-format model (smplx-loadable pickle)")
    b.add_argument("--out", default="resources/body_models/smpl/SMPL_NEUTRAL.pkl")
    b.add_argument("--samples", type=int, default=4000, help="adult Anny bodies for the shape space")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--cache-dir", default=".cache/anny", help="Anny's cache (ANNY_CACHE_DIR)")
    b.set_defaults(func=_cmd_build_body_model)

    s = sub.add_parser("synth", help="synthetic capture studio")
    ssub = s.add_subparsers(dest="synth_command", required=True)
    ss = ssub.add_parser("session", help="render a capture session with full ground truth")
    ss.add_argument("out", help="session folder to write (replaced atomically)")
    ss.add_argument("--name", default=None, help="session name (default: folder name)")
    ss.add_argument("--seed", type=int, default=0)
    ss.add_argument("--frames", type=int, default=4)
    ss.add_argument("--cameras", type=int, default=8)
    ss.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("W", "H"))
    ss.add_argument("--layout", choices=("ring", "dome"), default="ring")
    ss.add_argument("--fps", type=float, default=30.0)
    ss.add_argument("--no-distortion", action="store_true", help="ideal pinhole cameras")
    ss.add_argument("--no-clothing", action="store_true", help="render the naked body model")
    ss.add_argument("--body-model", default="resources/body_models")
    ss.add_argument("--cache-dir", default=".cache/anny")
    ss.set_defaults(func=_cmd_synth_session)

    sh = ssub.add_parser("shards", help="HDF5 training shards for the learned stages (resumable)")
    sh.add_argument("out", help="folder of shard_XXXXX.h5 files")
    sh.add_argument("--seed", type=int, default=0)
    sh.add_argument("--shards", type=int, default=1)
    sh.add_argument("--samples", type=int, default=16, help="samples per shard")
    sh.add_argument("--cameras", type=int, default=4, help="views per sample")
    sh.add_argument("--size", type=int, default=256, help="square image size (pixels)")
    sh.add_argument("--kind", choices=["segmenter", "implicit"], default="segmenter",
                    help="implicit: plus labelled 3-D query points around the clothed surface (a complete set, built in OUT.partial)")
    sh.add_argument("--points", type=int, default=8192, help="query points per sample (--kind implicit)")
    sh.add_argument("--samples-per-subject", type=int, default=4, help="consecutive samples sharing a subject, outfit and studio")
    sh.add_argument("--workers", type=int, default=1, help="processes rendering shards in parallel (same files for any count)")
    sh.add_argument("--body-model", default="resources/body_models")
    sh.add_argument("--cache-dir", default=".cache/anny")
    sh.set_defaults(func=_cmd_synth_shards)

    i = sub.add_parser("inspect", help="print a readable summary of HDF5 files")
    i.add_argument("files", nargs="+")
    i.set_defaults(func=_cmd_inspect)

    sc = sub.add_parser("schemas", help="print the HDF5 schema reference (docs/hdf5-schemas.md)")
    sc.set_defaults(func=_cmd_schemas)

    c = sub.add_parser("check-session", help="validate a session folder")
    c.add_argument("path")
    c.set_defaults(func=_cmd_check_session)

    sm = sub.add_parser("summary", help="print the mean row of metrics tables")
    sm.add_argument("tables", nargs="+", help="results/<session>/metrics.csv files")
    sm.set_defaults(func=_cmd_summary)

    cu = sub.add_parser("curate", help="dataset release from processed sessions (HDF5 shards + manifest.json)")
    cu.add_argument("out", help="release folder to write (e.g. releases/demo-v1), or to check with --verify")
    cu.add_argument("--session", action="append", default=[], metavar="NAME=DIR", help="session key and folder (repeat)")
    cu.add_argument("--results", default="results", help="results root: RESULTS/NAME/ holds each session's outputs")
    cu.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="model file recorded by SHA-256")
    cu.add_argument("--crop-size", type=int, default=None, help="store square person crops of this size")
    cu.add_argument("--dvc", action="store_true", help="`dvc add` the release (inside a DVC project)")
    cu.add_argument("--overwrite", action="store_true", help="replace an existing (unmodified) release")
    cu.add_argument("--verify", action="store_true", help="only check OUT against its manifest.json")
    cu.set_defaults(func=_cmd_curate)

    t = sub.add_parser("train-segmenter", help="train (or resume) the learned segmenter on training shards")
    t.add_argument("shards", type=Path, help="folder of shard_*.h5 (humanrecon synth shards)")
    t.add_argument("workdir", type=Path, help="checkpoint.pt and train_log.jsonl go here")
    t.add_argument("--quick", action="store_true", help="a few small steps (tests, smoke runs)")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--input-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--widths", type=int, nargs=5, help="channels of the stem and the four encoder stages")
    t.set_defaults(func=_cmd_train_segmenter)

    e = sub.add_parser("eval-segmenter", help="segmenter metrics on held-out shards (nominal person crops)")
    e.add_argument("weights", type=Path)
    e.add_argument("shards", type=Path, help="a shard file or a folder of shard_*.h5")
    e.add_argument("--output", type=Path, help="also write the metrics JSON here")
    e.set_defaults(func=_cmd_eval_segmenter)

    ti = sub.add_parser("train-implicit", help="train (or resume) the implicit occupancy network on implicit shards")
    ti.add_argument("shards", type=Path, help="folder of shard_*.h5 (humanrecon synth shards --kind implicit)")
    ti.add_argument("workdir", type=Path, help="checkpoint.pt and train_log.jsonl go here")
    ti.add_argument("--quick", action="store_true", help="a few small steps (tests, smoke runs)")
    ti.add_argument("--steps", type=int)
    ti.add_argument("--batch-size", type=int)
    ti.add_argument("--seed", type=int)
    ti.add_argument("--body", action="store_true", help="condition the network on the (noisy GT) SMPL body")
    ti.add_argument("--body-model", type=Path, default=Path("resources/body_models"), help="body model folder (--body)")
    ti.set_defaults(func=_cmd_train_implicit)

    ei = sub.add_parser("eval-implicit", help="point classification of the implicit network on held-out implicit shards")
    ei.add_argument("weights", type=Path)
    ei.add_argument("shards", type=Path, help="a shard file or a folder of shard_*.h5")
    ei.add_argument("--views", type=int, nargs="+", default=[8, 4], help="cameras used (spread around the rig)")
    ei.add_argument("--output", type=Path, help="also write the metrics JSON here")
    ei.add_argument("--body-model", type=Path, default=Path("resources/body_models"), help="body model folder (body-conditioned weights)")
    ei.add_argument("--gt-body", action="store_true", help="body-conditioned weights: the exact GT body instead of the default noisy one")
    ei.set_defaults(func=_cmd_eval_implicit)

    v = sub.add_parser("version", help="print package versions")
    v.set_defaults(func=_cmd_version)
    return p


def main(argv: list[str] | None = None) -> int:
    from humanrecon.logutil import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # user-input errors carry a message naming the culprit
        if args.verbose:
            raise
        print(f"humanrecon: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
