"""Clothing, hair and appearance of the synthetic studio (humanrecon.synth.garments)."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh
from scipy.spatial import cKDTree

from humanrecon.bodymodel.model import load_body_model
from humanrecon.bodymodel.skinning import posed_transforms
from humanrecon.synth import garments as G
from humanrecon.synth.poses import KEY_POSES

#: (seed, body shape, probability overrides) of the outfits most tests check.
CASES = (
    (0, "mean", None),
    (1, "random", None),
    (2, "mean", None),
    (3, "random", None),
    (4, "mean", {"shorts": 1.0, "hair": 0.0}),
    (5, "random", {"hair": 1.0, "hair_styles": {"bun": 1.0}, "patterns": {"stripes": 1.0}}),
    (6, "mean", {"hair": 1.0, "hair_styles": {"long": 1.0}, "jacket": 0.0, "patterns": {"dots": 1.0}}),
)
SHAPE_SEED = 11  # a second, random body shape


@pytest.fixture(scope="module")
def bm(body_model_dir):
    return load_body_model(body_model_dir)


@pytest.fixture(scope="module")
def shapes(bm):
    """Rest inputs for the mean shape and for a random shape (betas ~ N(0, 1))."""
    betas = np.random.default_rng(SHAPE_SEED).standard_normal(10)
    return {"mean": (np.zeros(10), G.rest_body_inputs(bm)), "random": (betas, G.rest_body_inputs(bm, betas))}


@pytest.fixture(scope="module")
def outfits(shapes):
    """(shape name, seed) -> Outfit for each of CASES."""
    return {
        (name, seed): G.sample_outfit(np.random.default_rng(seed), **shapes[name][1], probabilities=probs)
        for seed, name, probs in CASES
    }


@pytest.fixture(scope="module")
def skirt_outfits(shapes):
    inp = shapes["mean"][1]
    return {
        "skirt": G.sample_outfit(np.random.default_rng(7), **inp, probabilities={"dress": 0.0, "skirt": 1.0}),
        "dress": G.sample_outfit(np.random.default_rng(8), **inp, probabilities={"dress": 1.0}),
    }


def _mesh(v, f) -> trimesh.Trimesh:
    return trimesh.Trimesh(np.asarray(v), np.asarray(f), process=False)


def _posed(bm, betas, pose_name):
    pose = KEY_POSES[pose_name]
    return posed_transforms(bm, betas[None], np.zeros((1, 3)), pose[1:].ravel()[None])


def _point_triangle_distance(p, a, b, c):
    """Distance from points p (N, 3) to triangles (a, b, c) (N, 3) each (Ericson's closest-point test)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp, cp = p - b, p - c
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def safe(x):
        return np.where(x == 0, 1e-30, x)

    den = safe(va + vb + vc)
    q = a + ab * (vb / den)[:, None] + ac * (vc / den)[:, None]
    edges = (
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a, ab, d1 / safe(d1 - d3)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a, ac, d2 / safe(d2 - d6)),
        ((va <= 0) & (d4 >= d3) & (d5 >= d6), b, c - b, (d4 - d3) / safe((d4 - d3) + (d5 - d6))),
    )
    for cond, o, d, t in edges:
        q = np.where(cond[:, None], o + d * t[:, None], q)
    q = np.where(((d1 <= 0) & (d2 <= 0))[:, None], a, q)
    q = np.where(((d3 >= 0) & (d4 <= d3))[:, None], b, q)
    q = np.where(((d6 >= 0) & (d5 <= d6))[:, None], c, q)
    return np.linalg.norm(q - p, axis=1)


def _distance_to_surface(points, vertices, faces, k=12):
    """Exact point-to-mesh distance, searching the faces around the k nearest vertices."""
    _, near = cKDTree(vertices).query(points, k=k)
    vf = sp.csr_matrix(
        (np.ones(faces.size), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))), shape=(len(vertices), len(faces))
    )
    out = np.empty(len(points))
    for i, p in enumerate(points):
        cand = np.unique(vf[near[i]].indices)
        tri = vertices[faces[cand]]
        out[i] = _point_triangle_distance(np.broadcast_to(p, (len(cand), 3)), tri[:, 0], tri[:, 1], tri[:, 2]).min()
    return out


