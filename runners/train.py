"""runner=train: fine-tune a model through its adapter on the task's training split.

    bash scripts/mm_run.sh <task> <model> runner=train [runtime.dp=N] [runner.key=value ...]

- Data: the task's `train` section (its data paths, read by the task's own loader); each
  sample is trained on its most frequent reference answer. Samples go through the adapter's
  prepare() and build_training_inputs(): the prompt, chat template and pixels are exactly
  those evaluation gives the model; the loss is on the answer tokens (and the end-of-turn
  token) only.
- Parallelism: runtime.dp processes (the same launcher as every run), each a replica under
  DistributedDataParallel (gloo on CPU, nccl/hccl on GPU/NPU); gradients are averaged over
  the ranks after runner.grad_accum micro-batches. runtime.tp must be 1.
- Optimizer: AdamW, linear warm-up then cosine/linear/constant decay, gradient clipping;
  runner.trainable=language freezes the vision tower and projector; bf16 autocast where the
  device has it (runner.autocast=auto), the weights in runner.dtype.
- Resume: every runner.save_every steps the whole training state is saved atomically
  (runners/train_state.py); a rerun of the same command into the same output_dir resumes from
  the last saved step and ends with the weights an uninterrupted run ends with.
- Output: the trained checkpoint in the family's own layout (runner.save_dir, by default
  <output_dir>/checkpoint), results/train.csv, results/train_summary.json (SPS),
  results/loss_curve.png, and a progress line at least every 5 seconds.
"""
from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from omegaconf import OmegaConf

from inference.device import pick_device, resolve_dtype
from inference.distributed import Parallel, all_gather, init_parallel, shutdown
from inference.memory import peak_memory_mb, reset_peak
from inference.requests import Request
from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.summary import library_versions
from modeltest.reports.train_report import (plot_loss_curve, speed_figures, write_train_csv,
                                            write_train_summary)
from modeltest.samples import DataError
from modeltest.tasks import load_samples
from runners import interrupt
from runners.config import ConfigError, parallel_sizes, to_container
from runners.demo import ensure_demo_data, ensure_demo_model
from runners.evaluation import prompt_template
from runners.models import check_model, create_adapter
from runners.output_lock import lock_output_dir
from runners.train_data import DataOrder, training_answer
from runners.train_state import identity, load_state, rng_state, save_state, set_rng_state

PROGRESS_SECONDS = 5.0


