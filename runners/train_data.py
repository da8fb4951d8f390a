"""The order runner=train reads its samples in: a function of the seed and the step alone, so a
resumed run reads exactly what an uninterrupted one would.

The samples form one endless stream, epoch after epoch, each epoch a permutation drawn from
(seed, epoch). Optimizer step s takes the global batch at positions [s*G, (s+1)*G) with
G = micro_batch_size x grad_accum x dp; micro-batch m of data-parallel rank r is the slice
starting at (m*dp + r) * micro_batch_size."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

from modeltest.samples import Sample


def training_answer(sample: Sample) -> str:
    """The answer a sample is trained on: its most frequent reference (the first of the most
    frequent when they tie), as VQA v2's multiple_choice_answer is the annotators' majority."""
    if not sample.references:
        raise ValueError(f"{sample.source}: no reference answer to train on")
    counts = Counter(sample.references)
    best = max(counts.values())
    return next(answer for answer in sample.references if counts[answer] == best)


@dataclass
class DataOrder:
    count: int                   # samples in the training split
    seed: int
    micro_batch_size: int
    grad_accum: int
    dp: int
    _epochs: dict[int, list[int]] = field(default_factory=dict)

    @property
    def global_batch(self) -> int:
        return self.micro_batch_size * self.grad_accum * self.dp

    def _permutation(self, epoch: int) -> list[int]:
        if epoch not in self._epochs:
            generator = torch.Generator().manual_seed(self.seed * 1000003 + epoch)
            self._epochs = {epoch: torch.randperm(self.count, generator=generator).tolist()}
        return self._epochs[epoch]

    def indices(self, step: int, micro: int, rank: int) -> list[int]:
        """The sample indices of micro-batch `micro` of data-parallel `rank` at `step`."""
        start = step * self.global_batch + (micro * self.dp + rank) * self.micro_batch_size
        return [self._permutation(position // self.count)[position % self.count]
                for position in range(start, start + self.micro_batch_size)]

    def epoch_at(self, step: int) -> float:
        """Epochs completed after `step` optimizer steps."""
        return step * self.global_batch / self.count

    def steps_for(self, epochs: float) -> int:
        return max(1, -(-int(round(epochs * self.count)) // self.global_batch))