# --------------------------------------------------------------------------------------------------


def test_outfit_is_deterministic_for_a_seed(shapes):
    inp = shapes["random"][1]
    a = G.sample_outfit(np.random.default_rng(42), **inp, probabilities={"skirt": 1.0})
    b = G.sample_outfit(np.random.default_rng(42), **inp, probabilities={"skirt": 1.0})
    c = G.sample_outfit(np.random.default_rng(43), **inp)
    np.testing.assert_array_equal(a.body_offsets, b.body_offsets)
    np.testing.assert_array_equal(a.albedo, b.albedo)
    assert a.description == b.description
    assert len(a.extra) == len(b.extra)
    for ea, eb in zip(a.extra, b.extra, strict=True):
        for field in ("vertices", "faces", "weights", "albedo", "part_labels"):
            np.testing.assert_array_equal(getattr(ea, field), getattr(eb, field))
    assert not np.array_equal(a.albedo, c.albedo)


def test_outfit_contents_and_description(outfits, shapes):
    Vs = len(shapes["mean"][1]["rest_vertices"])
    kinds = set()
    for (_, _), o in outfits.items():
        assert o.body_offsets.shape == (Vs, 3) and o.body_offsets.dtype == np.float64
        assert o.albedo.shape == (Vs, 3)
        assert np.all((o.albedo >= 0) & (o.albedo <= 1))
        d = json.loads(json.dumps(o.description))  # JSON-serialisable
        assert d["top"] is not None and "shoes" in d["garments"]
        bottom = d["bottom"]["type"]
        kinds.add(bottom)
        has_skirt = bottom in ("skirt", "dress")
        assert has_skirt == bool(o.extra)
        assert bool({"trousers", "shorts"} & set(d["garments"])) == (not has_skirt)
        assert d["top"]["pattern"]["name"] in G.DEFAULT_PROBABILITIES["patterns"]
    assert kinds & {"trousers", "shorts"}


def test_offsets_zero_on_face_hands_and_feet(outfits, shapes):
    for (name, seed), o in outfits.items():
        inp = shapes[name][1]
        v, parts, J = inp["rest_vertices"], inp["part_labels"], inp["joints_rest"]
        neck_y, head_z = J[12, 1], J[15, 2]
        head_top = v[parts == 1, 1].max()
        eye_y = neck_y + 0.55 * (head_top - neck_y)
        face = (parts == 1) & (v[:, 1] > neck_y + 0.03) & (v[:, 1] < eye_y) & (v[:, 2] > head_z + 0.04)
        hands = np.abs(v[:, 0]) > 0.5 * (abs(J[20, 0]) + abs(J[21, 0])) + 0.01
        feet = v[:, 1] < 0.5 * (J[7, 1] + J[8, 1]) - 0.01
        assert face.sum() > 300 and hands.sum() > 1000 and feet.sum() > 1000
        for region, what in ((face, "face"), (hands, "hands"), (feet, "feet")):
            assert np.all(o.body_offsets[region] == 0.0), f"seed {seed}: non-zero offsets on the {what}"
        mag = np.linalg.norm(o.body_offsets, axis=1)
        assert mag.max() <= 0.06 + 1e-9
        if o.description["hair"] is not None:
            crown = (parts == 1) & (v[:, 1] > head_top - 0.02)
            assert np.all(mag[crown] > 0.005), f"seed {seed}: no hair volume on the crown"


def test_offsets_point_outwards_and_keep_the_mesh_valid(outfits, shapes):
    pymeshlab = pytest.importorskip("pymeshlab")

    def self_intersecting(v, f):
        ms = pymeshlab.MeshSet()
        ms.add_mesh(pymeshlab.Mesh(v, f))
        ms.compute_selection_by_self_intersections_per_face()
        return ms.current_mesh().face_selection_array()

    for (name, seed), o in outfits.items():
        inp = shapes[name][1]
        v, f = inp["rest_vertices"], inp["faces"]
        body, clothed = _mesh(v, f), _mesh(v + o.body_offsets, f)
        assert clothed.is_watertight
        assert clothed.volume > body.volume * 1.03, f"seed {seed}: clothing adds almost no volume"
        dots = np.einsum("ij,ij->i", body.face_normals, clothed.face_normals)
        assert np.mean(dots > 0) > 0.999, f"seed {seed}: {np.sum(dots <= 0)} faces flipped"
        outward = np.einsum("ij,ij->i", o.body_offsets, body.vertex_normals)
        assert np.mean(outward < 0) < 1e-3 and outward.sum() > 0
        # No new self-intersections (the model's own eye/mouth meshes already touch the head).
        new = self_intersecting(v + o.body_offsets, f) & ~self_intersecting(v, f)
        assert new.sum() == 0, f"seed {seed}: offsets create {new.sum()} self-intersecting faces"


