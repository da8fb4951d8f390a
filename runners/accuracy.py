"""runner=accuracy: generate an answer for every sample, score, report, gate.

Records reach debug/samples.jsonl (flushed and fsynced) as each batch finishes; a rerun into
the same output_dir resumes where the last one stopped (runtime.resume=false starts clean).
With runtime.dp > 1 the pending samples are split across data-parallel groups, each group
writes its own records as its batches finish (debug/samples.dp<k>.jsonl beside samples.jsonl)
without waiting for the others, and rank 0 gathers them once at the end
(runners/data_parallel.py); with runtime.tp > 1 each group's model is tensor-parallel.
"""
from __future__ import annotations

import time

import torch
from tqdm import tqdm

from inference.device import pick_device, resolve_dtype
from inference.distributed import Parallel, all_gather, broadcast_from_main, init_parallel, shutdown
from inference.environment import environment_manifest
from inference import media, video_cache
from inference.compiled_decode import plan_for
from inference.engine import Engine
from runners.models import check_model, create_adapter, generation_settings
from inference.requests import Request, VideoSpec
from modeltest.reports.batch_log import BatchLog
from modeltest.reports.logprobs_log import logprobs_line, logprobs_part_path
from modeltest.reports.samples_log import SamplesLog, part_path
from runners.config import ConfigError, to_container
from runners.data_parallel import Board, BoardGone, ProgressTicker, tp_broadcast, \
    wait_for_everyone
from runners.config import harness_runtime, parallel_sizes
from runners.demo import ensure_demo_model
from runners.error_budget import ErrorBudget, RunAborted
from runners.evaluation import make_record, open_run, write_config, write_reports
from runners.gate import apply_gate
from runners.interrupt import set_progress, was_interrupted
from runners.nodes import NodeWatch, check_nodes_agree
from runners.resume import prepare_resume, sample_fingerprint


def run(hydra_cfg) -> int:
    # model.backend=vllm: one harness process, whose engine starts runtime.tp workers itself
    runtime = harness_runtime({"runtime": to_container(hydra_cfg.runtime),
                               "model": to_container(hydra_cfg.model)})
    tp, dp = parallel_sizes(runtime)
    hydra_cfg.runtime.dp = dp       # the run's config and reports say what ran (not "auto")
    # a demo checkpoint is built before the process group starts: transformers'
    # save_pretrained writes no weights on a rank > 0 of an initialised group, and any rank
    # (any node's, with a cache of its own) may be the one that builds it (file-locked)
    ensure_demo_model(to_container(hydra_cfg.model)["model_path"])
    try:
        device = pick_device(runtime["device"])
        # several nodes: a node silent for runtime.node_timeout is gone (runners/nodes.py),
        # also when it held the store
        nodes = int(runtime["nnodes"]) > 1
        parallel = init_parallel(tp, dp, device, runtime["join_timeout"],
                                 runtime["node_timeout"] if nodes else None)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    try:
        return _run(hydra_cfg, device, parallel)
    finally:
        shutdown(parallel)


