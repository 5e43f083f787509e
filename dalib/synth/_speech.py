"""Synthetic acted-emotion speech corpora that mimic the B/E/C cross-corpus protocol.

Three corpora stand in for EmoDB (B), eNTERFACE'05 (E) and CASIA (C). Each is
a set of speakers (eSpeak NG voice variants with their own base pitch, range,
tempo, loudness and expressiveness) reading neutral sentences in the corpus's
language in every emotion of the corpus's class set. An emotion is rendered by
prosody only: pitch level and range, speaking rate, loudness, pauses between
words, spectral tilt (vocal effort), vocal tremor and the sentence-final
punctuation that selects eSpeak NG's intonation tune. Every corpus expresses the
emotions in its own way (its own table of emotion prosody and its own
intensity) and is recorded through its own channel (sample rate, band limits,
room reverberation, noise floor, recording gain). Nothing about the labels is
random: the differences between corpora are acoustic, as between real corpora.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zlib
from collections.abc import Mapping

import numpy as np

from dalib.synth import _channel, _espeak, _texts

__all__ = [
    "BASE_EXPRESSION",
    "SPEECH_CORPORA",
    "Channel",
    "Prosody",
    "Speaker",
    "SpeechCorpusSpec",
    "Variability",
    "render_utterance",
]

GENERATOR_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Prosody:
    """How one emotion departs from neutral speech.

    Attributes:
      pitch: added to the speaker's eSpeak NG pitch (0–100 scale; 10 units are
        roughly 1.5 semitones).
      pitch_range: added to the speaker's eSpeak NG pitch range (0–100).
      rate: factor on the speaker's words per minute.
      gain_db: loudness change in dB.
      word_gap: extra pause between words, in units of 10 ms.
      tilt: spectral tilt in dB per octave around 1 kHz (vocal effort; > 0 brighter).
      tremor: depth of a 6 Hz pitch modulation (0.03 = ±3 %).
      punctuation: the sentence-final mark (``"."``, ``"!"`` or ``"?"``), which
        selects eSpeak NG's statement, exclamation or question tune.
    """

    pitch: float = 0.0
    pitch_range: float = 0.0
    rate: float = 1.0
    gain_db: float = 0.0
    word_gap: float = 0.0
    tilt: float = 0.0
    tremor: float = 0.0
    punctuation: str = "."


@dataclasses.dataclass(frozen=True)
class Variability:
    """Standard deviations of the per-utterance random variation of the prosody.

    Attributes:
      pitch: of the pitch (eSpeak NG units).
      pitch_range: of the pitch range (eSpeak NG units).
      log_rate: of the log speaking rate.
      gain_db: of the loudness (dB).
      word_gap: of the pause between words (10 ms units).
      tilt: of the spectral tilt (dB per octave).
    """

    pitch: float = 2.5
    pitch_range: float = 5.0
    log_rate: float = 0.04
    gain_db: float = 1.2
    word_gap: float = 0.5
    tilt: float = 0.6


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One synthetic speaker.

    Attributes:
      name: speaker identifier (unique within the corpus).
      variant: eSpeak NG voice variant (``"m1"``, ``"f3"``, ...): formants,
        base pitch and voice quality.
      gender: ``"m"`` or ``"f"``.
      pitch: base eSpeak NG pitch (0–100).
      pitch_range: base eSpeak NG pitch range (0–100).
      rate: base speaking rate in words per minute.
      expressiveness: factor on the corpus's emotion deviations from neutral.
      level_db: the speaker's level at the microphone in dB.
    """

    name: str
    variant: str
    gender: str
    pitch: float = 50.0
    pitch_range: float = 50.0
    rate: float = 170.0
    expressiveness: float = 1.0
    level_db: float = 0.0


@dataclasses.dataclass(frozen=True)
class Channel:
    """The recording chain of a corpus.

    Attributes:
      sample_rate: sample rate of the stored files in Hz.
      highpass_hz: high-pass corner of the microphone/pre-amplifier (``None``: none).
      lowpass_hz: low-pass corner (``None``: none).
      narrowband_rate: when set, the signal passes through this sample rate
        before being stored (e.g. 8000 for a telephone-band chain).
      rt60: reverberation time of the room in seconds (0: anechoic).
      noise_dbfs: RMS of the constant noise floor in dB full scale.
      noise_color: ``"white"``, ``"pink"`` or ``"brown"``.
      hum_hz: mains hum frequency (``None``: no hum).
      gain_db: recording gain.
    """

    sample_rate: int
    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    narrowband_rate: int | None = None
    rt60: float = 0.0
    noise_dbfs: float = -70.0
    noise_color: str = "white"
    hum_hz: float | None = None
    gain_db: float = 0.0


