"""Synthetic micro-expression databases written in the original layouts of CASME II, SMIC, SAMM.

Five stand-ins (codes as in the CDMER benchmark): ``casme2`` (C, 200 fps),
``smic-hs`` (H, 100 fps), ``smic-vis`` (V, 25 fps), ``smic-nir`` (N, 25 fps,
near-infrared look) and ``samm`` (S, 200 fps). Every subject is a parametric
face (:mod:`dalib.synth._face_model`); every clip runs from the onset to the
offset of one micro-expression: a brief (at most 0.5 s), low-amplitude local
deformation that follows the action units of its emotion, with a raised-cosine
onset-apex-offset profile, plus distractors (blinks, head drift and sway,
sensor noise). Databases differ as the real ones do: frame rate, frame size,
lighting, camera noise and blur, lamp flicker, the near-infrared look (paler
features, flatter contrast, texture loss, vignetting), the subject population,
and the mixture of action units behind "negative". SMIC-VIS and SMIC-NIR are
the same events seen by two cameras, as in SMIC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from collections.abc import Mapping

import numpy as np

from dalib.synth._face_model import FaceParams, Imaging, render_clip, sample_face

__all__ = ["ME_DATABASES", "MEDatabaseSpec", "plan_database", "render_planned_clip"]

ME_GENERATOR_VERSION = 1

# Action-unit recipes: emotion -> alternatives, each ((AU, relative intensity), ...).
_POSITIVE = (((12, 1.0),), ((12, 1.0), (6, 0.6)), ((12, 0.9), (6, 0.3)))
_SURPRISE = (
    ((1, 1.0), (2, 1.0)),
    ((1, 1.0), (2, 1.0), (5, 0.8)),
    ((1, 0.8), (2, 0.8), (26, 0.5)),
    ((2, 0.8), (5, 1.0)),
)
_DISGUST = (((9, 1.0), (4, 0.5)), ((9, 0.8), (10, 0.8)), ((4, 1.0), (9, 0.5)))
_SADNESS = (((15, 1.0),), ((1, 0.6), (15, 0.8)), ((4, 0.5), (15, 0.9)))
_FEAR = (((4, 0.8), (20, 0.8)), ((1, 0.5), (4, 0.8)))
_ANGER = (((4, 1.0), (7, 0.7)), ((4, 1.0),), ((4, 0.6), (24, 1.0)))
_CONTEMPT = (((14, 1.0),),)
_OTHER = (((17, 1.0),), ((7, 1.0),), ((14, 0.6), (17, 0.6)), ((24, 0.8),), ((10, 0.7),))
_SMIC_NEGATIVE = (((4, 1.0),), ((15, 1.0),), ((9, 1.0),), ((4, 0.7), (15, 0.7)))


@dataclasses.dataclass(frozen=True)
class MEDatabaseSpec:
    """The definition of one synthetic micro-expression database.

    Attributes:
      name: ``casme2``, ``smic-hs``, ``smic-vis``, ``smic-nir`` or ``samm`` (the reader's name).
      code: the CDMER code (``C``, ``H``, ``V``, ``N``, ``S``).
      stands_for: the real database.
      layout: ``"casme2"``, ``"smic"`` or ``"samm"``.
      fps: frame rate.
      imaging: the camera and lighting.
      subjects: subject ids as the layout writes them.
      emotions: original emotion label -> number of clips (label as the real release spells it).
      class_map: original label -> CDMER class (labels absent here are outside the map).
      recipes: original label -> alternative action-unit combinations.
      duration: range of micro-expression durations (seconds; onset to offset).
      amplitude: displacement of an action unit at full intensity (face units).
      intensity: range of the per-clip intensity factor.
      unilateral: probability that an expression is on one side of the face only.
      blink_rate: probability of a blink within a clip.
      population: ``skin``, ``texture``, ``expressivity`` ``(mean, sd)`` of the subjects.
      events_from: another database whose subjects and events this one films
        with its own camera (SMIC-NIR films SMIC-VIS's), or ``""``.
      frame_format: ``"jpg"`` or ``"bmp"``.
      jpeg_quality: JPEG quality of the frames.
    """

    name: str
    code: str
    stands_for: str
    layout: str
    fps: float
    imaging: Imaging
    subjects: tuple[str, ...]
    emotions: Mapping[str, int]
    class_map: Mapping[str, str]
    recipes: Mapping[str, tuple]
    duration: tuple[float, float] = (0.2, 0.45)
    amplitude: float = 0.06
    intensity: tuple[float, float] = (0.7, 1.3)
    unilateral: float = 0.1
    blink_rate: float = 0.2
    population: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    events_from: str = ""
    frame_format: str = "jpg"
    jpeg_quality: int = 90

    @property
    def num_clips(self) -> int:
        return sum(self.emotions.values())

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def spec_hash(spec: MEDatabaseSpec, *, seed: int, subset: tuple | None = None) -> str:
    """SHA-256 of the definition, the seed, the generator version and a subset selection."""
    import cv2

    payload = {
        "spec": spec.to_json(),
        "seed": int(seed),
        "generator_version": ME_GENERATOR_VERSION,
        "subset": list(subset) if subset else None,
        "opencv": cv2.__version__,
    }
    if spec.events_from:
        payload["events"] = ME_DATABASES[spec.events_from].to_json()
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


_SMIC_HS_SUBJECTS = tuple(f"s{i}" for i in (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20))
_SMIC_CLASSES = {"positive": "positive", "negative": "negative", "surprise": "surprise"}
_SMIC_RECIPES = {"positive": _POSITIVE, "negative": _SMIC_NEGATIVE, "surprise": _SURPRISE}
_SMIC_POP = {"skin": (175.0, 18.0), "texture": (0.06, 0.015), "expressivity": (1.0, 0.15)}

ME_DATABASES: Mapping[str, MEDatabaseSpec] = {
    "casme2": MEDatabaseSpec(
        name="casme2",
        code="C",
        stands_for="CASME II",
        layout="casme2",
        fps=200.0,
        imaging=Imaging(
            size=(192, 144),
            face_width=0.44,
            background=105.0,
            light=(0.0, -0.04),
            noise=1.2,
            head_motion=0.008,
        ),
        subjects=tuple(f"sub{i:02d}" for i in range(1, 27)),
        emotions={
            "happiness": 32,
            "disgust": 70,
            "sadness": 10,
            "fear": 8,
            "surprise": 25,
            "repression": 6,
            "others": 9,
        },
        class_map={
            "happiness": "positive",
            "disgust": "negative",
            "sadness": "negative",
            "fear": "negative",
            "surprise": "surprise",
        },
        recipes={
            "happiness": _POSITIVE,
            "disgust": _DISGUST,
            "sadness": _SADNESS,
            "fear": _FEAR,
            "surprise": _SURPRISE,
            "repression": (((14, 0.8),), ((17, 1.0),), ((24, 0.8),)),
            "others": _OTHER,
        },
        duration=(0.2, 0.42),
        population={"skin": (150.0, 10.0), "texture": (0.07, 0.01), "expressivity": (1.0, 0.12)},
        frame_format="jpg",
        jpeg_quality=90,
    ),
    "smic-hs": MEDatabaseSpec(
        name="smic-hs",
        code="H",
        stands_for="SMIC-HS",
        layout="smic",
        fps=100.0,
        imaging=Imaging(
            size=(160, 120),
            face_width=0.45,
            background=70.0,
            light=(0.15, -0.05),
            gain=0.9,
            gamma=1.1,
            blur=0.6,
            noise=2.5,
            flicker=0.02,
            flicker_hz=7.0,
            head_motion=0.012,
        ),
        subjects=_SMIC_HS_SUBJECTS,
        emotions={"positive": 51, "negative": 70, "surprise": 43},
        class_map=_SMIC_CLASSES,
        recipes=_SMIC_RECIPES,
        duration=(0.2, 0.5),
        population=_SMIC_POP,
        frame_format="bmp",
    ),
    "smic-vis": MEDatabaseSpec(
        name="smic-vis",
        code="V",
        stands_for="SMIC-VIS",
        layout="smic",
        fps=25.0,
        imaging=Imaging(
            size=(160, 120),
            face_width=0.40,
            background=115.0,
            light=(-0.1, 0.0),
            gain=1.05,
            blur=0.8,
            noise=2.0,
            head_motion=0.012,
        ),
        subjects=tuple(f"s{i}" for i in range(1, 9)),
        emotions={"positive": 28, "negative": 23, "surprise": 20},
        class_map=_SMIC_CLASSES,
        recipes=_SMIC_RECIPES,
        duration=(0.24, 0.5),
        population=_SMIC_POP,
        frame_format="bmp",
    ),
    "smic-nir": MEDatabaseSpec(
        name="smic-nir",
        code="N",
        stands_for="SMIC-NIR",
        layout="smic",
        fps=25.0,
        imaging=Imaging(
            size=(160, 120),
            face_width=0.40,
            background=60.0,
            light=(0.0, 0.0),
            gain=0.8,
            offset=20.0,
            gamma=0.85,
            nir=True,
            texture_gain=0.5,
            blur=0.8,
            noise=2.4,
            head_motion=0.012,
        ),
        subjects=tuple(f"s{i}" for i in range(1, 9)),
        emotions={"positive": 28, "negative": 23, "surprise": 20},
        class_map=_SMIC_CLASSES,
        recipes=_SMIC_RECIPES,
        duration=(0.24, 0.5),
        population=_SMIC_POP,
        events_from="smic-vis",
        frame_format="bmp",
    ),
    "samm": MEDatabaseSpec(
        name="samm",
        code="S",
        stands_for="SAMM",
        layout="samm",
        fps=200.0,
        imaging=Imaging(
            size=(240, 128),
            face_width=0.34,
            background=55.0,
            light=(0.0, 0.0),
            gain=1.1,
            gamma=0.9,
            noise=1.0,
            head_motion=0.015,
        ),
        subjects=tuple(
            f"{i:03d}" for i in range(6, 38) if i not in (8, 27, 29, 31)
        ),
        emotions={
            "Happiness": 26,
            "Anger": 57,
            "Contempt": 12,
            "Disgust": 9,
            "Fear": 8,
            "Sadness": 6,
            "Surprise": 15,
            "Other": 12,
        },
        class_map={
            "Happiness": "positive",
            "Anger": "negative",
            "Contempt": "negative",
            "Disgust": "negative",
            "Fear": "negative",
            "Sadness": "negative",
            "Surprise": "surprise",
        },
        recipes={
            "Happiness": _POSITIVE,
            "Anger": _ANGER,
            "Contempt": _CONTEMPT,
            "Disgust": _DISGUST,
            "Fear": _FEAR,
            "Sadness": _SADNESS,
            "Surprise": _SURPRISE,
            "Other": _OTHER,
        },
        duration=(0.2, 0.45),
        population={"skin": (150.0, 32.0), "texture": (0.075, 0.02), "expressivity": (1.0, 0.2)},
        frame_format="jpg",
        jpeg_quality=95,
    ),
}


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))


def _allocate(rng: np.random.Generator, spec: MEDatabaseSpec) -> list[tuple[int, str]]:
    """(subject index, emotion) per clip: every subject at least one clip, uneven counts."""
    n_sub = len(spec.subjects)
    labels = [e for e, k in spec.emotions.items() for _ in range(k)]
    rng.shuffle(labels)
    weights = rng.gamma(2.0, 1.0, n_sub)
    extra = rng.multinomial(len(labels) - n_sub, weights / weights.sum())
    owners = np.repeat(np.arange(n_sub), 1 + extra)
    return sorted(zip(owners.tolist(), labels, strict=True), key=lambda x: x[0])


def plan_database(spec: MEDatabaseSpec, seed: int) -> list[dict]:
    """Every clip of a database: subject, name, emotion, action units, timing, frame numbers.

    Deterministic in ``seed``. A database with ``events_from`` reuses the
    other database's plan (same subjects, events and timing) and only renames
    nothing: its camera renders the same events.
    """
    events = ME_DATABASES[spec.events_from] if spec.events_from else spec
    rng = _rng(seed, _key(events.name), 1)
    clips = []
    counters: dict[tuple, int] = {}
    for idx, (s, emotion) in enumerate(_allocate(rng, events)):
        subject = events.subjects[s]
        recipes = events.recipes[emotion]
        recipe = recipes[int(rng.integers(len(recipes)))]
        side = "B"
        if rng.random() < events.unilateral:
            side = "L" if rng.random() < 0.5 else "R"
        duration = float(rng.uniform(*events.duration))
        apex_frac = float(rng.uniform(0.3, 0.55))
        n_frames = round(duration * events.fps) + 1
        blink = None
        if rng.random() < events.blink_rate:
            blink_len = float(rng.uniform(0.1, 0.16))
            blink = (float(rng.uniform(-0.05, duration - 0.05)), blink_len)
        intensity = float(rng.uniform(*events.intensity))
        if events.layout == "casme2":
            video = int(rng.integers(1, 20))
            k = counters[(subject, video)] = counters.get((subject, video), 0) + 1
            name = f"EP{video:02d}_{k:02d}" + ("f" if rng.random() < 0.25 else "")
            first = int(rng.integers(1, 250))
        elif events.layout == "samm":
            video = int(rng.integers(1, 8))
            k = counters[(subject, video)] = counters.get((subject, video), 0) + 1
            name = f"{subject}_{video}_{k}"
            first = int(rng.integers(1000, 9000))
        else:
            short = {"positive": "po", "negative": "ne", "surprise": "sur"}[emotion]
            k = counters[(subject, short)] = counters.get((subject, short), 0) + 1
            name = f"{subject}_{short}_{k:02d}"
            first = int(rng.integers(10000, 900000))
        apex_index = round(apex_frac * (n_frames - 1))
        aus = [(au, rel, side) for au, rel in recipe]
        clips.append(
            {
                "index": idx,
                "subject": subject,
                "name": name,
                "emotion": emotion,
                "label": events.class_map.get(emotion),
                "aus": aus,
                "au_code": "+".join(f"{'' if side == 'B' else side}{au}" for au, _ in recipe),
                "duration_s": round((n_frames - 1) / events.fps, 4),
                "apex_s": round(apex_frac * duration, 4),
                "num_frames": n_frames,
                "onset_frame": first,
                "apex_frame": first + apex_index,
                "offset_frame": first + n_frames - 1,
                "intensity": round(intensity, 4),
                "blink": [round(b, 4) for b in blink] if blink else None,
            }
        )
    return clips


def subject_faces(spec: MEDatabaseSpec, seed: int) -> dict[str, FaceParams]:
    """The face of every subject (SMIC-NIR's are SMIC-VIS's)."""
    events = ME_DATABASES[spec.events_from] if spec.events_from else spec
    pop = events.population
    faces = {}
    for i, subject in enumerate(events.subjects):
        rng = _rng(seed, _key(events.name), 2, i)
        faces[subject] = sample_face(rng, **pop)
    return faces


def render_planned_clip(
    spec: MEDatabaseSpec, face: FaceParams, clip: dict, seed: int
) -> np.ndarray:
    """The frames ``[T, H, W]`` uint8 of one planned clip, seen by ``spec``'s camera."""
    events = ME_DATABASES[spec.events_from] if spec.events_from else spec
    rng = _rng(seed, _key(spec.name), 3, clip["index"])
    times = np.arange(clip["num_frames"]) / spec.fps
    duration = (clip["num_frames"] - 1) / spec.fps
    apex = (clip["apex_frame"] - clip["onset_frame"]) / spec.fps
    return render_clip(
        face,
        spec.imaging,
        aus=[tuple(a) for a in clip["aus"]],
        times=times,
        onset=0.0,
        apex=apex,
        offset=duration,
        amplitude=events.amplitude * clip["intensity"],
        blink=tuple(clip["blink"]) if clip["blink"] else None,
        rng=rng,
    )


def _check_spec(spec: MEDatabaseSpec) -> None:
    if spec.duration[1] > 0.5 + 1e-9 or spec.fps <= 0:
        raise ValueError(f"{spec.name}: a micro-expression lasts at most 0.5 s")


for _spec in ME_DATABASES.values():
    _check_spec(_spec)
