r"""
Your own corpus: from a folder of wav files to a results table
==============================================================

Any two corpora can be compared with dalib once each is a **feature table**:
one row of features per utterance, its class name and (optionally) its
speaker (:class:`dalib.data.FeatureTable`, stored with
:func:`dalib.data.save_table`). This tutorial

1. makes two small folders of wav files (standing in for your recordings),
2. extracts openSMILE IS09 functionals from them with
   :func:`dalib.features.extract`,
3. saves and reloads them as feature tables,
4. runs a shallow method and a deep one (with a tiny training budget) from one
   corpus to the other with :func:`dalib.experiment.run_pair`, and prints the
   results table.

The command-line equivalent of step 4 is
``dalib run --source a.npz --target b.npz --method dan``.
"""

# %%
# 1. Two folders of wav files
# ---------------------------
# Your corpus would already be on disk. Here the eSpeak NG renderer of the
# synthetic corpora writes a few utterances of a German and an English
# synthetic corpus (16 kHz and 44.1 kHz files) into a temporary folder laid
# out as ``<corpus>/<speaker>/<speaker>_<emotion>_<k>.wav``.
import tempfile
from pathlib import Path

import soundfile as sf

from dalib import data, experiment, features
from dalib.synth import SPEECH_CORPORA, render_utterance

work = Path(tempfile.mkdtemp(prefix="dalib-own-corpus-"))
emotions = ("angry", "happy", "sad")
for folder, corpus in (("corpus_a", "synth-emodb"), ("corpus_b", "synth-enterface")):
    spec = SPEECH_CORPORA[corpus]
    for speaker in spec.speakers[:3]:
        (work / folder / speaker.name).mkdir(parents=True)
        for emotion in emotions:
            for k in range(3):
                wav, _ = render_utterance(spec, speaker, emotion, k, seed=0)
                path = work / folder / speaker.name / f"{speaker.name}_{emotion}_{k}.wav"
                sf.write(path, wav, spec.channel.sample_rate, subtype="PCM_16")

for folder in ("corpus_a", "corpus_b"):
    files = sorted((work / folder).rglob("*.wav"))
    print(f"{folder}: {len(files)} files, e.g. {files[0].relative_to(work)}, "
          f"{sf.info(files[0]).samplerate} Hz")

# %%
# 2. Features, 3. feature tables
# ------------------------------
# The label and the speaker come from the file names. Files are decoded and
# resampled to 16 kHz by :func:`dalib.features.extract`, whatever their own rate.


def folder_to_table(folder: Path, out: Path) -> Path:
    files = sorted(folder.rglob("*.wav"))
    speakers = [f.parent.name for f in files]
    labels = [f.stem.split("_")[1] for f in files]
    matrix = features.extract([str(f) for f in files], set="is09", sample_rate=16000,
                              cache=False)
    return data.save_table(out, matrix.values, labels, speakers,
                           [f.name for f in files], feature_names=matrix.names,
                           meta={"corpus": folder.name, "feature_set": "is09"})


paths = {name: folder_to_table(work / name, work / f"{name}_is09.npz")
         for name in ("corpus_a", "corpus_b")}
tables = {name: data.load_table(path) for name, path in paths.items()}
for name, table in tables.items():
    print(f"{name}: features {table.features.shape}, classes {table.classes}, "
          f"speakers {sorted(set(table.speakers.tolist()))}")

# %%
# 4. Source -> target runs and the results table
# ----------------------------------------------
# :func:`dalib.experiment.default_config` holds every option of a single-pair
# run with its default; here two seeds, and for the deep method a training
# budget far below the default (this page has to build in seconds). Target
# labels are read only to score the predictions.

runs = work / "runs"
for method in ("logreg", "dan"):
    config = experiment.default_config()
    config.method = method
    config.seeds = 2
    config.train.steps = 150
    config.plots.kinds = ()  # no figures for this tutorial
    result = experiment.run_pair(config, tables["corpus_a"], tables["corpus_b"], runs / method,
                                 task_name="a->b", progress=False)
    print(f"{method}: {result.ran} runs finished, all ok: {result.ok}")

# %%
# Each call wrote, into its output folder, one folder per seed with the
# configuration, metrics and per-utterance predictions, and the table of
# unweighted average recall on the target (mean ± std over seeds):
print(sorted(p.name for p in (runs / "dan" / "dan" / "seed_0").iterdir()))
for method in ("logreg", "dan"):
    print((runs / method / "results_uar.md").read_text())

# %%
# The temporary folder can go; your own runs would stay in a folder of yours.
import shutil  # noqa: E402

shutil.rmtree(work)
