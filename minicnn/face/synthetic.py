"""A seeded generator of synthetic faces: the embedded default data, no download needed.

Each identity is a random draw of *who* the person is (face shape, skin tone, eyes, brows,
nose, mouth, hair, facial hair); each image of that identity adds a random draw of *how* the
photo was taken (pose shift/rotation/scale, a slight head turn, lighting direction and
strength, expression, background, blur and sensor noise). A good encoder must be invariant
to the second and sensitive to the first -- which is exactly the face-verification problem.

Rendering is analytic: every part is a soft-edged shape evaluated on the pixel grid after
mapping pixels into the face's own coordinate frame (u right, v down, face centre at 0), and
shading uses the normal of an ellipsoid so side lighting darkens one cheek as on a real head.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import FaceDataset

_SKIN = (np.array([0.96, 0.82, 0.70]), np.array([0.33, 0.21, 0.14]))  # light .. dark
_HAIR = np.array([[0.06, 0.05, 0.05], [0.30, 0.18, 0.10], [0.75, 0.60, 0.35], [0.55, 0.25, 0.10],
                  [0.65, 0.65, 0.65], [0.45, 0.35, 0.25]])
_IRIS = np.array([[0.20, 0.12, 0.07], [0.30, 0.45, 0.65], [0.30, 0.45, 0.30], [0.10, 0.08, 0.06]])


@dataclass
class FaceIdentity:
    """Who a synthetic person is (all lengths in face units: the image spans [-1, 1])."""

    face_w: float      # half-width of the face ellipse
    face_h: float      # half-height
    jaw: float         # > 0 narrows the chin (egg shape), < 0 squarer
    skin: np.ndarray   # RGB albedo
    eye_dx: float      # half the distance between the eyes
    eye_y: float       # eye height
    eye_w: float
    eye_h: float
    iris: np.ndarray   # RGB
    brow_dy: float     # brow height above the eyes
    brow_t: float      # thickness
    brow_tilt: float   # radians, > 0 raises the outer ends
    brow_dark: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_t: float
    lip_dark: float
    hair: np.ndarray   # RGB
    hairline: float    # v of the hairline at the centre
    hair_len: float    # how far the hair falls at the sides (v)
    fringe: float      # curvature of the hairline
    beard: float       # 0 = none, else darkness of moustache/beard shadow
    parting: float = 0.0   # sideways offset of the hairline's lowest point
    glasses: float = 0.0   # 0 = none, else frame thickness
    moles: tuple = ()      # ((u, v, radius), ...) dark spots on the skin


def random_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw one identity's parameters."""
    u = rng.uniform
    skin = _SKIN[0] + u(0, 1) * (_SKIN[1] - _SKIN[0])
    hair = _HAIR[rng.integers(len(_HAIR))] * u(0.8, 1.2)
    luma = np.array([0.299, 0.587, 0.114])
    gap = float(luma @ hair - luma @ skin)
    if abs(gap) < 0.2:  # keep hair visible against the skin in grayscale too
        hair = hair + np.sign(gap or -1.0) * (0.2 - abs(gap))
    return FaceIdentity(
        face_w=u(0.42, 0.58), face_h=u(0.58, 0.74), jaw=u(-0.15, 0.35), skin=skin,
        eye_dx=u(0.15, 0.25), eye_y=u(-0.14, 0.0), eye_w=u(0.07, 0.12), eye_h=u(0.035, 0.06),
        iris=_IRIS[rng.integers(len(_IRIS))], brow_dy=u(0.08, 0.15), brow_t=u(0.015, 0.04),
        brow_tilt=u(-0.35, 0.35), brow_dark=u(0.5, 0.95), nose_len=u(0.14, 0.28), nose_w=u(0.04, 0.09),
        mouth_y=u(0.30, 0.44), mouth_w=u(0.12, 0.24), lip_t=u(0.015, 0.04), lip_dark=u(0.3, 0.65),
        hair=np.clip(hair, 0, 1), hairline=u(-0.70, -0.35), hair_len=u(-0.3, 0.6), fringe=u(-0.2, 0.4),
        beard=float(rng.uniform(0.2, 0.6)) if rng.random() < 0.25 else 0.0,
        parting=u(-0.25, 0.25),
        glasses=float(u(0.008, 0.02)) if rng.random() < 0.25 else 0.0,
        moles=tuple((u(-0.35, 0.35), u(-0.2, 0.5), u(0.012, 0.025)) for _ in range(rng.integers(0, 3))),
    )


def _soft(sd, w):
    """Soft inside-mask of a shape from its signed distance (< 0 inside); w ~ one pixel."""
    return 1.0 / (1.0 + np.exp(np.clip(sd / w, -40, 40)))


def _ellipse(u, v, cu, cv, a, b):
    # Distance along the ray from the centre to the boundary point it crosses, (1 - 1/r) |p|:
    # exact on the axes and never too small far away, so a thin ellipse (a closed eye) stays
    # thin instead of smearing into a line the way (r - 1) * min(a, b) or (r - 1)/|grad r| do.
    du, dv = (u - cu) / a, (v - cv) / b
    r = np.sqrt(du * du + dv * dv) + 1e-9
    return (1.0 - 1.0 / r) * np.sqrt((du * a) ** 2 + (dv * b) ** 2)


