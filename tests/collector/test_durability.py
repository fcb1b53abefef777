"""No acknowledged data is lost: kill -9 the collector mid-ingest, restart it, and every span
it acknowledged is stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from llm_observatory.collector import Collector, open_store
from llm_observatory.collector._spool import Spool
from tests.conftest import ROOT

from .conftest import genai_request, make_config
from .test_ingest import post


def _start(db: Path, spool: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_observatory.cli", "collector", "--db", str(db), "--spool-dir", str(spool),
         "--port", "0", "--grpc-port", "-1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=ROOT)
    assert proc.stdout is not None
    seen = []
    while True:  # the replay, if any, is reported before the collector listens
        line = proc.stdout.readline()
        seen.append(line)
        if "OTLP/HTTP and query API on http://127.0.0.1:" in line or not line:
            break
    assert line, "".join(seen)
    port = int(line.split("http://127.0.0.1:")[1].split()[0].rstrip(",;"))
    return proc, port


def test_kill_9_mid_ingest_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db, spool = tmp_path / "store.duckdb", tmp_path / "spool"
    proc, port = _start(db, spool)
    acknowledged: list[str] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            request = genai_request(200)
            ids = [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
            try:
                status, _, _ = post(port, "/v1/traces", request.SerializeToString())
            except OSError:
                return  # the collector is gone: this request was never acknowledged
            if status == 200:
                acknowledged.extend(ids)

    senders = [threading.Thread(target=send) for _ in range(3)]
    for t in senders:
        t.start()
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in senders:
        t.join()
    assert len(acknowledged) >= 1000  # enough traffic to make the test mean something

    proc, port = _start(db, spool)  # replays the spool before it listens
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    store = open_store(db_path=str(db))
    _, rows = store.query("SELECT span_id, count(*) FROM spans GROUP BY span_id")
    store.close()
    stored = dict(rows)
    missing = [s for s in acknowledged if s not in stored]
    assert not missing, f"{len(missing)} acknowledged spans lost"
    assert all(n == 1 for n in stored.values())


def test_a_torn_record_at_the_end_of_the_spool_is_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first = spool.append("traces", genai_request(1).SerializeToString(), False)
    spool.sync(first)
    spool.close()
    with open(tmp_path / "spool-000001.log", "ab") as fh:  # a crash mid-write
        fh.write(b"LOS1\x00\x10")
    spool = Spool(tmp_path)
    second = spool.append("traces", genai_request(1).SerializeToString(), False)
    spool.sync(second)
    assert [pos for pos, *_ in spool.replay()] == [first, second]
    spool.close()


def test_replayed_requests_are_stored_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    c = Collector(config)
    request = genai_request(10).SerializeToString()
    c.spool.sync(c.spool.append("traces", request, False))  # acknowledged, then a crash before storing
    c.spool.close()
    with Collector(config) as restarted:
        assert restarted.pipeline.stats["replayed"] == 1
        assert post(restarted.http_port, "/v1/traces", request)[0] == 200  # and the sender retried it
        assert restarted.pipeline.flush(10)
        assert restarted.store.query("SELECT count(*) FROM spans")[1][0][0] == 10
