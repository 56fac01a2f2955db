"""Structured-output tasks behind one interface (:mod:`campaign.tasks.base`), looked up by ``task.kind``."""
from campaign.tasks.base import DEFAULT_KIND, Task, TaskSpec, get_task, known_kinds, register

__all__ = ["Task", "TaskSpec", "get_task", "known_kinds", "register", "DEFAULT_KIND"]
