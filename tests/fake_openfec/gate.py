"""A gate that lets tests decide when the fake answers, instead of racing it with sleeps.

    gate = fake.hold(after=3, kind="schedule_a")  # 3 more Schedule A requests pass...
    ...start a sync...
    gate.wait_held(1)   # ...the 4th has arrived and is held: the sync is mid-run for sure
    proc.send_signal(signal.SIGKILL)
    gate.release()      # held requests (and all later ones) are answered normally

Held requests wait before anything else happens to them (key check, rate limit, faults),
so releasing a gate answers them exactly as if they had just arrived.
"""

from __future__ import annotations

import threading


class Gate:
    """Counts the requests of one kind (None: every API request) from its creation, lets the
    first `after` through, and holds the later ones until `release()`."""

    def __init__(self, after: int, kind: str | None = "schedule_a") -> None:
        if after < 0:
            raise ValueError("after must be >= 0")
        self.after, self.kind = after, kind
        self._cond = threading.Condition()
        self._arrived = 0
        self._held = 0
        self._released = False

    def enter(self, kind: str) -> None:
        """Called by a server thread as a request arrives; blocks while it is held."""
        if self.kind is not None and kind != self.kind:
            return
        with self._cond:
            self._arrived += 1
            self._cond.notify_all()
            if self._released or self._arrived <= self.after:
                return
            self._held += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._released)
            self._held -= 1
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def wait_held(self, n: int = 1, timeout: float = 60.0) -> bool:
        """True once `n` requests are held at the same time; False after `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: self._held >= n, timeout)

    def wait_arrived(self, n: int, timeout: float = 60.0) -> bool:
        """True once `n` requests of the gate's kind have arrived since it was set."""
        with self._cond:
            return self._cond.wait_for(lambda: self._arrived >= n, timeout)

    def state(self) -> dict[str, int | bool]:
        with self._cond:
            return {"after": self.after, "arrived": self._arrived, "held": self._held,
                    "released": self._released}
