"""TensorFlow Datasets builders for the emotion corpora (manual download).

Micro-expression builders (``Casme2``, ``SmicHS``, ``SmicVIS``, ``SmicNIR``,
``Samm``; see :class:`MicroExpressionBuilder`) store face-cropped, fixed-size
uint8 clips; the rest of this text is about the speech builders.

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
from dalib.data._casme2 import CASME2_LAYOUT, read_casme2
from dalib.data._emodb import EMODB_LABELS, EMODB_LAYOUT, read_emodb
from dalib.data._enterface import ENTERFACE_LABELS, ENTERFACE_LAYOUT, read_enterface
from dalib.data._face import FACE_SIZE, NUM_FRAMES, prepare_clip
from dalib.data._iemocap import IEMOCAP_LABELS, IEMOCAP_LAYOUT, read_iemocap
from dalib.data._me import ME_LABELS, MECorpus
from dalib.data._records import Corpus
from dalib.data._samm import SAMM_LAYOUT, read_samm
from dalib.data._smic import SMIC_LAYOUT, read_smic_hs, read_smic_nir, read_smic_vis

__all__ = [
    "BUILDERS",
    "Casia",
    "Casme2",
    "EmoDB",
    "Enterface",
    "Iemocap",
    "MicroExpressionBuilder",
    "Samm",
    "SmicHS",
    "SmicNIR",
    "SmicVIS",
    "SpeechEmotionBuilder",
]

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


class MicroExpressionBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared micro-expression builder: preprocessed clips, one ``train`` split.

    Each example: ``frames`` uint8 ``[NUM_FRAMES, H, W]`` (grayscale; for raw
    releases the Haar face box of the onset frame, the largest centred square
    when none is found; resized to :data:`FACE_SIZE`; linearly resampled to
    :data:`NUM_FRAMES` frames; see :func:`dalib.data.prepare_clip`; divide by
    255 for floats), ``label`` (negative / positive / surprise), ``subject``,
    ``file`` (clip id), ``onset``, ``apex``, ``offset`` (coded frame numbers,
    -1 when not coded), ``num_source_frames`` and ``face_detected`` (1 when the
    detector found the face, 0 for the fallback and for cropped releases).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "First release: 112x112 faces, 16 frames, uint8."
    }
    FACE_SIZE: ClassVar[tuple[int, int]] = FACE_SIZE
    NUM_FRAMES: ClassVar[int] = NUM_FRAMES
    READER: ClassVar[Callable[[Any], MECorpus]]
    FPS: ClassVar[float] = 0.0
    DESCRIPTION: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""

    def __init__(self, *, file_format: str = "array_record", **kwargs):
        super().__init__(file_format=file_format, **kwargs)

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        h, w = self.FACE_SIZE
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "frames": tfds.features.Tensor(shape=(self.NUM_FRAMES, h, w), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=list(ME_LABELS)),
                    "subject": tfds.features.Text(),
                    "file": tfds.features.Text(),
                    "onset": tfds.features.Scalar(dtype=np.int32),
                    "apex": tfds.features.Scalar(dtype=np.int32),
                    "offset": tfds.features.Scalar(dtype=np.int32),
                    "num_source_frames": tfds.features.Scalar(dtype=np.int32),
                    "face_detected": tfds.features.Scalar(dtype=np.int32),
                }
            ),
            supervised_keys=("frames", "label"),
            citation=self.CITATION,
            metadata=tfds.core.MetadataDict(
                fps=self.FPS,
                face_size=list(self.FACE_SIZE),
                num_frames=self.NUM_FRAMES,
                temporal_interpolation="linear",
            ),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        corpus = type(self).READER(dl_manager.manual_dir)
        return {"train": self._generate_examples(corpus)}

    def _generate_examples(self, corpus: MECorpus) -> Iterator[tuple[str, dict[str, Any]]]:
        detect = corpus.release == "raw"
        for clip in corpus.clips:
            prepared = prepare_clip(
                clip, size=self.FACE_SIZE, num_frames=self.NUM_FRAMES, detect=detect
            )
            frames = np.clip(np.round(prepared.array * 255.0), 0, 255).astype(np.uint8)
            yield (
                clip.file,
                {
                    "frames": frames,
                    "label": clip.label,
                    "subject": clip.subject,
                    "file": clip.file,
                    "onset": -1 if clip.onset is None else clip.onset,
                    "apex": -1 if clip.apex is None else clip.apex,
                    "offset": -1 if clip.offset is None else clip.offset,
                    "num_source_frames": len(clip.frames),
                    "face_detected": int(prepared.box.detected),
                },
            )


_ME_NOTE = " Classes: the 3-class CDMER map (negative, positive, surprise)."


class Casme2(MicroExpressionBuilder):
    """CASME II: 26 subjects, 200 fps; 3-class map (repression and others dropped)."""

    name = "casme2"
    READER = staticmethod(read_casme2)
    FPS = 200.0
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("CASME II", CASME2_LAYOUT, _ME_NOTE)
    DESCRIPTION = "CASME II spontaneous micro-expressions, 200 fps, 3-class CDMER map."
    CITATION = (
        "@article{yan2014casme2, title={CASME II: an improved spontaneous micro-expression "
        "database and the baseline evaluation}, author={Yan, Wen-Jing and Li, Xiaobai and Wang, "
        "Su-Jing and Zhao, Guoying and Liu, Yong-Jin and Chen, Yu-Hsin and Fu, Xiaolan}, "
        "journal={PLoS ONE}, volume={9}, number={1}, year={2014}}"
    )


_SMIC_CITATION = (
    "@inproceedings{li2013smic, title={A spontaneous micro-expression database: inducement, "
    "collection and baseline}, author={Li, Xiaobai and Pfister, Tomas and Huang, Xiaohua and "
    "Zhao, Guoying and Pietik{\\\"a}inen, Matti}, booktitle={FG}, year={2013}}"
)


class SmicHS(MicroExpressionBuilder):
    """SMIC-HS: high-speed camera, 100 fps, 16 subjects."""

    name = "smic_hs"
    READER = staticmethod(read_smic_hs)
    FPS = 100.0
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("SMIC (HS)", SMIC_LAYOUT, _ME_NOTE)
    DESCRIPTION = "SMIC-HS spontaneous micro-expressions, 100 fps, positive/negative/surprise."
    CITATION = _SMIC_CITATION


class SmicVIS(MicroExpressionBuilder):
    """SMIC-VIS: visual camera, 25 fps, 8 subjects."""

    name = "smic_vis"
    READER = staticmethod(read_smic_vis)
    FPS = 25.0
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("SMIC (VIS)", SMIC_LAYOUT, _ME_NOTE)
    DESCRIPTION = "SMIC-VIS spontaneous micro-expressions, 25 fps, positive/negative/surprise."
    CITATION = _SMIC_CITATION


class SmicNIR(MicroExpressionBuilder):
    """SMIC-NIR: near-infrared camera, 25 fps, 8 subjects."""

    name = "smic_nir"
    READER = staticmethod(read_smic_nir)
    FPS = 25.0
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("SMIC (NIR)", SMIC_LAYOUT, _ME_NOTE)
    DESCRIPTION = "SMIC-NIR spontaneous micro-expressions, 25 fps, positive/negative/surprise."
    CITATION = _SMIC_CITATION


class Samm(MicroExpressionBuilder):
    """SAMM: 32 subjects, 200 fps; 3-class map (other dropped)."""

    name = "samm"
    READER = staticmethod(read_samm)
    FPS = 200.0
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions("SAMM", SAMM_LAYOUT, _ME_NOTE)
    DESCRIPTION = "SAMM spontaneous micro-movements, 200 fps, 3-class CDMER map."
    CITATION = (
        "@article{davison2018samm, title={SAMM: a spontaneous micro-facial movement dataset}, "
        "author={Davison, Adrian K. and Lansley, Cliff and Costen, Nicholas and Tan, Kevin and "
        "Yap, Moi Hoon}, journal={IEEE Transactions on Affective Computing}, volume={9}, "
        "number={1}, pages={116--129}, year={2018}}"
    )


#: Corpus name -> builder class.
BUILDERS: dict[str, type[SpeechEmotionBuilder] | type[MicroExpressionBuilder]] = {
    "emodb": EmoDB,
    "enterface": Enterface,
    "casia": Casia,
    "iemocap": Iemocap,
    "casme2": Casme2,
    "smic-hs": SmicHS,
    "smic-vis": SmicVIS,
    "smic-nir": SmicNIR,
    "samm": Samm,
}
