"""Building, caching and exporting the synthetic speech corpora."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dalib.synth import _espeak, _speech
from dalib.synth._speech import SPEECH_CORPORA, SpeechCorpusSpec

__all__ = [
    "build_speech_corpora",
    "default_root",
    "load_manifest",
    "load_synthetic_table",
    "resolve_corpus",
]

if TYPE_CHECKING:
    from dalib.data import FeatureTable

# dalib.data and dalib.features (which import JAX) are imported where they are
# used, so that the synthesis workers start quickly.

log = logging.getLogger("dalib.synth")

MANIFEST = "manifest.json"


_ALIASES = {
    **{s.code: s.name for s in SPEECH_CORPORA.values()},
    **{s.name.removeprefix("synth-"): s.name for s in SPEECH_CORPORA.values()},
}


def default_root() -> Path:
    """``$DALIB_SYNTH_DIR`` or ``~/.cache/dalib/synth``."""
    env = os.environ.get("DALIB_SYNTH_DIR")
    return Path(env) if env else Path.home() / ".cache" / "dalib" / "synth"


def resolve_corpus(corpus: str | SpeechCorpusSpec) -> SpeechCorpusSpec:
    """A spec from a spec, a name (``"synth-emodb"``, ``"emodb"``) or a code (``"B"``).

    Raises:
      ValueError: for an unknown name.

    Examples:
      >>> from dalib.synth import resolve_corpus
      >>> spec = resolve_corpus("C")
      >>> spec.name, spec.language, len(spec.speakers)
      ('synth-casia', 'cmn', 4)
    """
    if isinstance(corpus, SpeechCorpusSpec):
        return corpus
    name = _ALIASES.get(corpus, corpus)
    if name not in SPEECH_CORPORA:
        from dalib.synth._me_build import resolve_me_database

        try:
            me = resolve_me_database(corpus).name
        except ValueError:
            me = None
        if me is not None:
            raise ValueError(
                f"{corpus!r} is a synthetic micro-expression database ({me}); load it with "
                f"dalib.synth.load_synthetic_me_table({me!r}) or build it with dalib.synth.build_me"
            )
        raise ValueError(
            f"unknown synthetic corpus {corpus!r}; choose from {sorted(SPEECH_CORPORA)} "
            f"or the codes {sorted(s.code for s in SPEECH_CORPORA.values())}"
        )
    return SPEECH_CORPORA[name]


def _subset(spec: SpeechCorpusSpec, num_speakers, num_sentences) -> SpeechCorpusSpec:
    for arg, value in (("num_speakers", num_speakers), ("num_sentences", num_sentences)):
        if value is not None and value < 1:
            raise ValueError(f"{arg} must be at least 1, got {value}")
    return dataclasses.replace(
        spec,
        speakers=spec.speakers[: num_speakers or len(spec.speakers)],
        sentences=spec.sentences[: num_sentences or len(spec.sentences)],
    )


def load_manifest(corpus_dir: str | os.PathLike[str]) -> dict:
    """The manifest of a built corpus folder (``out_dir/<name>``) as a dict.

    Keys include ``name``, ``config_hash``, ``seed``, ``sample_rate``,
    ``classes``, ``speakers``, ``spec`` (the full definition), ``tables`` and
    ``utterances`` (per utterance ``file``, ``path``, ``label``, ``speaker``,
    ``gender``, ``sentence``, ``text``, ``duration_s``, ``prosody``).

    Raises:
      FileNotFoundError: the corpus has not been built there.
    """
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: build the corpus first with "
            "dalib.synth.build_speech_corpora(out_dir) or `dalib synth speech --out DIR`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _cached(corpus_dir: Path, config_hash: str) -> dict | None:
    try:
        manifest = load_manifest(corpus_dir)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if manifest.get("config_hash") != config_hash:
        return None
    if not all((corpus_dir / u["path"]).is_file() for u in manifest["utterances"]):
        return None
    return manifest


# ---------------------------------------------------------------- workers


def _render_job(job: tuple) -> dict:
    spec, speaker, emotion, sentence, seed, path = job
    import soundfile

    wav, prosody = _speech.render_utterance(spec, speaker, emotion, sentence, seed=seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, wav, spec.channel.sample_rate, subtype="PCM_16", format="WAV")
    return {"num_samples": int(wav.size), "prosody": prosody}


#: Rate at which audio is decoded for feature extraction, as for the real corpora
#: (:func:`dalib.data.corpus_to_table` decodes at 16 kHz).
FEATURE_SAMPLE_RATE = 16000


def _feature_job(job: tuple) -> tuple[np.ndarray, tuple[str, ...]]:
    feature_set, path = job
    from dalib.features import extract

    out = extract([path], set=feature_set, sample_rate=FEATURE_SAMPLE_RATE, cache=False)
    return out.values[0], tuple(out.names)


def _extractor_id(feature_set: str) -> str:
    import opensmile

    return f"dalib.features:{feature_set}:{FEATURE_SAMPLE_RATE}:opensmile-{opensmile.__version__}"


class _Runner:
    """Maps jobs in order, in this process or over ``num_workers`` worker processes.

    Workers are fresh interpreters (``python -m dalib.synth._worker``), not
    forks of the caller, so they start without the caller's threads (JAX) and
    without re-running the caller's main module; each then forks once per
    utterance from a clean eSpeak NG state. Job ``i`` goes to worker
    ``i mod num_workers``; results do not depend on the split.
    """

    def __init__(self, num_workers: int):
        self.num_workers = num_workers

    def map(self, fn, jobs: list) -> list:
        workers = min(self.num_workers, len(jobs))
        if workers <= 1:
            return [fn(j) for j in jobs]
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        procs = []
        for w in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", "dalib.synth._worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            procs.append((proc, w))
        name = f"{fn.__module__}:{fn.__name__}"
        payloads = [pickle.dumps((name, jobs[w::workers])) for _, w in procs]
        outs = [None] * workers
        errors = []
        threads = [
            threading.Thread(target=self._talk, args=(proc, payloads[w], outs, w, errors))
            for proc, w in procs
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("a synthesis worker failed:\n" + errors[0])
        results = [None] * len(jobs)
        for w in range(workers):
            results[w::workers] = outs[w]
        return results

    @staticmethod
    def _talk(proc, payload, outs, w, errors):
        stdout, stderr = proc.communicate(payload)
        if proc.returncode != 0:
            errors.append(stderr.decode(errors="replace")[-4000:])
        else:
            outs[w] = pickle.loads(stdout)

    def close(self):
        pass


# ---------------------------------------------------------------- building


def _build_corpus(
    spec: SpeechCorpusSpec, corpus_dir: Path, seed: int, runner: _Runner, force: bool
) -> dict:
    config_hash = _speech.spec_hash(spec, seed=seed, espeak_ng=_espeak.espeak_version())
    manifest = None if force else _cached(corpus_dir, config_hash)
    if manifest is not None:
        log.info("%s: cached at %s", spec.name, corpus_dir)
        return manifest
    log.info("%s: rendering into %s", spec.name, corpus_dir)
    for stale in (corpus_dir / "wav", corpus_dir / "features", corpus_dir / MANIFEST):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    entries, jobs = [], []
    for speaker in spec.speakers:
        for emotion in spec.emotions:
            for k, text in enumerate(spec.sentences):
                uid = _speech.utterance_id(speaker.name, emotion, k)
                rel = f"wav/{speaker.name}/{uid}.wav"
                entries.append(
                    {
                        "file": uid,
                        "path": rel,
                        "label": emotion,
                        "speaker": speaker.name,
                        "gender": speaker.gender,
                        "sentence": k,
                        "text": text,
                    }
                )
                jobs.append((spec, speaker, emotion, k, seed, str(corpus_dir / rel)))
    for entry, result in zip(entries, runner.map(_render_job, jobs), strict=True):
        entry["duration_s"] = round(result["num_samples"] / spec.channel.sample_rate, 4)
        entry["prosody"] = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in result["prosody"].items()
        }
    manifest = {
        "name": spec.name,
        "code": spec.code,
        "stands_for": spec.stands_for,
        "config_hash": config_hash,
        "seed": seed,
        "generator_version": _speech.GENERATOR_VERSION,
        "espeak_ng_version": _espeak.espeak_version(),
        "sample_rate": spec.channel.sample_rate,
        "language": spec.language,
        "classes": list(spec.emotions),
        "speakers": [s.name for s in spec.speakers],
        "num_utterances": len(entries),
        "spec": spec.to_json(),
        "tables": {},
        "utterances": entries,
    }
    _write_json(corpus_dir / MANIFEST, manifest)
    return manifest


def _export_table(manifest: dict, corpus_dir: Path, feature_set: str, runner: _Runner) -> Path:
    rel = f"features/{feature_set}.npz"
    table_hash = hashlib.sha256(
        f"{manifest['config_hash']}:{_extractor_id(feature_set)}".encode()
    ).hexdigest()
    record = manifest["tables"].get(feature_set)
    if record and record["hash"] == table_hash and (corpus_dir / rel).is_file():
        return corpus_dir / rel
    from dalib.data import save_table

    log.info("%s: extracting %s features", manifest["name"], feature_set)
    utts = manifest["utterances"]
    rows = runner.map(_feature_job, [(feature_set, str(corpus_dir / u["path"])) for u in utts])
    save_table(
        corpus_dir / rel,
        np.stack([r[0] for r in rows]).astype(np.float32),
        [u["label"] for u in utts],
        speakers=[u["speaker"] for u in utts],
        files=[u["file"] for u in utts],
        feature_names=rows[0][1],
        meta={
            "corpus": manifest["name"],
            "feature_set": feature_set,
            "sample_rate": FEATURE_SAMPLE_RATE,
            "config_hash": manifest["config_hash"],
            "seed": manifest["seed"],
            "extractor": _extractor_id(feature_set),
        },
    )
    manifest["tables"][feature_set] = {
        "path": rel,
        "hash": table_hash,
        "extractor": _extractor_id(feature_set),
    }
    _write_json(corpus_dir / MANIFEST, manifest)
    return corpus_dir / rel


def build_speech_corpora(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    corpora: Iterable[str | SpeechCorpusSpec] | None = None,
    feature_sets: Sequence[str] = ("is09",),
    num_speakers: int | None = None,
    num_sentences: int | None = None,
    num_workers: int = 2,
    force: bool = False,
) -> dict[str, Path]:
    """Build (or find cached) synthetic cross-corpus speech corpora on disk.

    Each corpus goes to ``out_dir/<name>/``: ``wav/<speaker>/<id>.wav`` (16-bit
    PCM at the corpus's sample rate), ``manifest.json`` (the configuration, its
    hash, and per utterance the label, speaker, text and the prosody that was
    rendered) and ``features/<set>.npz`` feature tables (``features``,
    ``labels`` as class names, ``speakers``, ``files``, ``feature_names``,
    ``meta``; see :func:`dalib.data.save_table`). A
    corpus whose manifest has the same configuration hash is not rendered
    again; a feature table whose recorded hash matches is not extracted again.

    The output depends on ``seed`` and the configuration only: the same seed
    gives byte-identical files, whatever ``num_workers``.

    Args:
      out_dir: the folder that receives one subfolder per corpus.
      seed: seed of every random draw (prosody variation, pauses, rooms, noise).
      corpora: names (``"synth-emodb"``), codes (``"B"``) or
        :class:`SpeechCorpusSpec` objects; default: the three corpora.
      feature_sets: feature sets to export, as named by
        :func:`dalib.features.extract` (``"is09"``, ``"is10"``, ``"egemaps"``,
        ``"compare"``, ``"logmel"``; empty: audio only). Audio is decoded at
        16 kHz for extraction, as for the real corpora.
      num_speakers: keep at most the first ``k`` speakers of each corpus (quick tests).
      num_sentences: keep at most the first ``k`` sentences of each corpus.
      num_workers: worker processes (``0`` or ``1``: in this process).
      force: render and extract again even when cached.

    Returns:
      corpus name -> corpus folder.

    Examples:
      >>> import tempfile
      >>> from dalib.synth import build_speech_corpora
      >>> with tempfile.TemporaryDirectory() as d:
      ...     paths = build_speech_corpora(d, corpora=["B"], num_speakers=1,
      ...                                  num_sentences=1, feature_sets=(), num_workers=0)
      ...     print(sorted(p.name for p in (paths["synth-emodb"] / "wav" / "b01").iterdir())[:2])
      ['b01_angry_s00.wav', 'b01_boredom_s00.wav']
    """
    if feature_sets:
        from dalib.features import canonical_feature_set

        feature_sets = [canonical_feature_set(f) for f in feature_sets]
    specs = [resolve_corpus(c) for c in (corpora if corpora is not None else SPEECH_CORPORA)]
    specs = [_subset(s, num_speakers, num_sentences) for s in specs]
    out = Path(out_dir)
    runner = _Runner(num_workers)
    paths = {}
    try:
        for spec in specs:
            corpus_dir = out / spec.name
            corpus_dir.mkdir(parents=True, exist_ok=True)
            manifest = _build_corpus(spec, corpus_dir, seed, runner, force)
            for feature_set in feature_sets:
                _export_table(manifest, corpus_dir, feature_set, runner)
            paths[spec.name] = corpus_dir
    finally:
        runner.close()
    return paths


def is_current_build(corpus_dir: str | os.PathLike[str]) -> bool:
    """Whether a built corpus folder matches this version's definition of that corpus.

    Compares the configuration hash in the folder's manifest with the hash of
    the current full specification of the same corpus (at the manifest's
    seed, with this eSpeak NG). A folder built by an older version of the
    generator, or as a subset (``num_speakers`` / ``num_sentences``), is not
    current. Micro-expression databases (:func:`build_me`) are checked the
    same way against their own definition. Raises ``FileNotFoundError`` when nothing is built there.
    """
    manifest = load_manifest(corpus_dir)
    if manifest.get("kind") == "me":
        from dalib.synth._me_build import is_current_me_build

        return is_current_me_build(corpus_dir)
    spec = resolve_corpus(manifest["name"])
    want = _speech.spec_hash(spec, seed=manifest["seed"], espeak_ng=_espeak.espeak_version())
    return manifest.get("config_hash") == want


def load_synthetic_table(
    name: str,
    feature_set: str = "is09",
    *,
    root: str | os.PathLike[str] | None = None,
    build: bool = True,
    seed: int = 0,
) -> FeatureTable:
    """Load the feature table of a synthetic corpus, building it first if needed.

    Args:
      name: ``"synth-emodb"``, ``"synth-enterface"``, ``"synth-casia"`` (or
        ``"emodb"``..., or the codes ``"B"``, ``"E"``, ``"C"``).
      feature_set: a feature set of :func:`dalib.features.extract`.
      root: the ``out_dir`` the corpora were built in (default :func:`default_root`).
      build: build the corpus (all of it, with ``seed``) or extract the table
        when missing, and render it again when the folder holds a build that
        is not current (:func:`is_current_build`: an older generator, or a
        subset); otherwise return what is there, or raise
        ``FileNotFoundError`` when the table is missing.
      seed: the seed of a new build; an existing build keeps its own seed.

    Returns:
      A :class:`dalib.data.FeatureTable` (``features [N, D]``, ``labels``,
      ``speakers``, ``files``, ``feature_names``, ``meta``).

    Raises:
      FileNotFoundError: the table is missing and ``build`` is false.
      ValueError: unknown corpus or feature set.

    Examples:
      >>> import tempfile
      >>> from dalib.synth import build_speech_corpora, load_synthetic_table
      >>> root = tempfile.mkdtemp()
      >>> _ = build_speech_corpora(root, corpora=["C"], num_speakers=1, num_sentences=1,
      ...                          num_workers=0)
      >>> table = load_synthetic_table("synth-casia", "is09", root=root, build=False)
      >>> table.features.shape, table.labels.tolist()[:2]
      ((6, 384), ['angry', 'fear'])
    """
    from dalib.data import load_table
    from dalib.features import canonical_feature_set

    spec = resolve_corpus(name)
    feature_set = canonical_feature_set(feature_set)
    corpus_dir = (Path(root) if root is not None else default_root()) / spec.name
    path = corpus_dir / "features" / f"{feature_set}.npz"
    stale = build and (corpus_dir / MANIFEST).is_file() and not is_current_build(corpus_dir)
    if stale:
        log.warning(
            "%s was built by another version of the generator or as a subset; building it again",
            corpus_dir,
        )
    if stale or not path.is_file():
        if not build:
            raise FileNotFoundError(
                f"{path} does not exist: build it with dalib.synth.build_speech_corpora"
                f"({str(corpus_dir.parent)!r}, feature_sets=[{feature_set!r}])"
            )
        try:
            seed = load_manifest(corpus_dir)["seed"]
        except FileNotFoundError:
            pass
        build_speech_corpora(
            corpus_dir.parent, seed=seed, corpora=[spec.name], feature_sets=[feature_set]
        )
    return load_table(path)
