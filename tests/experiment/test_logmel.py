"""Log-mel segment input (data.input=logmel): segments, tables, normalisation, encoders, runs."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dalib.data import FeatureTable
from dalib.experiment import RunSpec, default_config, prepare_task
from dalib.experiment.encoders import resolve_encoder
from dalib.experiment.fitting import build_trainer
from dalib.experiment.runs import run_one
from dalib.features import (
    FeatureCache,
    extract_logmel_segments,
    logmel,
    logmel_segments,
    segment_starts,
)

SR = 16000
SEGMENTS, FRAMES = 2, 12  # tiny: 2 segments of 12 frames per utterance


def _tone(f0, seconds, *, gain=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    x = sum(0.2 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 4))
    return (gain * (x + 0.01 * rng.standard_normal(t.shape))).astype(np.float32)


# ------------------------------------------------------------------------ segments


@pytest.mark.parametrize("frames,segments,length", [(340, 4, 100), (101, 3, 100), (7, 5, 3)])
def test_segment_starts_span_the_utterance_evenly(frames, segments, length):
    starts = segment_starts(frames, segments, length)
    assert starts.shape == (segments,) and starts[0] == 0
    assert starts[-1] == max(frames - length, 0)  # the last segment ends at the last frame
    gaps = np.diff(starts)
    assert (gaps >= 0).all() and gaps.max() - gaps.min() <= 1  # evenly spaced


def test_segment_starts_rejects_counts_below_one():
    with pytest.raises(ValueError, match="num_segments"):
        segment_starts(10, 0, 5)


def test_logmel_segments_are_slices_of_the_utterance_spectrogram():
    x = _tone(180.0, 0.6)
    out = logmel_segments(x, SR, num_segments=3, segment_frames=20)
    full = np.asarray(logmel(jnp.asarray(x), SR, win_length=400))  # the reference, unpadded
    starts = segment_starts(len(full), 3, 20)
    assert out.shape == (3, 20, 64) and out.dtype == np.float32
    for k, s in enumerate(starts):
        np.testing.assert_allclose(out[k], full[s : s + 20], rtol=1e-4, atol=1e-4)


def test_short_utterances_are_padded_with_silence():
    x = _tone(200.0, 0.05)  # 6 frames
    out = logmel_segments(x, SR, num_segments=2, segment_frames=10)
    full = np.asarray(logmel(jnp.asarray(x), SR))
    np.testing.assert_allclose(out[0, : len(full)], full, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[:, len(full) :], np.log(1e-6), rtol=1e-6)
    np.testing.assert_array_equal(out[0], out[1])


def test_logmel_segments_refuses_bad_input():
    with pytest.raises(ValueError, match="mono"):
        logmel_segments(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(ValueError, match="unknown log-mel option"):
        logmel_segments(_tone(100.0, 0.1), SR, logmel_options={"n_bands": 3})


def test_extract_logmel_segments_caches_each_utterance(tmp_path):
    cache = FeatureCache(tmp_path)
    xs = [_tone(150.0, 0.2), _tone(250.0, 0.3)]
    first = extract_logmel_segments(xs, num_segments=2, segment_frames=8, cache=cache)
    assert first.shape == (2, 2, 8, 64) and cache.misses == 2
    again = extract_logmel_segments(xs, num_segments=2, segment_frames=8, cache=cache)
    np.testing.assert_array_equal(again, first)
    assert cache.hits == 2
    other = extract_logmel_segments(xs, num_segments=3, segment_frames=8, cache=cache)
    assert other.shape == (2, 3, 8, 64) and cache.misses == 4  # other options: other keys


# ------------------------------------------------------------------------ tables and tasks


_CLASSES = {"angry": 140.0, "happy": 220.0, "sad": 320.0}


def _table(*, gain=1.0, per_class=4, prefix="s", seed=0):
    signals, labels = [], []
    for i, (name, f0) in enumerate(_CLASSES.items()):
        for j in range(per_class):
            seconds = 0.15 + 0.05 * j
            signals.append(_tone(f0 * (1 + 0.03 * j), seconds, gain=gain, seed=seed + 10 * i + j))
            labels.append(name)
    x = extract_logmel_segments(signals, num_segments=SEGMENTS, segment_frames=FRAMES, cache=False)
    n = len(labels)
    return FeatureTable(
        features=x,
        labels=np.asarray(labels),
        speakers=np.asarray([f"{prefix}{i % 2}" for i in range(n)]),
        files=np.asarray([f"{prefix}_{i:02d}" for i in range(n)]),
    )


@pytest.fixture(scope="module")
def logmel_pair():
    return _table(), _table(gain=4.0, prefix="t", seed=100)


def _band_z(x, rows_of):
    """Per-band z-scores by loops: statistics over every frame of the given rows."""
    out = np.empty(x.shape, np.float64)
    for rows, stats in rows_of:
        frames = stats.reshape(-1, stats.shape[-1]).astype(np.float64)
        mean, std = frames.mean(axis=0), frames.std(axis=0)
        for r in rows:
            for b in range(x.shape[-1]):
                out[r, ..., b] = (x[r, ..., b] - mean[b]) / max(std[b], 1e-8)
    return out


@pytest.mark.parametrize("mode", ["pooled", "domain", "speaker"])
def test_rank3_rows_are_normalised_per_mel_band(logmel_pair, mode):
    source, target = logmel_pair
    task = prepare_task(source, target, name="s->t", normalize=mode, target_rows="all")
    xs, xt = source.features, target.features
    if mode == "pooled":
        both = np.concatenate([xs, xt])
        want_s = _band_z(xs, [(range(len(xs)), both)])
        want_t = _band_z(xt, [(range(len(xt)), both)])
    elif mode == "domain":
        want_s = _band_z(xs, [(range(len(xs)), xs)])
        want_t = _band_z(xt, [(range(len(xt)), xt)])
    else:
        by_speaker = [
            [(np.flatnonzero(t.speakers == g), x[t.speakers == g]) for g in np.unique(t.speakers)]
            for t, x in ((source, xs), (target, xt))
        ]
        want_s, want_t = _band_z(xs, by_speaker[0]), _band_z(xt, by_speaker[1])
    assert task.adapt.source_features.shape == xs.shape
    np.testing.assert_allclose(task.adapt.source_features, want_s, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(task.adapt.target_features, want_t, rtol=1e-4, atol=1e-4)
    if mode != "speaker":
        assert np.shape(task.transform["mean"]) == (64,)  # one statistic per band


def test_tables_of_other_segment_shapes_are_refused(logmel_pair):
    source, target = logmel_pair
    short = FeatureTable(
        features=target.features[:, :1], labels=target.labels, speakers=target.speakers
    )
    with pytest.raises(ValueError, match=r"\(2, 12, 64\) features per row.*\(1, 12, 64\)"):
        prepare_task(source, short, name="s->t")


# ------------------------------------------------------------------------ encoders


def _config(method, **model):
    c = default_config()
    c.method = method
    c.data.input = "logmel"
    c.seeds = 1
    c.model.hidden = (8,)
    c.model.channels = (4,)
    c.model.heads = 2
    c.model.layers = 1
    c.train.steps = 3
    c.train.batch_size = 4
    c.train.log_every = 1
    c.plots.kinds = ()
    for key, value in model.items():
        c.model[key] = value
    return c


@pytest.mark.parametrize(
    "method,want", [("ida", "cnn"), ("mi_decomposition", "transformer"), ("dann", "cnn")]
)
def test_auto_picks_each_seed_methods_own_encoder_on_logmel(method, want):
    spec = RunSpec.from_config(_config(method))
    assert spec.model.encoder == want and spec.config["model"]["encoder"] == want
    assert RunSpec.from_config(_config(method, encoder="transformer")).model.encoder == (
        "transformer"
    )


@pytest.mark.slow  # builds the networks eagerly (10-25 s under load)
@pytest.mark.parametrize("method,want", [("ida", "cnn"), ("mi_decomposition", "transformer")])
def test_the_built_encoder_is_the_chosen_one(method, want):
    from dalib.experiment.encoders import _encoder

    params = _encoder(RunSpec.from_config(_config(method)), (SEGMENTS, FRAMES, 64)).init(
        jax.random.key(0)
    )
    leaves = jax.tree_util.tree_leaves_with_path(params)
    paths = " ".join(jax.tree_util.keystr(p) for p, _ in leaves)
    assert ("convs" in paths) == (want == "cnn") and ("blocks" in paths) == (want == "transformer")


@pytest.mark.slow  # eager convolutions (about 25 s under load)
def test_the_encoder_averages_the_segments_features():
    from flax import nnx

    from dalib.experiment.encoders import SegmentPool
    from dalib.nn import SpectrogramCNN

    cnn = SpectrogramCNN(1, (4,), out_features=5, groups=2, rngs=nnx.Rngs(0))
    pool = SegmentPool(cnn, freq_first=True, downsample=2)
    x = jax.random.normal(jax.random.key(1), (3, 2, 12, 16))
    got = pool(x)
    coarse = x.reshape(3, 2, 6, 2, 8, 2).mean(axis=(3, 5))  # 2 x 2 block means
    segment = [cnn(jnp.swapaxes(coarse[:, k], 1, 2)) for k in range(2)]  # [3, 5] each
    want = (segment[0] + segment[1]) / 2
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "method,data_input,encoder,match",
    [
        ("svm", "logmel", "auto", "method 'svm' is shallow.*data.input=features"),
        ("tca", "logmel", "auto", "method 'tca' is shallow"),
        ("dann", "logmel", "mlp", "model.encoder=mlp.*use model.encoder=cnn"),
        ("dann", "features", "cnn", "model.encoder=cnn reads log-mel segments"),
        ("dann", "features", "transformer", "data.input=logmel"),
        ("dann", "wav", "auto", r"data.input must be one of \('features', 'logmel'\)"),
        ("dann", "logmel", "rnn", "model.encoder must be one of"),
    ],
)
def test_bad_input_and_encoder_combinations_are_refused_before_any_run(
    method, data_input, encoder, match
):
    c = _config(method, encoder=encoder)
    c.data.input = data_input
    with pytest.raises(ValueError, match=match):
        RunSpec.from_config(c)


def test_encoder_sizes_are_checked_by_name():
    with pytest.raises(ValueError, match=r"model\.heads=3 must divide"):
        RunSpec.from_config(_config("mi_decomposition", heads=3))
    with pytest.raises(ValueError, match=r"model\.channels"):
        RunSpec.from_config(_config("ida", channels=(4, 0)))
    with pytest.raises(ValueError, match=r"model\.downsample"):
        RunSpec.from_config(_config("ida", downsample=0))


def test_feature_vector_encoder_refuses_segment_rows(logmel_pair):
    spec = RunSpec.from_config(default_config())  # features input, the MLP
    with pytest.raises(ValueError, match=r"data\.input=logmel"):
        build_trainer(spec, (SEGMENTS, FRAMES, 64), 3)


def test_a_methods_own_encoder_wins(monkeypatch):
    from dalib.experiment import registry
    from dalib.nn import MLPEncoder
    from dalib.train import from_nnx

    own = from_nnx(lambda rngs: MLPEncoder(SEGMENTS * FRAMES * 64, (8,), rngs=rngs))

    @dataclasses.dataclass(frozen=True)
    class Parts(registry.DeepParts):
        encoder: object = None

    registry.register(
        registry.Method("own_enc", "deep", "test", "test", {}, lambda ctx: Parts(encoder=own))
    )
    try:
        spec = RunSpec.from_config(_config("own_enc"))  # auto on logmel: the CNN ...
        assert spec.model.encoder == "cnn"
        trainer = build_trainer(spec, (SEGMENTS * FRAMES * 64,), 3)  # ... but its own MLP is used
        assert trainer.encoder is own
    finally:
        registry.unregister("own_enc")


# ------------------------------------------------------------------------ end to end


@pytest.mark.slow  # compiles a CNN and a Transformer training program (40-90 s under load)
@pytest.mark.parametrize("method", ["ida", "mi_decomposition"])
def test_a_tiny_logmel_task_runs_end_to_end(logmel_pair, tmp_path, method):
    source, target = logmel_pair
    spec = RunSpec.from_config(_config(method))
    task = prepare_task(source, target, name="s->t", normalize="pooled", target_rows="shared")
    record = run_one(spec, task, 0, tmp_path / method, save_model=True)
    assert 0.0 <= record["uar"] <= 1.0 and record["num_target_adapted"] == len(target.labels)
    rows = (tmp_path / method / "predictions.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(target.labels)  # one prediction per utterance
    config = json.loads((tmp_path / method / "config.json").read_text())
    assert config["data"]["input"] == "logmel"
    assert config["model"]["encoder"] == ("cnn" if method == "ida" else "transformer")
    history = (tmp_path / method / "history.csv").read_text().splitlines()
    assert len(history) == 1 + spec.train.steps
    from dalib.experiment import predict  # the saved model predicts the same rows the same way

    saved = predict(tmp_path / method, target)
    run_probs = np.loadtxt(
        tmp_path / method / "predictions.csv", delimiter=",", skiprows=1, usecols=(3, 4, 5)
    )
    np.testing.assert_allclose(saved.probs, run_probs, atol=1e-5)


def test_the_protocol_reads_logmel_tables_from_corpus_audio(tmp_path, monkeypatch):
    from dalib.experiment import SER, CorporaSpec, load_protocol_tables
    from tests.data import fixtures

    monkeypatch.setenv("DALIB_CACHE", str(tmp_path / "cache"))
    fixtures.make_emodb(tmp_path / "corpora" / "emodb")
    fixtures.make_casia(tmp_path / "corpora" / "casia")
    corpora = CorporaSpec.from_config({"root": str(tmp_path / "corpora")}, SER)
    tables = load_protocol_tables(SER, corpora, ["B", "C"], tmp_path / "f", input="logmel")
    for code, count in (("B", len(fixtures.EMODB_FILES)), ("C", 18)):
        assert tables[code].features.shape == (count, 4, 100, 64)
    assert list(tables["B"].files) == sorted(f for f, _, _ in fixtures.EMODB_FILES)
    cached = list((tmp_path / "cache" / "features" / "logmel_segments").rglob("*.npz"))
    assert len(cached) == len(fixtures.EMODB_FILES) + 18
    with pytest.raises(ValueError, match="--tables gives precomputed feature tables"):
        spec = CorporaSpec.from_config({"tables": "B=x.npz,C=y.npz"}, SER)
        load_protocol_tables(SER, spec, ["B", "C"], tmp_path / "f", input="logmel")


def test_resolve_encoder_names_every_choice():
    from dalib.experiment import registry

    assert resolve_encoder(registry.get("dan"), "logmel", "transformer") == "transformer"
    assert resolve_encoder(registry.get("svm"), "features", "auto") == "mlp"
    assert ml_collections.ConfigDict(default_config().model.to_dict()).encoder == "auto"
