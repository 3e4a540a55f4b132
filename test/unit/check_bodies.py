#!/usr/bin/python3
"""Provider translators against the strict local model server.

  /usr/bin/python3 test/unit/check_bodies.py --bin test/unit/providers_unit_asan \
      --bodies DIR

1. Every request body the unit tests wrote to DIR (providers_unit --out DIR)
   is validated against the vendored request schema and POSTed to the model
   server, which applies the schema and every rule beyond it; each must get
   200. Fixture thinking blocks carry made-up signatures, so they are
   re-signed with the server's secret first (the only change made).
2. Whole conversations run through the C translators (the binary's build
   and parse modes) against scripted responses: multi-step parallel tool
   use with thinking and redacted thinking signed by the server, tool
   errors and reminders, forced tools, malformed arguments, refusals,
   max_tokens, pause_turn, and faults (truncated, non-JSON, wrong shape,
   429/529/500, a 400 from the server) read with the error-message mode.

Prints "ok - ..." / "not ok - ..." per check and ends with
"N passed, N failed"; exit status 1 if any failed.
"""

import argparse
import copy
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MS = os.path.join(os.path.dirname(HERE), "model_server")
sys.path.insert(0, MS)

from common import Signer  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

SECRET = "providers-check-secret"
KEY = "test-key"
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
SCHEMAS = {"openai": "openai/CreateChatCompletionRequest.schema.json",
           "anthropic": "anthropic/MessagesRequest.schema.json"}
TOOLS = [
    {"name": "get_weather", "description": "Weather for a city",
     "parameters": {"type": "object", "required": ["city"],
                    "properties": {"city": {"type": "string"}}}},
    {"name": "record_weather", "description": "Record a reading",
     "parameters": {"type": "object",
                    "properties": {"city": {"type": "string"},
                                   "temp": {"type": "number"}}}},
]


class Fail(Exception):
    pass


class Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="providers_check.")
        port_file = os.path.join(self.dir, "port")
        # the server's own lines go to a log, not into our counted output
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(MS, "server.py"), "--host",
             "127.0.0.1", "--port", "0", "--port-file", port_file,
             "--api-key", KEY, "--secret", SECRET, "--quiet"],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.port = int(f.read().strip())
                return
            if self.proc.poll() is not None:
                raise SystemExit("model server exited early")
            time.sleep(0.05)
        self.stop()
        raise SystemExit("model server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body, headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def post(self, provider, body):
        h = {"Content-Type": "application/json"}
        if provider == "openai":
            h["Authorization"] = "Bearer " + KEY
        else:
            h["x-api-key"] = KEY
            h["anthropic-version"] = "2023-06-01"
        return self.request("POST", PATHS[provider], body, h)

    def scenario(self, responses, default=None):
        self.request("POST", "/_control/reset")
        doc = {"rules": [{"responses": responses}] if responses else [],
               "default": default}
        status, raw = self.request("POST", "/_control/scenario",
                                   json.dumps(doc).encode())
        if status != 200:
            raise Fail("scenario rejected: %s" % raw.decode())


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, desc, fn, *args):
        try:
            fn(*args)
        except Fail as e:
            self.failed += 1
            print("not ok - %s\n    %s" % (desc, e))
            return
        self.passed += 1
        print("ok - %s" % desc)