def _segment(u, v, p, q, t):
    """Signed distance to a capsule of half-thickness t around segment p-q."""
    pu, pv, qu, qv = p[0], p[1], q[0], q[1]
    du, dv = qu - pu, qv - pv
    s = np.clip(((u - pu) * du + (v - pv) * dv) / (du * du + dv * dv + 1e-12), 0, 1)
    return np.hypot(u - pu - s * du, v - pv - s * dv) - t


def render_face(ident: FaceIdentity, rng: np.random.Generator, size=(64, 64), channels: int = 1,
                nuisance: float = 0.6) -> np.ndarray:
    """One photo of ``ident`` -> (channels, H, W) float32 in [0, 1].

    ``nuisance`` scales every per-image variation (0 = the identity's canonical photo). The
    default 0.6 gives roughly the spread of a posed photo set (Yale-like: small shifts and
    turns, side lights); 1.0 is a hard setting where even a good encoder drops to ~95%.
    """
    h, w = size
    z = nuisance
    u = rng.uniform
    # Pose: pixel grid -> face frame by the inverse of (rotate, scale, shift).
    ang, sc = z * u(-0.15, 0.15), 1.25 * (1.0 + z * u(-0.10, 0.10))  # 1.25: a face crop
    sx, sy = z * u(-0.08, 0.08), z * u(-0.08, 0.08)
    yaw = z * u(-0.10, 0.10)  # inner features slide sideways when the head turns
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    xs, ys = (xs - sx) / sc, (ys - sy) / sc
    c, s = np.cos(ang), np.sin(ang)
    U, V = c * xs + s * ys, -s * xs + c * ys
    px = 2.0 / min(h, w) / sc  # one pixel in face units: the anti-aliasing width
    # Expression.
    smile, mouth_open = z * u(-0.5, 1.0), z * max(0.0, u(-0.04, 0.06))
    eye_open = 1.0 - z * (0.8 * (rng.random() < 0.1) + u(0, 0.3))
    brow_raise = z * u(-0.02, 0.04)
    f = ident
    Uf = U - yaw * np.sqrt(np.clip(1 - (U / f.face_w) ** 2, 0, 1))  # features follow the turn

    bg = np.clip(0.5 + z * (u(0.1, 0.95) - 0.5) + z * rng.normal(0, 0.08, 3), 0, 1)
    img = np.broadcast_to(bg[:, None, None] * (1 + 0.3 * z * u(-1, 1) * xs), (3, h, w)).copy()

    def paint(mask, color):
        nonlocal img
        img = img * (1 - mask) + np.asarray(color)[:, None, None] * mask

    head_b = f.face_h * 1.05
    hair_back = _soft(np.maximum(_ellipse(U, V, 0, -0.05, f.face_w * 1.18, head_b * 1.05),
                                 V - f.hair_len), px)
    paint(hair_back, f.hair)
    vj = np.clip(V / f.face_h, 0, 1)  # narrow the lower face for the jaw shape
    face_sd = _ellipse(U / (1 - f.jaw * vj ** 2), V, 0, 0.05, f.face_w, f.face_h)
    face = _soft(face_sd, px)
    paint(face, f.skin)
    ears = _soft(np.minimum(_ellipse(U, V, -f.face_w, f.eye_y + 0.06, 0.06, 0.11),
                            _ellipse(U, V, f.face_w, f.eye_y + 0.06, 0.06, 0.11)), px) * (1 - face)
    paint(ears * (1 - hair_back * (f.hair_len > 0.1)), f.skin * 0.9)
    line = f.hairline + f.fringe * ((U - f.parting) / f.face_w) ** 2
    top = _soft(np.maximum(_ellipse(U, V, 0, 0.0, f.face_w * 1.08, head_b), V - line), px)
    paint(top, f.hair)
    for mu, mv, mr in f.moles:
        paint(_soft(_ellipse(Uf, V, mu, mv, mr, mr), px) * face * 0.7, f.skin * 0.3)
    if f.beard:
        beard = _soft(np.maximum(face_sd, f.mouth_y - 0.10 - V), px * 2)
        paint(beard * f.beard, f.hair)
    for side in (-1, 1):
        cu = side * f.eye_dx
        white = _soft(_ellipse(Uf, V, cu, f.eye_y, f.eye_w, max(f.eye_h * eye_open, 0.004)), px)
        paint(white, np.array([0.92, 0.92, 0.90]))
        paint(white * _soft(_ellipse(Uf, V, cu + yaw * 0.3, f.eye_y, f.eye_h * 0.9, f.eye_h * 0.9), px), f.iris)
        paint(white * _soft(_ellipse(Uf, V, cu + yaw * 0.3, f.eye_y, f.eye_h * 0.4, f.eye_h * 0.4), px), np.zeros(3))
        by = f.eye_y - f.brow_dy - brow_raise
        inner = (cu - side * f.eye_w * 0.9, by + f.brow_tilt * f.eye_w * 0.5)
        outer = (cu + side * f.eye_w * 1.1, by - f.brow_tilt * f.eye_w * 0.5)
        paint(_soft(_segment(Uf, V, inner, outer, f.brow_t), px) * f.brow_dark, f.hair * 0.7)
    if f.glasses:  # two rings and a bridge, drawn over the eyes
        for side in (-1, 1):
            cu = side * f.eye_dx
            ring = np.abs(_ellipse(Uf, V, cu, f.eye_y, f.eye_w * 1.6, f.eye_w * 1.2)) - f.glasses
            paint(_soft(ring, px), np.full(3, 0.1))
        bridge = _segment(Uf, V, (-f.eye_dx + f.eye_w * 1.6, f.eye_y), (f.eye_dx - f.eye_w * 1.6, f.eye_y), f.glasses)
        paint(_soft(bridge, px), np.full(3, 0.1))
    nose_top, nose_bot = f.eye_y + 0.05, f.eye_y + 0.05 + f.nose_len
    paint(_soft(_segment(Uf, V, (0.02, nose_top), (0.03, nose_bot), 0.012), px) * 0.25, f.skin * 0.5)
    for side in (-1, 1):
        paint(_soft(_ellipse(Uf, V, side * f.nose_w, nose_bot, 0.025, 0.014), px) * 0.6, f.skin * 0.35)
    # Mouth: a parabola through the lips' centre; smiling lifts the corners (v points down).
    mu = np.clip(Uf / f.mouth_w, -1, 1)
    curve = f.mouth_y - smile * 0.05 * mu ** 2
    lips = _soft(np.maximum(np.abs(V - curve) - f.lip_t - mouth_open, np.abs(Uf) - f.mouth_w), px)
    paint(lips, f.skin * (1 - f.lip_dark) + np.array([0.15, 0.0, 0.0]) * f.lip_dark)
    if mouth_open > 0.005:
        paint(_soft(np.maximum(np.abs(V - curve) - mouth_open, np.abs(Uf) - f.mouth_w * 0.8), px), np.full(3, 0.08))

    # Lighting: ambient + Lambert on an ellipsoid normal, light direction random per photo.
    nu, nv = U / (f.face_w * 1.2), V / (f.face_h * 1.2)
    nz = np.sqrt(np.clip(1 - nu ** 2 - nv ** 2, 0, 1))
    theta = u(-np.pi, np.pi)
    tilt = z * u(0, 0.9)  # 0 = frontal light
    light = np.array([np.sin(tilt) * np.cos(theta), np.sin(tilt) * np.sin(theta), np.cos(tilt)])
    lam = np.clip(nu * light[0] + nv * light[1] + nz * light[2], 0, 1)
    amb = 0.4 + z * u(-0.15, 0.15)
    head = np.maximum(face, hair_back)
    shade = head * (amb + (1 - amb) * lam) + (1 - head) * 1.0
    img = img * shade[None] * (1.0 + z * u(-0.25, 0.25))
    img = (img - img.mean()) * (1.0 + z * u(-0.25, 0.25)) + img.mean()
    if z and rng.random() < 0.15:  # slight defocus
        img = (img + np.roll(img, 1, 1) + np.roll(img, -1, 1) + np.roll(img, 1, 2) + np.roll(img, -1, 2)) / 5
    img = img + rng.normal(0, z * u(0.0, 0.04), img.shape)
    img = np.clip(img, 0, 1).astype(np.float32)
    if channels == 1:
        img = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), img, axes=1)[None]
    return img.astype(np.float32)


def synthetic_faces(n_identities: int = 40, per_identity: int = 8, size: tuple[int, int] = (64, 64), channels: int = 1,
                    split: str = "train", seed: int = 0, nuisance: float = 0.6) -> FaceDataset:
    """A :class:`FaceDataset` of ``n_identities`` x ``per_identity`` synthetic photos.

    ``split`` selects an independent stream of identities ("train", "val" or "test"), so the
    people of different splits never overlap for the same ``seed``; names are "<split>-NNN".
    """
    streams = {"train": 0, "val": 1, "test": 2}
    if split not in streams:
        raise ValueError(f"split must be one of {sorted(streams)}, got {split!r}")
    if n_identities < 2 or per_identity < 1:
        raise ValueError(f"need n_identities >= 2 and per_identity >= 1, got {n_identities}, {per_identity}")
    images, labels = [], []
    for k in range(n_identities):
        rng = np.random.default_rng([seed, streams[split], k])
        ident = random_identity(rng)
        for _ in range(per_identity):
            images.append(render_face(ident, rng, size, channels, nuisance))
            labels.append(k)
    names = [f"{split}-{k:03d}" for k in range(n_identities)]
    return FaceDataset(np.stack(images), np.array(labels), names)