def run(hydra_cfg) -> int:
    tp, dp = parallel_sizes(to_container(hydra_cfg.runtime))
    hydra_cfg.runtime.dp = dp       # the config, identity and reports say what ran (not "auto")
    cfg = to_container(hydra_cfg)
    check_settings(cfg)
    # demo assets are built before the process group exists: transformers' save_pretrained
    # writes nothing on a rank other than 0 once torch.distributed is initialised
    ensure_demo_model(cfg["model"]["model_path"])
    ensure_demo_data(training_task(cfg))
    try:
        device = pick_device(cfg["runtime"]["device"])
        parallel = init_parallel(tp, dp, device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    try:
        return Trainer(cfg, hydra_cfg, device, parallel).run()
    finally:
        shutdown(parallel)


def check_settings(cfg: dict) -> None:
    """What the schema (runners/schema.py TrainRunner) cannot say: one-line errors before
    anything loads."""
    runner = cfg["runner"]
    if cfg["runtime"]["tp"] != 1:
        raise ConfigError(f"runtime.tp={cfg['runtime']['tp']}: runner=train is data parallel "
                          "only; use runtime.dp")
    if not isinstance(cfg["task"]["train"], dict) or not cfg["task"]["train"]:
        raise ConfigError(f"task.train: task {cfg['task']['name']} names no training split "
                          "(`train:` with the task keys of its training files)")


def training_task(cfg: dict) -> dict:
    """The task config with the training split's keys in place of the evaluation ones."""
    task = {k: v for k, v in cfg["task"].items() if k != "train"}
    task.update(cfg["task"]["train"])
    task["limit"] = cfg["runner"]["limit"]
    return task


def learning_rate_factor(step: int, warmup: int, total: int, schedule: str,
                         floor: float) -> float:
    """The multiplier of the peak learning rate for optimizer step `step` (0-based)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    decay = 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1 - progress
    return floor + (1 - floor) * decay


class LossOf(torch.nn.Module):
    """The adapter's training loss as a module, so that DistributedDataParallel sees the
    forward pass (and the model's parameters as its own)."""

    def __init__(self, adapter):
        super().__init__()
        self.adapter = adapter
        self.model = adapter.model

    def forward(self, inputs):
        return self.adapter.training_loss(inputs)


class Trainer:
    def __init__(self, cfg: dict, hydra_cfg, device: str, parallel: Parallel):
        self.cfg, self.runner, self.device, self.parallel = cfg, cfg["runner"], device, parallel
        self.main = parallel.is_main
        self.output_dir = Path(cfg["output_dir"]).expanduser()
        self.results_dir = self.output_dir / "results"
        self.state_dir = self.output_dir / "train_state"
        self.save_dir = Path(self.runner["save_dir"]).expanduser() if self.runner["save_dir"] \
            else self.output_dir / "checkpoint"
        self.config_yaml = OmegaConf.to_yaml(hydra_cfg, resolve=True)
        self.started = time.perf_counter()
        self.last_line = time.monotonic()
        self.status = "starting"

    # -- setup ---------------------------------------------------------------------------
    def _samples(self):
        task = training_task(self.cfg)
        samples, warnings = load_samples(task, prompt_template(self.cfg))
        for warning in warnings:
            self.say(f"warning: {warning}")
        if self.runner["subjects"] is not None:
            wanted = set(self.runner["subjects"])
            samples = [s for s in samples if s.subject in wanted]
            if not samples:
                raise ConfigError(f"runner.subjects={sorted(wanted)}: no training sample has "
                                  "one of these subjects")
        try:
            answers = [training_answer(sample) for sample in samples]
        except ValueError as err:
            raise DataError(str(err)) from None
        return task, samples, answers

    def _autocast(self):
        choice = self.runner["autocast"]
        kind = self.device.split(":")[0]
        if choice == "none" or (choice == "auto" and kind == "cpu"):
            return None
        if kind == "cuda" and not torch.cuda.is_bf16_supported():
            if choice == "bf16":
                raise ConfigError("runner.autocast=bf16: this GPU has no bf16")
            return None
        return kind

    def _freeze(self, adapter) -> list[torch.nn.Parameter]:
        everything = list(adapter.model.parameters())
        if self.runner["trainable"] == "full":
            trained = everything
        else:
            language = {id(p) for p in adapter.language_parameters()}
            trained = [p for p in everything if id(p) in language]
        keep = {id(p) for p in trained}
        for parameter in everything:
            parameter.requires_grad_(id(parameter) in keep)
        return trained

    def _parameter_groups(self, adapter, trained: list[torch.nn.Parameter]) -> list[dict]:
        """The language model at runner.learning_rate; the vision tower and projector at
        runner.vision_learning_rate (a randomly initialised tower may need another rate to
        learn before the language model settles on the answers' priors)."""
        rate = float(self.runner["learning_rate"])
        vision_rate = self.runner["vision_learning_rate"]
        language = {id(p) for p in adapter.language_parameters()}
        groups = [{"params": [p for p in trained if id(p) in language], "lr": rate},
                  {"params": [p for p in trained if id(p) not in language],
                   "lr": rate if vision_rate is None else float(vision_rate)}]
        return [group for group in groups if group["params"]]

    # -- the job -------------------------------------------------------------------------
    def run(self) -> int:
        task, samples, answers = self._samples()
        model_cfg = self.cfg["model"]
        check_model(model_cfg)
        if self.main:
            lock_output_dir(self.output_dir)
            self.results_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.output_dir / "config.yaml", self.config_yaml)
        expected = identity(self.cfg, task)
        resume = self.cfg["runtime"]["resume"]
        state = load_state(self.state_dir, expected) if resume else None
        try:
            dtype = resolve_dtype(str(self.runner["dtype"]), self.device)
        except ValueError as err:
            raise ConfigError(f"runner.dtype: {err}") from None
        seed = int(self.cfg["seed"])
        torch.manual_seed(seed + self.parallel.rank)
        self.say(f"loading model {model_cfg['name']} from {model_cfg['model_path']} on "
                 f"{self.device} ({self.parallel.dp} process(es)) ...")
        adapter = create_adapter(model_cfg, self.device, dtype, None)
        adapter.model.train()
        trained = self._freeze(adapter)
        order = DataOrder(len(samples), seed, self.runner["micro_batch_size"],
                          self.runner["grad_accum"], self.parallel.dp)
        total_steps = self.runner["max_steps"] or order.steps_for(float(self.runner["epochs"]))
        optimizer = torch.optim.AdamW(self._parameter_groups(adapter, trained),
                                      betas=tuple(self.runner["betas"]),
                                      eps=float(self.runner["eps"]),
                                      weight_decay=float(self.runner["weight_decay"]))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(
            step, self.runner["warmup_steps"], total_steps, self.runner["schedule"],
            float(self.runner["min_lr_ratio"])))
        history, done = [], {"samples": 0, "input_tokens": 0, "answer_tokens": 0,
                             "seconds": 0.0, "window_loss": 0.0, "window_steps": 0}
        start_step = 0
        if state is not None:
            adapter.model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"][self.parallel.rank])
            history, done, start_step = state["history"], state["done"], state["step"]
            self.say(f"resuming from step {start_step} of {total_steps} "
                     f"({self.state_dir / 'train_state.pt'})")
        module = LossOf(adapter)
        if self.parallel.distributed:
            from torch.nn.parallel import DistributedDataParallel

            module = DistributedDataParallel(
                module, find_unused_parameters=adapter.has_unused_parameters)
        kind = self._autocast()
        parameters = sum(p.numel() for p in adapter.model.parameters())
        self.say(f"training {sum(p.numel() for p in trained):,} of {parameters:,} parameters "
                 f"({self.runner['trainable']}) on {len(samples):,} samples: {total_steps} steps "
                 f"of {order.global_batch} (micro-batch {order.micro_batch_size} x "
                 f"{order.grad_accum} accumulation x {order.dp} process(es)), "
                 f"autocast {'bf16' if kind else 'off'}, seed {seed}")
        reset_peak(self.device)
        ticker = threading.Thread(target=self._tick, daemon=True)
        self.stop_ticker = threading.Event()
        ticker.start()
        try:
            self._loop(adapter, module, optimizer, schedule, order, samples, answers, kind,
                       start_step, total_steps, history, done, expected)
        except KeyboardInterrupt:
            saved = self._saved_step()
            interrupt.set_note(
                f"interrupted: training state of step {saved} kept in "
                f"{self.state_dir / 'train_state.pt'}; rerun the same command to resume"
                if saved is not None else
                "interrupted before the first saved step; rerun the same command to start "
                "again")
            raise
        finally:
            self.stop_ticker.set()
        peaks = all_gather(self.parallel, peak_memory_mb(self.device))
        if self.main:
            self.status = f"saving the checkpoint to {self.save_dir}"
            self.save_dir.mkdir(parents=True, exist_ok=True)
            adapter.save_checkpoint(self.save_dir)
            self._reports(history, done, peaks, total_steps, kind,
                          sum(p.numel() for p in trained), parameters, len(samples), order,
                          start_step)
        if self.parallel.distributed:
            dist.barrier()
        return 0

    def _loop(self, adapter, module, optimizer, schedule, order, samples, answers, kind,
              start_step, total_steps, history, done, expected) -> None:
        rank, accum = self.parallel.dp_rank, order.grad_accum
        save_every, log_every = self.runner["save_every"], self.runner["log_every"]
        max_norm = self.runner["max_grad_norm"]
        trained = [p for p in adapter.model.parameters() if p.requires_grad]

        def build(step: int, micro: int):
            indices = order.indices(step, micro, rank)
            batch = [adapter.prepare(Request(str(samples[i].question_id), samples[i].prompt,
                                             samples[i].images, samples[i].video))
                     for i in indices]
            return adapter.build_training_inputs(batch, [answers[i] for i in indices])

        schedule_of = [(s, m) for s in range(start_step, total_steps) for m in range(accum)]
        # the next micro-batch's inputs are built in the background while this one runs
        pool = ThreadPoolExecutor(1)
        pending = pool.submit(build, *schedule_of[0]) if schedule_of else None
        position = 0
        # the steps since the last logged row (their mean loss is the next row's; a resumed
        # run gets the saved part back, so its rows are those of an uninterrupted run)
        window = {"samples": 0, "input_tokens": 0, "since": time.perf_counter()}
        try:
            for step in range(start_step, total_steps):
                step_started = time.perf_counter()
                losses, inputs_count, answer_count = [], 0, 0
                for micro in range(accum):
                    inputs = pending.result()
                    position += 1
                    pending = pool.submit(build, *schedule_of[position]) \
                        if position < len(schedule_of) else None
                    sync = micro == accum - 1 or not self.parallel.distributed
                    with (nullcontext() if sync else module.no_sync()):
                        with (torch.autocast(kind, dtype=torch.bfloat16) if kind
                              else nullcontext()):
                            loss, answer_tokens, input_tokens = module(inputs)
                        (loss / accum).backward()
                    losses.append(float(loss.detach()))
                    inputs_count += input_tokens
                    answer_count += answer_tokens
                if max_norm is not None:
                    torch.nn.utils.clip_grad_norm_(trained, float(max_norm))
                rate = optimizer.param_groups[0]["lr"]
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                figures = torch.tensor([sum(losses) / len(losses), inputs_count, answer_count],
                                       dtype=torch.float64)
                if self.parallel.distributed:
                    dist.all_reduce(figures)
                loss_mean = float(figures[0]) / self.parallel.dp
                done["samples"] += order.global_batch
                done["input_tokens"] += int(figures[1])
                done["answer_tokens"] += int(figures[2])
                done["seconds"] += time.perf_counter() - step_started
                window["samples"] += order.global_batch
                window["input_tokens"] += int(figures[1])
                done["window_loss"] += loss_mean
                done["window_steps"] += 1
                finished = step + 1
                self.status = (f"step {finished}/{total_steps} | loss {loss_mean:.4f} | "
                               f"lr {rate:.2e} | epoch {order.epoch_at(finished):.2f}")
                if finished % log_every == 0 or finished == total_steps:
                    seconds = time.perf_counter() - window["since"]
                    history.append({
                        "step": finished, "epoch": order.epoch_at(finished),
                        "loss": done["window_loss"] / done["window_steps"],
                        "learning_rate": rate,
                        "samples_per_second": window["samples"] / seconds,
                        "tokens_per_second": window["input_tokens"] / seconds,
                        "elapsed_s": done["seconds"]})
                    window = {"samples": 0, "input_tokens": 0, "since": time.perf_counter()}
                    done["window_loss"], done["window_steps"] = 0.0, 0
                    if self.main:
                        write_train_csv(self.results_dir / "train.csv", history)
                    self.say(self._line(history[-1], total_steps))
                if finished % save_every == 0 or finished == total_steps:
                    self._save(adapter, optimizer, schedule, finished, history, done, expected)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- state, reports, progress --------------------------------------------------------
    def _save(self, adapter, optimizer, schedule, step, history, done, expected) -> None:
        rngs = all_gather(self.parallel, rng_state())
        if self.main:
            save_state(self.state_dir, {
                "step": step, "identity": expected, "model": adapter.model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                "rng": rngs, "history": list(history), "done": dict(done)})
        self.saved_step = step

    def _saved_step(self) -> int | None:
        return getattr(self, "saved_step", None)

    def _reports(self, history, done, peaks, total_steps, kind, trained, parameters, count,
                 order, start_step) -> None:
        speed = speed_figures(done["samples"], done["input_tokens"], done["answer_tokens"],
                              done["seconds"], self.parallel.dp)
        summary = {
            "runner": "train", "model": self.cfg["model"]["name"],
            "task": self.cfg["task"]["name"], "device": self.device, "dp": self.parallel.dp,
            **speed,
            "peak_memory_mb": max(peaks), "peak_memory_mb_per_rank": peaks,
            "wall_time_s": round(time.perf_counter() - self.started, 3),
            "steps": total_steps, "resumed_from_step": start_step or None,
            "samples_seen": done["samples"], "epochs": order.epoch_at(total_steps),
            "training_samples": count, "global_batch_size": order.global_batch,
            "micro_batch_size": order.micro_batch_size, "grad_accum": order.grad_accum,
            "trainable": self.runner["trainable"], "trainable_parameters": trained,
            "parameters": parameters, "dtype": self.runner["dtype"],
            "autocast": "bf16" if kind else "none",
            "first_loss": history[0]["loss"] if history else None,
            "final_loss": history[-1]["loss"] if history else None,
            "checkpoint": str(self.save_dir), "seed": self.cfg["seed"],
            "versions": library_versions(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": self.cfg,
        }
        write_train_csv(self.results_dir / "train.csv", history)
        write_train_summary(self.results_dir / "train_summary.json", summary)
        plot_loss_curve(self.results_dir / "loss_curve.png", history,
                        f"{summary['model']} on {summary['task']}: {total_steps} steps, "
                        f"{speed['SPS']:.1f} samples/s ({self.parallel.dp} process(es))")
        memory = ", ".join(f"{p:.0f}" for p in peaks)
        self.say(f"trained {total_steps} steps in {speed['train_seconds']:.1f} s: SPS "
                 f"{speed['SPS']:.2f} ({speed['SPS_per_device']:.2f} per device), "
                 f"{speed['tokens_per_second']:.0f} tokens/s, peak memory {memory} MB per rank, "
                 f"final loss {summary['final_loss']:.4f}\n"
                 f"checkpoint: {self.save_dir}\n"
                 f"reports: {self.results_dir} (train.csv, train_summary.json, loss_curve.png)")

    def _line(self, row: dict, total_steps: int) -> str:
        left = (total_steps - row["step"]) * (row["elapsed_s"] / max(1, row["step"]))
        return (f"train | step {row['step']}/{total_steps} | epoch {row['epoch']:.2f} | loss "
                f"{row['loss']:.4f} | lr {row['learning_rate']:.2e} | "
                f"{row['samples_per_second']:.1f} samples/s | eta {left:.0f} s")

    def _tick(self) -> None:
        """A line at least every PROGRESS_SECONDS, also while a step is slow."""
        while not self.stop_ticker.wait(1.0):
            if time.monotonic() - self.last_line >= PROGRESS_SECONDS:
                self.say(f"train | {self.status} | "
                         f"{time.perf_counter() - self.started:.0f} s")

    def say(self, line: str) -> None:
        if self.main:
            print(line, flush=True)
        self.last_line = time.monotonic()