def test_shoes_hair_and_skin_colours(outfits, shapes):
    for (name, _), o in outfits.items():
        inp = shapes[name][1]
        v, parts, J = inp["rest_vertices"], inp["part_labels"], inp["joints_rest"]
        sole = np.isin(parts, (11, 12)) & (v[:, 1] < v[:, 1].min() + 0.01)
        upper = np.isin(parts, (11, 12)) & (v[:, 1] > v[:, 1].min() + 0.03) & (v[:, 1] < J[7, 1] - 0.01)
        assert np.abs(o.albedo[upper] - o.description["shoes"]["color"]).max() < 1e-5
        assert np.abs(o.albedo[sole] - o.description["shoes"]["sole_color"]).max() < 1e-5
        hands = np.abs(v[:, 0]) > abs(J[20, 0]) + 0.02
        skin = np.array(o.description["skin"]["tone"])
        assert np.abs(o.albedo[hands] - skin).max() < 0.05


def test_no_clothes_outfit(bm, shapes):
    betas, inp = shapes["random"]
    o = G.no_clothes_outfit(None, inp["rest_vertices"], inp["part_labels"], skin_tone=(0.6, 0.45, 0.35))
    assert not o.extra and np.all(o.body_offsets == 0)
    np.testing.assert_allclose(o.albedo, np.broadcast_to([0.6, 0.45, 0.35], o.albedo.shape))
    json.dumps(o.description)
    a = G.no_clothes_outfit(np.random.default_rng(3), inp["rest_vertices"], inp["part_labels"])
    b = G.no_clothes_outfit(np.random.default_rng(3), inp["rest_vertices"])
    np.testing.assert_array_equal(a.albedo, b.albedo)
    assert np.all((a.albedo >= 0) & (a.albedo <= 1)) and np.ptp(a.albedo, axis=0).max() == 0
    # Naked posed surface == the body model's own forward pass.
    tr = _posed(bm, betas, "walking_left")
    (surf,) = G.clothed_surfaces(bm, o, tr)
    ref = bm.forward_numpy(betas=betas[None], body_pose=KEY_POSES["walking_left"][1:].ravel()[None])["vertices"][0]
    np.testing.assert_allclose(surf.vertices, ref, atol=1e-6)
    assert surf.name == "body"
    with pytest.raises(ValueError, match="unknown outfit probability"):
        G.sample_outfit(np.random.default_rng(0), **inp, probabilities={"hats": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        G.sample_outfit(np.random.default_rng(0), **inp, probabilities={"dress": 1.5})


def test_skirt_and_dress_are_closed_thick_shells(skirt_outfits, shapes, bm):
    inp = shapes["mean"][1]
    body = _mesh(inp["rest_vertices"], inp["faces"])
    for kind, o in skirt_outfits.items():
        assert o.description["bottom"]["type"] == kind
        assert "trousers" not in o.description["garments"]
        (e,) = o.extra
        assert e.name == kind
        shell = _mesh(e.vertices, e.faces)
        assert shell.is_watertight and shell.is_winding_consistent and shell.volume > 0
        # ~6 mm thick: volume ~ area / 2 * thickness
        assert 0.004 < shell.volume / (0.5 * shell.area) < 0.008
        np.testing.assert_allclose(e.weights.sum(axis=1), 1.0, atol=1e-9)
        others = np.setdiff1d(np.arange(24), G.SKIRT_JOINTS)
        assert np.all(e.weights[:, others] == 0)
        assert set(np.unique(e.part_labels)) <= {2, 7, 8, 9, 10}
        assert e.part_labels.shape == (len(e.faces),) and e.albedo.shape == (len(e.vertices), 3)
        assert np.all((e.albedo >= 0) & (e.albedo <= 1))
        clothed = _mesh(inp["rest_vertices"] + o.body_offsets, inp["faces"])
        union = G.clothed_mesh([(clothed.vertices, clothed.faces), (e.vertices, e.faces)])
        assert union.is_watertight
        assert union.volume > body.volume and union.volume > clothed.volume
        if kind == "dress":
            assert o.description["top"]["type"] == "dress"


def test_skirt_stays_attached_when_walking(skirt_outfits, shapes, bm):
    betas, _ = shapes["mean"]
    tr = _posed(bm, betas, "walking_left")
    for kind, o in skirt_outfits.items():
        (e,) = o.extra
        waist = e.vertices[:, 1] > o.description["bottom"]["waist_y"] - 0.0025  # outer + inner waist rings
        assert 100 < waist.sum() < 400
        surfs = G.clothed_surfaces(bm, o, tr)
        assert [s.name for s in surfs] == ["body", kind]
        body, skirt = surfs
        d = _distance_to_surface(skirt.vertices[waist], body.vertices, body.faces)
        assert d.max() < 0.03, f"{kind}: waist ring {d.max() * 100:.1f} cm from the body"
        # It stretches between the legs rather than tears: neighbouring skirt vertices (~1 cm apart at
        # rest) stay within a few cm, and most edges barely change.
        edges = _mesh(e.vertices, e.faces).edges_unique
        rest_len = np.linalg.norm(e.vertices[edges[:, 0]] - e.vertices[edges[:, 1]], axis=1)
        posed_len = np.linalg.norm(skirt.vertices[edges[:, 0]] - skirt.vertices[edges[:, 1]], axis=1)
        assert posed_len.max() < 0.05
        assert np.median(posed_len / rest_len) < 1.2
        t0 = time.perf_counter()
        union = G.clothed_mesh(surfs)
        assert time.perf_counter() - t0 < 1.0
        assert union.is_watertight and union.volume > _mesh(body.vertices, body.faces).volume


def test_posed_clothing_leaves_the_shape_space(outfits, shapes, bm):
    for (name, seed), o in outfits.items():
        betas, inp = shapes[name]
        tr = _posed(bm, betas, "walking_left")
        surfs = G.clothed_surfaces(bm, o, tr)
        naked = bm.forward_numpy(betas=betas[None], body_pose=KEY_POSES["walking_left"][1:].ravel()[None])
        body = surfs[0]
        moved = np.linalg.norm(body.vertices - naked["vertices"][0], axis=1) > 0.01
        # area-weighted: the dense face/hand vertices would dominate a plain vertex count
        area = np.zeros(len(body.vertices))
        np.add.at(area, body.faces.ravel(), np.repeat(_mesh(body.vertices, body.faces).area_faces / 3.0, 3))
        frac = area[moved].sum() / area.sum()
        assert frac > 0.2, f"seed {seed}: only {frac:.0%} of the surface moved > 1 cm"
        for s in surfs:
            assert s.part_labels.shape == (len(s.faces),) and s.part_labels.dtype == np.uint8
            assert s.part_labels.min() >= 1 and s.part_labels.max() <= 12
            assert s.albedo.shape == s.vertices.shape and np.all((s.albedo >= 0) & (s.albedo <= 1))
        assert set(np.unique(body.part_labels)) == set(range(1, 13))


def test_clothed_mesh_union_and_fallback(outfits, shapes, bm, caplog):
    betas, _ = shapes["random"]
    o = outfits["random", 1]
    surfs = G.clothed_surfaces(bm, o, _posed(bm, betas, "dancing_1"))
    t0 = time.perf_counter()
    union = G.clothed_mesh(surfs)
    assert time.perf_counter() - t0 < 1.0
    assert union.is_watertight and len(union.faces) > 10000
    # An open surface cannot be unioned: concatenation plus a warning.
    box = trimesh.creation.box()
    open_box = (box.vertices, box.faces[:-2])
    with caplog.at_level(logging.WARNING, logger="humanrecon.synth.garments"):
        out = G.clothed_mesh([surfs[0][:2], open_box])
    assert "concatenating" in caplog.text
    assert len(out.faces) == len(surfs[0].faces) + len(box.faces) - 2
