"""The client's heartbeat bookkeeping, with the clock given: when it pings, when it gives up, what restarts."""

from __future__ import annotations

from protocol.liveness import Liveness


def test_a_quiet_engine_is_pinged_once_per_interval_then_given_up():
    liveness = Liveness(interval=1.0, misses=3, now=100.0)
    assert liveness.verdict(100.5) == "alive"
    assert liveness.verdict(101.0) == "ping"
    assert liveness.verdict(101.5) == "alive"  # pinged half an interval ago
    assert liveness.verdict(102.0) == "ping"
    assert liveness.verdict(103.0) == "gone"


def test_hearing_the_engine_resets_the_silence():
    liveness = Liveness(interval=1.0, misses=3, now=100.0)
    liveness.heard(102.5)
    assert liveness.answered
    assert liveness.silence(103.0) == 0.5
    assert liveness.verdict(103.0) == "alive"


def test_asking_after_an_idle_spell_counts_silence_from_the_request_never_backwards():
    liveness = Liveness(interval=1.0, misses=3, now=100.0)
    liveness.asked(500.0)  # an hour idle, then work: the engine has had no chance to answer yet
    assert liveness.verdict(500.5) == "alive"
    liveness.asked(400.0)  # a clock reading older than the last answer moves nothing
    assert liveness.heard_at == 500.0


def test_a_second_engine_id_is_a_restart_the_first_is_not():
    liveness = Liveness(interval=1.0, misses=3, now=0.0)
    assert not liveness.restarted("")  # an engine that sends no id says nothing
    assert not liveness.restarted("aaaa")  # the first one heard
    assert not liveness.restarted("aaaa")
    assert liveness.restarted("bbbb")
    assert not liveness.restarted("bbbb")  # the new engine, from now on
