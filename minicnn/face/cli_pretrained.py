"""The command-line parts that only the pretrained networks (``--model dlib``) have: every face
of a group photo for ``identify``, and ``detect``."""
from __future__ import annotations

import os
import sys

from minicnn.cli_args import json_text
from minicnn.io import atomic_write

from .data import read_image


def _box(box) -> str:
    return "[" + ", ".join(str(int(v)) for v in box) + "]"


def identify_every_face(db, a, describe):
    """One line per detected face: who it is (or "not recognised") and where.
    ``describe(match, db)`` words the decision as the other commands do."""
    if not len(db):
        raise ValueError("identify: the database is empty; enroll someone first")
    faces = db.model.faces(read_image(a.image, channels=3))
    if not faces:  # embed() then takes the whole picture as the face
        m = db.identify_encoding(db.encode(a.image)[0])
        print(f"{m.name if m.same else 'not recognised'}: {describe(m, db)} (no face detected, the whole "
              f"picture was used)")
        return 0 if m.same else 1
    found = 0
    for box, score, _, chip in faces:
        m = db.identify_encoding(db.model.encode_chips(chip[None])[0])
        found += m.same
        print(f"{m.name if m.same else 'not recognised'}: {describe(m, db)} face at {_box(box)} "
              f"(left, top, right, bottom; detector score {score:.2f})")
    return 0 if found else 1


def cmd_detect(a):
    """``python -m minicnn.face detect PHOTO [--out boxes.png] [--json]``."""
    from .dlib_models import load_pretrained
    from .dlib_models.draw import detection_figure

    if a.out:
        if not a.out.lower().endswith(".png"):
            raise ValueError(f"--out {a.out!r}: the picture is written as PNG; give a name ending in .png")
        if os.path.exists(a.out) and os.path.samefile(a.out, a.image):
            raise ValueError(f"--out {a.out!r} is the input photo; choose another name")
    image = read_image(a.image, channels=3)
    faces = load_pretrained().faces(image, upsample=a.upsample)
    if a.json:
        print(json_text({"image": a.image, "faces": [
            {"box": [int(v) for v in box], "score": score, "landmarks": pts.round(2).tolist()}
            for box, score, pts, _ in faces]}))
    else:
        for box, score, pts, _ in faces:
            print(f"face at {_box(box)} score {score:.3f} landmarks "
                  + " ".join(f"({x:.1f}, {y:.1f})" for x, y in pts))
        if not faces:
            print("no face found")
    if a.out:
        fig = detection_figure(image, [f[0] for f in faces], [f[1] for f in faces], [f[2] for f in faces])
        atomic_write(a.out, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        print(f"saved {a.out}", file=sys.stderr)
    return 0
