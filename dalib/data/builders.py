"""TensorFlow Datasets builders for the speech emotion corpora (manual download).

Each builder parses the corpus with its :mod:`dalib.data` reader and writes one
``train`` split of examples ``{"audio", "label", "speaker", "file"}``:
``audio`` is an int16 PCM tensor ``[T]`` at :attr:`SAMPLE_RATE` (16 kHz,
resampled and down-mixed when the source differs; divide by 32768 for floats),
``label`` a ``ClassLabel`` over the corpus's canonical class names,
``speaker`` and ``file`` strings. Files are written as ``array_record``.

TensorFlow is **not** needed, to build or to read. Checked with
tensorflow-datasets 4.9.10 and no TensorFlow installed: ``tfds.features.Audio``
needs TensorFlow at construction (``tf.dtypes``), so ``audio`` is a plain
``tfds.features.Tensor`` of int16 (which is what ``Audio`` stores anyway);
``dataset_info_from_configs`` reads package metadata from the builder's folder,
so ``_info`` builds ``tfds.core.DatasetInfo`` directly. With that,
``download_and_prepare`` writes ``array_record`` shards and
``builder.as_data_source()`` (or ``tfds.data_source(name, data_dir=...)``)
reads them as NumPy (random access, for Grain or a plain loop);
``builder.as_dataset()`` is the one path that needs TensorFlow. tfds 4.9.10
also looks a packaged builder's source up through the ``importlib_resources``
backport, which it does not depend on; the builders here override
``code_path`` so that package is not needed either.

Usage::

    import tensorflow_datasets as tfds
    from dalib.data.builders import EmoDB

    builder = EmoDB(data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/data/emodb"))
    train = builder.as_data_source()["train"]
    example = train[0]  # {"audio": int16 [T], "label": int, "speaker": b"03", ...}

Without ``download_config`` the corpus is looked for in
``<data_dir>/downloads/manual/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from dalib.audio import load_audio, to_int16
from dalib.data._casia import CASIA_LABELS, CASIA_LAYOUT, read_casia
from dalib.data._emodb import EMODB_LABELS, EMODB_LAYOUT, read_emodb
from dalib.data._enterface import ENTERFACE_LABELS, ENTERFACE_LAYOUT, read_enterface
from dalib.data._iemocap import IEMOCAP_LABELS, IEMOCAP_LAYOUT, read_iemocap
from dalib.data._records import Corpus

__all__ = ["BUILDERS", "Casia", "EmoDB", "Enterface", "Iemocap", "SpeechEmotionBuilder"]

_HOMEPAGES = {
    "emodb": "http://emodb.bilderbar.info/",
    "enterface": "http://www.enterface.net/enterface05/",
    "iemocap": "https://sail.usc.edu/iemocap/",
}


def _instructions(corpus: str, layout: str, extra: str = "") -> str:
    return (
        f"{corpus} is licensed and cannot be downloaded by code. Obtain it from its "
        f"distributor, extract it, and pass the folder as the manual directory, "
        f"`download_config=tfds.download.DownloadConfig(manual_dir=DIR)` (or place it in "
        f"`<data_dir>/downloads/manual/`). Expected layout: {layout}.{extra}"
    )


class SpeechEmotionBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared builder: subclasses set the reader, the class names and the texts."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release: 16 kHz int16 audio."}
    SAMPLE_RATE: ClassVar[int] = 16000
    READER: ClassVar[Callable[[Any], Corpus]]
    LABEL_NAMES: ClassVar[tuple[str, ...]]
    DESCRIPTION: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""

    def __init__(self, *, file_format: str = "array_record", **kwargs):
        super().__init__(file_format=file_format, **kwargs)

    # tfds 4.9.10 locates a packaged builder's source through the
    # `importlib_resources` backport, which it does not install; the file is
    # known, and there is no checksums file beside it to look for.
    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16),
                    "label": tfds.features.ClassLabel(names=list(self.LABEL_NAMES)),
                    "speaker": tfds.features.Text(),
                    "file": tfds.features.Text(),
                }
            ),
            supervised_keys=("audio", "label"),
            homepage=_HOMEPAGES.get(self.name),
            citation=self.CITATION,
            metadata=tfds.core.MetadataDict(sample_rate=self.SAMPLE_RATE),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        corpus = type(self).READER(dl_manager.manual_dir)
        return {"train": self._generate_examples(corpus)}

    def _generate_examples(self, corpus: Corpus) -> Iterator[tuple[str, dict[str, Any]]]:
        for record in corpus.records:
            audio = load_audio(record.path, self.SAMPLE_RATE)
            yield (
                record.file,
                {
                    "audio": to_int16(audio),
                    "label": record.label,
                    "speaker": record.speaker,
                    "file": record.file,
                },
            )


class EmoDB(SpeechEmotionBuilder):
    """EmoDB (Berlin Database of Emotional Speech): 10 speakers, 7 classes, German."""

    name = "emodb"
    READER = staticmethod(read_emodb)
    LABEL_NAMES = tuple(sorted(set(EMODB_LABELS.values())))
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("EmoDB", EMODB_LAYOUT)
    DESCRIPTION = "EmoDB: 535 acted German utterances, 10 speakers, 7 emotions."
    CITATION = (
        "@inproceedings{burkhardt2005emodb, title={A database of German emotional speech}, "
        "author={Burkhardt, Felix and Paeschke, Astrid and Rolfes, Miriam and Sendlmeier, "
        "Walter F. and Weiss, Benjamin}, booktitle={Interspeech}, year={2005}}"
    )


class Enterface(SpeechEmotionBuilder):
    """eNTERFACE'05 audio-visual corpus (audio track only): 42+ subjects, 6 classes."""

    name = "enterface"
    READER = staticmethod(read_enterface)
    LABEL_NAMES = tuple(sorted(set(ENTERFACE_LABELS.values())))
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
        "eNTERFACE'05",
        ENTERFACE_LAYOUT,
        " The audio of each AVI is demuxed with the ffmpeg binary of `imageio-ffmpeg`.",
    )
    DESCRIPTION = "eNTERFACE'05: English audio-visual emotion database, 6 emotions."
    CITATION = (
        "@inproceedings{martin2006enterface, title={The eNTERFACE'05 audio-visual emotion "
        "database}, author={Martin, Olivier and Kotsia, Irene and Macq, Benoit and Pitas, "
        "Ioannis}, booktitle={ICDE Workshops}, year={2006}}"
    )


