"""OpenAI, instrumented: a call, a stream without usage (estimated), and a cut stream. Offline.

Run: ``python examples/openai_chat.py``.
"""

from __future__ import annotations

import llm_observatory as observatory

observatory.init(service_name="openai-example", exporter="console", metrics=False, logs=False,
                 capture_content=True)

from _offline_openai import offline_client  # noqa: E402

client = offline_client()
messages = [{"role": "user", "content": "Hi!"}]

with observatory.tags("example"):
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.3)
    print("call:", reply.choices[0].message.content)

    # No stream_options: OpenAI sends no usage, so the tokens are counted locally (marked ~ below).
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True) if c.choices)
    print("stream:", text)

    # Stopped after two chunks: the span still ends, with finish reason "error" and what arrived.
    with client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True) as stream:
        next(stream), next(stream)
    print("cut stream: closed after two chunks")

observatory.shutdown()
