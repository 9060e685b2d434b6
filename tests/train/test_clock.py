"""The training clock: counts only while running, pauses for a block, resumes where it was."""

import time

from vit_lessons.train.clock import Clock


def test_the_clock_counts_only_while_it_runs():
    c = Clock(5.0)
    assert c.elapsed() == 5.0 and not c.running
    c.start()
    time.sleep(0.02)
    with c.paused():
        stopped = c.elapsed()
        time.sleep(0.05)
        assert c.elapsed() == stopped and not c.running  # evaluation is not counted
    assert c.running
    c.stop()
    assert 5.02 <= c.spent < 5.0 + 0.05 + 0.5
    with c.paused():  # pausing a stopped clock leaves it stopped
        pass
    assert not c.running
