"""Lightning's training bar counted in optimiser steps over the whole fit.

Training stages run with ``max_epochs=-1`` and a step budget (``max_steps``), over loaders whose
"epoch" is arbitrary (a stream, a reshuffled sampler). Lightning's stock bar restarts every
epoch and knows no total; this one runs once from the resumed step to ``max_steps``.
"""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class StepProgressBar(TQDMProgressBar):
    """A TQDM bar over ``trainer.global_step`` with total ``trainer.max_steps``."""

    def on_train_start(self, trainer: L.Trainer, *_: Any) -> None:
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self.train_progress_bar = Tqdm(
            desc=self.train_description,
            total=total,
            initial=trainer.global_step,  # resumed from a checkpoint
            unit="step",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        """One bar for the whole fit: an epoch boundary changes nothing."""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        bar = self.train_progress_bar
        if bar is not None and self._should_update(trainer.global_step, bar.total):
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))