@dataclasses.dataclass(frozen=True)
class SpeechCorpusSpec:
    """Everything that defines a synthetic corpus (its hash keys the disk cache).

    Attributes:
      name: corpus name (``"synth-emodb"``).
      code: one-letter protocol code (``"B"``, ``"E"``, ``"C"``).
      stands_for: the real corpus it mimics.
      language: eSpeak NG language voice (``"de"``, ``"en"``, ``"cmn"``).
      sentences: the texts, read by every speaker in every emotion.
      emotions: the class names of the corpus.
      speakers: the speakers, ordered so that any prefix mixes genders.
      expression: emotion -> :class:`Prosody`, this corpus's way of expressing it.
      intensity: factor on every emotion's deviation from neutral.
      variability: per-utterance random variation.
      channel: the recording chain.
    """

    name: str
    code: str
    stands_for: str
    language: str
    sentences: tuple[str, ...]
    emotions: tuple[str, ...]
    speakers: tuple[Speaker, ...]
    expression: Mapping[str, Prosody]
    intensity: float
    variability: Variability
    channel: Channel

    def to_json(self) -> dict:
        """A JSON-serialisable description (used for the cache key and the manifest)."""
        d = dataclasses.asdict(self)
        d["expression"] = {k: dataclasses.asdict(self.expression[k]) for k in self.emotions}
        return d


#: Emotion prosody shared by all corpora before each corpus's own changes,
#: after the acoustic profiles reported for acted speech (anger, joy and fear
#: raise pitch and tempo; sadness and boredom lower pitch, narrow the range and
#: slow down; disgust is slow and low; surprise has a wide, rising contour).
BASE_EXPRESSION: dict[str, Prosody] = {
    "neutral": Prosody(),
    "angry": Prosody(pitch=10, pitch_range=10, rate=1.15, gain_db=7, tilt=4.0, punctuation="!"),
    "happy": Prosody(pitch=22, pitch_range=35, rate=1.0, gain_db=2, tilt=1.0, punctuation="!"),
    "sad": Prosody(pitch=-10, pitch_range=-25, rate=0.75, gain_db=-7, word_gap=5, tilt=-4.0),
    "fear": Prosody(pitch=24, pitch_range=-10, rate=1.2, gain_db=-2, word_gap=1, tremor=0.04),
    "disgust": Prosody(pitch=-12, pitch_range=15, rate=0.82, gain_db=1, word_gap=4),
    "surprise": Prosody(pitch=28, pitch_range=45, gain_db=3, tilt=1.0, punctuation="?"),
    "boredom": Prosody(pitch=-6, pitch_range=-40, rate=0.9, gain_db=-3, word_gap=1, tilt=-1.0),
}


def _expression(emotions, **changes) -> dict[str, Prosody]:
    return {e: dataclasses.replace(BASE_EXPRESSION[e], **changes.get(e, {})) for e in emotions}


_SYNTH_EMODB = SpeechCorpusSpec(
    name="synth-emodb",
    code="B",
    stands_for="EmoDB (Berlin, German, 10 actors, studio)",
    language="de",
    sentences=_texts.GERMAN[:8],
    emotions=("angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"),
    speakers=(
        Speaker("b01", "m1", "m", pitch=48, pitch_range=50, rate=165, expressiveness=1.1),
        Speaker("b02", "f1", "f", pitch=52, pitch_range=55, rate=170, expressiveness=1.0),
        Speaker("b03", "m3", "m", pitch=44, pitch_range=45, rate=175, expressiveness=0.9),
        Speaker("b04", "f3", "f", pitch=50, pitch_range=60, rate=160, expressiveness=1.1),
        Speaker("b05", "m6", "m", pitch=54, pitch_range=50, rate=180, expressiveness=1.0),
        Speaker("b06", "f4", "f", pitch=46, pitch_range=50, rate=168, expressiveness=0.9),
    ),
    # Professional actors: full-strength, stereotypical expression.
    expression=_expression(
        ("angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"),
        fear={"tremor": 0.05},
    ),
    intensity=1.1,
    variability=Variability(),
    channel=Channel(sample_rate=16000, highpass_hz=50.0, rt60=0.12, noise_dbfs=-62.0, gain_db=-7.0),
)

