"""LLM Observatory: OpenTelemetry-native observability for LLM applications.

::

    import llm_observatory as observatory

    observatory.init(service_name="support-bot")
"""

from ._setup import force_flush, init, shutdown
from .budgets import Budget, BudgetEvent, BudgetExceeded, budget
from .context import conversation, metadata, session, tags, user
from .decorators import agent, observe, task, tool, workflow
from .version import __version__

__all__ = [
    "Budget",
    "BudgetEvent",
    "BudgetExceeded",
    "__version__",
    "agent",
    "budget",
    "conversation",
    "force_flush",
    "init",
    "metadata",
    "observe",
    "session",
    "shutdown",
    "tags",
    "task",
    "tool",
    "user",
    "workflow",
]
