"""Undo/redo over immutable project values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sdhd_studio.core.project import Project


@dataclass
class History:
    """The current project plus the states before and after it.

    Because projects are immutable, undoing restores the exact earlier value, and with it the
    earlier recipe keys: frames rendered for that state come back from the cache for free.
    """

    project: Project
    limit: int = 500
    _undo: list[tuple[str, Project]] = field(default_factory=list)
    _redo: list[tuple[str, Project]] = field(default_factory=list)

    def apply(self, label: str, edit: Callable[..., Project], *args: Any, **kwargs: Any) -> Project:
        """Run `edit(project, *args, **kwargs)` and record it as one undo step."""
        new = edit(self.project, *args, **kwargs)
        if new != self.project:
            self._undo.append((label, self.project))
            del self._undo[: -self.limit]
            self._redo.clear()
            self.project = new
        return new

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1][0] if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1][0] if self._redo else None

    def undo(self) -> Project:
        if self._undo:
            label, before = self._undo.pop()
            self._redo.append((label, self.project))
            self.project = before
        return self.project

    def redo(self) -> Project:
        if self._redo:
            label, after = self._redo.pop()
            self._undo.append((label, self.project))
            self.project = after
        return self.project