class Casia(SpeechEmotionBuilder):
    """CASIA Chinese emotional speech (public part): 4 speakers, 6 classes."""

    name = "casia"
    READER = staticmethod(read_casia)
    LABEL_NAMES = tuple(sorted(set(CASIA_LABELS.values())))
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("CASIA", CASIA_LAYOUT)
    DESCRIPTION = "CASIA: 1,200 public Mandarin utterances, 4 speakers, 6 emotions."
    CITATION = (
        "@misc{casia2008, title={CASIA Chinese Emotional Speech Corpus}, author={{Institute "
        "of Automation, Chinese Academy of Sciences}}, year={2008}}"
    )


class Iemocap(SpeechEmotionBuilder):
    """IEMOCAP segmented utterances, 4 classes (happy + excited merged), 10 speakers."""

    name = "iemocap"
    READER = staticmethod(read_iemocap)
    LABEL_NAMES = tuple(sorted(set(IEMOCAP_LABELS.values())))
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
        "IEMOCAP",
        IEMOCAP_LAYOUT,
        " Utterances labelled other than neu/hap/exc/ang/sad are left out.",
    )
    DESCRIPTION = "IEMOCAP: dyadic English sessions, 4-class convention (exc merged into hap)."
    CITATION = (
        "@article{busso2008iemocap, title={IEMOCAP: interactive emotional dyadic motion "
        "capture database}, author={Busso, Carlos and others}, journal={Language Resources "
        "and Evaluation}, volume={42}, pages={335--359}, year={2008}}"
    )


#: Corpus name -> builder class.
BUILDERS: dict[str, type[SpeechEmotionBuilder]] = {
    "emodb": EmoDB,
    "enterface": Enterface,
    "casia": Casia,
    "iemocap": Iemocap,
}
