"""The `modeltest` console script: compose the config, run the chosen runner, exit code.

Exit codes: 0 success, 1 unexpected failure, 2 a config or data error the user must fix,
3 a metric missed its gate baseline (or a comparison's verdict failed its runner.require),
4 the run aborted (too many failed samples).
"""
from __future__ import annotations

import errno
import logging
import os
import sys

from runners import interrupt

# Ctrl-C while torch and the rest import (seconds): one line, not an import's traceback
if __name__ == "__main__" or os.path.basename(sys.argv[0]) == "modeltest":
    interrupt.install_early_handlers()

from inference.media import MediaError  # noqa: E402  (after the early signal handlers)
from inference.models.base import ModelPathError  # noqa: E402
from modeltest.registry import Registry, RegistryError  # noqa: E402
from modeltest.samples import DataError  # noqa: E402
from runners.config import ConfigError, compose, to_container
from runners.error_budget import ABORTED_EXIT_CODE, RunAborted
from runners.output_lock import release_output_locks
from runners.validation import validate

# a folder that cannot take the run's files: one line naming the path, exit code 2
WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

USAGE = """usage: modeltest [model=<name>] [task=<name>] [runner=<name>] [runtime=<name>] [key=value ...]

  modeltest model=<model> task=<task>           (conf/model/*.yaml, conf/task/*.yaml)
  modeltest runner=score task=<task> runner.predictions=<samples.jsonl> output_dir=<dir>
  modeltest runner=gate gate.baseline=<yaml> runner.summary=<summary.json>
  modeltest runner=compare runner.a=<run folder> runner.b=<run folder> output_dir=<dir>
  modeltest runner=train model=<name> task=<name with a train split> [runner.max_steps=N]
  modeltest --cfg [overrides]     print the composed config and exit
"""


# runner.name -> its job, imported on use (a gate run never imports a model family)
RUNNERS = Registry("runner.name", {
    "accuracy": "runners.accuracy:run",
    "score": "runners.score:run",
    "gate": "runners.gate:run",
    "performance": "runners.performance:run",
    "clip_compare": "runners.clip_compare:run",
    "compare": "runners.compare:run",
    "train": "runners.train:run",
})


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
        try:
            job = RUNNERS.get(cfg.runner.name)
        except RegistryError as err:
            raise ConfigError(str(err)) from None
        return job(cfg)
    except KeyboardInterrupt as err:
        _say(interrupt.interrupted_message())
        return interrupt.exit_code_of(err)
    except RunAborted as err:
        _say(f"modeltest: aborted: {err}")
        return ABORTED_EXIT_CODE
    except (ConfigError, DataError, ModelPathError, MediaError, RegistryError) as err:
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
    except Exception:
        if interrupt.was_interrupted():   # e.g. a collective broken by a stopping peer
            _say(interrupt.interrupted_message())
            return interrupt.exit_code_of()
        raise
    finally:
        release_output_locks()
        interrupt.restore_handlers(previous_handlers)


def _say(line: str) -> None:
    """Errors are printed once per node: by the first rank of each (rank 0 on one node)."""
    if os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")) == "0":
        print(line, file=sys.stderr, flush=True)


def console() -> None:
    """The `modeltest` console script."""
    interrupt.leave(main())


if __name__ == "__main__":
    interrupt.leave(main())
