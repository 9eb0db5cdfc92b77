"""Progress of a training run: its phases, the latest state, and an ETA from measured times.

Plain Python (no Django, no TensorFlow): train() reports into it, the job service writes
what it holds to the TrainingJob row from another thread, and the tests drive it with a
fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

STARTING = "starting"
FETCHING = "fetching"
GENERATING = "generating"
PREPARING = "preparing"
TRAINING = "training"
EXPORTING = "exporting"
DONE = "done"
# In the order a run goes through them; the labels are what people read.
PHASE_CHOICES = [
    (STARTING, "Starting"),
    (FETCHING, "Fetching data"),
    (GENERATING, "Generating images"),
    (PREPARING, "Building the model"),
    (TRAINING, "Training"),
    (EXPORTING, "Evaluating and exporting"),
    (DONE, "Done"),
]
PHASES = [name for name, _ in PHASE_CHOICES]

# What train() reports: any of phase, step, steps, message, eta_seconds, epoch, epochs.
Report = Callable[..., None]
FIELDS = ("phase", "step", "steps", "message", "eta_seconds", "epoch", "epochs", "loss", "accuracy", "val_accuracy")
# Within a phase, the ETA from the phase's own rate waits for this much of it to be done.
MIN_DONE_FOR_ETA = 0.02


def no_report(**_: object) -> None:
    pass


class ProgressState:
    """The latest progress of one run, merged from many small reports; thread-safe.

    A phase change resets step, steps, message and ETA and records how long the previous
    phase took (`phases`, in order). Within a phase that counts steps, the ETA is the
    phase's measured rate unless the reporter gives its own (training does, from batch times).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, **initial):
        self._clock = clock
        self._lock = threading.Lock()
        self.values: dict = dict.fromkeys(FIELDS)
        self.values.update(step=0, steps=0, message="", epoch=0, epochs=0)
        self.values.update(initial)
        self.phases: list[dict] = []
        self._phase_started = clock()
        self._own_eta = False  # the phase's reporter gives its own ETA (training does)
        self.version = 0  # bumped by every report: the writer writes only what changed
        if self.values["phase"]:
            self.phases.append({"phase": self.values["phase"], "seconds": None})

    def report(self, **changes) -> None:
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise TypeError(f"unknown progress fields: {', '.join(sorted(unknown))}")
        with self._lock:
            now = self._clock()
            phase = changes.get("phase")
            if phase is not None and phase != self.values["phase"]:
                self._close_phase(now)
                self.phases.append({"phase": phase, "seconds": None})
                self._phase_started = now
                self._own_eta = False
                self.values.update(step=0, steps=0, message="", eta_seconds=None)
            self.values.update(changes)
            self._own_eta = self._own_eta or "eta_seconds" in changes
            if not self._own_eta and ("step" in changes or "steps" in changes):
                self.values["eta_seconds"] = self._phase_eta(now)
            self.version += 1

    def finish(self, *, phase: str | None = None) -> None:
        """Close the current phase's time; `phase` (done) is recorded as reached, with no duration."""
        with self._lock:
            self._close_phase(self._clock())
            if phase is not None:
                self.values.update(phase=phase, eta_seconds=None, message="")
                self.phases.append({"phase": phase, "seconds": 0.0})
            self.version += 1

    def snapshot(self) -> tuple[int, dict, list[dict]]:
        with self._lock:
            return self.version, dict(self.values), [dict(p) for p in self.phases]

    def _close_phase(self, now: float) -> None:
        if self.phases and self.phases[-1]["seconds"] is None:
            self.phases[-1]["seconds"] = round(now - self._phase_started, 1)

    def _phase_eta(self, now: float) -> float | None:
        step, steps = self.values["step"] or 0, self.values["steps"] or 0
        if not steps or step < max(1, MIN_DONE_FOR_ETA * steps):
            return None
        return round((now - self._phase_started) / step * (steps - step), 1)


class BatchClock:
    """The time left in training, from measured batch times (not from whole epochs).

    A batch's time is the gap since the previous batch of the same epoch: the first batch
    of each epoch (graph tracing, filling the shuffle buffer) is not counted as a batch,
    and neither is the check on the test set after each epoch. Those make up the
    per-epoch overhead, measured once an epoch has ended.
    """

    def __init__(self, *, epochs: int, steps: int, window: int = 50, clock: Callable[[], float] = time.monotonic):
        self.epochs, self.steps, self._clock = epochs, steps, clock
        self._recent: deque[float] = deque(maxlen=window)
        self._epoch_started = self._last = None
        self._batch_seconds_this_epoch = 0.0
        self.overhead_seconds = 0.0  # per epoch, once measured

    def epoch_begin(self) -> None:
        self._epoch_started = self._clock()
        self._last = None
        self._batch_seconds_this_epoch = 0.0

    def batch_end(self) -> None:
        now = self._clock()
        if self._last is not None:
            self._recent.append(now - self._last)
            self._batch_seconds_this_epoch += now - self._last
        self._last = now

    def epoch_end(self) -> None:
        if self._epoch_started is not None:
            self.overhead_seconds = max(0.0, self._clock() - self._epoch_started - self._batch_seconds_this_epoch)

    @property
    def batch_seconds(self) -> float | None:
        return sum(self._recent) / len(self._recent) if self._recent else None

    def eta(self, *, epoch: int, step: int) -> float | None:
        """Seconds left when `epoch` (0-based) is at batch `step` of `steps`; None until measured."""
        per_batch = self.batch_seconds
        if per_batch is None:
            return None
        epochs_after = self.epochs - epoch - 1
        left = (self.steps - step) * per_batch + epochs_after * self.steps * per_batch
        # Each epoch still to end pays the overhead: this one (its test-set check) and the later ones.
        left += (epochs_after + 1) * self.overhead_seconds
        return round(max(0.0, left), 1)
