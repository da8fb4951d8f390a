"""Runs lmms-eval's own Qwen2-VL backend on a job that scripts/bench_eval.py wrote, in the
Python that has lmms-eval installed (its own venv: lmms-eval is never a dependency of this
project), and writes what it answered and how long it took. Talks to bench_eval.py through
files only, imports nothing from this project, and changes nothing in lmms-eval: the model is
lmms-eval's `qwen2_vl` class as `--model qwen2_vl` builds it, the samples go through a task
yaml as any user's custom task would (`--include_path`), read from a local `datasets` copy
(load_from_disk) with the Hub and `datasets` offline.

    <lmms-eval venv>/bin/python scripts/peer_lmms_eval.py job.json result.json

job.json: {"model_path", "dataset_dir", "max_new_tokens", "batch_sizes": [1, 4, 8],
"model_args": {"min_pixels", "max_pixels", "device"}, "warmup_samples", "threads"}.
result.json: {"lmms_eval_version", "runs": [{"batch_size", "generate_seconds",
"generate_cpu_seconds", "evaluate_seconds", "answers": [per sample, in the copy's order], "prompts": [the chat texts
its processor rendered, in the order it rendered them]}]}.
"""
from __future__ import annotations

import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TASK = "modeltest_peer"

# The task's hooks: the prompt is the text this harness built (template applied), the image
# the sample's own file bytes, decoded by `datasets`' Image feature as lmms-eval's tasks do.
TASK_UTILS = '''
def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["prompt"]


def process_results(doc, results):
    return {"answered": float(bool(results[0]))}
'''


def task_yaml(dataset_dir: str, max_new_tokens: int) -> str:
    # greedy, the same token budget; `until` empty: nothing cuts the answer but the
    # end-of-sequence token, as in this harness
    return f"""task: {TASK}
dataset_path: {json.dumps(dataset_dir)}
dataset_kwargs:
  load_from_disk: true
test_split: validation
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: "request_id"
generation_kwargs:
  until: []
  max_new_tokens: {int(max_new_tokens)}
  temperature: 0
  top_p: null
  num_beams: 1
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: answered
    aggregation: mean
    higher_is_better: true
"""


def say(line: str) -> None:
    print(f"peer lmms-eval: {line}", file=sys.stderr, flush=True)


def main(job_path: str, result_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    task_dir = Path(job_path).parent / "lmms_eval_tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / f"{TASK}.yaml").write_text(task_yaml(job["dataset_dir"], job["max_new_tokens"]))
    (task_dir / "utils.py").write_text(TASK_UTILS)

    import torch
    from lmms_eval import evaluator

    torch.set_num_threads(job["threads"])    # the harness process's setting
    from lmms_eval.models import get_model
    from lmms_eval.tasks import TaskManager

    args = ",".join(f"{k}={v}" for k, v in {"pretrained": job["model_path"],
                                            "device_map": job["model_args"]["device"],
                                            **job["model_args"]}.items())
    tasks = TaskManager(include_path=str(task_dir))

    def evaluate(batch_size: int, limit: int | None) -> dict:
        # a fresh model per run, as one `lmms-eval --batch_size N` command builds it:
        # simple_evaluate releases the model's modules when it ends (lmms.clean)
        say(f"loading qwen2_vl ({args}, batch_size={batch_size}) ...")
        lm = get_model("qwen2_vl").create_from_arg_string(args, {"batch_size": batch_size})
        timed = {"seconds": 0.0, "cpu_seconds": 0.0}
        generate_until = lm.generate_until

        def timed_generate_until(requests):
            start, cpu = time.perf_counter(), time.process_time()
            answers = generate_until(requests)
            timed["seconds"] += time.perf_counter() - start
            timed["cpu_seconds"] += time.process_time() - cpu   # all of its threads
            return answers

        lm.generate_until = timed_generate_until    # a clock around it; the call is unchanged
        prompts = []
        render = lm.processor.apply_chat_template

        def recorded_render(*args, **kwargs):       # records the text it renders, unchanged
            text = render(*args, **kwargs)
            prompts.append(text)
            return text

        lm.processor.apply_chat_template = recorded_render
        model = {"dtype": str(lm.model.dtype), "threads": torch.get_num_threads(),
                 "attn_implementation": lm.model.config._attn_implementation}
        start = time.perf_counter()
        out = evaluator.simple_evaluate(model=lm, tasks=[TASK], task_manager=tasks,
                                        batch_size=batch_size, limit=limit, log_samples=True,
                                        verbosity="WARNING")
        seconds = time.perf_counter() - start
        by_doc = {int(s["doc_id"]): s["filtered_resps"][0] for s in out["samples"][TASK]}
        return {"batch_size": batch_size, "generate_seconds": round(timed["seconds"], 4),
                "generate_cpu_seconds": round(timed["cpu_seconds"], 4),
                "evaluate_seconds": round(seconds, 4),
                "answers": [by_doc[i] for i in sorted(by_doc)], "prompts": prompts,
                "model": model}

    # every sample once at batch 1 before the clock runs, as this harness's engine has seen
    # every sample once (its loop) before its timed runs: first calls on a new input shape
    # are slow on CPU
    say(f"warming up on {job['warmup_samples']} samples ...")
    evaluate(1, job["warmup_samples"])
    runs = []
    for batch_size in job["batch_sizes"]:
        say(f"batch {batch_size} ...")
        runs.append(evaluate(batch_size, None))
        say(f"batch {batch_size}: {runs[-1]['generate_seconds']:.2f} s generating")
    Path(result_path).write_text(json.dumps(
        {"lmms_eval_version": metadata.version("lmms_eval"), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