_SYNTH_ENTERFACE = SpeechCorpusSpec(
    name="synth-enterface",
    code="E",
    stands_for="eNTERFACE'05 (English, non-actors, camera microphone in an office)",
    language="en",
    sentences=_texts.ENGLISH[:6],
    emotions=("angry", "disgust", "fear", "happy", "sad", "surprise"),
    speakers=(
        Speaker("e01", "m2", "m", pitch=50, pitch_range=50, rate=175, expressiveness=0.9),
        Speaker("e02", "f2", "f", pitch=48, pitch_range=50, rate=170, expressiveness=1.0),
        Speaker("e03", "m4", "m", pitch=46, pitch_range=45, rate=185, expressiveness=0.9),
        Speaker("e04", "steph", "f", pitch=52, pitch_range=55, rate=165, expressiveness=1.1),
        Speaker("e05", "m7", "m", pitch=52, pitch_range=55, rate=160, expressiveness=1.0),
        Speaker("e06", "linda", "f", pitch=44, pitch_range=45, rate=175, expressiveness=0.9),
        Speaker("e07", "john", "m", pitch=48, pitch_range=50, rate=190, expressiveness=1.1),
        Speaker("e08", "robert", "m", pitch=50, pitch_range=40, rate=170, expressiveness=0.95),
    ),
    # Non-actors reading emotion-eliciting lines: joy carried by tempo more than
    # by pitch, fear fast and loud, anger by pitch and effort but not tempo,
    # disgust low and loud but not slow, sadness tearful (slightly raised,
    # flat pitch) rather than slow, surprise exclaimed rather than asked.
    expression=_expression(
        ("angry", "disgust", "fear", "happy", "sad", "surprise"),
        angry={"pitch": 18, "pitch_range": 10, "rate": 1.0, "gain_db": 7, "tilt": 4.0},
        happy={"pitch": 6, "pitch_range": 30, "rate": 1.2, "gain_db": 3, "tilt": 1.0},
        fear={"pitch": 14, "rate": 1.3, "gain_db": 5, "tilt": 2.0, "tremor": 0.0},
        disgust={"pitch": -16, "rate": 0.95, "gain_db": 3, "word_gap": 0},
        surprise={"pitch": 20, "punctuation": "!"},
        sad={
            "pitch": 4,
            "pitch_range": -30,
            "rate": 0.95,
            "gain_db": -3,
            "word_gap": 1,
            "tilt": -2.0,
        },
    ),
    intensity=1.15,
    variability=Variability(),
    channel=Channel(
        sample_rate=44100,
        highpass_hz=120.0,
        lowpass_hz=7000.0,
        rt60=0.35,
        noise_dbfs=-54.0,
        noise_color="pink",
        hum_hz=50.0,
        gain_db=-11.0,
    ),
)

_SYNTH_CASIA = SpeechCorpusSpec(
    name="synth-casia",
    code="C",
    stands_for="CASIA (Mandarin, 4 professional speakers)",
    language="cmn",
    sentences=_texts.MANDARIN,
    emotions=("angry", "fear", "happy", "neutral", "sad", "surprise"),
    speakers=(
        Speaker("c01", "m5", "m", pitch=50, pitch_range=50, rate=170, expressiveness=1.0),
        Speaker("c02", "f5", "f", pitch=50, pitch_range=50, rate=165, expressiveness=1.1),
        Speaker("c03", "norbert", "m", pitch=46, pitch_range=55, rate=180, expressiveness=0.9),
        Speaker("c04", "Annie", "f", pitch=48, pitch_range=45, rate=170, expressiveness=1.0),
    ),
    # Strong expression; anger high-pitched and fast, joy loud and quick rather
    # than high, fear soft, breathy and trembling with little pitch rise,
    # sadness very slow with little pitch drop, surprise highest and widest.
    expression=_expression(
        ("angry", "fear", "happy", "neutral", "sad", "surprise"),
        angry={"pitch": 24, "pitch_range": 35, "rate": 1.2},
        happy={"pitch": 14, "pitch_range": 20, "rate": 1.15, "gain_db": 6, "tilt": 2.0},
        sad={"pitch": -4, "pitch_range": -10, "rate": 0.72, "word_gap": 1},
        fear={"pitch": 6, "gain_db": -7, "tilt": -4.0, "tremor": 0.06, "rate": 0.95},
        surprise={"pitch": 34, "pitch_range": 50, "gain_db": 0},
    ),
    intensity=1.2,
    variability=Variability(),
    channel=Channel(
        sample_rate=16000,
        highpass_hz=100.0,
        lowpass_hz=6000.0,
        rt60=0.3,
        noise_dbfs=-52.0,
        noise_color="brown",
        gain_db=-8.0,
    ),
)

#: The three corpora, by name.
SPEECH_CORPORA: dict[str, SpeechCorpusSpec] = {
    s.name: s for s in (_SYNTH_EMODB, _SYNTH_ENTERFACE, _SYNTH_CASIA)
}


def _key(*parts) -> list[int]:
    """Stable integer words for a SeedSequence from names and numbers."""
    return [zlib.crc32(str(p).encode()) if isinstance(p, str) else int(p) for p in parts]


