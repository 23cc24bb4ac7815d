#!/usr/bin/env python3
"""A loopback HTTP receiver that records every request and answers as told.

Usage: http_receiver.py PORTFILE LOGFILE
Writes the port it listens on to PORTFILE, then appends one JSON line per request to LOGFILE.
POST /_mode with a body of: ok | 429 | 503 | 400 | hang | reset | cut | flaky:SEED | refuse:TEXT | slow:MS | kill:PIDFILE switches
how later requests are answered; `refuse:TEXT` answers 400 to a request whose body contains TEXT (a bad recipient) and 200
to the rest. `flaky:SEED` answers 503 or 200 at random, from a generator seeded with SEED (the log records
which). `reset` closes the connection after reading the request, with no answer; `cut` sends a 200 status and headers,
then half the body it promised and closes: both leave the sender unsure whether the message was taken.
`faults:PCT:SEED` resets or cuts PCT % of requests at random (half each, seeded; the log records which) and takes the
rest (R9's sustained run).
`rate:N` enforces N requests a second as a provider does: a request beyond N in the last second gets 429 with
`Retry-After: 1` (logged with mode 429), the rest 200.
"""
import collections, json, os, random, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = {"value": "ok"}
flaky = random.Random(0)
lock = threading.Lock()
counter = {"n": 0}
accepted_at = collections.deque()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.path == "/_mode":
            with lock:
                mode["value"] = body.decode().strip()
                if mode["value"].startswith("flaky:"):
                    flaky.seed(int(mode["value"][6:]))
                elif mode["value"].startswith("faults:"):
                    flaky.seed(int(mode["value"].split(":")[2]))
            return self.reply(200, b"{}")
        with lock:
            counter["n"] += 1
            n = counter["n"]
            current = mode["value"]
            if current.startswith("flaky:"):
                current = "503" if flaky.random() < 0.5 else "ok"
            elif current.startswith("faults:"):
                share = int(current.split(":")[1]) / 100
                current = ("reset" if flaky.random() < 0.5 else "cut") if flaky.random() < share else "ok"
            elif current.startswith("refuse:"):
                current = "400" if current[7:].encode() in body else "ok"
            elif current.startswith("rate:"):
                now = time.monotonic()
                while accepted_at and now - accepted_at[0] >= 1.0:
                    accepted_at.popleft()
                if len(accepted_at) >= int(current[5:]):
                    current = "429:1"
                else:
                    accepted_at.append(now)
                    current = "ok"
            with open(sys.argv[2], "a") as log:
                log.write(json.dumps({"n": n, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode("utf-8", "replace"), "mode": current, "at": time.time()}) + "\n")
        if current.startswith("kill:"):
            # The gateway has accepted the message: kill the dispatcher before it can record that.
            try:
                # The test removes the file before starting each dispatcher and writes its pid once started: a request
                # that comes first waits for it (reading the last one's pid, it would kill nothing and let this one
                # through, and the next request would be killed instead).
                deadline = time.monotonic() + 10
                while not os.path.exists(current[5:]) and time.monotonic() < deadline:
                    time.sleep(0.005)
                with open(current[5:]) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except Exception as error:
                sys.stderr.write(f"kill failed: {error}\n")
            time.sleep(0.2)
            return self.reply(200, json.dumps({"id": f"msg-{n}"}).encode())
        if current == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if current == "cut":
            body = json.dumps({"data": {"id": f"msg-{n}"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if current == "hang":
            time.sleep(30)
            return
        if current.startswith("slow:"):
            time.sleep(int(current[5:]) / 1000)
            return self.reply(200, json.dumps({"data": {"id": f"msg-{n}"}}).encode())
        if current == "429":
            return self.reply(429, b'{"error":"slow down"}', {"Retry-After": "7"})
        if current.startswith("429:"):
            return self.reply(429, b'{"error":"slow down"}', {"Retry-After": current[4:]})
        if current == "503":
            return self.reply(503, b'{"error":"unavailable"}')
        if current == "400":
            return self.reply(400, b'{"error":"bad number"}')
        return self.reply(200, json.dumps({"data": {"id": f"msg-{n}"}}).encode())

    def reply(self, status, body, headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


server = Server(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
