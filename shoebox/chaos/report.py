"""One row per fault: what the load tried and got, what the checks found, how long the system took to
converge; printed as a Markdown table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    fault: str
    seconds: float  # how long the fault lasted
    attempted: int
    completed: int
    verified: int
    lost: int
    duplicated: int
    dead_letters: int
    convergence: float | None  # from the fault's end to every check holding; None: never within the deadline
    gave_up: dict[str, int] = field(default_factory=dict)  # uploads the client gave up on, by step
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.convergence is not None and not self.lost and not self.duplicated and not self.dead_letters \
            and not self.problems


COLUMNS = ("fault", "duration s", "attempted", "completed", "verified", "lost", "duplicated", "dead letters",
           "convergence s", "ok")


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        convergence = f"{row.convergence:.1f}" if row.convergence is not None else "never"
        cells = (row.fault, f"{row.seconds:.1f}", row.attempted, row.completed, row.verified, row.lost,
                 row.duplicated, row.dead_letters, convergence, "yes" if row.ok else "NO")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [f"- {row.fault}: {problem}" for row in rows for problem in row.problems]
    notes += [f"- {row.fault}: the client gave up {n} upload(s) at `{step}`"
              for row in rows for step, n in row.gave_up.items()]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
