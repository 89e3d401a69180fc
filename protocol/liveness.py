"""What a client knows of the engine's life: when it was last heard, whether to ping it, when to give it up,
and which engine process it is (a new `engine_id` means the engine restarted and forgot everything).

Silence only counts while the client waits for something: an idle client may hear nothing for an hour. It
counts from the last message heard, or from the moment work was asked for after an idle spell.
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["alive", "ping", "gone"]


class Liveness:
    """Heartbeat bookkeeping for one connection, fed the times at which things happen."""

    def __init__(self, interval: float, misses: int, now: float) -> None:
        """`interval`: seconds between pings to a quiet engine; gone after `misses` intervals of silence."""
        self.interval = interval
        self.misses = misses
        self.heard_at = now  # when the engine was last heard (or work was asked for after an idle spell)
        self.answered = False  # whether the engine has answered on this connection at all
        self._pinged_at = 0.0
        self.engine_id = ""  # the engine_id first heard (hello_reply or pong); "" until then

    def heard(self, now: float) -> None:
        self.heard_at, self.answered = now, True

    def asked(self, now: float) -> None:
        """Work was asked for after an idle spell: silence counts from now, not from the last answer."""
        self.heard_at = max(self.heard_at, now)

    def silence(self, now: float) -> float:
        return now - self.heard_at

    def verdict(self, now: float) -> Verdict:
        """While waiting on the engine: `gone` after `misses` intervals of silence, `ping` once an interval has
        passed since it was heard and since the last ping, else `alive`."""
        silence = self.silence(now)
        if silence >= self.interval * self.misses:
            return "gone"
        if silence >= self.interval and now - self._pinged_at >= self.interval:
            self._pinged_at = now
            return "ping"
        return "alive"

    def restarted(self, engine_id: str) -> bool:
        """Whether `engine_id` (from a hello_reply or pong) names another process than the first one heard."""
        if not engine_id or engine_id == self.engine_id:
            return False
        first = not self.engine_id
        self.engine_id = engine_id
        return not first
