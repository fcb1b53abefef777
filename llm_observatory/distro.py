"""Zero-code set-up: ``opentelemetry-instrument python app.py``.

``opentelemetry-instrument`` loads the distro (``OTEL_PYTHON_DISTRO=llm_observatory``), then the
configurator (``OTEL_PYTHON_CONFIGURATOR=llm_observatory``), then every registered instrumentor.
The distro sets OTLP over HTTP as the default for each signal; the configurator runs
:func:`llm_observatory.init`, which reads its options from the environment, so zero-code and
``init()`` give the same processors, exporters and instrumentation.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator


class ObservatoryDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_LOGS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")


class ObservatoryConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        from ._setup import init

        init()
