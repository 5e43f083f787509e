"""Builders of tiny corpus trees in each corpus's real layout and file naming.

Every builder writes short generated audio (tones plus a little noise) and
returns the utterances it wrote as ``(file id, canonical label, speaker)``,
spelled out here by hand, independently of the readers under test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

SECONDS = 0.25


def tone(seed: int, *, sample_rate: int = 16000, seconds: float = SECONDS, channels: int = 1):
    """A short harmonic tone with noise, ``[T]`` or ``[T, channels]`` float64."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 120.0 + 15.0 * (seed % 11)
    x = sum(0.2 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 4))
    x = x + 0.01 * rng.standard_normal(t.shape)
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    return x


def write_wav(path: Path, seed: int, *, sample_rate: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seed, sample_rate=sample_rate, channels=channels), sample_rate, "PCM_16")
    return path


def write_avi(path: Path, seed: int, *, sample_rate: int = 48000) -> Path:
    """A 16x16 grey MJPEG video with a stereo PCM audio track (as eNTERFACE's AVIs)."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".src.wav")
    write_wav(wav, seed, sample_rate=sample_rate, channels=2)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"color=c=gray:s=16x16:r=25:d={SECONDS}",
        "-i",
        str(wav),
        "-c:v",
        "mjpeg",
        "-c:a",
        "pcm_s16le",
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    wav.unlink()
    return path


# --- EmoDB: wav/<speaker><text><emotion><version>.wav ---------------------------

EMODB_FILES = [
    ("03a01Wa", "angry", "03"),
    ("03a01Fa", "happy", "03"),
    ("03a02Nc", "neutral", "03"),
    ("03b10Lb", "boredom", "03"),
    ("08a04Ea", "disgust", "08"),
    ("08a05Aa", "fear", "08"),
    ("08b01Ta", "sad", "08"),
    ("08b02Wb", "angry", "08"),
    ("16a07Fd", "happy", "16"),
    ("16b09Ta", "sad", "16"),
]


def make_emodb(root: Path) -> list[tuple[str, str, str]]:
    for i, (stem, _, _) in enumerate(EMODB_FILES):
        write_wav(root / "wav" / f"{stem}.wav", i)
    (root / "lablaut").mkdir()  # other folders of the release are ignored
    (root / "wav" / ".DS_Store").write_bytes(b"junk")
    return list(EMODB_FILES)


# --- eNTERFACE'05: subject N/<emotion>/sentence K/sN_<em>_K.avi ----------------

ENTERFACE_FILES = [
    # (relative path, file id, label, speaker)
    ("subject 1/anger/sentence 1/s1_an_1.avi", "s1_an_1", "angry", "1"),
    ("subject 1/anger/sentence 2/s1_an_2.avi", "s1_an_2", "angry", "1"),
    ("subject 1/disgust/sentence 1/s1_di_1.avi", "s1_di_1", "disgust", "1"),
    ("subject 1/fear/sentence 1/s1_fe_1.avi", "s1_fe_1", "fear", "1"),
    ("subject 1/happiness/sentence 1/s1_ha_1.avi", "s1_ha_1", "happy", "1"),
    ("subject 1/sadness/sentence 1/s1_sa_1.avi", "s1_sa_1", "sad", "1"),
    ("subject 1/surprise/sentence 1/s1_su_1.avi", "s1_su_1", "surprise", "1"),
    # subject 6 is incomplete in the real corpus; one clip sits a level deeper
    ("subject 6/anger/sentence 1/s6_an_1.avi", "s6_an_1", "angry", "6"),
    ("subject 6/sadness/sentence 3/take 2/s6_sa_3.avi", "s6_sa_3", "sad", "6"),
]


def make_enterface(root: Path) -> list[tuple[str, str, str]]:
    for i, (rel, _, _, _) in enumerate(ENTERFACE_FILES):
        write_avi(root / rel, 100 + i)
    (root / "documentation").mkdir()  # not a subject folder: ignored
    return [(f, label, spk) for _, f, label, spk in ENTERFACE_FILES]


# --- CASIA: <speaker>/<emotion>/<id>.wav ----------------------------------------

CASIA_EMOTIONS = ["angry", "fear", "happy", "neutral", "sad", "surprise"]


def make_casia(root: Path) -> list[tuple[str, str, str]]:
    written = []
    seed = 200
    for speaker, ids in (("liuchanhg", ["201", "202"]), ("wangzhe", ["201"])):
        for emotion in CASIA_EMOTIONS:
            for utt in ids:
                write_wav(root / speaker / emotion / f"{utt}.wav", seed)
                written.append((f"{speaker}/{emotion}/{utt}", emotion, speaker))
                seed += 1
    (root / "README.txt").write_text("CASIA public part\n")  # loose root file: ignored
    return written


# --- IEMOCAP: SessionN/sentences/wav/<dialog>/<utt>.wav + EmoEvaluation --------

IEMOCAP_TURNS = {
    # session -> dialog -> [(utterance, code)]
    "Session1": {
        "Ses01F_impro01": [
            ("Ses01F_impro01_F000", "neu"),
            ("Ses01F_impro01_F001", "exc"),
            ("Ses01F_impro01_M000", "ang"),
            ("Ses01F_impro01_M001", "fru"),
        ],
        "Ses01M_script01_1": [
            ("Ses01M_script01_1_F000", "sad"),
            ("Ses01M_script01_1_M000", "hap"),
            ("Ses01M_script01_1_M001", "xxx"),
        ],
    },
    "Session2": {
        "Ses02F_impro02": [
            ("Ses02F_impro02_F000", "sad"),
            ("Ses02F_impro02_M000", "neu"),
            ("Ses02F_impro02_M001", "exc"),
        ],
    },
}
# The 4-class convention, written out for the fixture: (file, label, speaker).
IEMOCAP_KEPT = [
    ("Ses01F_impro01_F000", "neutral", "Ses01F"),
    ("Ses01F_impro01_F001", "happy", "Ses01F"),
    ("Ses01F_impro01_M000", "angry", "Ses01M"),
    ("Ses01M_script01_1_F000", "sad", "Ses01F"),
    ("Ses01M_script01_1_M000", "happy", "Ses01M"),
    ("Ses02F_impro02_F000", "sad", "Ses02F"),
    ("Ses02F_impro02_M000", "neutral", "Ses02M"),
    ("Ses02F_impro02_M001", "happy", "Ses02M"),
]
IEMOCAP_DROPPED = {"fru": 1, "xxx": 1}


def make_iemocap(root: Path) -> list[tuple[str, str, str]]:
    seed = 300
    for session, dialogs in IEMOCAP_TURNS.items():
        evaluation = root / session / "dialog" / "EmoEvaluation"
        (evaluation / "Categorical").mkdir(parents=True)
        for dialog, turns in dialogs.items():
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for k, (utt, code) in enumerate(turns):
                write_wav(root / session / "sentences" / "wav" / dialog / f"{utt}.wav", seed)
                seed += 1
                lines += [
                    f"[{1.5 * k + 0.1:.4f} - {1.5 * k + 1.2:.4f}]\t{utt}\t{code}\t"
                    "[2.5000, 3.0000, 2.5000]",
                    "C-E1:\tNeutral;\t()",
                    "A-E2:\tval 3; act 2; dom  3;\t()",
                    "",
                ]
            (evaluation / f"{dialog}.txt").write_text("\n".join(lines))
        (evaluation / "Categorical" / "rater.txt").write_text("per-rater file, ignored\n")
    return list(IEMOCAP_KEPT)