def cbin(args, mode, provider, data, status=None, want_ok=True):
    """Run the translator binary; its stdout, or (rc, stderr) if not want_ok."""
    argv = [args.bin, mode, provider] + ([str(status)] if status else [])
    p = subprocess.run(argv, input=data, capture_output=True, timeout=60)
    if not want_ok:
        return p.returncode, p.stderr.decode("utf-8", "replace").strip()
    if p.returncode != 0:
        raise Fail("%s %s failed (rc %d): %s" % (mode, provider, p.returncode,
                                                 p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout


def load_schema(rel):
    with open(os.path.join(MS, "schemas", rel), encoding="utf-8") as f:
        return Draft202012Validator(json.load(f))


# ---------- 1. bodies written by the unit tests ----------

def resign(body, signer):
    for m in body.get("messages", []):
        if not isinstance(m.get("content"), list):
            continue
        for b in m["content"]:
            if b.get("type") == "thinking":
                b["signature"] = signer.sign_thinking(b["thinking"])
            elif b.get("type") == "redacted_thinking":
                b["data"] = signer.new_redacted()


def check_body(server, validators, signer, path):
    provider = "openai" if "-openai-" in os.path.basename(path) else "anthropic"
    with open(path, encoding="utf-8") as f:
        body = json.load(f)
    errs = sorted(validators[provider].iter_errors(body), key=str)
    if errs:
        raise Fail("schema: %s at %s" % (errs[0].message, list(errs[0].absolute_path)))
    if provider == "anthropic":
        resign(body, signer)
    status, raw = server.post(provider, json.dumps(body).encode())
    if status != 200:
        raise Fail("HTTP %d: %s" % (status, raw.decode("utf-8", "replace")[:300]))


# ---------- 2. conversations through the translators ----------

def tool_result(call):
    if "arguments_error" in call:
        return {"type": "tool_result", "id": call["id"], "is_error": True,
                "content": "invalid arguments: " + call["arguments_error"]}
    if call["arguments"].get("city") == "Oslo":
        return {"type": "tool_result", "id": call["id"], "is_error": True,
                "content": "city not found"}
    return {"type": "tool_result", "id": call["id"], "is_error": False,
            "content": json.dumps({"temp": 21})}


def converse(args, server, provider, req, max_turns, reminder=None):
    """Build, POST, parse, append, answer tool calls, until no tool_use."""
    out = []
    for _ in range(max_turns):
        body = cbin(args, "build", provider, json.dumps(req).encode())
        status, raw = server.post(provider, body)
        if status != 200:
            raise Fail("request %d: HTTP %d: %s" % (len(out) + 1, status,
                                                    raw.decode("utf-8", "replace")[:300]))
        resp = json.loads(cbin(args, "parse", provider, raw))
        out.append(resp)
        req["messages"].append({"role": "assistant", "parts": resp["parts"]})
        if resp["stop"] != "tool_use":
            return out
        calls = [p for p in resp["parts"] if p["type"] == "tool_call"]
        req["messages"].append({"role": "tool",
                                "parts": [tool_result(c) for c in calls]})
        if reminder:
            req["messages"].append({"role": "user", "parts": [
                {"type": "text", "text": reminder}]})
    raise Fail("no end after %d turns" % max_turns)


def base_req(provider, **kw):
    req = {"model": "gpt-test" if provider == "openai" else "claude-test",
           "system": "You record weather readings.",
           "messages": [{"role": "user", "parts": [
               {"type": "text", "text": "Record the weather for Paris and Oslo."}]}],
           "tools": copy.deepcopy(TOOLS), "parallel_tool_calls": True,
           "max_output_tokens": 4096}
    req.update(kw)
    return req


def multi_step(args, server, provider, thinking):
    think = {"thinking": "Two cities: call the tool for both."} if thinking else {}
    server.scenario([
        dict(think, redacted_thinking=thinking, text="Looking both up.",
             tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}},
                         {"name": "get_weather", "arguments": {"city": "Oslo"}}]),
        dict(think, tool_calls=[{"name": "record_weather",
                                 "arguments": {"city": "Paris", "temp": 21}}]),
        {"text": "Recorded Paris; Oslo was not found."}])
    req = base_req(provider, tool_choice="auto",
                   thinking_budget=1024 if thinking else 0)
    out = converse(args, server, provider, req, 5,
                   reminder="Reminder: record each reading you found.")
    if len(out) != 3 or out[-1]["stop"] != "end_turn":
        raise Fail("want 3 turns ending end_turn, got %s" % [r["stop"] for r in out])
    if len([p for p in out[0]["parts"] if p["type"] == "tool_call"]) != 2:
        raise Fail("want two parallel calls in turn 1: %s" % out[0]["parts"])
    kinds = [p["type"] for p in out[0]["parts"]]
    if thinking and kinds[:2] != ["thinking", "redacted_thinking"]:
        raise Fail("turn 1 does not start with thinking blocks: %s" % kinds)
    if not out[-1]["usage"]["input_tokens"] > 0:
        raise Fail("no usage: %s" % out[-1]["usage"])


def forced(args, server, provider, thinking):
    server.scenario([], default={"tool_calls": [
        {"name": "record_weather", "arguments": {"city": "Paris", "temp": 21}}]})
    req = base_req(provider, force_tool="record_weather",
                   parallel_tool_calls=False,
                   thinking_budget=1024 if thinking else 0)
    body = cbin(args, "build", provider, json.dumps(req).encode())
    status, raw = server.post(provider, body)
    if status != 200:
        raise Fail("HTTP %d: %s" % (status, raw.decode()[:300]))
    resp = json.loads(cbin(args, "parse", provider, raw))
    if resp["stop"] != "tool_use" or resp["parts"][-1]["name"] != "record_weather":
        raise Fail("unexpected response: %s" % resp)


def bad_arguments(args, server, provider):
    server.scenario([
        {"tool_calls": [{"name": "get_weather", "arguments": "{\"city\": "}]},
        {"text": "Sorry, retrying later."}])
    out = converse(args, server, provider, base_req(provider), 3)
    call = out[0]["parts"][-1]
    if "arguments_error" not in call or call.get("arguments_raw") != "{\"city\": ":
        raise Fail("want arguments_error and arguments_raw: %s" % call)
    if out[-1]["stop"] != "end_turn":
        raise Fail("second turn: %s" % out[-1])


