"""Probe: the finetuned model mixed with the model it started from in output space
(w * p_finetuned + (1 - w) * p_start, "linear"; or in log space, "log") against the blend of
weights (alpha * trained + (1 - alpha) * start) the finetune preset serves, at the same shares
and at the alpha the preset's rule picks ("rule").

    .venv/bin/python bench/finetune_mix.py --seed 11 preset='{}' strong='{"epochs": 4, "field_share": 0.3}'

Each recipe trains once from models/default (no blend) on bench/finetune_recipes.py's tuning
population; then each mix is scored: MNIST test, the 120 unseen and --more images, top digit
and as served (temperature fitted on the calibration set with field-train), and the NLL of the
MNIST training digits the run did not train on. Result (README, "The loop, measured"): at the
same share the two read MNIST and the field alike; a mixture of outputs would only double the
cost of serving.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.finetune_recipes import served_accuracy, tuning_set  # noqa: E402

WEIGHTS = (0.0, 0.5, 0.6, 0.7, 0.8, 1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--mnist-dir", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--start", type=Path, default=ROOT / "models" / "default" / "model.keras")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "finetune-mix")
    parser.add_argument("--more", type=int, default=2000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument(
        "--markers", type=int, nargs="+", default=None, help="marker widths of the population (bench/review_loop.py)"
    )
    parser.add_argument("recipes", nargs="+")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args.folder.mkdir(parents=True, exist_ok=True)
    markers = {"markers": tuple(args.markers)} if args.markers else {}
    data = tuning_set(args.seed, args.mnist_dir, args.folder, more=args.more, **markers)
    import keras

    from training import calibrate
    from training.data import load_mnist
    from training.train import train
    from vision.calibration import temperature_apply, temperature_fit

    x_mnist, y_mnist, x_test, y_test = load_mnist(args.mnist_dir)
    kept, held = calibrate.holdout_split(len(x_mnist), 2000)
    # train()'s check set (seed 42): the held-out digits and every kept one it did not train on.
    rest = np.random.default_rng(42).permutation(len(kept))[32000:]
    x_check = np.concatenate([x_mnist[held], x_mnist[kept][rest]])
    y_check = np.concatenate([y_mnist[held], y_mnist[kept][rest]])
    x_cal, y_cal = calibrate.calibration_set_build(
        x_holdout=x_mnist[held],
        y_holdout=y_mnist[held],
        cache_dir=args.mnist_dir.parent / "generated",
        extras_fraction=0.1,
        field_x=data["arrays"]["x_train"],
        field_y=data["arrays"]["y_train"],
    )

    def f(images):
        return (np.asarray(images, np.float32) / 255.0)[..., None]

    def stack(pixels):
        ok = np.asarray([p is not None for p in pixels])
        return np.stack([p if p is not None else np.zeros((28, 28), np.float32) for p in pixels])[..., None], ok

    x_unseen, unseen_ok = stack(data["unseen_pixels"])
    x_more, more_ok = stack(data["more_pixels"])
    inputs = {"test": f(x_test), "cal": f(x_cal), "check": f(x_check), "unseen": x_unseen, "more": x_more}

    def outputs(path: Path) -> dict:
        model = keras.models.load_model(path, compile=False)
        return {k: np.asarray(model.predict(v, batch_size=1000, verbose=0), np.float64) for k, v in inputs.items()}

    def scored(mix: dict, w: float, kind: str) -> dict:
        t = temperature_fit(mix["cal"], y_cal)
        row = {
            "w": w,
            "kind": kind,
            "mnist_test": float(np.mean(np.argmax(mix["test"][:, :10], 1) == y_test)),
            "T": round(t, 3),
            "check_nll": round(nll(mix["check"]) / start_nll - 1, 4),
            "unseen_top": float(np.mean((np.argmax(mix["unseen"][:, :10], 1) == data["unseen_labels"]) & unseen_ok)),
            "unseen_served": served_accuracy(temperature_apply(mix["unseen"], t), data["unseen_labels"], ~unseen_ok),
            "more_top": float(np.mean((np.argmax(mix["more"][:, :10], 1) == data["more_labels"]) & more_ok)),
            "more_served": served_accuracy(temperature_apply(mix["more"], t), data["more_labels"], ~more_ok),
        }
        return row

    start = outputs(args.start)
    start_model = keras.models.load_model(args.start, compile=False)

    def weight_blends(model, end_model) -> list[dict]:
        """Blends of weights alpha * end + (1 - alpha) * start, scored as the mixes are: the
        previous preset's pick (the largest alpha whose check-set NLL is within 1.25% of the
        start's) and each of WEIGHTS."""
        w0, w1 = [w.numpy() for w in model.weights], [w.numpy() for w in end_model.weights]

        def blended(alpha: float, names) -> dict:
            for variable, a, b in zip(model.weights, w0, w1, strict=True):
                variable.assign(alpha * b + (1 - alpha) * a)
            return {k: np.asarray(model.predict(inputs[k], batch_size=1000, verbose=0), np.float64) for k in names}

        for alpha in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5):
            if nll(blended(alpha, ["check"])["check"]) <= start_nll * 1.0125:
                break
        rows = [{**scored(blended(alpha, inputs), alpha, "weights"), "kind": "rule"}]
        rows += [scored(blended(a, inputs), a, "weights") for a in WEIGHTS if a not in (0.0, 1.0)]
        for variable, a in zip(model.weights, w0, strict=True):
            variable.assign(a)
        return rows

    def nll(p):
        return float(-np.mean(np.log(np.maximum(p[np.arange(len(y_check)), y_check], 1e-12))))

    start_nll = nll(start["check"])
    results = {}
    for spec in args.recipes:
        name, _, text = spec.partition("=")
        overrides = {**json.loads(text or "{}"), "blend": [1.0]}  # the finetuned network alone
        # "soup": ["a", "b"]: the mean of those recipes' trained weights (trained before, same seed).
        soup = overrides.pop("soup", None)
        train_seed = overrides.pop("train_seed", 42)
        started = time.monotonic()
        out = args.folder / f"seed{args.seed}" / name
        if soup:
            parts = [
                keras.models.load_model(args.folder / f"seed{args.seed}" / p / "model.keras", compile=False)
                for p in soup
            ]
            for variable, *values in zip(parts[0].weights, *[m.weights for m in parts], strict=True):
                variable.assign(np.mean([v.numpy() for v in values], axis=0))
            out.mkdir(parents=True, exist_ok=True)
            parts[0].save(out / "model.keras")
        elif not (args.reuse and (out / "model.keras").is_file()):
            train(
                seed=train_seed,
                preset="finetune",
                output_dir=out,
                mnist_dir=args.mnist_dir,
                field_set=data["snapshot"],
                with_reviews=True,
                init_model=args.start,
                overrides=overrides,
            )
        seconds = time.monotonic() - started
        end = outputs(out / "model.keras")
        rows = weight_blends(start_model, keras.models.load_model(out / "model.keras", compile=False))
        for w in WEIGHTS:
            for kind in ("linear", "log"):
                if kind == "log" and w in (0.0, 1.0):
                    continue
                if kind == "linear":
                    mix = {k: w * end[k] + (1 - w) * start[k] for k in start}
                else:
                    mix = {}
                    for k in start:
                        z = w * np.log(np.maximum(end[k], 1e-12)) + (1 - w) * np.log(np.maximum(start[k], 1e-12))
                        z = np.exp(z - z.max(axis=1, keepdims=True))
                        mix[k] = z / z.sum(axis=1, keepdims=True)
                rows.append(scored(mix, w, kind))
        results[name] = {"overrides": overrides, "seconds": round(seconds), "rows": rows}
        (args.folder / f"seed{args.seed}.json").write_text(json.dumps(results, indent=1))
        print(f"== seed {args.seed} {name} {overrides}: {seconds:.0f} s, load {os.getloadavg()}")
        for r in rows:
            print(
                f"  {r['kind']:>7} w {r['w']:.2f}: MNIST {r['mnist_test']:.4f}"
                f"  120 {r['unseen_top']:.3f}/{r['unseen_served']:.3f}"
                f"  more {r['more_top']:.3f}/{r['more_served']:.3f}  T {r['T']}  NLL {r['check_nll']:+.2%}"
            )


if __name__ == "__main__":
    main()
