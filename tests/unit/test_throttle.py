"""The attempt counter slides: a window boundary does not wipe the count."""
from minsheng.throttle import Counter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_hits_just_before_a_window_boundary_still_count_just_after_it():
    clock = Clock(1000 * 300 - 1)  # one second before a 300 s boundary
    counter = Counter("memory://", "t", 300, clock)
    for _ in range(5):
        counter.hit("k")
    clock.now += 2
    assert counter.count("k") > 4.9
    clock.now += 150
    assert 2.4 < counter.count("k") < 2.6  # half of the old window still in the last 300 s
    clock.now += 300
    assert counter.count("k") == 0


def test_clear_forgets_a_key_and_only_that_key():
    counter = Counter("memory://", "t", 300, Clock(5000.0))
    counter.hit("a")
    counter.hit("b")
    counter.clear("a")
    assert (counter.count("a"), counter.count("b")) == (0, 1)
