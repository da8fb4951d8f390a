"""Generate adversarial ChartQA relaxed-accuracy cases and record the OFFICIAL scores.

    python tests/golden/build/record_chartqa_goldens.py \
        --pix2struct <google-research/pix2struct checkout> --pix2struct-python <interpreter> \
        --unichart <vis-nlp/UniChart checkout> --unichart-python <interpreter> [--out tests/golden]

Two implementations are recorded (see modeltest/scorers/relaxed_accuracy.py for why):
- pix2struct/metrics.py is loaded as a single module from its file (it imports
  pycocoevalcap and editdistance, which the interpreter must have) and scores each case with
  its own aggregation, `aggregate_metrics(targets=[answers], predictions=[prediction],
  metric_fn=relaxed_correctness)` (100 * the max over the answers); each set of cases is
  scored the same way in one call (its percent).
- UniChart's `model/chartqa_model.py` is imported as a module from the checkout (it imports
  torch, pytorch_lightning and nltk) and `ChartQAModule.compute_metric(None, gt, pred)` is
  called per case (the method does not use `self`); UniChart has one answer per question.
Small drivers, written here, do the calls; nothing of the official code is copied.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 20250322
NUM_CASES = 1500
NUM_UNICHART_CASES = 1200
SET_SIZES = (1, 9, 50, 140, 300, 500)

NUMBERS = ["0", "0.0", "-0", "1", "2", "5", "12", "12.5", "19.99", "20", "100", "105", "95",
           "1000", "-3.2", "0.05", "0.12", "3.14159", "2019", "2020", "1e3", "1E-2", "1_000",
           "1,000", "1,234.5", "$12", "12 m", "12 million", "nan", "inf", "١٢", "１２", "12.",
           ".5", "+7", " 12 ", "12%", "12.5%", "0%", "100%", "5 %", "12%%", "%", "-4%"]
WORDS = ["Yes", "No", "yes", "no", "Blue", "blue", "United States", "UNITED STATES", "Q3",
         "2019-20", "North", "n/a", "", " ", "Men", "women", "Canada, Mexico", "北京",
         "ß", "Straße", "ΟΔΟΣ", "x-axis"]
FACTORS = [1.0, 1.05, 0.95, 1.0499, 1.0501, 0.9501, 0.9499, 1.01, 0.99, 1.2, 0.5, -1.0, 2.0,
           1.0000001, 1.049999999, 1.050000001, 100.0, 0.01]


def numeric_variant(target: str, rng: random.Random) -> str:
    """A number near the target (inside or just outside 5%), or the target reformatted."""
    text = target.strip().rstrip("%")
    try:
        value = float(text)
    except ValueError:
        return target
    if value != value or value in (float("inf"), float("-inf")):
        return rng.choice([target, target.upper(), "NaN", "-inf", "1e999"])
    kind = rng.randrange(8)
    if kind <= 3:
        result = value * rng.choice(FACTORS)
        return rng.choice([repr(result), f"{result:.2f}", f"{result:g}", str(round(result))])
    if kind == 4:                                   # percent <-> fraction
        return rng.choice([f"{value}%", f"{value / 100!r}", f"{value * 100:g}%", f"{value:g}"])
    if kind == 5:
        return rng.choice([f"{value:.1f}", f"{value:e}", f"{value:,}", f" {value:g}"])
    if kind == 6:
        return rng.choice([f"{target} units", f"${target}", f"{target}.", f"~{target}"])
    return target + rng.choice(["%", " %", "0", ".0"])


def text_variant(target: str, rng: random.Random) -> str:
    kind = rng.randrange(7)
    if kind == 0:
        return target
    if kind == 1:
        return target.upper()
    if kind == 2:
        return target.lower()
    if kind == 3:
        return rng.choice([" ", "\n", "\t"]) + target + rng.choice(["", " ", "."])
    if kind == 4:
        return target + "."
    if kind == 5:
        return f"The answer is {target}"
    return rng.choice(WORDS + NUMBERS)


def make_prediction(target: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return numeric_variant(target, rng)
    if roll < 0.9:
        return text_variant(target, rng)
    return rng.choice(["", " ", "none", "0", target + target])


def make_case(rng: random.Random, single: bool) -> tuple[str, list[str]]:
    target = rng.choice(NUMBERS if rng.random() < 0.65 else WORDS)
    answers = [target]
    if not single and rng.random() < 0.25:
        answers.append(rng.choice([numeric_variant(target, rng), rng.choice(NUMBERS + WORDS)]))
    return make_prediction(rng.choice(answers), rng), answers


def make_cases(count: int, seed: int, single: bool = False):
    rng = random.Random(seed)
    return [make_case(rng, single) for _ in range(count)]


PIX2STRUCT_DRIVER = r"""
import importlib.util, json, sys
metrics_file, cases_file, sets_file, out_file = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("pix2struct_metrics", metrics_file)
metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(metrics)
cases = json.load(open(cases_file, encoding="utf-8"))
sets = json.load(open(sets_file))
per_case = [metrics.aggregate_metrics(targets=[answers], predictions=[prediction],
                                      metric_fn=metrics.relaxed_correctness)
            for prediction, answers in cases]
