"""Every attribute, metric and event name that LLM Observatory emits.

GenAI names follow the OpenTelemetry GenAI semantic conventions (repository
``semantic-conventions-genai``, pinned at :data:`SEMCONV_GENAI_REF`). Where the conventions
have no name (cost, estimated usage, budgets, our context helpers) we use the ``llm.*``
namespace defined at the bottom of this module.

The names are declared here, once; instrumentation imports them from here and never from
``opentelemetry.semconv`` (whose ``gen_ai`` names are marked as moved/deprecated).
"""

from __future__ import annotations

from typing import Final

#: The semantic-conventions-genai commit whose names we implement.
SEMCONV_GENAI_REF: Final = "f77b9235f2ad49fe95b61e9809ca82bb08ef9d47"
#: Schema URL set on our tracers and meters (the conventions have no GenAI schema URL yet).
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

# --- gen_ai.* span attributes ---------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION: Final = "gen_ai.prompt.version"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: Final = "gen_ai.request.previous_response.id"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_REQUEST_STREAM_CURSOR: Final = "gen_ai.request.stream_cursor"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_RESPONSE_STATUS: Final = "gen_ai.response.status"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_AUDIO_INPUT_TOKENS: Final = "gen_ai.usage.audio.input_tokens"
GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS: Final = "gen_ai.usage.audio.output_tokens"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_RETRIEVAL_TOP_K: Final = "gen_ai.retrieval.top_k"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"

# OpenAI refinements
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

# Anthropic refinements (no convention has them: named as the OpenAI ones are)
#: The speed the call ran at, when not ``standard`` (``fast`` mode is priced higher).
ANTHROPIC_RESPONSE_SPEED: Final = "anthropic.response.speed"

# General conventions we use
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
SERVICE_NAME: Final = "service.name"
DEPLOYMENT_ENVIRONMENT_NAME: Final = "deployment.environment.name"

# --- well-known values ------------------------------------------------------------------------
class Operation:
    """Values of ``gen_ai.operation.name``."""

    CHAT: Final = "chat"
    TEXT_COMPLETION: Final = "text_completion"
    GENERATE_CONTENT: Final = "generate_content"
    EMBEDDINGS: Final = "embeddings"
    RETRIEVAL: Final = "retrieval"
    FETCH_RESPONSE: Final = "fetch_response"
    EXECUTE_TOOL: Final = "execute_tool"
    CREATE_AGENT: Final = "create_agent"
    INVOKE_AGENT: Final = "invoke_agent"
    INVOKE_WORKFLOW: Final = "invoke_workflow"
    PLAN: Final = "plan"


#: Operations whose spans are inference spans (tokens and cost belong to them).
INFERENCE_OPERATIONS: Final = frozenset(
    {Operation.CHAT, Operation.TEXT_COMPLETION, Operation.GENERATE_CONTENT, Operation.EMBEDDINGS}
)


class Provider:
    """Values of ``gen_ai.provider.name``."""

    OPENAI: Final = "openai"
    AZURE_OPENAI: Final = "azure.ai.openai"
    ANTHROPIC: Final = "anthropic"
    AWS_BEDROCK: Final = "aws.bedrock"
    GCP_VERTEX_AI: Final = "gcp.vertex_ai"
    GCP_GEMINI: Final = "gcp.gemini"
    MISTRAL_AI: Final = "mistral_ai"
    COHERE: Final = "cohere"
    GROQ: Final = "groq"
    DEEPSEEK: Final = "deepseek"
    X_AI: Final = "x_ai"


#: Value of ``error.type`` when no better low-cardinality name is known.
ERROR_TYPE_OTHER: Final = "_OTHER"
#: Finish reason reported in a choice's position when a stream ended without one.
FINISH_REASON_ERROR: Final = "error"

# --- gen_ai.* metrics -------------------------------------------------------------------------
# Names emitted by default (the reference implementation's, "legacy" mode).
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_EXECUTE_TOOL_DURATION: Final = "gen_ai.execute_tool.duration"
METRIC_INVOKE_AGENT_DURATION: Final = "gen_ai.invoke_agent.duration"
METRIC_INVOKE_WORKFLOW_DURATION: Final = "gen_ai.invoke_workflow.duration"
# Newer names ("latest" mode), emitted with ``metrics_mode="latest"`` or ``"both"``.
METRIC_INFERENCE_DURATION: Final = "gen_ai.client.inference.duration"
METRIC_INFERENCE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.inference.time_to_first_chunk"
METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.inference.time_per_output_chunk"
METRIC_INFERENCE_USAGE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
METRIC_INFERENCE_USAGE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"

# Values of gen_ai.token.type / gen_ai.token.modality
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
TOKEN_MODALITY_TEXT: Final = "text"
TOKEN_MODALITY_UNKNOWN: Final = "unknown"

# Bucket boundaries (passed as explicit_bucket_boundaries_advisory)
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
AGENT_DURATION_BUCKETS: Final = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6)
WORKFLOW_DURATION_BUCKETS: Final = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
COST_BUCKETS: Final = (0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)

