"""Before-and-after numbers of issue 17: one `vllm serve` binary against the hostile-input classes.

Usage: python3 bench/hostile/measure.py path/to/vllm [label]

Each class runs against a fresh server on 127.0.0.1 (an attack that wedges the server must not
spoil the next measurement), which is killed afterwards. Works against binaries from before the
hardening: every client call has a timeout, flags the old binary lacks are left out, and a class
that wedges the server is reported as such. Prints one JSON object.
"""
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, extra=(), open_files=None):
        help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
        self.port = free_port()
        args = [binary, "serve", os.path.join(ROOT, "Models", "stories260K"), "--host", "127.0.0.1", "--port", str(self.port),
                "--chat-template", os.path.join(ROOT, "Tests", "VLLMServerTests", "Fixtures", "simple_chat.jinja"),
                "--num-gpu-blocks-override", "1024", "--disable-log-requests", "--disable-log-stats"]
        args += [a for a in extra if not a.startswith("--") or a in help_text]
        self.log = open(os.path.join(ROOT, ".server-measure.log"), "a")
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # A soft open-file limit as a shell or systemd gives by default (the hard limit stays).
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, hard))) if open_files else None
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                        preexec_fn=limit)
        deadline = time.time() + 60
        while call(self.port, "GET", "/health", timeout=1)[0] != 200:
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)

    def stop(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()


def call(port, method, path, body=None, raw=None, timeout=30):
    """(status, seconds, payload); status 0 on a timeout or a closed connection."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        return response.status, time.monotonic() - start, payload
    except (OSError, http.client.HTTPException):
        return 0, time.monotonic() - start, b""
    finally:
        conn.close()


class HealthWatch:
    """Probes /health every 50 ms (5 s timeout each) while a class runs."""

    def __init__(self, port):
        self.port, self.latencies, self.failures, self.stop = port, [], 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            status, seconds, _ = call(self.port, "GET", "/health", timeout=5)
            if status == 200:
                self.latencies.append(seconds)
            else:
                self.failures += 1
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def summary(self):
        values = sorted(self.latencies)
        if not values:
            return {"probes answered": 0, "probes failed (5 s timeout)": self.failures}
        return {"probes answered": len(values), "probes failed (5 s timeout)": self.failures,
                "median ms": round(1000 * values[len(values) // 2], 1), "worst ms": round(1000 * values[-1], 1)}


def stop_strings(binary):
    server = Server(binary)
    try:
        base = {"prompt": "Once upon a time", "max_tokens": 32, "ignore_eos": True, "temperature": 0}
        flood = json.dumps(dict(base, stop=[f"zq{i:06d}x" for i in range(200000)])).encode()
        many = [f"{chr(97 + i % 26) * (i % 40 + 1)}{i:05d}q" for i in range(1024)]
        while sum(len(s) for s in many) > 64 * 1024:
            many = [s[1:] if len(s) > 8 else s for s in many]
        result = {}
        for name, body in [("1 stop string", dict(base, stop=["zzzzzz"])), ("1024 stop strings (64 KiB)", dict(base, stop=many))]:
            times = []
            for _ in range(5):
                status, seconds, _ = call(server.port, "POST", "/v1/completions", body, timeout=600)
                times.append(seconds)
            result[name] = {"status": status, "median s": round(sorted(times)[2], 3)}
        with HealthWatch(server.port) as watch:
            status, seconds, _ = call(server.port, "POST", "/v1/completions", raw=flood, timeout=600)
        result["200000 stop strings (2.4 MB)"] = {"status": status, "s": round(seconds, 2), "/health meanwhile": watch.summary()}
        return result
    finally:
        server.stop()


def concurrent(server, requests, seconds_limit):
    """Sends the (path, raw body) requests at once, under a HealthWatch; returns statuses and /health."""
    results = []
    threads = [threading.Thread(target=lambda p=p, r=r: results.append(call(server.port, "POST", p, raw=r, timeout=seconds_limit)[:2]))
               for p, r in requests]
    with HealthWatch(server.port) as watch:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {"statuses (0: no answer)": sorted(s for s, _ in results), "slowest request s": round(max(t for _, t in results), 2),
            "/health meanwhile": watch.summary()}


def huge_bodies(binary):
    server = Server(binary)
    try:
        text = json.dumps({"prompt": "Once upon a time " * 900000, "max_tokens": 2}).encode()  # 15 MB
        return {"4 concurrent 15 MB prompts": concurrent(server, [("/v1/completions", text)] * 4, 120)}
    finally:
        server.stop()


def templates(binary):
    server = Server(binary, ["--trust-request-chat-template"])
    try:
        loops = "{% for a in range(100000) %}{% for b in range(100000) %}{{ '' }}{% endfor %}{% endfor %}"
        body = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "chat_template": loops}).encode()
        result = concurrent(server, [("/v1/chat/completions", body)] * 2, 20)
        result["server alive afterwards"] = call(server.port, "GET", "/health", timeout=5)[0] == 200
        return {"2 concurrent nested range(100000) templates (20 s client timeout)": result}
    finally:
        server.stop()


def idle_sockets(binary, open_files=None, most=4000, step=100):
    """Opens idle connections `step` at a time; after each step, how long /health takes (5 s
    timeout). At the first step without an answer, waits up to 45 s for one (an idle timeout
    may free a slot), then stops."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = Server(binary, open_files=open_files)
    idle, steps = [], {}
    try:
        while len(idle) < most:
            for _ in range(step):
                s = socket.socket()
                s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", server.port))
                except OSError:
                    s.close()
                    break
                idle.append(s)
                if len(idle) % 25 == 0:
                    time.sleep(0.02)
            status, seconds, _ = call(server.port, "GET", "/health", timeout=5)
            steps[len(idle)] = round(1000 * seconds, 1) if status == 200 else "no answer in 5 s"
            if status != 200:
                status, seconds, _ = call(server.port, "GET", "/health", timeout=45)
                late = f"answered after {seconds:.1f} s" if status == 200 else "no answer in 45 s"
                break
        held = max((n for n, v in steps.items() if v != "no answer in 5 s"), default=0)
        result = {"/health ms after n idle connections": steps, "most idle connections with /health answering": held}
        if "no answer in 5 s" in steps.values():
            result["/health past that point"] = late
        return result
    finally:
        for s in idle:
            s.close()
        server.stop()


def main():
    binary = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else binary
    report = {"binary": label}
    for name, run in [("stop strings", stop_strings), ("huge bodies", huge_bodies), ("templates", templates),
                      ("idle sockets (server's soft open-file limit 1024)", lambda b: idle_sockets(b, open_files=1024)),
                      ("idle sockets (open-file limit as inherited)", idle_sockets)]:
        try:
            report[name] = run(binary)
        except Exception as error:  # a class that breaks the measurement is reported, not fatal
            report[name] = f"failed: {error!r}"
        print(name, json.dumps(report[name]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
