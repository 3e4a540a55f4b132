#!/usr/bin/python3
"""Local model server for procedural_agent tests.

Speaks the OpenAI Chat Completions (POST /v1/chat/completions) and Anthropic
Messages (POST /v1/messages) wire formats strictly, answers with scripted
responses (or responses computed by responder plug-ins), and injects faults.
Scripted through /_control/ (see README.md).

  /usr/bin/python3 test/model_server/server.py --host 127.0.0.1 --port 0 \
      --port-file /tmp/ms.port [--api-key test-key] [--responder FILE.py]
"""

import argparse
import email.utils
import http.server
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Signer, WireError, dumps_bytes  # noqa: E402
from rules import (Scenario, check_spec, compute_arguments,  # noqa: E402
                   compute_text, request_facts)
from openai_wire import OpenAIWire  # noqa: E402
from anthropic_wire import AnthropicWire  # noqa: E402
import faults  # noqa: E402
import responders  # noqa: E402

ENDPOINTS = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0

    def reset(self):
        with self.lock:
            self.entries = []
            self.seq = 0

    def add(self, entry):
        with self.lock:
            self.seq += 1
            entry = dict({"seq": self.seq}, **entry)
            self.entries.append(entry)
        return entry

    def since(self, n):
        with self.lock:
            out = [dict(e) for e in self.entries if e["seq"] > n]
            return out, self.seq


class ModelServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 2048     # benchmarks open 1,000 connections at once
    allow_reuse_address = True

    def __init__(self, addr, api_key, secret=None, quiet=False,
                 responder_table=None):
        super().__init__(addr, Handler)
        self.api_key = api_key
        self.quiet = quiet
        self.stopping = threading.Event()
        self.responders = dict(responder_table or {})  # name -> function
        self.scenario = Scenario(self.responders)
        self.log = RequestLog()
        self.hook_status = {}       # /hooks/<path> -> status to answer
        self.signer = Signer(secret)
        self.wires = {"openai": OpenAIWire(api_key),
                      "anthropic": AnthropicWire(api_key, self.signer)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pa-model-server/1.0"
    sys_version = ""
    timeout = 600

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):   # our own one line per request
        pass

    # -- low-level sending ------------------------------------------------

    def _head(self, status, headers, ctype, length=None, chunked=False):
        reason = self.responses.get(status, ("",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Date: " + email.utils.formatdate(usegmt=True),
                 "Server: " + self.server_version]
        if ctype:
            lines.append("Content-Type: " + ctype)
        if length is not None:
            lines.append("Content-Length: %d" % length)
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        if self.close_connection:
            lines.append("Connection: close")
        else:
            lines.append("Connection: keep-alive")
        self._status = status
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def raw_write(self, data):
        self.connection.sendall(data)

    def send_full(self, status, headers, body, ctype="application/json"):
        self.raw_write(self._head(status, headers, ctype, len(body)) + body)

    def send_partial(self, status, headers, body, cut, ctype):
        """Headers announcing the whole body, then only body[:cut]."""
        self.raw_write(self._head(status, headers, ctype, len(body)) +
                       body[:cut])

    def start_chunked(self, status, headers, ctype):
        self.raw_write(self._head(status, headers, ctype, chunked=True))

    def write_chunk(self, data):
        if data:
            self.raw_write(b"%x\r\n" % len(data) + data + b"\r\n")

    def end_chunked(self):
        self.raw_write(b"0\r\n\r\n")

    def close_now(self, rst=False):
        self.close_connection = True
        try:
            if rst:     # abortive close: the peer sees a TCP reset
                self.connection.setsockopt(socket.SOL_SOCKET,
                                           socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_gone(self, ms):
        """Sleep ms milliseconds (None: forever), ending early when the
        client closes the connection or the server stops. True if the
        client went away."""
        end = None if ms is None else time.monotonic() + ms / 1000.0
        while not self.server.stopping.is_set():
            left = 0.1 if end is None else min(0.1, end - time.monotonic())
            if left <= 0:
                return False
            try:
                r, _, _ = select.select([self.connection], [], [], left)
                if r:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                    if not data:
                        return True
                    time.sleep(left)
            except OSError:
                return True
        return False

    def record(self, status, note=None, **fields):
        """Update this request's log entry (before the response is sent)."""
        entry = getattr(self, "_entry", None)
        if entry is not None:
            entry["status"] = status
            if note:
                entry["note"] = note
            entry.update(fields)
        self._note = note

    def _json(self, status, obj):
        self.send_full(status, {}, dumps_bytes(obj))

    # -- request entry points ----------------------------------------------

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        self._status = None
        self._entry = None
        started = time.monotonic()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        url = urllib.parse.urlsplit(self.path)
        note = ""
        try:
            if url.path.startswith("/_control/"):
                self._control(method, url, body)
                note = "control"
            else:
                note = self._model(method, url, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            note = "client went away"
        if not self.server.quiet and note != "control":
            sys.stderr.write("[model_server] %s %s %s -> %s %s (%d ms)\n" % (
                time.strftime("%H:%M:%S"), method, self.path,
                self._status if self._status is not None else "-",
                note or "", (time.monotonic() - started) * 1000))
            sys.stderr.flush()

    # -- control API ---------------------------------------------------------

    def _control(self, method, url, raw):
        srv = self.server
        path = url.path
        if path == "/_control/health" and method == "GET":
            return self._json(200, {"ok": True})
        if path == "/_control/reset" and method == "POST":
            srv.scenario.reset()
            srv.log.reset()
            srv.hook_status.clear()
            return self._json(200, {"ok": True})
        if path == "/_control/hooks" and method == "POST":
            # {"path": "/hooks/x", "status": 500}: that receiver answers 500
            # until set again (status 200) or reset.
            try:
                doc = json.loads(raw.decode("utf-8"))
                srv.hook_status[str(doc["path"])] = int(doc["status"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
                return self._json(400, {"ok": False, "error": "bad hooks setting: %s" % e})
            return self._json(200, {"ok": True})
        if path == "/_control/scenario" and method == "GET":
            return self._json(200, srv.scenario.state())
        if path == "/_control/scenario" and method == "POST":
            try:
                doc = json.loads(raw.decode("utf-8") or "null")
                n = srv.scenario.install(doc)
            except (ValueError, UnicodeDecodeError) as e:
                return self._json(400, {"ok": False, "error": str(e)})
            return self._json(200, {"ok": True, "rules": n})
        if path == "/_control/responders" and method == "GET":
            return self._json(200, {"responders": sorted(srv.responders)})
        if path == "/_control/requests" and method == "GET":
            q = urllib.parse.parse_qs(url.query)
            try:
                since = int(q.get("since", ["0"])[0])
            except ValueError:
                return self._json(400, {"ok": False,
                                        "error": "since: not an integer"})
            entries, last = srv.log.since(since)
            return self._json(200, {"requests": entries, "last_seq": last})
        return self._json(404, {"ok": False, "error": "no control endpoint "
                                "%s %s" % (method, path)})

    # -- model endpoints -------------------------------------------------------

    def _model(self, method, url, raw):
        srv = self.server
        provider = ENDPOINTS.get(url.path)
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if raw else None
        except ValueError:
            parsed = text
        self._entry = srv.log.add({
            "time": time.time(), "method": method, "path": self.path,
            "provider": provider,
            "headers": _headers_dict(self.headers),
            "body": parsed, "status": None, "rule": None})
        wire = srv.wires[provider or (
            "anthropic" if url.path.startswith("/v1/messages") else "openai")]
        if method == "POST" and url.path.startswith("/hooks/"):
            # A webhook receiver for the extension's HTTP tools: it records
            # the request (headers and body, above) and answers 200, or the
            # status given by ?status=N.
            status = int(urllib.parse.parse_qs(url.query).get(
                "status", [srv.hook_status.get(url.path, 200)])[0])
            self._entry["raw"] = text   # signatures are over the raw bytes
            self.record(status)
            self.send_full(status, {},
                           json.dumps({"ok": status < 300, "received": parsed}).encode())
            return None
        if provider is None or method != "POST":
            status, h, payload = wire.not_found(method, url.path)
            self.record(status, error="unknown endpoint")
            self.send_full(status, h, payload)
            return "unknown endpoint"
        try:
            wire.authenticate(_headers_dict(self.headers))
            body = wire.parse_and_validate(raw, _headers_dict(self.headers))
        except WireError as e:
            status, h, payload = wire.error_response(e)
            self.record(status, error=e.message)
            self.send_full(status, h, payload)
            return "rejected: " + e.message[:160]

        facts = request_facts(provider, body, text, wire.tool_names(body))
        spec, label = srv.scenario.select(facts)
        if spec is None:
            status, h, payload = wire.error_response(WireError(
                500, "model_server: " + label + "; install a matching rule "
                "or a default with POST /_control/scenario",
                etype="model_server_no_match"))
            self.record(status, error=label)
            self.send_full(status, h, payload)
            return "NO MATCH: " + label
        self._entry["rule"] = label
        if "respond_with" in spec:
            name = spec["respond_with"]
            self._entry["responder"] = name
            try:
                try:
                    view = wire.neutral_view(body)
                except Exception as e:      # a server bug: say so clearly
                    raise responders.ResponderError(
                        "building the view for responder '%s' failed: "
                        "%s: %s" % (name, type(e).__name__, e), e)
                spec = responders.respond(srv.responders, spec, view,
                                          check_spec)
            except responders.ResponderError as e:
                # a bug in the responder (or the test), not model behaviour:
                # always logged, with the traceback when it raised
                sys.stderr.write("[model_server] %s (%s)\n" % (e, label))
                if e.raised is not None:
                    traceback.print_exception(type(e.raised), e.raised,
                                              e.raised.__traceback__,
                                              file=sys.stderr)
                sys.stderr.flush()
                status, h, payload = wire.error_response(WireError(
                    500, "model_server: %s (%s)" % (e, label),
                    etype="model_server_responder_error"))
                self.record(status, error=str(e))
                self.send_full(status, h, payload)
                return "RESPONDER FAILED: " + str(e)[:160]
        if spec.get("fault"):
            self._entry["fault"] = spec["fault"]
        if spec.get("delay_ms"):
            if self.wait_gone(spec["delay_ms"]):
                self.close_connection = True
                self.record(None, "client went away during delay_ms")
                return label + " (client went away during delay)"
        if "status" in spec:
            status, h, payload = wire.status_fault(spec)
            h.update(spec.get("headers") or {})
            self.record(status)
            self.send_full(status, h, payload)
            return label + " status %d" % status
        turn = build_turn(spec, wire.view(body))
        self._note = None
        faults.respond(self, wire, spec, body, turn, len(raw))
        return label + (" fault %s: %s" % (spec["fault"], self._note)
                        if spec.get("fault") else "")


def build_turn(spec, view):
    """The provider-neutral assistant turn a spec describes."""
    text = compute_text(spec, view)
    if spec.get("fault") == "huge":
        text = faults.filler(spec["bytes"])
    return {"text": text,
            "thinking": spec.get("thinking"),
            "redacted": bool(spec.get("redacted_thinking")),
            "refusal": spec.get("refusal"),
            "tool_calls": [{"name": c["name"],
                            "arguments": compute_arguments(c, view),
                            "id": c.get("id")}
                           for c in spec.get("tool_calls") or []],
            "stop": spec.get("stop"),
            "usage": spec.get("usage") or {}}


def _headers_dict(msg):
    out = {}
    for k, v in msg.items():
        k = k.lower()
        out[k] = out[k] + ", " + v if k in out else v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="test-key")
    ap.add_argument("--port-file")
    ap.add_argument("--secret", help="thinking-signature secret "
                    "(default: random per server)")
    ap.add_argument("--quiet", action="store_true",
                    help="no per-request log lines")
    ap.add_argument("--responder", action="append", default=[],
                    metavar="FILE.py",
                    help="import FILE.py, which defines RESPONDERS = "
                    "{name: function}, for {\"respond_with\": name} specs "
                    "(repeatable)")
    args = ap.parse_args(argv)
    try:
        table = responders.load(args.responder)
    except ValueError as e:
        ap.error(str(e))

    srv = ModelServer((args.host, args.port), args.api_key, args.secret,
                      args.quiet, table)
    port = srv.server_address[1]

    def stop(signum, frame):
        srv.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    if table:
        sys.stderr.write("[model_server] responders: %s\n"
                         % ", ".join(sorted(table)))
    sys.stderr.write("[model_server] listening on %s:%d\n" % (args.host, port))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.stopping.set()
        srv.server_close()
    sys.stderr.write("[model_server] stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
