"""Progress bars (rich): one per video and stage, on stderr."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class RichProgress:
    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=self.console, transient=False,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def stage(self, video: str, stage: str, fraction: float) -> None:
        key = (video, stage)
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(f"{video} · {stage}", total=1.0)
        self._progress.update(self._tasks[key], completed=fraction)

    def note(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