def _run(hydra_cfg, device: str, parallel: Parallel) -> int:
    run_ = open_run(hydra_cfg, write=parallel.is_main, defer_config=True)
    cfg = run_.cfg
    check_model(cfg["model"])
    resume = bool(cfg["runtime"]["resume"])
    state: tuple | str
    if parallel.is_main:
        try:
            state = (*prepare_resume(run_.debug_dir, cfg, resume, run_.samples),
                     time.strftime("%Y%m%d_%H%M%S"))
            write_config(run_)
        except ConfigError as err:
            state = str(err)
        except OSError as err:
            state = f"output_dir {run_.output_dir}: cannot write {err.filename} ({err.strerror})"
    state = broadcast_from_main(parallel, state if parallel.is_main else None)
    if isinstance(state, str):
        raise ConfigError(state)
    digest, done, failed, stamp = state
    fingerprints = {sample_fingerprint(digest, s): s for s in run_.samples}
    check_nodes_agree(parallel, run_.output_dir, run_.debug_dir, digest, list(fingerprints))
    records = [done[f] for f in fingerprints if f in done]
    pending = {f: s for f, s in fingerprints.items() if f not in done}
    samples_path = run_.debug_dir / "samples.jsonl"
    set_progress(len(records), len(fingerprints), samples_path)
    if (records or failed) and parallel.is_main:
        retry = f"; retrying {failed} that failed" if failed else ""
        print(f"resuming: {len(records)} of {len(fingerprints)} samples already done in "
              f"{samples_path}{retry}", flush=True)

    # the effective generation settings (model.generation, and the checkpoint's
    # generation_config.json where from_checkpoint applies it): in summary.json and its notes
    generation = generation_settings(cfg["model"]).with_max_new_tokens(_max_new_tokens(cfg))
    run_.notes.extend(f"generation: {note}" for note in generation.notes)
    timing = {}
    if pending:
        timing = _generate(run_, pending, records, device, parallel, stamp)
    if not parallel.is_main:
        return 0
    summary = write_reports(run_, records, {"generation": generation.record(), **timing},
                            samples_path=samples_path)
    ErrorBudget(cfg["runtime"]["max_error_rate"], len(run_.samples)).check_final(
        records, str(run_.results_dir / "summary.json"))
    return apply_gate(cfg["gate"], summary, run_.results_dir)


def _max_new_tokens(cfg: dict) -> int:
    """model.generation.max_new_tokens, else the task's."""
    value = cfg["model"]["generation"]["max_new_tokens"]
    return int(value if value is not None else cfg["task"]["max_new_tokens"])


