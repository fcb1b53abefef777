"""The base of every LLM Observatory instrumentor: idempotent and symmetric patching."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import _telemetry
from ._telemetry import Telemetry

logger = logging.getLogger("llm_observatory")


class ObservatoryInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """``instrument()`` twice is a no-op; ``uninstrument()`` restores every original method.

    ``instrument(tracer_provider=..., meter_provider=...)`` pins the providers, as contrib
    instrumentors do; without them the instrumentation follows ``init()`` or the globals.
    """

    #: Requirements of the instrumented library, for the dependency check of ``opentelemetry-instrument``.
    instruments: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        if not hasattr(self, "_patches"):
            self._patches: list[tuple[Any, str, Any]] = []
            self._telemetry: Telemetry | None = None
            #: Bumped by ``uninstrument()``: a pending :meth:`wrap_when_imported` of an earlier
            #: ``instrument()`` then does nothing.
            self._generation = 0
            #: Inside ``instrument()``: the library's import, when patching imports it, may fire
            #: ``init()``'s import hook, whose ``instrument()`` then leaves the work to this one.
            self._instrumenting = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def instrument(self, **kwargs: Any) -> Any:
        if self.is_instrumented_by_opentelemetry or self._instrumenting:
            return None
        self._instrumenting = True
        try:
            return super().instrument(**kwargs)
        finally:
            self._instrumenting = False

    def uninstrument(self, **kwargs: Any) -> Any:
        if not self.is_instrumented_by_opentelemetry:
            return None
        return super().uninstrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        tp, mp = kwargs.get("tracer_provider"), kwargs.get("meter_provider")
        self._telemetry = _telemetry.build(tp, mp) if (tp is not None or mp is not None) else None
        self._patch_all()

    def _uninstrument(self, **kwargs: Any) -> None:
        self._generation += 1
        while self._patches:
            owner, name, original = self._patches.pop()
            setattr(owner, name, original)
        self._telemetry = None

    def _patch_all(self) -> None:
        """Wrap the library's methods with :meth:`wrap` (implemented by each adapter)."""
        raise NotImplementedError

    def telemetry(self) -> Telemetry:
        """The telemetry for a call starting now."""
        return self._telemetry or _telemetry.current()

    def wrap_when_imported(self, module: str, owner: str, name: str, wrapper: Any = None, *,
                           make_wrapper: Callable[[], Any] | None = None) -> None:
        """:meth:`wrap` ``module.owner.name`` once the application imports ``module`` (at once if it
        has): a library's submodules that it imports lazily stay lazy. A class reached through two
        modules is wrapped once. ``make_wrapper`` builds the wrapper only then, for adapter code
        that itself imports the library."""
        from ._imports import when_imported

        generation = self._generation

        def patch(imported: Any) -> None:
            cls = getattr(imported, owner, None)
            if cls is None or generation != self._generation:  # gone, or uninstrumented since
                return
            if any(patched is cls and patched_name == name for patched, patched_name, _ in self._patches):
                return
            self.wrap(cls, name, wrapper if make_wrapper is None else make_wrapper())

        when_imported(module, patch)

    def wrap(self, owner: Any, name: str, wrapper: Any) -> None:
        """Wrap ``owner.name`` (a class attribute) with ``wrapper``; skipped if it does not exist."""
        if self._remember(owner, name):
            wrapt.wrap_function_wrapper(owner, name, wrapper)

    def replace(self, owner: Any, name: str, replacement: Any) -> None:
        """Set ``owner.name`` (a class attribute, such as a property) to ``replacement`` until
        uninstrumented; skipped if it does not exist."""
        if self._remember(owner, name):
            setattr(owner, name, replacement)

    def _remember(self, owner: Any, name: str) -> bool:
        """Note ``owner.name``'s original for ``uninstrument()``; ``False`` if there is none."""
        original = owner.__dict__.get(name)
        if original is None:
            logger.debug("LLM Observatory: %s.%s not found; not instrumented", owner.__name__, name)
            return False
        self._patches.append((owner, name, original))
        return True
