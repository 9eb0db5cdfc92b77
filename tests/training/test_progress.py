import pytest

from training import progress
from training.progress import BatchClock, ProgressState


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_phases_are_recorded_in_order_with_their_seconds():
    clock = FakeClock()
    state = ProgressState(clock=clock, phase=progress.STARTING)
    clock.now += 2
    state.report(phase=progress.FETCHING, message="from npm")
    clock.now += 5
    state.report(phase=progress.GENERATING, steps=100)
    state.report(phase=progress.GENERATING, step=50)  # the same phase: no new entry
    clock.now += 3
    state.finish(phase=progress.DONE)
    _, values, phases = state.snapshot()
    assert phases == [
        {"phase": "starting", "seconds": 2.0},
        {"phase": "fetching", "seconds": 5.0},
        {"phase": "generating", "seconds": 3.0},
        {"phase": "done", "seconds": 0.0},
    ]
    assert values["phase"] == "done"


def test_a_new_phase_starts_with_its_own_counts_and_message():
    state = ProgressState(phase=progress.FETCHING)
    state.report(message="downloading", step=10, steps=20)
    state.report(phase=progress.GENERATING)
    _, values, _ = state.snapshot()
    assert (values["step"], values["steps"], values["message"], values["eta_seconds"]) == (0, 0, "", None)


def test_a_counted_phase_estimates_its_time_left_from_its_own_rate():
    clock = FakeClock()
    state = ProgressState(clock=clock)
    state.report(phase=progress.GENERATING, steps=1000)
    clock.now += 10
    state.report(step=250)
    assert state.snapshot()[1]["eta_seconds"] == 30.0  # 25 images/s, 750 to go


def test_every_report_is_a_new_version_and_unknown_fields_are_refused():
    state = ProgressState()
    before = state.version
    state.report(step=1)
    assert state.version == before + 1
    with pytest.raises(TypeError, match="unknown progress fields: stpe"):
        state.report(stpe=2)


def test_batch_clock_has_no_eta_before_a_batch_time_is_measured():
    clock = FakeClock()
    batches = BatchClock(epochs=2, steps=10, clock=clock)
    batches.epoch_begin()
    clock.now += 8  # the first batch: tracing and the shuffle buffer, not a batch time
    batches.batch_end()
    assert batches.eta(epoch=0, step=1) is None


def test_batch_clock_counts_batches_left_in_all_epochs_and_the_measured_overhead():
    clock = FakeClock()
    batches = BatchClock(epochs=3, steps=10, clock=clock)
    batches.epoch_begin()
    clock.now += 8
    batches.batch_end()
    for _ in range(9):
        clock.now += 0.5
        batches.batch_end()
    # 0 batches left in epoch 1, 20 in the two others, at 0.5 s; overhead not measured yet.
    assert batches.eta(epoch=0, step=10) == 10.0
    clock.now += 2  # the check on the test set
    batches.epoch_end()
    assert batches.overhead_seconds == pytest.approx(10.0)  # 8 s first batch + 2 s check
    batches.epoch_begin()
    clock.now += 1
    batches.batch_end()
    for _ in range(4):
        clock.now += 0.5
        batches.batch_end()
    # Epoch 2 at batch 5: 5 + 10 batches at 0.5 s, and two epoch overheads (this one, the last one).
    assert batches.eta(epoch=1, step=5) == pytest.approx(7.5 + 2 * batches.overhead_seconds)


def test_batch_clock_follows_a_change_of_speed():
    clock = FakeClock()
    batches = BatchClock(epochs=1, steps=1000, window=10, clock=clock)
    batches.epoch_begin()
    batches.batch_end()
    for _ in range(100):
        clock.now += 0.1
        batches.batch_end()
    fast = batches.eta(epoch=0, step=101)
    for _ in range(10):
        clock.now += 0.4  # another job took the cores
        batches.batch_end()
    assert batches.eta(epoch=0, step=111) == pytest.approx(889 * 0.4)
    assert fast == pytest.approx(899 * 0.1)


def test_a_phase_that_gives_its_own_eta_keeps_it_between_its_reports():
    state = ProgressState()
    state.report(phase=progress.TRAINING, steps=100)
    state.report(step=10, eta_seconds=42.0)
    state.report(step=0, message="epoch 2/4")  # a new epoch starts: the batch clock's ETA stays
    assert state.snapshot()[1]["eta_seconds"] == 42.0
