"""What every OpenAI API surface shares: the client's provider and server, request parameters,
usage objects and raw responses."""

from __future__ import annotations

from typing import Any

from ... import semconv as sc
from .._core._inference import Inference
from .._core._sdk import (
    RAW_RESPONSE_HEADER,
    given,
    is_raw_response,
    param,
    raw_mode,
    readable,
    server_of,
    stop_sequences,
    unwrap_raw,
)

__all__ = ["RAW_RESPONSE_HEADER", "client_info", "common_request_attributes", "count", "details",
           "given", "is_raw_response", "raw_mode", "readable", "response_refinements", "unwrap_raw"]

def client_info(instance: Any) -> tuple[str, str | None, int | None]:
    """``(provider, server.address, server.port)`` of the client behind a resource instance."""
    client = getattr(instance, "_client", None)
    provider = sc.Provider.OPENAI
    if client is not None and type(client).__name__.startswith(("AzureOpenAI", "AsyncAzureOpenAI")):
        provider = sc.Provider.AZURE_OPENAI
    host, port = server_of(client)
    return provider, host, port


_SAMPLING = {"temperature": sc.GEN_AI_REQUEST_TEMPERATURE, "top_p": sc.GEN_AI_REQUEST_TOP_P,
             "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
             "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY}
_OTHERS = frozenset({"seed", "stop", "service_tier", "extra_body"})


def common_request_attributes(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Sampling parameters shared by chat, completions and responses. (Only the parameters given
    are visited, found by set operations in C; in name order, so the attribute order is fixed.)"""
    for key in sorted(_SAMPLING.keys() & kwargs.keys()):
        value = kwargs[key]
        if isinstance(value, (int, float)):  # not None, and not the SDK's "not given" sentinels
            attrs[_SAMPLING[key]] = float(value)
    if _OTHERS.isdisjoint(kwargs):
        return
    seed = kwargs.get("seed")
    if isinstance(seed, int):
        attrs[sc.GEN_AI_REQUEST_SEED] = seed
    stop = stop_sequences(kwargs.get("stop"))
    if stop is not None:
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    tier = param(kwargs, "service_tier")
    if isinstance(tier, str) and tier != "auto":
        attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = tier


#: Response service tiers at the model's standard price.
_STANDARD_TIERS = frozenset({"default", "auto"})


def response_refinements(inference: Inference, response: Any) -> None:
    """``service_tier`` and ``system_fingerprint`` of a response object, when present. The tier
    the call was served in prices it (``flex`` is cheaper, ``priority``, alias ``fast``, dearer)."""
    tier = getattr(response, "service_tier", None)
    if isinstance(tier, str):
        inference.attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
        if tier not in _STANDARD_TIERS:
            inference.price_variant = ("service_tier", tier)
    fingerprint = getattr(response, "system_fingerprint", None)
    if isinstance(fingerprint, str):
        inference.attributes[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint


def details(obj: Any, name: str, field: str) -> int | None:
    """``obj.<name>.<field>`` as an int, or ``None``."""
    sub = getattr(obj, name, None)
    return count(sub, field) if sub is not None else None


def count(obj: Any, field: str) -> int | None:
    """``obj.<field>`` as an int, or ``None``."""
    value = getattr(obj, field, None)
    return value if isinstance(value, int) else None


