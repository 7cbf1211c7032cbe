"""Load on `nst serve`: N concurrent image requests (photo upload + a shipped network at 512 px).

Starts `nst serve` on a free port as its own process, sends N requests at once from N threads, follows
each job until it is done, and reports each request's latency (upload to result), whether it
completed or was refused (503 with the queue-full message), and the server's peak RSS (VmHWM). Run
twice: with the default queue (1 worker, 8 waiting: the rest must be refused cleanly) and with a
queue big enough for all of them. Bounded in time: any request past --deadline fails the run.

    python bench/web_load.py [--requests 20] [--deadline 600]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import machine, stamp, table, write_section  # noqa: E402
from tests.web.server import multipart  # noqa: E402


def photo() -> bytes:
    from PIL import Image

    from nst.registry import demo_content

    buf = io.BytesIO()
    Image.open(demo_content()).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(host: str, port: int, body: bytes, ctype: str, deadline: float, out: dict) -> None:
    import http.client

    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=deadline)
    conn.request("POST", "/api/image", body, {"Content-Type": ctype})
    r = conn.getresponse()
    reply = json.loads(r.read())
    if r.status != 202:
        out.update(status=r.status, outcome="refused", message=reply.get("error", ""), seconds=time.monotonic() - t0)
        return
    while time.monotonic() - t0 < deadline:
        conn.request("GET", f"/api/jobs/{reply['job']}")
        s = json.loads(conn.getresponse().read())
        if s["state"] in ("done", "error", "cancelled"):
            conn.request("GET", f"/api/jobs/{reply['job']}/result")
            size = len(conn.getresponse().read())
            out.update(status=202, outcome=s["state"], message=s["message"], seconds=time.monotonic() - t0,
                       bytes=size)
            return
        time.sleep(0.05)
    out.update(status=202, outcome="timeout", message="", seconds=time.monotonic() - t0)


def run(n: int, queue: int, deadline: float) -> tuple[list[dict], float, float]:
    cmd = [sys.executable, "-c", "from nst.cli import entry; entry()", "serve", "--port", "0", "--queue", str(queue)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        m = re.search(r"http://([\d.]+):(\d+)/", server.stdout.readline())
        assert m, "the server did not start"
        host, port = m.group(1), int(m.group(2))
        body, ctype = multipart({"style": "the_scream", "size": "512"}, {"photo": ("rocket.png", photo())})
        results: list[dict] = [{} for _ in range(n)]
        threads = [threading.Thread(target=one, args=(host, port, body, ctype, deadline, results[i])) for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(deadline + 10)
        wall = time.monotonic() - t0
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.communicate(timeout=60)
    return results, wall, rss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds any one request may take")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args()
    rows, summary, ok = [], [], True
    for queue in (8, args.requests):
        results, wall, rss = run(args.requests, queue, args.deadline)
        done = [r for r in results if r.get("outcome") == "done"]
        refused = [r for r in results if r.get("outcome") == "refused" and r["status"] == 503
                   and r["message"].startswith("the server is busy")]
        clean = len(done) + len(refused) == args.requests
        ok &= clean
        for i, r in enumerate(results):
            rows.append([f"queue {queue}", i + 1, r.get("outcome", "lost"), r.get("status", ""),
                         f"{r.get('seconds', float('nan')):.2f}", r.get("message", "")[:60]])
        lat = sorted(r["seconds"] for r in done)
        summary.append([f"1 worker, queue {queue}", args.requests, len(done), len(refused),
                        f"{lat[0]:.2f}" if lat else "-", f"{lat[len(lat) // 2]:.2f}" if lat else "-",
                        f"{lat[-1]:.2f}" if lat else "-", f"{wall:.1f}", f"{rss:.0f}", "yes" if clean else "NO"])
    head = ["server", "requests", "completed", "refused (503)", "fastest s", "median s", "slowest s", "wall s",
            "peak RSS MB", "all completed or cleanly refused"]
    print(machine())
    print(table(head, summary))
    print(table(["run", "#", "outcome", "status", "latency s", "message"], rows))
    if not args.no_write:
        write_section("Web server under load (bench/web_load.py)", f"""{stamp()}

`python bench/web_load.py`: {args.requests} image requests sent at once to `nst serve` (each uploads the
640x427 bundled photo as PNG; the_scream's shipped network at 512 px), each followed until its result
is downloaded. Latency is from the upload to the finished result; a refused request gets a 503 with
the one-line queue-full message at once. Peak RSS is the server process's VmHWM.

{table(head, summary)}

Each request (latency in seconds):

{table(["run", "#", "outcome", "status", "latency s", "message"], rows)}
""")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
