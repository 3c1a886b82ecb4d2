#!/usr/bin/env python3
"""Cold start through a Lambda runtime API: the time from process start to the first
response the process posts back, median of several runs, for the release binary and for a
Python handler that imports boto3 and builds a DynamoDB client (the usual alternative).

A minimal runtime API (the three endpoints a runtime uses) runs in this process on a free
loopback port and hands out one API Gateway event per run. Usage (see bench-cold-start.sh):
    python3 infra/bench_cold_start.py <binary> <python> [runs]
"""
import http.server
import json
import os
import pathlib
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENT = (ROOT / "events" / "15-unauthenticated.json").read_bytes()

PYTHON_HANDLER = r'''
import json, os, urllib.request
import boto3
client = boto3.client("dynamodb")
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        json.loads(r.read())
    body = json.dumps({"statusCode": 401, "body": "{}"}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
'''


class Runtime(http.server.BaseHTTPRequestHandler):
    """Serves one event per run and notes when its response arrives."""

    def log_message(self, *_):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        state = self.server.state
        if state["served"]:
            # The function waits for its next event: hold it until the run ends (the
            # process is killed then, so nothing needs answering).
            state["done"].wait(30)
            self.close_connection = True
            return
        state["served"] = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:connectors")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(EVENT)))
        self.end_headers()
        self.wfile.write(EVENT)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        state = self.server.state
        if self.path.endswith("/response"):
            state["answered_at"] = time.perf_counter()
            state["status"] = json.loads(body).get("statusCode")
        else:
            state["error"] = body.decode(errors="replace")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        state["done"].set()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def one_run(command, env):
    server = Server(("127.0.0.1", 0), Runtime)
    server.state = {"served": False, "done": threading.Event()}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finished = server.state["done"].wait(60)
    proc.kill()
    _, err = proc.communicate()
    server.shutdown()
    server.server_close()
    if not finished or "answered_at" not in server.state:
        raise SystemExit(f"{command[0]} gave no response: {server.state.get('error')} {err[-500:]!r}")
    return (server.state["answered_at"] - started) * 1000, server.state["status"]


def measure(label, command, env, runs):
    one_run(command, env)  # warm the page cache, as a second cold start on a host would be
    figures = []
    for _ in range(runs):
        ms, status = one_run(command, env)
        figures.append(ms)
    print(f"{label:<58} median {statistics.median(figures):7.1f} ms   "
          f"min {min(figures):6.1f}   max {max(figures):6.1f}   (status {status}, {runs} runs)")
    return statistics.median(figures)


def main():
    binary, python = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_FUNCTION_NAME": "connectors",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/connectors",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "TABLE_NAME": "connectors-bench",
        "SECRET_PREFIX": "videovector/connectors",
        "RUST_LOG": "info",
    }
    with tempfile.TemporaryDirectory() as tmp:
        handler = pathlib.Path(tmp) / "handler.py"
        handler.write_text(PYTHON_HANDLER)
        rust = measure("release binary (DynamoDB + Secrets Manager clients)", [binary], env, runs)
        py = measure("python3 + boto3 DynamoDB client", [python, str(handler)], env, runs)
    print(f"ratio: the binary starts in {rust / py:.3f} of the Python handler's time "
          f"({py / rust:.0f}x faster)")


if __name__ == "__main__":
    main()