def _generate(run_, pending: dict, records: list[dict], device: str,
              parallel: Parallel, stamp: str) -> dict:
    """Run the engine over this rank's share of the pending samples. Each data-parallel
    group's writer appends its records to its own file as each batch finishes, with no
    collective between batches; rank 0 gathers them once at the end (runners/data_parallel.py)."""
    cfg, runtime = run_.cfg, run_.cfg["runtime"]
    try:
        dtype = resolve_dtype(str(cfg["model"]["dtype"]), device)
        decode_plan = plan_for(runtime["compile"], device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    torch.manual_seed(int(cfg["seed"]))
    samples_path = run_.debug_dir / "samples.jsonl"
    kept_in = samples_path if parallel.dp == 1 else \
        f"{samples_path} (and samples.dp*.jsonl beside it)"
    board = Board(parallel)
    # several nodes: each shows it lives from here on (model loading included)
    watch = NodeWatch(board, parallel, float(runtime["node_timeout"]), str(kept_in)).start()
    try:
        return _generate_watched(run_, pending, records, device, parallel, stamp, board,
                                 watch, kept_in, dtype, decode_plan)
    finally:
        watch.close()


def _generate_watched(run_, pending: dict, records: list[dict], device: str,
                      parallel: Parallel, stamp: str, board: Board, watch: NodeWatch,
                      kept_in, dtype, decode_plan) -> dict:
    cfg, runtime = run_.cfg, run_.cfg["runtime"]
    started = time.perf_counter()
    if parallel.is_main:
        print(f"loading model {cfg['model']['name']} from {cfg['model']['model_path']} "
              f"on {device} ...", flush=True)
    adapter = create_adapter(cfg["model"], device, dtype, parallel.tp_mesh, runtime=runtime,
                             decode_plan=decode_plan)
    logprobs = int(runtime["logprobs"])
    adapter.set_logprobs(logprobs)
    if parallel.is_main:
        print(f"model loaded in {time.perf_counter() - started:.1f} s; decode: "
              f"{adapter.decode.plan.backend}", flush=True)
    # a served model: a batch is the requests sent concurrently between two writes
    batch_size = int(adapter.requests_per_batch or runtime["batch_size"])
    video_cache.configure_from(runtime)
    media.configure_limits(runtime)
    engine = Engine(adapter, batch_size, runtime["loader_workers"])
    max_new = _max_new_tokens(cfg)
    answer_start = str(cfg["task"]["answer_start"])
    everything = [Request(f, s.prompt, s.images, s.video, int(max_new),
                          VideoSpec(**s.video_spec) if s.video_spec else None, answer_start,
                          image_markers=s.image_markers)
                  for f, s in pending.items()]
    mine = everything[parallel.dp_rank::parallel.dp]
    budget = ErrorBudget(runtime["max_error_rate"], len(run_.samples))
    resumed_errors = sum(1 for r in records if r.get("error"))

    main = parallel.is_main
    writer = parallel.tp_rank == 0      # one per data-parallel group
    samples_path = run_.debug_dir / "samples.jsonl"
    suffix = f".dp{parallel.dp_rank}" if parallel.dp_rank else ""
    samples_log = SamplesLog(part_path(samples_path, parallel.dp_rank)) if writer else None
    batch_log = BatchLog(run_.debug_dir / f"output_{stamp}{suffix}.txt") if writer else None
    logprobs_log = SamplesLog(logprobs_part_path(run_.debug_dir, parallel.dp_rank)) \
        if writer and logprobs else None
    written_logprobs: list[dict] = []   # this group's new debug/logprobs.jsonl lines
    progress = tqdm(total=len(run_.samples), initial=len(records), disable=not main,
                    desc=f"{run_.task} | {run_.model}", unit="sample")
    ticker = ProgressTicker(board, progress, len(records))
    if main and parallel.dp > 1:   # the other groups' batches move the bar too
        ticker.start()
    written: list[dict] = []        # this group's new records
    output_tokens = 0

    def check(batch: list[dict], left: list[str]) -> tuple[str, str] | None:
        """After a writer's batch: count it on the board; why the run stops, if it does."""
        failed = [r for r in batch if r["error"]]
        if failed:
            board.set("last_error", failed[-1]["error"])
        done = board.add("done", len(batch))
        errors = resumed_errors + board.add("errors", len(failed))
        if main:
            ticker.show(done)
            set_progress(len(records) + len(written), len(run_.samples), samples_path)
        if left:   # the endpoint failed, not the samples
            board.stop("abort", f"{left[0]}; {len(left)} sample(s) not answered. Finished "
                                f"samples are kept in {kept_in}: rerun the same command to "
                                "resume")
        elif budget.exceeded(errors):
            board.stop("abort", f"{budget.message(errors, board.get('last_error'))}. Finished "
                                f"samples are kept in {kept_in}")
        return board.stopped()

    def write(responses) -> tuple[str, str] | None:
        """The writer's part of a batch: records to this group's file, then the board."""
        nonlocal output_tokens
        batch, left, lines = [], [], []
        for response in responses:
            if response.retry:   # the endpoint failed, not the sample: left for a rerun
                left.append(response.error)
                continue
            record = make_record(run_, pending[response.request_id], response.text,
                                 response.error, response.e2e_time, response.first_token_time)
            record["fingerprint"] = response.request_id
            record["output_ids"] = response.output_ids
            record["input"] = response.input_fingerprint
            if response.top_answers is not None:
                record["top_answers"] = response.top_answers
            batch.append(record)
            if logprobs_log is not None and response.top_logprobs is not None:
                lines.append(logprobs_line(record["question_id"], response.request_id,
                                           logprobs, response.top_logprobs))
        written.extend(batch)
        written_logprobs.extend(lines)
        output_tokens += sum(r.num_output_tokens for r in responses)
        if lines:
            logprobs_log.append(lines)
        if batch:
            samples_log.append(batch)
            batch_log.append(batch, max((r.e2e_time for r in responses), default=0.0))
        try:
            return check(batch, left)
        except BoardGone as err:
            return "abort", _store_gone(parallel, err, kept_in)

    def on_batch(responses) -> None:
        decision, error = None, None
        if writer:
            try:
                decision = write(responses)
            except Exception as err:   # a full disk: the tp peers must not wait for a decision
                decision, error = ("failure", f"rank {parallel.rank} failed: "
                                              f"{type(err).__name__}: {err}"), err
        decision = tp_broadcast(parallel, decision)   # the group leaves at the same batch
        if error is not None:
            raise error
        if decision:
            _leave(board, parallel, decision)

    if mine and runtime["warm_up"]:
        engine.warm_up(mine[0], len(mine))
    start = time.perf_counter()
    finished = None     # when the generation ended (closing the adapter is not timed)
    try:
        try:
            engine.run(mine, on_batch)
            stop = wait_for_everyone(board, parallel)
        except BoardGone as err:
            raise RunAborted(_store_gone(parallel, err, kept_in)) from None
        except (RunAborted, KeyboardInterrupt):
            raise
        except Exception as err:   # the others stop too, and rank 0 says why
            if parallel.distributed:
                try:
                    board.stop("failure", f"rank {parallel.rank} failed: "
                                          f"{type(err).__name__}: {err}")
                    if not main:
                        board.wait_acknowledged()
                except BoardGone:
                    pass
            raise
        if stop:
            _leave(board, parallel, stop)
        watch.close()   # everyone is done: the nodes may now go silent
        # everyone is done: the one collective of the run
        gathered = _gather(parallel, (written, output_tokens, written_logprobs) if writer
                           else ([], 0, []), kept_in)
        if main:
            others = [record for part in gathered[1:] for record in part[0]]
            if logprobs_log is not None:
                logprobs_log.append([line for part in gathered[1:] for line in part[2]])
            samples_log.append(others)
            records.extend(written + others)
            output_tokens = sum(part[1] for part in gathered)
            ticker.show(len(written) + len(others))
        finished = time.perf_counter()
        if broadcast_from_main(parallel, True) and writer and parallel.dp_rank:
            for log in (samples_log, logprobs_log):   # merged into rank 0's files
                if log is not None:
                    log.close()
                    log.path.unlink(missing_ok=True)
    finally:
        ticker.close()
        progress.close()
        if writer:
            samples_log.close()
            batch_log.close()
            if logprobs_log is not None:
                logprobs_log.close()
        adapter.close()
    elapsed = finished - start
    # runtime.tp: the model's tensor-parallel size, in this harness's processes or the
    # backend's own workers; compile: runtime.compile, the decode backend it gave and its
    # warm-up seconds (included in generation_seconds, left out of every sample's timings)
    return {**adapter.run_stats(), "compile": adapter.decode_summary(),
            "device": device, "tp": int(runtime["tp"]), "dp": parallel.dp,
            "nnodes": parallel.nnodes,
            "batch_size": batch_size, "warm_up": bool(runtime["warm_up"]),
            "generation_seconds": round(elapsed, 3),
            "samples_per_second": len(everything) / elapsed if elapsed else None,
            "tokens_per_second": output_tokens / elapsed if elapsed else None,
            "environment": environment_manifest(device)}


def _gather(parallel: Parallel, value, kept_in) -> list:
    """The records of every group, on rank 0. A rank that dies after it has finished its
    share (a node gone) breaks this collective: one line, what is kept, how to resume."""
    try:
        return all_gather(parallel, value)
    except RuntimeError as err:   # torch.distributed's errors (a closed connection, ...)
        if was_interrupted():
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunAborted(f"a rank stopped while the records were gathered ({first}). Finished "
                         f"samples are kept in {kept_in}: rerun the same command to resume") \
            from None


def _store_gone(parallel: Parallel, err: BoardGone, kept_in) -> str:
    """Why a rank stops when the store (served by rank 0) no longer answers."""
    if parallel.nnodes == 1:
        return f"rank 0 has stopped ({err})"
    return (f"node 0 has stopped: rank 0, which serves the run's store, does not answer "
            f"({err}). Finished samples are kept in {kept_in}: rerun the same command on every "
            "node to resume")


def _leave(board: Board, parallel: Parallel, decision: tuple[str, str]) -> None:
    """Stop this rank for an abort or a failure published on the board. Rank 0 says why; the
    others first wait until rank 0 has seen it (the launcher stops everyone soon after a
    worker exits, and rank 0 may be in the middle of a batch)."""
    kind, message = decision
    if parallel.is_main:
        board.acknowledge(parallel.world_size - 1)
    else:
        board.wait_acknowledged()
    if kind == "failure":
        raise RuntimeError(f"data-parallel {message}")
    raise RunAborted(message)
