"""`runtime.logprobs=<k>`: the k most likely next tokens of every generated step, with their
log-probabilities, for comparing two runs' distributions step by step.

`StepLogprobs` is a logits processor placed after every other one, so it sees the scores greedy
decoding picks its token from (transformers hands processors float32 scores; the checkpoint's
generation-config processors, e.g. a repetition penalty, have been applied, none by default).
It returns the scores unchanged, so the generated ids are the same with and without it. At
each step it keeps log_softmax(scores) top-k on the device; `rows` copies them to the host
once, at the end of the batch.

A row's record: one entry per step of that row, up to and including the step that produced its
end of sequence (the distribution that chose to stop), each a list of [token id, log-prob],
most likely first.
"""
from __future__ import annotations

import torch


class StepLogprobs:
    def __init__(self, k: int):
        if k < 1:
            raise ValueError(f"runtime.logprobs={k}: must be at least 1")
        self.k = int(k)
        self._ids: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        self.record(scores)
        return scores

    def record(self, scores: torch.Tensor) -> None:
        """One step's scores, (batch, vocabulary)."""
        logprobs = torch.log_softmax(scores.float(), dim=-1)
        values, ids = logprobs.topk(min(self.k, logprobs.shape[-1]), dim=-1)
        self._ids.append(ids)
        self._values.append(values)

    def rows(self, lengths: list[int]) -> list[list[list[list]]]:
        """Per row, its first `lengths[row]` steps: [[[id, logprob], ...k], ...]."""
        if not self._ids:
            return [[] for _ in lengths]
        ids = torch.stack(self._ids, dim=1).cpu().tolist()          # (batch, steps, k)
        values = torch.stack(self._values, dim=1).cpu().tolist()
        return [[[[token, value] for token, value in zip(step_ids, step_values)]
                 for step_ids, step_values in zip(row_ids[:length], row_values[:length])]
                for row_ids, row_values, length in zip(ids, values, lengths)]


def steps_per_row(output_ids: list[list[int]], steps: int) -> list[int]:
    """A row's live steps: its ids, plus the step that produced its end of sequence when it
    stopped before the batch's last step."""
    return [min(steps, len(ids) + 1) for ids in output_ids]
