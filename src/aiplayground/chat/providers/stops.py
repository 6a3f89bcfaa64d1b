"""Stop sequences over streamed text: hold back only what could still become a stop."""

from __future__ import annotations


class StopScanner:
    """Feed text pieces; get back what is safe to show, and whether a stop was reached."""

    def __init__(self, stops: list[str] | None) -> None:
        self.stops = [s for s in stops or [] if s]
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add text; return the part that can be emitted now (text before a stop, at most)."""
        if self.stopped:
            return ""
        if not self.stops:
            return text
        self.pending += text
        cut = min((i for s in self.stops if (i := self.pending.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.pending = self.pending[:cut], ""
            return out
        hold = self._held_suffix()
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(self.pending) - hold :]
        return out

    def flush(self) -> str:
        """At the end, what was held back (it turned out not to be a stop)."""
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out

    def _held_suffix(self) -> int:
        # The longest end of the pending text that is the start of some stop sequence.
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), longest, -1):
                if self.pending.endswith(stop[:size]):
                    longest = size
                    break
        return longest
