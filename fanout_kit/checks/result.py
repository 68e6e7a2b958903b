"""What a check returns: a verdict, and for a wrong answer a hint ladder of three rungs.

A wrong answer carries three texts, shown one rung at a time so the first try never hands
over the code:

1. the **symptom**: what the server shows against what the exercise expected, in the lesson's
   words (shown on every wrong try);
2. the **concept**: the idea or API to look at (added from the second wrong try);
3. the **fix**: the code-level change (only when the learner asks, with ``reveal=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CheckResult", "Status", "Verdict", "correct", "not_attempted", "wrong"]

Status = Literal["not attempted", "wrong", "correct"]
# Marks every font has (DejaVu, Liberation, ...): emoji draw as empty boxes where no emoji
# font is installed, and the word after the mark says the same for a screen reader.
_ICONS: dict[Status, str] = {"not attempted": "○", "wrong": "✗", "correct": "✓"}
INDENT = "   "


def _capital(text: str) -> str:
    """Capitalise a hint that opens with a plain word; leave one that opens with code as is.

    ``fetch(n) asks ...`` or ``max_ack_pending caps ...`` start with an identifier, and
    ``Fetch(n)`` or ``Max_ack_pending`` would name something that does not exist.
    """
    first = text.split(" ", 1)[0].rstrip(",:;")
    if not first.isalpha():
        return text
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check. Its repr is stable: notebooks commit it as output.

    ``rung`` is how much of a wrong answer's hint is shown (1: the symptom, 2: and the concept,
    3: and the fix); the check sets it from the learner's earlier tries. ``reveal_call`` is the
    call that shows the fix, quoted in the hint so the learner knows how to ask for it.
    """

    status: Status
    symptom: str
    concept: str = ""
    fix: str = ""
    rung: int = 1
    reveal_call: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    @property
    def message(self) -> str:
        """What the learner sees after the status label (several lines for a wrong answer)."""
        if self.status != "wrong":
            return self.symptom
        lines = [self.symptom]
        if self.rung >= 2 and self.concept:
            lines.append(f"Pointer: {_capital(self.concept)}")
        if self.rung >= 3 and self.fix:
            lines.append(f"Fix: {_capital(self.fix)}")
        how = f"`{self.reveal_call}`" if self.reveal_call else "`reveal=True` in the check call"
        if self.rung == 1 and (self.concept or self.fix):
            nxt = "Change your function and run the check again: a second wrong try adds a pointer."
            if self.fix:
                nxt += f" To see the fix now: {how}."
            lines.append(nxt)
        elif self.rung == 2 and self.fix:
            lines.append(f"Still stuck? {how} shows the fix.")
        return f"\n{INDENT}".join(lines)

    @property
    def hints(self) -> str:
        """Every rung at once (symptom, concept, fix): for tests and tools, not for display."""
        return "\n".join(t for t in (self.symptom, self.concept, self.fix) if t)

    def __repr__(self) -> str:
        return f"{_ICONS[self.status]} {self.status.capitalize()}: {self.message}"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return self.ok


def correct(message: str) -> CheckResult:
    return CheckResult("correct", message)


def wrong(symptom: str, concept: str = "", fix: str = "", *, rung: int = 1) -> CheckResult:
    """A wrong answer: ``symptom`` (no solution code in it), ``concept`` (the idea or API to
    look at), ``fix`` (the code). ``rung`` is the least shown: 2 shows the concept at once."""
    return CheckResult("wrong", symptom, concept, fix, rung)


def not_attempted(what: str) -> CheckResult:
    return CheckResult("not attempted", what)


class Verdict(Exception):
    """Raised by a check's helper to end the check with ``result`` (e.g. a missing stream)."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.symptom)
        self.result = result
