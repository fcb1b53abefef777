"""Token estimates, used only when a provider returned no usage.

OpenAI models are counted with tiktoken, using the encoding of their family (``o200k_base`` for
the 4o, 4.1, 4.5, o-series and 5 families, ``cl100k_base`` for GPT-4, GPT-3.5 and the embedding
models). The encodings ship with this package, so nothing is downloaded. Other providers' tokenisers
are not public; their counts are approximated as ``ceil(characters / 3.5)`` for text (close to
Claude's and Gemini's averages on English prose and code; expect ±20% per message). Every estimate
is flagged ``llm.usage.estimated=true``.

Chat messages add a fixed overhead per message, as OpenAI documents for its chat format: 3 tokens a
message (plus 1 if it has a name) and 3 tokens priming the reply.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import math
import sys
import threading
from collections.abc import Iterable
from importlib import resources
from typing import Any

from . import _background

logger = logging.getLogger("llm_observatory")

#: SHA-256 of the decompressed rank files, as pinned by tiktoken itself.
_EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}
_SPECIAL = {
    "cl100k_base": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss", "codex")
#: Characters per token for providers without a public tokeniser.
CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3

_encodings: dict[str, Any] = {}
_failed: set[str] = set()
_loading: set[str] = set()
#: Encodings whose load a count waited :data:`LOAD_WAIT_S` for in vain: counts no longer wait
#: for them (each would wait as long), until they are loaded.
_overdue: set[str] = set()
_lock = threading.Lock()
_loading_lock = threading.Lock()
#: How long a count waits, at most, for an encoding another thread is loading; then it falls
#: back to the character count (a load takes 0.1–0.3 s, longer only when starved of the CPU:
#: an app's busy thread and the loader's file reads take turns with the GIL, 5 ms each).
LOAD_WAIT_S = 5.0
_OPENAI = ("openai", "azure.ai.openai")


def encoding_name_for(model: str) -> str:
    """The tiktoken encoding of an OpenAI model name (dated ids and prefixes included; an odd
    model, not a string, as an unknown name)."""
    name = (model if isinstance(model, str) else "").lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name[3:]
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


def get_encoding(name: str) -> Any:
    """The tiktoken ``Encoding`` built from the shipped rank file (``None`` if it cannot be
    loaded, or while another thread's load of it is overdue: see :data:`LOAD_WAIT_S`)."""
    enc = _encodings.get(name)
    if enc is not None or name in _failed or name in _overdue or sys.is_finalizing():
        # (in the interpreter's teardown a loader thread may be stopped holding the lock)
        return enc
    if not _lock.acquire(timeout=LOAD_WAIT_S):
        _overdue.add(name)
        logger.debug("LLM Observatory: the %s encoding is still loading; estimates count characters "
                     "until it is loaded", name)
        return None
    try:
        enc = _encodings.get(name)
        if enc is None and name not in _failed:
            try:
                enc = _load(name)
                _encodings[name] = enc
            except Exception as exc:
                _failed.add(name)
                logger.warning("LLM Observatory: cannot load the %s encoding (%s); token estimates for "
                               "OpenAI models fall back to a character count", name, exc)
    finally:
        _lock.release()
    return enc


def ready(provider: str, model: str | None) -> bool:
    """Whether counting for ``model`` waits for nothing: its encoding is loaded (or cannot be),
    or the provider's counts are character counts."""
    if provider not in _OPENAI or not model:
        return True
    name = encoding_name_for(model)
    return name in _encodings or name in _failed or name in _overdue


def _load(name: str) -> Any:
    import tiktoken

    data = gzip.decompress(resources.files(__package__).joinpath(f"_encodings/{name}.tiktoken.gz").read_bytes())
    if hashlib.sha256(data).hexdigest() != _EXPECTED_SHA256[name]:
        raise ValueError(f"{name} rank file does not match its pinned digest")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding(name=name, pat_str=_PATTERNS[name], mergeable_ranks=ranks,
                             special_tokens=_SPECIAL[name])


def preload(model: str | None) -> None:
    """Start loading ``model``'s encoding in a background thread, if it is not loaded yet.

    Called when a call that may need an estimate starts, so the encoding (0.1–0.3 s to build) is
    usually ready by the time the stream ends, and apps that never need an estimate never load it.
    """
    name = encoding_name_for(model or "")
    if name in _encodings or name in _failed or name in _loading:
        return
    with _loading_lock:  # (not ``_lock``, which a load of the other encoding holds throughout)
        if name in _encodings or name in _loading:
            return
        _loading.add(name)
    _background.start(get_encoding, name, name="llm-observatory-tiktoken")


def count_text(text: str, provider: str, model: str | None) -> int:
    """Tokens in ``text`` for ``model`` (exact for OpenAI models, approximate otherwise)."""
    if not text:
        return 0
    if provider in _OPENAI and model:
        enc = get_encoding(encoding_name_for(model))
        if enc is not None:
            return len(enc.encode(text, disallowed_special=()))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_messages(texts_per_message: Iterable[Iterable[str]], provider: str, model: str | None) -> int:
    """Tokens of a chat prompt: each message's texts, its overhead, and the reply priming."""
    total = REPLY_PRIMING
    for texts in texts_per_message:
        total += MESSAGE_OVERHEAD + sum(count_text(t, provider, model) for t in texts)
    return total
