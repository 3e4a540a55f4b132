#!/usr/bin/python3
"""demo/slack_receiver.py — a local stand-in for a Slack incoming webhook.

Accepts POST /services/<T>/<B>/<X> with a JSON body that has "text" (what
Slack requires), answers 200 "ok" as Slack does (400 "invalid_payload"
otherwise), and appends each accepted message as one JSON line to --log.

    slack_receiver.py --port-file FILE --log FILE [--port 0]
"""
import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    log_path = None

    def _answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.startswith("/services/"):
            return self._answer(404, "no_service")
        try:
            payload = json.loads(raw)
        except ValueError:
            return self._answer(400, "invalid_payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str) or not payload["text"]:
            return self._answer(400, "invalid_payload")
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "path": self.path,
                 "idempotency_key": self.headers.get("Idempotency-Key"), "text": payload["text"]}
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        return self._answer(200, "ok")

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    Receiver.log_path = args.log
    open(args.log, "a").close()
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
