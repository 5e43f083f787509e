r"""
The synthetic speech corpora: spectrograms, prosody, cross-corpus confusion
===========================================================================

:mod:`dalib.synth` renders three stand-in corpora for the EmoDB / eNTERFACE /
CASIA protocol with eSpeak NG, offline (see :doc:`/synthetic_corpora`).
Emotions differ by prosody (pitch, tempo, loudness, pauses, vocal effort,
tremor) and each corpus expresses them its own way and records them through
its own channel. This page renders a subset of two corpora directly with
:func:`dalib.synth.render_utterance` (the function the full build calls for
every utterance; a few seconds instead of the minute the full build takes),
then looks at

* a log-mel spectrogram of the same sentence in two emotions,
* the prosody of each emotion in both corpora, measured with eGeMAPS,
* what that does to a classifier trained on one corpus and tested on the other:
  the confusion matrices of plain source-only training and of ``corpus_norm``
  (each corpus z-normalised with its own statistics).
"""

# %%
# Rendering a subset of B (synth-emodb) and C (synth-casia)
# ---------------------------------------------------------
# The two corpora share five classes. Every speaker reads three sentences
# in each of them.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from dalib import features, metrics
from dalib.synth import SPEECH_CORPORA, render_utterance

B, C = SPEECH_CORPORA["synth-emodb"], SPEECH_CORPORA["synth-casia"]
classes = sorted(set(B.emotions) & set(C.emotions))
print("shared classes:", classes)


def render(spec, num_sentences=3):
    wavs, labels, speakers = [], [], []
    for speaker in spec.speakers:
        for emotion in classes:
            for sentence in range(num_sentences):
                wav, _ = render_utterance(spec, speaker, emotion, sentence, seed=0)
                wavs.append(wav)
                labels.append(emotion)
                speakers.append(speaker.name)
    return wavs, np.array(labels), np.array(speakers)


audio = {spec.code: render(spec) for spec in (B, C)}
rate = {spec.code: spec.channel.sample_rate for spec in (B, C)}
for code, (wavs, _, speakers) in audio.items():
    print(f"{code}: {len(wavs)} utterances, {len(set(speakers))} speakers, {rate[code]} Hz")

# %%
# One sentence, angry and sad
# ---------------------------
# :func:`dalib.features.logmel` (64 mel bands, 25 ms windows, 10 ms hop).
# Anger is louder, faster and brighter (energy reaches higher bands); sadness
# is slower, softer and lower. The second corpus adds its own band limit,
# room and noise floor.
fig, axes = plt.subplots(2, 2, figsize=(11, 5.2), sharey=True)
for row, code in enumerate(("B", "C")):
    wavs, labels, speakers = audio[code]
    first = speakers == speakers[0]
    for col, emotion in enumerate(("angry", "sad")):
        i = np.flatnonzero(first & (labels == emotion))[0]
        mel = np.asarray(features.logmel(wavs[i], rate[code]))
        seconds = len(wavs[i]) / rate[code]
        axes[row, col].imshow(mel.T, origin="lower", aspect="auto", cmap="magma",
                              extent=(0, seconds, 0, mel.shape[1]), vmin=-14)
        axes[row, col].set_title(f"{code}, speaker {speakers[0]}, {emotion}", fontsize=10)
        axes[row, 0].set_ylabel("mel band")
    axes[1, 0].set_xlabel("time (s)")
    axes[1, 1].set_xlabel("time (s)")
fig.tight_layout()

# %%
# Prosody of each emotion, per corpus
# -----------------------------------
# eGeMAPS v02 functionals of every utterance (openSMILE, via
# :func:`dalib.features.extract`): the mean pitch over voiced frames in
# semitones, the mean loudness, and the duration. Both corpora order the
# emotions alike on some axes (anger loud and high, sadness soft) and
# differently on others: that is the cross-corpus shift. Bars: mean and
# standard deviation over speakers (female and male) and sentences.
assert rate["B"] == rate["C"] == 16000  # both corpora are stored at 16 kHz
table = {}
for code, (wavs, _, _) in audio.items():
    egemaps = features.extract(wavs, set="egemaps", sample_rate=16000, cache=False)
    table[code] = (np.asarray(egemaps.values), list(egemaps.names))

measures = {
    "F0 (semitones from 27.5 Hz)": "F0semitoneFrom27.5Hz_sma3nz_amean",
    "loudness (eGeMAPS units)": "loudness_sma3_amean",
}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
width = 0.38
x = np.arange(len(classes))
for k, (code, (values, names)) in enumerate(table.items()):
    labels = audio[code][1]
    durations = np.array([len(w) / 16000 for w in audio[code][0]])
    columns = [values[:, names.index(col)] for col in measures.values()] + [durations]
    for ax, column in zip(axes, columns, strict=True):
        means = [column[labels == c].mean() for c in classes]
        stds = [column[labels == c].std() for c in classes]
        ax.bar(x + (k - 0.5) * width, means, width, yerr=stds, capsize=2,
               label={"B": "B synth-emodb", "C": "C synth-casia"}[code])
for ax, title in zip(axes, [*measures, "duration (s)"], strict=True):
    ax.set_xticks(x, classes, rotation=30)
    ax.set_title(title, fontsize=10)
axes[0].set_ylim(15, None)
axes[0].legend(fontsize=8)
fig.tight_layout()

# %%
# Cross-corpus: trained on B, tested on C
# ---------------------------------------
# A logistic regression on the 88 eGeMAPS functionals, trained on all of B and
# tested on all of C (the target labels only score). *Source-only* z-normalises
# both corpora with the source's statistics; *corpus_norm* z-normalises each
# corpus with its own (:func:`dalib.features.zscore`, no label read), which
# removes the channel's and the corpus's overall offsets.
xb, xc = table["B"][0], table["C"][0]
yb = np.array([classes.index(c) for c in audio["B"][1]])
yc = np.array([classes.index(c) for c in audio["C"][1]])
mu, sd = xb.mean(0), np.where(xb.std(0) > 0, xb.std(0), 1.0)
variants = {
    "source-only (source statistics)": ((xb - mu) / sd, (xc - mu) / sd),
    "corpus_norm (each corpus its own)": (features.zscore(xb), features.zscore(xc)),
}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, (name, (train_x, test_x)) in zip(axes, variants.items(), strict=True):
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(train_x, yb)
    pred = clf.predict(test_x)
    uar = float(metrics.uar(yc, pred, num_classes=len(classes)))
    cm = np.asarray(metrics.confusion_matrix(yc, pred, num_classes=len(classes)))
    recall = cm / cm.sum(1, keepdims=True)
    ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(recall):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center",
                color="white" if v > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (C)")
    ax.set_title(f"{name}\nUAR {100 * uar:.1f} % (chance 20 %)", fontsize=10)
    print(f"{name}: UAR {100 * uar:.1f} %")
fig.suptitle("B -> C, row-normalised confusion matrices")
fig.tight_layout()

# %%
# The same comparison over all six directions, with the paper's protocol
# (IS09 features, every method of the benchmark, several seeds), is what
# ``dalib protocol ser --synthetic`` runs; see :doc:`/experiments`.
