"""LLM Observatory: OpenTelemetry-native observability for LLM applications.

::

    import llm_observatory as observatory

    observatory.init(service_name="support-bot")
"""

from ._setup import force_flush, init, shutdown
from .context import conversation, metadata, session, tags, user
from .decorators import agent, observe, task, tool, workflow
from .version import __version__

__all__ = [
    "__version__",
    "agent",
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
