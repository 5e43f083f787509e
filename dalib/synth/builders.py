"""TensorFlow Datasets builders for the synthetic speech corpora.

They reuse :class:`dalib.data.builders.SpeechEmotionBuilder` (array_record
files, no TensorFlow needed, 16 kHz int16 audio) with a reader of the folder
that :func:`dalib.synth.build_speech_corpora` writes; pass that corpus folder
as the manual directory::

    import tensorflow_datasets as tfds
    from dalib.synth import build_speech_corpora
    from dalib.synth.builders import SynthEmoDB

    paths = build_speech_corpora("/tmp/synth", corpora=["B"])
    builder = SynthEmoDB(data_dir="/tmp/tfds")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(paths["synth-emodb"])))
    train = builder.as_data_source()["train"]
"""

from __future__ import annotations

from typing import ClassVar

from dalib.data.builders import SpeechEmotionBuilder
from dalib.synth._reader import read_synthetic
from dalib.synth._speech import SPEECH_CORPORA

__all__ = ["BUILDERS", "SynthCasia", "SynthEmoDB", "SynthEnterface"]


def _instructions(name: str) -> str:
    return (
        f"{name} is generated, not downloaded: run "
        f"`dalib.synth.build_speech_corpora(DIR, corpora=[{name!r}])` (or "
        "`dalib synth speech --out DIR`) and pass DIR/" + name + " as the manual directory."
    )


class _SynthBuilder(SpeechEmotionBuilder, skip_registration=True):
    CORPUS: ClassVar[str]
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release: 16 kHz int16 audio."}
    READER = staticmethod(read_synthetic)


def _make(class_name: str, corpus: str) -> type[_SynthBuilder]:
    spec = SPEECH_CORPORA[corpus]
    return type(
        class_name,
        (_SynthBuilder,),
        {
            "__doc__": f"{corpus}: synthetic stand-in for {spec.stands_for}.",
            "__module__": __name__,
            "name": corpus.replace("-", "_"),
            "CORPUS": corpus,
            "LABEL_NAMES": tuple(sorted(spec.emotions)),
            "MANUAL_DOWNLOAD_INSTRUCTIONS": _instructions(corpus),
            "DESCRIPTION": (
                f"{corpus}: eSpeak NG speech in {spec.language}, {len(spec.speakers)} "
                f"speakers, {len(spec.emotions)} emotions, mimicking {spec.stands_for}."
            ),
        },
        skip_registration=True,
    )


SynthEmoDB = _make("SynthEmoDB", "synth-emodb")
SynthEnterface = _make("SynthEnterface", "synth-enterface")
SynthCasia = _make("SynthCasia", "synth-casia")

#: Corpus name -> builder class.
BUILDERS: dict[str, type[SpeechEmotionBuilder]] = {
    "synth-emodb": SynthEmoDB,
    "synth-enterface": SynthEnterface,
    "synth-casia": SynthCasia,
}
