"""Token estimates with the encodings loaded offline (the network is blocked in these tests)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from llm_observatory.pricing import tokens
from tests.conftest import run_python


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(tokens, "_encodings", {})
    monkeypatch.setattr(tokens, "_failed", set())
    monkeypatch.setattr(tokens, "_loading", set())
    monkeypatch.setattr(tokens, "_overdue", set())
    yield


def test_cl100k_matches_tiktokens_published_example() -> None:
    # tiktoken's README: enc.encode("tiktoken is great!") with cl100k_base.
    enc = tokens.get_encoding("cl100k_base")
    assert enc.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert enc.n_vocab == 100277


def test_o200k_loads_offline_and_round_trips() -> None:
    enc = tokens.get_encoding("o200k_base")
    assert enc.n_vocab == 200019
    corpus = ["Hello, world!", "Wie spät ist es? 今何時ですか", "def f(x):\n    return x ** 2\n", "🙂" * 5]
    for text in corpus:
        ids = enc.encode(text)
        assert enc.decode(ids) == text
        assert 0 < len(ids) <= len(text.encode())
    assert len(enc.encode("hello world")) == 2


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("o3-mini", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"), ("openai/gpt-4o", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo-0125", "cl100k_base"), ("text-embedding-3-small", "cl100k_base"),
])
def test_encoding_by_model_family(model: str, encoding: str) -> None:
    assert tokens.encoding_name_for(model) == encoding


def test_openai_counts_are_exact_and_others_approximate() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    exact = tokens.count_text(text, "openai", "gpt-4o")
    assert exact == len(tokens.get_encoding("o200k_base").encode(text))
    assert tokens.count_text(text, "anthropic", "claude-sonnet-4") == -(-len(text) // 3.5)
    assert tokens.count_text("", "openai", "gpt-4o") == 0


def test_chat_overhead() -> None:
    msgs = [["You are terse."], ["Hi"]]
    per_text = sum(tokens.count_text(t, "openai", "gpt-4") for m in msgs for t in m)
    overhead = 2 * tokens.MESSAGE_OVERHEAD + tokens.REPLY_PRIMING
    assert tokens.count_messages(msgs, "openai", "gpt-4") == per_text + overhead


def test_a_corrupt_encoding_file_disables_estimation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tokens._EXPECTED_SHA256, "cl100k_base", "0" * 64)
    assert tokens.get_encoding("cl100k_base") is None
    # falls back to the character approximation instead of a wrong exact count
    assert tokens.count_text("abcdefg", "openai", "gpt-4") == 2


def test_a_process_forked_while_an_encoding_loads_can_still_count() -> None:
    # The load holds a lock (and may be inside an import) that a forked child would inherit held,
    # by a thread it does not have; fork() waits for the load instead.
    proc = run_python("""
        import faulthandler, os, time
        from llm_observatory.pricing import tokens

        real_load = tokens._load

        def slow_load(name):
            time.sleep(0.5)
            return real_load(name)

        tokens._load = slow_load
        tokens.preload("gpt-4o-mini")
        pid = os.fork()
        if pid == 0:
            faulthandler.dump_traceback_later(20, exit=True)
            os._exit(0 if tokens.count_text("hello world", "openai", "gpt-4o-mini") == 2 else 1)
        _, status = os.waitpid(pid, 0)
        print("child:", os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "child: 0", proc.stdout + proc.stderr


def test_a_count_waits_only_so_long_for_an_encoding_another_thread_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    # a load starved of the CPU (a busy thread of the app's) must not hold up every count behind it
    import threading
    import time

    release = threading.Event()

    def stuck_load(name: str) -> object:
        release.wait(30)
        return None

    monkeypatch.setattr(tokens, "_load", stuck_load)
    monkeypatch.setattr(tokens, "LOAD_WAIT_S", 0.2)
    tokens.preload("gpt-4o-mini")
    time.sleep(0.05)  # the loader holds the lock now
    assert not tokens.ready("openai", "gpt-4o-mini") and tokens.ready("anthropic", "claude-sonnet-4")
    t0 = time.perf_counter()
    assert tokens.count_text("abcdefg", "openai", "gpt-4o-mini") == 2  # the character count
    assert 0.15 < time.perf_counter() - t0 < 2
    # and the next counts do not wait again (a prompt of many messages would wait for each)
    assert tokens.ready("openai", "gpt-4o-mini")
    t0 = time.perf_counter()
    assert tokens.count_messages([["abcdefg"]] * 20, "openai", "gpt-4o-mini") == 3 + 20 * (3 + 2)
    assert time.perf_counter() - t0 < 0.15
    release.set()


def test_starting_a_load_does_not_wait_for_the_other_encodings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    # preload() runs on the app's call path: a gpt-4 call while o200k loads must not wait for it
    import threading
    import time

    release = threading.Event()
    real_load = tokens._load

    def slow_load(name: str) -> object:
        if name == "o200k_base":
            release.wait(30)
        return real_load(name)

    monkeypatch.setattr(tokens, "_load", slow_load)
    tokens.preload("gpt-4o-mini")
    time.sleep(0.05)  # the o200k load holds the lock now
    t0 = time.perf_counter()
    tokens.preload("gpt-4")
    assert time.perf_counter() - t0 < 0.5
    release.set()
