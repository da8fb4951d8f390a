"""How many failed samples a run may have (runtime.max_error_rate), in one place: checked
after every batch while generating, and on the final totals of every run, resumed or not."""
from __future__ import annotations

ABORTED_EXIT_CODE = 4


class RunAborted(RuntimeError):
    """More samples failed than runtime.max_error_rate allows (exit code 4)."""


class ErrorBudget:
    def __init__(self, max_error_rate: float, total: int):
        self.rate = float(max_error_rate)
        self.total = int(total)

    @property
    def allowed(self) -> float:
        return self.rate * self.total

    def exceeded(self, errors: int) -> bool:
        return errors > self.allowed

    def message(self, errors: int, last_error: str | None) -> str:
        return (f"{errors} of {self.total} samples failed, more than "
                f"runtime.max_error_rate={self.rate} allows; last error: {last_error}")

    def check_final(self, records: list[dict], where: str) -> None:
        """RunAborted when the finished run has too many failed samples."""
        failed = [r for r in records if r.get("error")]
        if self.exceeded(len(failed)):
            raise RunAborted(
                f"{len(failed)} of {self.total} samples failed, more than "
                f"runtime.max_error_rate={self.rate} allows (first error: "
                f"{failed[0]['error']}); they are listed in {where} and are tried again when "
                "you rerun the same command")