def spec_hash(spec: SpeechCorpusSpec, **extra) -> str:
    """SHA-256 of the spec, the generator version and ``extra`` (seed, subset)."""
    blob = json.dumps(
        {"spec": spec.to_json(), "generator": GENERATOR_VERSION, **extra},
        sort_keys=True,
        ensure_ascii=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def utterance_id(speaker: str, emotion: str, sentence: int) -> str:
    """File stem of an utterance, e.g. ``b01_angry_s03``."""
    return f"{speaker}_{emotion}_s{sentence:02d}"


def draw_prosody(
    spec: SpeechCorpusSpec, speaker: Speaker, emotion: str, rng: np.random.Generator
) -> dict:
    """The eSpeak NG parameters and post-processing of one utterance."""
    p = spec.expression[emotion]
    v = spec.variability
    s = spec.intensity * speaker.expressiveness
    z = rng.standard_normal(6)
    return {
        "pitch": float(np.clip(speaker.pitch + s * p.pitch + v.pitch * z[0], 0, 100)),
        "pitch_range": float(
            np.clip(speaker.pitch_range + s * p.pitch_range + v.pitch_range * z[1], 0, 100)
        ),
        "rate": float(speaker.rate * math.exp(s * math.log(p.rate) + v.log_rate * z[2])),
        "gain_db": float(speaker.level_db + s * p.gain_db + v.gain_db * z[3]),
        "word_gap": float(max(0.0, s * p.word_gap + v.word_gap * z[4])),
        "tilt": float(s * p.tilt + v.tilt * z[5]),
        "tremor": float(s * p.tremor),
        "punctuation": p.punctuation,
    }


def _room(spec: SpeechCorpusSpec, speaker: Speaker, seed: int) -> np.ndarray:
    """The impulse response of a speaker's position in the corpus's room."""
    ch = spec.channel
    rng = np.random.default_rng(_key(seed, spec.name, speaker.name, "room"))
    rt60 = ch.rt60 * rng.uniform(0.85, 1.15)
    return _channel.room_impulse_response(ch.sample_rate, rt60, rng)


def render_utterance(
    spec: SpeechCorpusSpec, speaker: Speaker, emotion: str, sentence: int, *, seed: int
) -> tuple[np.ndarray, dict]:
    """Synthesise one utterance and pass it through the corpus's channel.

    Args:
      spec: the corpus.
      speaker: one of ``spec.speakers``.
      emotion: one of ``spec.emotions``.
      sentence: index into ``spec.sentences``.
      seed: the build seed; with the names above it fixes every random draw.

    Returns:
      ``(wav, prosody)``: ``[num_samples] float32`` in [-1, 1] at
      ``spec.channel.sample_rate`` and the prosody parameters that were used.

    Examples:
      >>> from dalib.synth import SPEECH_CORPORA, render_utterance
      >>> spec = SPEECH_CORPORA["synth-emodb"]
      >>> wav, prosody = render_utterance(spec, spec.speakers[0], "sad", 0, seed=0)
      >>> wav.dtype.name, prosody["punctuation"], prosody["rate"] < spec.speakers[0].rate
      ('float32', '.', True)

    References:
      Murray and Arnott, "Toward the simulation of emotion in synthetic speech:
      a review of the literature on human vocal emotion", JASA 93(2), 1993.
      Schröder, "Emotional speech synthesis: a review", Eurospeech 2001.
    """
    rng = np.random.default_rng(_key(seed, spec.name, speaker.name, emotion, sentence))
    prosody = draw_prosody(spec, speaker, emotion, rng)
    text = spec.sentences[sentence] + prosody["punctuation"]
    raw = _espeak.synthesize(
        text,
        voice=f"{spec.language}+{speaker.variant}",
        rate=prosody["rate"],
        pitch=prosody["pitch"],
        pitch_range=prosody["pitch_range"],
        word_gap=prosody["word_gap"],
    )
    rate = _espeak.SAMPLE_RATE
    x = raw.astype(np.float64) / 32768.0
    x = _channel.tremor(x, rate, prosody["tremor"])
    x = _channel.spectral_tilt(x, rate, prosody["tilt"])
    lead, trail = (int(rng.uniform(0.15, 0.35) * rate) for _ in range(2))
    x = np.concatenate([np.zeros(lead), x, np.zeros(trail)])
    ch = spec.channel
    x *= 10.0 ** ((prosody["gain_db"] + ch.gain_db) / 20.0)
    if ch.narrowband_rate:
        x = _channel.resample(x, rate, ch.narrowband_rate)
        rate = ch.narrowband_rate
    x = _channel.resample(x, rate, ch.sample_rate)
    rate = ch.sample_rate
    if ch.rt60 > 0:
        x = _channel.reverberate(x, _room(spec, speaker, seed))
    x = _channel.band_limit(x, rate, ch.highpass_hz, ch.lowpass_hz)
    x = _channel.add_noise(x, rate, ch.noise_dbfs, rng, color=ch.noise_color, hum_hz=ch.hum_hz)
    prosody["clipped_fraction"] = float(np.mean(np.abs(x) > 1.0))
    return np.clip(x, -1.0, 1.0).astype(np.float32), prosody
