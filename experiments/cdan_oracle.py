r"""Diagnostic: CDAN conditioned on the true labels instead of its predictions.

Checks the reading of ``docs/experiments.md`` and ``docs/health.md`` that CDAN
loses where its target predictions are poor because it conditions the
discriminator on them. ``cdan_oracle`` is CDAN (same recipe, discriminator,
options) whose multilinear map :math:`f \otimes g` takes the one-hot *true*
label as :math:`g`, on the source and on the target. It reads target labels
during training, so it is an oracle: it lives in this script only, is never
registered outside it, and is no method users get.

How the labels reach the term without entering the classifier: the one-hot
labels are appended to each input row; the oracle's encoder runs the usual MLP
(``model.hidden``, ``model.dropout``) on the feature columns and appends the
label columns to its output; the classifier reads the first ``d`` feature
columns only; the term splits them again. Predictions therefore never see a
label (the target rows of the scored predictions carry their one-hot labels in
the appended columns, which nothing but the oracle term reads).

``source_only`` and ``cdan`` run through the same code path (``fit_method``) on
the unchanged rows. Scores: UAR on SER tasks, accuracy on the health toys.

``mdd_oracle`` is the same kind of diagnostic for MDD: its disparity takes the
true labels (source and target) where MDD takes the main head's argmax
(``--methods source_only,mdd,mdd_oracle``).

``python -m experiments.cdan_oracle --ser E->C,C->E --toys class_shift --seeds 3``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

ORACLE = "cdan_oracle"
MDD_ORACLE = "mdd_oracle"


def _register_oracle(hidden: tuple[int, ...]) -> None:
    import jax.numpy as jnp
    from flax import nnx

    from dalib import losses
    from dalib import train as T
    from dalib.experiment import recipes, registry
    from dalib.experiment._builtin_methods import _SliceClassifier
    from dalib.nn import MLPEncoder

    if ORACLE in registry.names():
        return

    class OracleEncoder(nnx.Module):
        def __init__(self, num_features: int, dropout: float, *, rngs: nnx.Rngs):
            self.num_features = num_features
            self.mlp = MLPEncoder(num_features, hidden, dropout=dropout, rngs=rngs)

        def __call__(self, x):
            k = self.num_features
            return jnp.concatenate([self.mlp(x[:, :k]), x[:, k:]], axis=1)

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class OracleConditional(T.ConditionalAdversarial):
        split: int = 0

        def _inputs(self, out):
            k = self.split
            f = jnp.concatenate([out.source_features[:, :k], out.target_features[:, :k]])
            g = jnp.concatenate([out.source_features[:, k:], out.target_features[:, k:]])
            return losses.cdan_features(f, g)

    cdan = registry.get("cdan")

    def build(ctx):
        d, c = ctx.feature_dim, ctx.num_classes
        num_features = ctx.in_features - c
        (reference,) = cdan.build(ctx).terms  # the registered cdan term, options and all
        term = OracleConditional(
            **{f.name: getattr(reference, f.name) for f in dataclasses.fields(reference)},
            split=d,
        )
        return registry.DeepParts(
            (dataclasses.replace(term, name=ORACLE),),
            classifier=T.from_nnx(lambda rngs: _SliceClassifier(d, c, rngs=rngs)),
            encoder=T.from_nnx(lambda rngs: OracleEncoder(num_features, ctx.dropout, rngs=rngs)),
        )

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class OracleMarginDisparity(T.MarginDisparity):
        split: int = 0

        def __call__(self, out, params, key):
            k, n = self.split, out.source_features.shape[0]
            f = jnp.concatenate([out.source_features, out.target_features])
            z = self.run_network(params, out.reverse(f), key)  # the head reads f[:, :k]
            # one-hot true labels in place of the main head's logits: their argmax is the label
            disparity = losses.mdd(
                out.source_features[:, k:], z[:n], out.target_features[:, k:], z[n:],
                margin=self.margin,
            )  # fmt: skip
            return -disparity, {"disparity": disparity}

    class Sliced(nnx.Module):
        def __init__(self, inner: nnx.Module, d: int):
            self.inner, self.d = inner, d

        def __call__(self, x):
            return self.inner(x[:, : self.d])

    mdd = registry.get("mdd")

    def build_mdd(ctx):
        from dalib.experiment._builtin_methods import _Head

        d, c = ctx.feature_dim, ctx.num_classes
        num_features = ctx.in_features - c
        o = ctx.options
        hidden, drop = tuple(o["head_hidden"]), o["head_dropout"]

        def head():
            return T.from_nnx(
                lambda rngs: Sliced(_Head(d, hidden, c, dropout=drop, rngs=rngs), d)
            )

        term = OracleMarginDisparity(
            weight=ctx.weight(o["weight"]),
            margin=o["margin"],
            network=head(),
            reversal=ctx.reversal,
            split=d,
            name=MDD_ORACLE,
        )
        return registry.DeepParts(
            (term,),
            classifier=head(),
            encoder=T.from_nnx(lambda rngs: OracleEncoder(num_features, ctx.dropout, rngs=rngs)),
        )

    registry.register(
        registry.Method(
            MDD_ORACLE,
            "deep",
            "DIAGNOSTIC ORACLE: MDD with the true labels in place of the main head's argmax",
            "experiments/cdan_oracle.py",
            dict(mdd.defaults),
            build_mdd,
            recipe=recipes.MDD,
        )
    )
    registry.register(
        registry.Method(
            ORACLE,
            "deep",
            "DIAGNOSTIC ORACLE: CDAN conditioned on the one-hot true labels (reads target labels)",
            "experiments/cdan_oracle.py",
            dict(cdan.defaults),
            build,
            recipe=recipes.ADVERSARIAL,
        )
    )


def _with_labels(data, source_labels, target_labels):
    c = data.num_classes
    eye = np.eye(c, dtype=np.float32)
    if np.any(target_labels < 0):
        raise ValueError("the oracle needs a label on every target row")
    return dataclasses.replace(
        data,
        name=data.name + " (oracle)",
        source_features=np.concatenate([data.source_features, eye[source_labels]], axis=1),
        target_features=np.concatenate([data.target_features, eye[target_labels]], axis=1),
        groups=None,
    )


def _spec(config, method: str, steps: int | None):
    from dalib.experiment import RunSpec

    c = config.copy_and_resolve_references()
    c.method = method
    c.plots.kinds = ()
    c.save_model = False
    if steps:
        c.train.steps = steps
    return RunSpec.from_config(c)


def _ser_tasks(names):
    from dalib.experiment import protocol_config
    from dalib.experiment.protocols import CorporaSpec, get_protocol, load_protocol_tables
    from dalib.experiment.task import prepare_task

    config = protocol_config()
    protocol = get_protocol("ser")
    corpora = CorporaSpec.from_config(
        {**config.corpora.to_dict(), "synthetic": True}, protocol
    )
    selected = protocol.select_tasks(list(names))
    codes = sorted({t.source for t in selected} | {t.target for t in selected})
    tables = load_protocol_tables(protocol, corpora, codes, "/tmp/unused")
    tasks = []
    for t in selected:
        tasks.append(
            prepare_task(
                tables[t.source],
                tables[t.target],
                name=t.name,
                classes=t.classes,
                normalize=config.data.normalize,
                target_rows=config.data.target_rows,
            )
        )
    return config, tasks


def _uar(y, p, c):
    return float(np.mean([np.mean(p[y == k] == k) for k in range(c) if np.any(y == k)]))


def main(argv=None) -> int:
    from dalib.experiment import AdaptData, default_config, fit_method

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ser", default="E->C,C->E", help="SER tasks ('' for none)")
    parser.add_argument("--toys", default="class_shift", help="health toys ('' for none)")
    parser.add_argument("--methods", default=f"source_only,cdan,{ORACLE}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="0: the config's budget")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    jobs = []  # (name, config, data, true target labels, metric)
    if args.ser:
        config, tasks = _ser_tasks(args.ser.split(","))
        for task in tasks:
            jobs.append((task.name, config, task.adapt, task.target_labels, "UAR"))
    if args.toys:
        from experiments.health import make_toy

        config = default_config()
        for name in args.toys.split(","):
            toy = make_toy(name)
            classes = tuple(str(c) for c in range(int(toy.source_labels.max()) + 1))
            data = AdaptData(name, classes, toy.source, toy.source_labels, toy.target, toy.groups)
            jobs.append((name, config, data, toy.target_labels, "accuracy"))
    print(f"load average at start {os.getloadavg()}", flush=True)
    for name, config, data, labels, metric in jobs:
        _register_oracle(tuple(int(h) for h in config.model.hidden))
        for method in methods:
            spec = _spec(config, method, args.steps)
            run_data = data
            if method in (ORACLE, MDD_ORACLE):
                run_data = _with_labels(data, data.source_labels, labels)
            start, scores, dom = time.perf_counter(), [], []
            for seed in range(args.seeds):
                fitted = fit_method(spec, run_data, seed)
                pred = np.asarray(fitted.predictions)
                ok = labels >= 0
                if metric == "UAR":
                    scores.append(_uar(labels[ok], pred[ok], data.num_classes))
                else:
                    scores.append(float(np.mean(pred == labels)))
                acc = [v for k, v in fitted.history.items() if k.endswith("domain_accuracy")]
                if acc:
                    tail = np.asarray(acc[0], float)
                    dom.append(float(np.mean(tail[int(0.8 * len(tail)) :])))
            extra = f"  domain acc (last 20 %) {np.mean(dom):.2f}" if dom else ""
            print(
                f"{name:12s} {method:12s} {metric} {100 * np.mean(scores):5.1f} ± "
                f"{100 * np.std(scores, ddof=1):4.1f}  per seed "
                f"{' '.join(f'{100 * s:.1f}' for s in scores)}{extra}  "
                f"({time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
