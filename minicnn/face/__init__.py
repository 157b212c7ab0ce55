"""Face verification (1:1) and recognition (1:K) with a Siamese ConvNet (seed notes, sections 1-5).

    from minicnn.face import load_model, FaceDatabase
    model = load_model("faces.npz")            # trained with `python -m minicnn.face train`
    enc = model.embed(images)                  # (N, 128) unit vectors, any image size
    db = FaceDatabase(model)
    db.enroll("alice", "alice.jpg")            # one photo is enough: one-shot
    db.verify("probe.jpg", "alice")            # -> (distance, same)
    db.identify("probe.jpg")                   # -> (name or None, distance)

Files: encoder (the network), ensemble (several encoders as one), losses (triplet, contrastive, binary head),
mining (online triplet selection, P x K batches), data / synthetic / augment (faces in), train, metrics / evaluate
(numbers and figures out), lfw (LFW's pairs.txt protocol), database, checkpoint (load_model);
the command line (cli, ``python -m minicnn.face``) and demo.run_demo are not imported here. A model trained
with the binary loss decides by its head's probability instead of tau (docs/face.md, 6.1).
"""
from .checkpoint import load_model
from .data import FaceDataset, load_folder, prepare_images, split_identities
from .database import FaceDatabase
from .dlib_models import detect_faces, face_chip, landmarks
from .encoder import FaceEncoder
from .ensemble import FaceEnsemble
from .losses import PairHead, contrastive_loss, fit_distance_calibration, triplet_loss
from .mining import PKSampler, batch_all, batch_hard, semi_hard
from .synthetic import synthetic_faces
from .train import TrainConfig, train

__all__ = ["FaceDataset", "load_folder", "detect_faces", "landmarks", "face_chip", "prepare_images", "split_identities",
           "FaceDatabase", "FaceEncoder", "FaceEnsemble", "load_model", "PairHead", "contrastive_loss",
           "fit_distance_calibration", "triplet_loss", "PKSampler", "batch_all", "batch_hard", "semi_hard",
           "synthetic_faces", "TrainConfig", "train"]
