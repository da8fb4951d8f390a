"""The `modeltest` console script: compose the config, run the chosen runner, exit code.

Exit codes: 0 success, 1 unexpected failure, 2 a config or data error the user must fix,
3 a metric missed its gate baseline, 4 the run aborted (too many failed samples).
"""
from __future__ import annotations

import errno
import logging
import os
import sys

from inference.media import MediaError
from inference.models import ModelPathError
from modeltest.samples import DataError
from runners import interrupt
from runners.config import ConfigError, compose, to_container
from runners.output_lock import release_output_locks
from runners.validation import validate

# a folder that cannot take the run's files: one line naming the path, exit code 2
WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

USAGE = """usage: modeltest [model=<name>] [task=<name>] [runner=<name>] [runtime=<name>] [key=value ...]

  modeltest model=demo_qwen2_vl task=textvqa
  modeltest runner=score task=textvqa runner.predictions=<samples.jsonl> output_dir=<dir>
  modeltest runner=gate gate.baseline=<yaml> runner.summary=<summary.json>
  modeltest runner=train model=<name> task=<name with a train split> [runner.max_steps=N]
  modeltest --cfg [overrides]     print the composed config and exit
"""


def _runner(name: str):
    from runners import accuracy, clip_compare, gate, performance, score, train

    runners = {"accuracy": accuracy.run, "score": score.run, "gate": gate.run,
               "performance": performance.run, "clip_compare": clip_compare.run,
               "train": train.run}
    if name not in runners:
        raise ConfigError(f"runner.name={name}: unknown (known: {', '.join(runners)})")
    return runners[name]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    show_config = "--cfg" in argv
    overrides = [a for a in argv if a != "--cfg"]
    logging.basicConfig(level=os.environ.get("MODELTEST_LOG", "WARNING"),
                        format="%(levelname)s %(name)s: %(message)s")
    previous_handlers = interrupt.install_handlers()
    cfg = {}
    try:
        cfg = compose(overrides)
        if show_config:
            from omegaconf import OmegaConf
            print(OmegaConf.to_yaml(cfg, resolve=True))
            return 0
        validate(to_container(cfg))
        return _runner(cfg.runner.name)(cfg)
    except KeyboardInterrupt as err:
        _say(interrupt.interrupted_message())
        return interrupt.exit_code_of(err)
    except (ConfigError, DataError, ModelPathError, MediaError) as err:
        _say(f"modeltest: error: {err}")
        return 2
    except OSError as err:
        if interrupt.was_interrupted():
            _say(interrupt.interrupted_message())
            return interrupt.exit_code_of()
        if err.errno in WRITE_ERRNOS:
            where = err.filename or f"a file under output_dir {cfg.get('output_dir')}"
            _say(f"modeltest: error: cannot write {where}: {err.strerror}")
            return 2
        raise
    except Exception as err:
        from runners.accuracy import ABORTED_EXIT_CODE, RunAborted
        if isinstance(err, RunAborted):
            _say(f"modeltest: aborted: {err}")
            return ABORTED_EXIT_CODE
        if interrupt.was_interrupted():   # e.g. a collective broken by a stopping peer
            _say(interrupt.interrupted_message())
            return interrupt.exit_code_of()
        raise
    finally:
        release_output_locks()
        interrupt.restore_handlers(previous_handlers)


def _say(line: str) -> None:
    """Errors are printed once: by rank 0 of a parallel run."""
    if os.environ.get("RANK", "0") == "0":
        print(line, file=sys.stderr, flush=True)


def _exit_for_launcher(code: int) -> int:
    """Under scripts/mm_run.sh, rank 0 hands its exit code over in MODELTEST_EXIT_FILE, since
    torchrun would turn every failure into 1 plus a traceback of its own."""
    exit_file = os.environ.get("MODELTEST_EXIT_FILE")
    if not exit_file:
        return code
    if os.environ.get("RANK", "0") == "0":
        with open(exit_file, "w") as handle:
            handle.write(str(code))
    return 0


if __name__ == "__main__":
    sys.exit(_exit_for_launcher(main()))
