"""``facelab enrol``: one folder per person → a gallery file with a calibrated threshold.

Each enrolment photo must show one face (a group photo would enrol strangers under the person's
name). The threshold is measured on LFW galleries of as many people with as many photos each
as the one enrolled (:mod:`facelab.wild.calibrate`), so "not recognised" keeps its meaning
however many people are enrolled.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.lfw import LFW
from . import gallery_file, model as wild_model
from .calibrate import calibrate
from .photos import Summary, faces_in_photos, people_folders, stack


@dataclass
class Enrolment:
    path: Path
    gallery: gallery_file.GalleryFile
    counts: dict  # person → (faces enrolled, photos in the folder)
    summary: Summary


def enrol(people_dir, out, *, method: str, preset: str | None = None, model=None, far: float = 0.01,
          data_dir=None, calibration_data=None) -> Enrolment:
    """Enrol every person folder under ``people_dir`` with ``method`` and write the gallery to ``out``.
    ``calibration_data``: a data root (a folder split by ``facelab data split``) whose people (all
    of them: the method was not fitted on them) calibrate the threshold instead of LFW's test people:
    faces taken the way the user's are."""
    if not 0.0 < far < 1.0:
        raise ValueError(f"--far is the fraction of strangers' photos given a name, above 0 and below 1; got {far}")
    people_dir, out = Path(people_dir), Path(out)
    summary = Summary()
    folders = people_folders(people_dir, summary)
    lfw = LFW(data_dir, progress=False)
    fitted = wild_model.build(method, lfw, preset=preset, model=model)
    faces, names, counts = [], [], {}
    for person, files in folders.items():
        found = faces_in_photos(files, fitted.preprocess, summary, one=True)
        counts[person] = (len(found), len(files))
        if not found:
            summary.add(people_dir / person, "no usable photo: this person is not enrolled")
        faces += found
        names += [person] * len(found)
    if not faces:
        raise ValueError(f"nobody to enrol from {people_dir}: "
                         + ("; ".join(summary.lines) or "it holds no person folder (PEOPLE_DIR/NAME/photo.jpg)"))
    enrolled = {p: c for p, c in counts.items() if c[0]}
    strangers = lfw if calibration_data is None else LFW(calibration_data, progress=False)
    calibration = calibrate(fitted, strangers, people=len(enrolled), far=far, everyone=calibration_data is not None,
                            photos=int(np.median([c[0] for c in enrolled.values()])))
    gallery = gallery_file.GalleryFile(
        embeddings=np.asarray(fitted.embed(stack(faces)), dtype=np.float32), names=np.array(names, dtype=str),
        sources=np.array([_relative(f.photo, people_dir) for f in faces], dtype=str),
        boxes=np.array([f.box for f in faces], dtype=np.int32).reshape(-1, 4), faces=stack(faces),
        thumbs=np.stack([f.thumb for f in faces]), calibration=calibration,
        method=wild_model.source(fitted, model),
        info={"people_dir": str(people_dir.resolve()), "people": len(enrolled), "faces": len(faces),
              "lfw": lfw.layout.describe()})
    gallery_file.save(out, gallery)
    return Enrolment(out, gallery, counts, summary)


def _relative(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:  # another drive (Windows)
        return str(path)
