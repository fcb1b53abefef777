"""The GenAI metric instruments, created once per meter, with the semconv buckets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Meter

from ... import semconv as sc


class Metrics:
    """Records inference, tool, agent and workflow metrics in the configured naming mode."""

    def __init__(self, meter: Meter, mode: str = "legacy") -> None:
        self.legacy = mode in ("legacy", "both")
        self.latest = mode in ("latest", "both")
        h = meter.create_histogram
        if self.legacy:
            self.duration = h(sc.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration",
                              explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.tokens = h(sc.METRIC_TOKEN_USAGE, unit="{token}", description="Tokens used by a GenAI operation",
                            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS)
            self.ttfc = h(sc.METRIC_TIME_TO_FIRST_CHUNK, unit="s", description="Time to the first streamed chunk",
                          explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.tpoc = h(sc.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s",
                          description="Mean time between streamed chunks after the first",
                          explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
        if self.latest:
            self.inf_duration = h(sc.METRIC_INFERENCE_DURATION, unit="s", description="GenAI inference duration",
                                  explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.inf_ttfc = h(sc.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, unit="s",
                              description="Time to the first streamed chunk",
                              explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.inf_tpoc = h(sc.METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK, unit="s",
                              description="Mean time between streamed chunks after the first",
                              explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.inf_input = meter.create_counter(sc.METRIC_INFERENCE_USAGE_INPUT_TOKENS, unit="{token}",
                                                  description="Input tokens, cached ones included")
            self.inf_output = meter.create_counter(sc.METRIC_INFERENCE_USAGE_OUTPUT_TOKENS, unit="{token}",
                                                   description="Output tokens, reasoning ones included")
        self.cost = meter.create_counter(sc.METRIC_LLM_COST, unit="USD", description="Cost of GenAI calls")
        self.unpriced = meter.create_counter(sc.METRIC_LLM_UNPRICED_CALLS, unit="{call}",
                                             description="GenAI calls whose model has no known price")
        self.tool_duration = h(sc.METRIC_EXECUTE_TOOL_DURATION, unit="s", description="Tool execution duration",
                               explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
        self.agent_duration = h(sc.METRIC_INVOKE_AGENT_DURATION, unit="s", description="Agent invocation duration",
                                explicit_bucket_boundaries_advisory=sc.AGENT_DURATION_BUCKETS)
        self.workflow_duration = h(sc.METRIC_INVOKE_WORKFLOW_DURATION, unit="s",
                                   description="Workflow invocation duration",
                                   explicit_bucket_boundaries_advisory=sc.WORKFLOW_DURATION_BUCKETS)
        self.dropped = meter.create_counter(sc.METRIC_LLM_DROPPED, unit="{item}",
                                            description="Telemetry dropped by a full buffer")

    def record_inference(
        self,
        attrs: Mapping[str, Any],
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        ttfc_s: float | None,
        tpoc_s: float | None,
        cost_usd: float | None,
        failed: bool,
    ) -> None:
        """Record one inference call. ``attrs`` are the common metric attributes (with error.type)."""
        if self.legacy:
            self.duration.record(duration_s, attrs)
            if input_tokens is not None:
                self.tokens.record(input_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
            if output_tokens is not None:
                self.tokens.record(output_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT})
            if ttfc_s is not None:
                self.ttfc.record(ttfc_s, attrs)
            if tpoc_s is not None:
                self.tpoc.record(tpoc_s, attrs)
        if self.latest:
            self.inf_duration.record(duration_s, attrs)
            modality = sc.TOKEN_MODALITY_UNKNOWN if input_tokens is None else sc.TOKEN_MODALITY_TEXT
            counted = {k: v for k, v in attrs.items() if k != sc.ERROR_TYPE}
            counted[sc.GEN_AI_TOKEN_MODALITY] = modality
            self.inf_input.add(input_tokens or 0, counted)
            self.inf_output.add(output_tokens or 0, counted)
            if ttfc_s is not None:
                self.inf_ttfc.record(ttfc_s, attrs)
            if tpoc_s is not None:
                self.inf_tpoc.record(tpoc_s, attrs)
        if cost_usd is not None:
            self.cost.add(cost_usd, {k: v for k, v in attrs.items() if k != sc.ERROR_TYPE})
