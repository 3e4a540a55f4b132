"""Test harness for the model server: start it as a subprocess, talk to it
over real HTTP, parse server-sent events back into content."""

import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from jsonschema import Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
SERVER = os.path.join(HERE, "server.py")
SAMPLE_RESPONDERS = os.path.join(HERE, "sample_responders.py")
KEY = "test-key"


def _load(rel):
    with open(os.path.join(HERE, "schemas", rel), encoding="utf-8") as f:
        return Draft202012Validator(json.load(f))


OA_RESPONSE = _load("openai/CreateChatCompletionResponse.schema.json")
OA_ERROR = _load("openai/ErrorResponse.schema.json")

_BLOCK = {
    "oneOf": [
        {"type": "object", "additionalProperties": False,
         "required": ["type", "text"],
         "properties": {"type": {"const": "text"}, "text": {"type": "string"},
                        "citations": {"type": ["array", "null"]}}},
        {"type": "object", "additionalProperties": False,
         "required": ["type", "thinking", "signature"],
         "properties": {"type": {"const": "thinking"},
                        "thinking": {"type": "string"},
                        "signature": {"type": "string", "minLength": 1}}},
        {"type": "object", "additionalProperties": False,
         "required": ["type", "data"],
         "properties": {"type": {"const": "redacted_thinking"},
                        "data": {"type": "string", "minLength": 1}}},
        {"type": "object", "additionalProperties": False,
         "required": ["type", "id", "name", "input"],
         "properties": {"type": {"const": "tool_use"},
                        "id": {"type": "string",
                               "pattern": "^[a-zA-Z0-9_-]+$"},
                        "name": {"type": "string"},
                        "input": {"type": "object"}}}]}
# Written from the SDK's types/message.py and usage.py for these tests.
AN_RESPONSE = Draft202012Validator({
    "type": "object", "additionalProperties": False,
    "required": ["id", "type", "role", "model", "content", "stop_reason",
                 "stop_sequence", "usage"],
    "properties": {
        "id": {"type": "string", "pattern": "^msg_"},
        "type": {"const": "message"}, "role": {"const": "assistant"},
        "model": {"type": "string"},
        "content": {"type": "array", "items": _BLOCK},
        "stop_reason": {"enum": ["end_turn", "max_tokens", "stop_sequence",
                                 "tool_use", "pause_turn", "refusal",
                                 "model_context_window_exceeded"]},
        "stop_sequence": {"type": ["string", "null"]},
        "usage": {"type": "object",
                  "required": ["input_tokens", "output_tokens",
                               "cache_creation_input_tokens",
                               "cache_read_input_tokens"],
                  "properties": {k: {"type": "integer", "minimum": 0} for k in (
                      "input_tokens", "output_tokens",
                      "cache_creation_input_tokens",
                      "cache_read_input_tokens")}}}})
AN_ERROR = Draft202012Validator({
    "type": "object", "additionalProperties": False,
    "required": ["type", "error", "request_id"],
    "properties": {"type": {"const": "error"},
                   "request_id": {"type": "string"},
                   "error": {"type": "object", "additionalProperties": False,
                             "required": ["type", "message"],
                             "properties": {"type": {"type": "string"},
                                            "message": {"type": "string"}}}}})


class ServerProcess:
    def __init__(self, quiet=True, extra=()):
        self.dir = tempfile.mkdtemp(prefix="model_server_test_")
        self.port_file = os.path.join(self.dir, "port")
        self.err_path = os.path.join(self.dir, "stderr")
        self.err = open(self.err_path, "wb")
        cmd = [PYTHON, SERVER, "--host", "127.0.0.1", "--port", "0",
               "--port-file", self.port_file, "--api-key", KEY]
        if quiet:
            cmd.append("--quiet")
        cmd.extend(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        deadline = time.time() + 15
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("model server did not start: " +
                                   self.stderr())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read().strip())

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def request(port, method, path, body=None, headers=None, timeout=10,
            conn=None):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else \
        json.dumps(body).encode("utf-8")
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        payload = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                        payload)
    finally:
        if own:
            conn.close()


def oa_headers(key=KEY):
    return {"Authorization": "Bearer " + key}


def an_headers(key=KEY, version="2023-06-01", beta=None):
    h = {"x-api-key": key, "anthropic-version": version}
    if beta:
        h["anthropic-beta"] = beta
    return h


def sse_events(raw):
    """Parse an SSE byte stream into [(event name or None, data str)]."""
    out = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        out.append((name, "\n".join(data)))
    return out


