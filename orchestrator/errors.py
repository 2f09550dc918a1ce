"""The one exception the CLI turns into a one-line message and an exit code."""

from orchestrator.constants import EXIT_ERROR


class LotteryError(Exception):
    """A problem the user can fix: what went wrong, then how to fix it."""

    def __init__(self, problem: str, fix: str = "", detail: str = "", code: int = EXIT_ERROR):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.detail = detail  # extra lines printed after the message (a verifier log tail)
        self.code = code

    def line(self) -> str:
        """Return the single line shown on stderr."""
        return f"lottery: {self.problem}" + (f": {self.fix}" if self.fix else "")