def stop_kinds(args, server, provider):
    cases = [({"refusal": "I can't help with that."}, "refusal"),
             ({"text": "Partial answ", "stop": "max_tokens"}, "max_tokens"),
             ({"text": "Done.", "stop": "stop_sequence"}, "end_turn")]
    for spec, want in cases:
        server.scenario([], default=spec)
        body = cbin(args, "build", provider, json.dumps(base_req(provider)).encode())
        status, raw = server.post(provider, body)
        resp = json.loads(cbin(args, "parse", provider, raw)) if status == 200 else None
        if resp is None or resp["stop"] != want:
            raise Fail("%s: want stop %s, got %s" % (spec, want, resp or status))
        if want == "refusal" and "can't help" not in resp.get("refusal", ""):
            raise Fail("refusal text missing: %s" % resp)


def pause_turn(args, server):
    """A paused turn is sent back as the final assistant turn to continue."""
    server.scenario([{"text": "Working on it ", "stop": "pause_turn"},
                     {"text": "and done."}])
    req = base_req("anthropic")
    body = cbin(args, "build", "anthropic", json.dumps(req).encode())
    status, raw = server.post("anthropic", body)
    out = json.loads(cbin(args, "parse", "anthropic", raw))
    if out["stop"] != "pause_turn":
        raise Fail("want pause_turn: %s" % out)
    req["messages"].append({"role": "assistant", "parts": out["parts"]})
    body = cbin(args, "build", "anthropic", json.dumps(req).encode())
    status, raw = server.post("anthropic", body)
    if status != 200:
        raise Fail("continuation: HTTP %d: %s" % (status, raw.decode()[:300]))


def faults(args, server, provider):
    cases = [("truncated_json", "response is not valid JSON"),
             ("non_json", "response is not valid JSON"),
             ("wrong_shape", "response has no choices[0].message"
              if provider == "openai" else "response has no content array")]
    for fault, want in cases:
        server.scenario([], default={"fault": fault})
        body = cbin(args, "build", provider, json.dumps(base_req(provider)).encode())
        status, raw = server.post(provider, body)
        rc, err = cbin(args, "parse", provider, raw, want_ok=False)
        if status != 200 or rc != 1 or want not in err:
            raise Fail("%s: status %d rc %d: %s" % (fault, status, rc, err))


def error_sentences(args, server, provider):
    if provider == "openai":
        cases = [({"status": 429, "retry_after": 2},
                  "HTTP 429 rate_limit_exceeded: Rate limit reached"),
                 ({"status": 500}, "HTTP 500 server_error: The server had an error")]
    else:
        cases = [({"status": 429, "retry_after": 2},
                  "HTTP 429 rate_limit_error: Number of request tokens has exceeded"),
                 ({"status": 529}, "HTTP 529 overloaded_error: Overloaded")]
    for spec, want in cases:
        server.scenario([], default=spec)
        body = cbin(args, "build", provider, json.dumps(base_req(provider)).encode())
        status, raw = server.post(provider, body)
        msg = cbin(args, "error", provider, raw, status=status).decode().strip()
        if status != spec["status"] or not msg.startswith(want):
            raise Fail("%s: %d %r" % (spec, status, msg))
    # a 400 from the server's own checks reads as well
    status, raw = server.post(provider, b'{"model":"m","messages":[],"bogus":1}')
    msg = cbin(args, "error", provider, raw, status=status).decode().strip()
    if status != 400 or not msg.startswith("HTTP 400 ") or len(msg) < 20:
        raise Fail("400: %d %r" % (status, msg))


def no_bodies_is_a_failure(files, where):
    if not files:
        raise Fail("no *.json in %s" % where)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bodies", required=True)
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    validators = {p: load_schema(s) for p, s in SCHEMAS.items()}
    signer = Signer(SECRET)
    checks = Checks()
    server = Server()
    try:
        server.scenario([], default={"text": "ok"})
        files = sorted(glob.glob(os.path.join(args.bodies, "*.json")))
        checks.run("the unit tests wrote request bodies", no_bodies_is_a_failure,
                   files, args.bodies)
        for path in files:
            checks.run("body %s passes the schema and the model server"
                       % os.path.basename(path), check_body, server,
                       validators, signer, path)
        for prov in ("openai", "anthropic"):
            checks.run("%s: multi-step parallel tool use, tool error, reminder"
                       % prov, multi_step, args, server, prov, False)
            checks.run("%s: forced tool" % prov, forced, args, server, prov, False)
            checks.run("%s: malformed arguments round trip" % prov,
                       bad_arguments, args, server, prov)
            checks.run("%s: refusal, max_tokens, stop_sequence" % prov,
                       stop_kinds, args, server, prov)
            checks.run("%s: truncated, non-JSON and wrong-shape bodies" % prov,
                       faults, args, server, prov)
            checks.run("%s: error sentences (429, 5xx, 400)" % prov,
                       error_sentences, args, server, prov)
        checks.run("anthropic: thinking + redacted thinking round trip (server-signed)",
                   multi_step, args, server, "anthropic", True)
        checks.run("anthropic: force_tool with thinking on is sent as auto",
                   forced, args, server, "anthropic", True)
        checks.run("anthropic: pause_turn continued as a final assistant turn",
                   pause_turn, args, server)
    finally:
        server.stop()
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