# --- events -----------------------------------------------------------------------------------
EVENT_INFERENCE_DETAILS: Final = "gen_ai.client.inference.operation.details"

# --- our llm.* extension ----------------------------------------------------------------------
#: Total cost of the call in USD (float). Unset when the model is unpriced.
LLM_COST_USD: Final = "llm.cost.usd"
#: Input part of the cost (including cached input), USD.
LLM_COST_INPUT_USD: Final = "llm.cost.input_usd"
#: Output part of the cost (including reasoning tokens), USD.
LLM_COST_OUTPUT_USD: Final = "llm.cost.output_usd"
#: ``False`` when no price is known for the model; the cost attributes are then unset.
LLM_COST_PRICED: Final = "llm.cost.priced"
#: Cache writes kept for an hour (Anthropic's ``cache_creation.ephemeral_1h_input_tokens``): part of
#: ``gen_ai.usage.cache_write.input_tokens``, priced at their own, higher, rate.
LLM_USAGE_CACHE_WRITE_1H_INPUT_TOKENS: Final = "llm.usage.cache_write_1h.input_tokens"
#: Web searches run by the provider's own search tool for this call (Anthropic's
#: ``server_tool_use.web_search_requests``, OpenAI's ``web_search_call`` items); each one is billed.
LLM_USAGE_WEB_SEARCHES: Final = "llm.usage.web_searches"
#: Searches run by a provider's file search tool (OpenAI's ``file_search_call`` items); each one is billed.
LLM_USAGE_FILE_SEARCHES: Final = "llm.usage.file_searches"
#: ``True`` when the token counts were estimated locally because the provider sent none.
LLM_USAGE_ESTIMATED: Final = "llm.usage.estimated"
#: Raw provider finish/stop reasons when they were normalised (e.g. Anthropic ``end_turn``).
LLM_RESPONSE_RAW_FINISH_REASONS: Final = "llm.response.raw_finish_reasons"
#: Tags given with ``observatory.tags(...)`` (string array).
LLM_TAGS: Final = "llm.tags"
#: Prefix of metadata given with ``observatory.metadata(key=value)``.
LLM_METADATA_PREFIX: Final = "llm.metadata."
#: Span kind given to ``@observe`` (``workflow``, ``task``, ``agent``, ``tool``, ...).
LLM_SPAN_KIND: Final = "llm.span.kind"
#: Captured input / output of a decorated function (only with content capture on).
LLM_INPUT: Final = "llm.input"
LLM_OUTPUT: Final = "llm.output"
#: Number of values replaced by redaction in one span.
LLM_REDACTION_COUNT: Final = "llm.redaction.count"
#: Input tokens counted by a token-counting call (Anthropic ``messages.count_tokens``); not spend.
LLM_COUNTED_INPUT_TOKENS: Final = "llm.count_tokens.input_tokens"
#: Number of chunks a stream delivered.
LLM_INFERENCE_DELEGATED_TO: Final = "llm.inference.delegated_to"
"""On a framework's model span (LangChain, LlamaIndex): the provider whose own inference span,
beneath it, counted this call's tokens and cost. Such a span carries no usage, cost or metrics."""
LLM_FRAMEWORK: Final = "llm.framework"
"""The framework a span comes from: ``langchain``, ``langgraph``, ``llamaindex``."""
LLM_LANGCHAIN_RUN_TYPE: Final = "llm.langchain.run_type"
LLM_LANGCHAIN_TAGS: Final = "llm.langchain.tags"
LLM_LANGCHAIN_METADATA_PREFIX: Final = "llm.langchain.metadata."
LLM_LANGGRAPH_NODE: Final = "llm.langgraph.node"
LLM_LANGGRAPH_STEP: Final = "llm.langgraph.step"
LLM_LLAMAINDEX_KIND: Final = "llm.llamaindex.kind"
LLM_RERANK_TOP_N: Final = "llm.rerank.top_n"
LLM_RETRIEVAL_DOCUMENT_COUNT: Final = "llm.retrieval.document_count"
LLM_STREAM_CHUNKS: Final = "llm.stream.chunks"
#: The call had not returned (or its stream, or its framework run, not ended) when telemetry shut
#: down: its span ends there.
LLM_UNFINISHED: Final = "llm.unfinished"

#: Cost counter (USD), with the GenAI common metric attributes.
METRIC_LLM_COST: Final = "llm.client.cost"
#: Counter of inference calls that could not be priced.
METRIC_LLM_UNPRICED_CALLS: Final = "llm.client.unpriced_calls"
#: Counter of traces decided by the in-process tail sampler (``llm.sampling.decision``, ``llm.sampling.reason``).
METRIC_LLM_TAIL_SAMPLING: Final = "llm.observatory.tail_sampling.traces"
LLM_SAMPLING_DECISION: Final = "llm.sampling.decision"
LLM_SAMPLING_REASON: Final = "llm.sampling.reason"
#: Counter of telemetry dropped by a bounded buffer (attribute ``llm.drop.reason``).
METRIC_LLM_DROPPED: Final = "llm.observatory.dropped"
LLM_DROP_REASON: Final = "llm.drop.reason"