per_set = [metrics.aggregate_metrics(targets=[c[1] for c in cases[a:b]],
                                     predictions=[c[0] for c in cases[a:b]],
                                     metric_fn=metrics.relaxed_correctness) for a, b in sets]
json.dump({"cases": per_case, "sets": per_set}, open(out_file, "w"))
"""

UNICHART_DRIVER = r"""
import json, sys
checkout, cases_file, out_file = sys.argv[1:4]
sys.path.insert(0, checkout)
from model.chartqa_model import ChartQAModule
cases = json.load(open(cases_file, encoding="utf-8"))
json.dump([bool(ChartQAModule.compute_metric(None, answers[0], prediction))
           for prediction, answers in cases], open(out_file, "w"))
"""


def run_driver(python: str, driver: str, arguments: list[str], work: Path) -> None:
    path = work / "driver.py"
    path.write_text(driver, encoding="utf-8")
    subprocess.run([python, str(path), *arguments], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def interpreter(python: str) -> str:
    return subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip()


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pix2struct", type=Path, required=True)
    parser.add_argument("--pix2struct-python", default=sys.executable)
    parser.add_argument("--pix2struct-commit", default=None)
    parser.add_argument("--unichart", type=Path, required=True)
    parser.add_argument("--unichart-python", default=sys.executable)
    parser.add_argument("--unichart-commit", default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    cases = make_cases(NUM_CASES, SEED)
    single = make_cases(NUM_UNICHART_CASES, SEED + 1, single=True)
    bounds, start = [], 0
    for size in SET_SIZES:
        bounds.append([start, start + size])
        start += size
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
        (work / "single.json").write_text(json.dumps(single), encoding="utf-8")
        (work / "sets.json").write_text(json.dumps(bounds))
        run_driver(args.pix2struct_python, PIX2STRUCT_DRIVER,
                   [str(args.pix2struct / "pix2struct" / "metrics.py"), str(work / "cases.json"),
                    str(work / "sets.json"), str(work / "p2s.json")], work)
        pix2struct = json.loads((work / "p2s.json").read_text())
        run_driver(args.unichart_python, UNICHART_DRIVER,
                   [str(args.unichart), str(work / "single.json"), str(work / "uni.json")], work)
        unichart = json.loads((work / "uni.json").read_text())
    write(args.out / "chartqa_pix2struct.json", {
        "source": {"repo": "google-research/pix2struct",
                   "commit": args.pix2struct_commit or git_commit(args.pix2struct),
                   "file": "pix2struct/metrics.py",
                   "entry": "aggregate_metrics(targets=[answers], predictions=[prediction], "
                            "metric_fn=relaxed_correctness) / 100 per case; per set: the percent",
                   "interpreter": interpreter(args.pix2struct_python), "seed": SEED},
        "cases": [[p, a, s / 100.0] for (p, a), s in zip(cases, pix2struct["cases"])],
        "sets": [{"cases": b, "relaxed_accuracy": s} for b, s in zip(bounds, pix2struct["sets"])]})
    write(args.out / "chartqa_unichart.json", {
        "source": {"repo": "vis-nlp/UniChart",
                   "commit": args.unichart_commit or git_commit(args.unichart),
                   "file": "model/chartqa_model.py",
                   "entry": "ChartQAModule.compute_metric(None, answers[0], prediction)",
                   "interpreter": interpreter(args.unichart_python), "seed": SEED + 1},
        "cases": [[p, a, float(s)] for (p, a), s in zip(single, unichart)]})
    print(f"chartqa: pix2struct {len(cases)} cases (mean {sum(pix2struct['cases']) / len(cases):.2f}%), "
          f"unichart {len(single)} cases (mean {sum(unichart) / len(single):.3f})")


if __name__ == "__main__":
    main()
