"""The same benchmarks with two installs, in turns: is the new lock as fast as the old one?

    .venv/bin/python bench/compare_venvs.py --venv old=/path/to/old-venv --venv new=.venv [--rounds 2]
        [--seconds 15] [--count 2000] [--config embedded]

Runs bench/predict_load.py (gunicorn, 4 workers, no Flask baseline) and
bench/batch_throughput.py (a 2,000-image zip, one worker) with each venv's Python, one venv
after the other, `rounds` times, on the same configuration (bench/configs.py), then prints
each run and the median ratio of the second venv to the first. Turns, not one block each:
the machine's speed drifts, so the ratio is what to read.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str]) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(" ".join(command) + "\n" + result.stderr[-3000:])
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", action="append", required=True, help="NAME=PATH; give two.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--config", default="embedded")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    venvs = dict(spec.split("=", 1) for spec in options.venv)
    if len(venvs) != 2:
        parser.error("give two venvs")

    runs: dict[str, dict[str, list[float]]] = {name: {"predict_rps": [], "batch_ips": []} for name in venvs}
    for round_ in range(options.rounds):
        for name, venv in venvs.items():
            python = str(Path(venv).resolve() / "bin" / "python")
            out = ROOT / "var" / "bench" / f"compare-{name}.json"
            predict = [python, "bench/predict_load.py", "--skip-baseline", "--no-read", "--config", options.config]
            run([*predict, "--seconds", str(options.seconds), "--json", str(out)])
            load = json.loads(out.read_text())
            lines = run(
                [python, "bench/batch_throughput.py", "--config", options.config, "--count", str(options.count)]
            )
            batch = json.loads(lines.strip().splitlines()[-1])
            runs[name]["predict_rps"].append(load["mnistsite"]["rps"])
            runs[name]["batch_ips"].append(batch["images_per_second"])
            print(
                json.dumps(
                    {"round": round_ + 1, "venv": name, "predict": load["mnistsite"], "batch": batch}, default=str
                ),
                flush=True,
            )
    first, second = venvs

    def ratio(key: str) -> float:
        return round(statistics.median(runs[second][key]) / statistics.median(runs[first][key]), 3)

    summary = {"runs": runs, "ratio_predict": ratio("predict_rps"), "ratio_batch": ratio("batch_ips")}
    print(json.dumps(summary, indent=2))
    if options.json:
        options.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