def oa_collect(raw):
    """Reassemble an OpenAI chunk stream into a message dict."""
    msg = {"content": "", "refusal": "", "tool_calls": {}}
    finish, usage, done = None, None, False
    for _, data in sse_events(raw):
        if data == "[DONE]":
            done = True
            continue
        c = json.loads(data)
        if "error" in c:
            msg["error"] = c["error"]
            continue
        assert c["object"] == "chat.completion.chunk"
        if c.get("usage"):
            usage = c["usage"]
        for ch in c["choices"]:
            d = ch["delta"]
            msg["content"] += d.get("content") or ""
            msg["refusal"] += d.get("refusal") or ""
            for tc in d.get("tool_calls", []):
                slot = msg["tool_calls"].setdefault(
                    tc["index"], {"id": None, "name": "", "arguments": ""})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function", {})
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                finish = ch["finish_reason"]
    msg["tool_calls"] = [msg["tool_calls"][i]
                         for i in sorted(msg["tool_calls"])]
    return {"message": msg, "finish_reason": finish, "usage": usage,
            "done": done}


def an_collect(raw):
    """Reassemble an Anthropic event stream into a message dict."""
    msg, blocks, partial, names = None, {}, {}, []
    for name, data in sse_events(raw):
        ev = json.loads(data)
        names.append(name)
        assert ev["type"] == name, (name, ev)
        if name == "message_start":
            msg = ev["message"]
        elif name == "content_block_start":
            blocks[ev["index"]] = dict(ev["content_block"])
            partial[ev["index"]] = ""
        elif name == "content_block_delta":
            b, d = blocks[ev["index"]], ev["delta"]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                b["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                b["signature"] += d["signature"]
            elif d["type"] == "input_json_delta":
                partial[ev["index"]] += d["partial_json"]
        elif name == "content_block_stop":
            b = blocks[ev["index"]]
            if b["type"] == "tool_use":
                b["input"] = json.loads(partial[ev["index"]] or "{}")
        elif name == "message_delta":
            msg["stop_reason"] = ev["delta"]["stop_reason"]
            msg["usage"]["output_tokens"] = ev["usage"]["output_tokens"]
        elif name == "error":
            msg = dict(msg or {}, error=ev["error"])
    if msg is not None:
        msg["content"] = [blocks[i] for i in sorted(blocks)]
    return msg, names


_server = None


def server():
    global _server
    if _server is None:
        _server = ServerProcess(extra=("--responder", SAMPLE_RESPONDERS))
    return _server


def stop_server():
    global _server
    if _server is not None:
        _server.stop()
        _server = None


class ServerTest(unittest.TestCase):
    """Base class: a shared server, reset before each test."""

    def setUp(self):
        self.port = server().port
        r = self.post("/_control/reset", {})
        self.assertEqual(r.status, 200)

    def post(self, path, body, headers=None, timeout=10):
        return request(self.port, "POST", path, body, headers, timeout)

    def get(self, path):
        return request(self.port, "GET", path)

    def scenario(self, doc):
        r = self.post("/_control/scenario", doc)
        self.assertEqual(r.status, 200, r.body)
        return r

    def default(self, spec):
        return self.scenario({"rules": [], "default": spec})

    def requests_log(self, since=0):
        return self.get("/_control/requests?since=%d" % since).json()

    def oa(self, body, headers=None, timeout=10):
        return self.post("/v1/chat/completions", body,
                         oa_headers() if headers is None else headers,
                         timeout)

    def an(self, body, headers=None, timeout=10):
        return self.post("/v1/messages", body,
                         an_headers() if headers is None else headers, timeout)

    def assertOAError(self, r, status, message_part, param=Ellipsis):
        self.assertEqual(r.status, status, r.body)
        doc = r.json()
        errs = list(OA_ERROR.iter_errors(doc))
        self.assertEqual(errs, [], doc)
        self.assertIn(message_part, doc["error"]["message"])
        if param is not Ellipsis:
            self.assertEqual(doc["error"]["param"], param)
        return doc

    def assertANError(self, r, status, etype, message_part):
        self.assertEqual(r.status, status, r.body)
        doc = r.json()
        self.assertEqual(list(AN_ERROR.iter_errors(doc)), [], doc)
        self.assertEqual(doc["error"]["type"], etype, doc)
        self.assertIn(message_part, doc["error"]["message"])
        self.assertEqual(r.headers.get("request-id"), doc["request_id"])
        return doc

    def assertOAResponse(self, r):
        self.assertEqual(r.status, 200, r.body)
        doc = r.json()
        errs = [e.message for e in OA_RESPONSE.iter_errors(doc)]
        self.assertEqual(errs, [], doc)
        u = doc["usage"]
        self.assertEqual(u["total_tokens"],
                         u["prompt_tokens"] + u["completion_tokens"])
        self.assertIn("cached_tokens", u["prompt_tokens_details"])
        self.assertIn("reasoning_tokens", u["completion_tokens_details"])
        return doc

    def assertANResponse(self, r):
        self.assertEqual(r.status, 200, r.body)
        doc = r.json()
        errs = [e.message for e in AN_RESPONSE.iter_errors(doc)]
        self.assertEqual(errs, [], doc)
        return doc
