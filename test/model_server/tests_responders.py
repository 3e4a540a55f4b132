"""Responder plug-ins (server.py --responder FILE.py): the neutral view of
both wire formats, computed responses, merging, the error path and
scenario validation. The shared server loads sample_responders.py."""

import json
import os
import tempfile
import time
import unittest

import testlib
from testlib import (SAMPLE_RESPONDERS, ServerProcess, ServerTest,
                     an_collect, oa_collect, request)

TOOLS_SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}},
                "required": ["q"]}

# One conversation in both wire formats: system prompt, a user message, an
# assistant turn with text and two tool calls, their results (one an error
# on Anthropic), then a user reminder.
OA_CONVO = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "system", "content": "You are AGENT-X."},
        {"role": "user", "content": [{"type": "text", "text": "## Events\n"},
                                     {"type": "text",
                                      "text": "[#7 customer] hi"}]},
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q": "a"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "record_x",
                          "arguments": '{"object": {"v": 1}}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ref": 1}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "recorded"},
        {"role": "user", "content": "Record the rest."}],
    "tools": [{"type": "function", "function": {
        "name": "lookup", "description": "find", "parameters": TOOLS_SCHEMA}},
        {"type": "function", "function": {"name": "record_x"}}]}

AN_CONVO = {
    "model": "claude-sonnet-4-5", "max_tokens": 1000,
    "system": [{"type": "text", "text": "You are AGENT-X."}],
    "messages": [
        {"role": "user", "content": "## Events\n[#7 customer] hi"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup",
             "input": {"q": "a"}},
            {"type": "tool_use", "id": "toolu_2", "name": "record_x",
             "input": {"object": {"v": 1}}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
             "content": [{"type": "text", "text": '{"ref": 1}'}]},
            {"type": "tool_result", "tool_use_id": "toolu_2",
             "content": "recorded", "is_error": True},
            {"type": "text", "text": "Record the rest."}]}],
    "tools": [{"name": "lookup", "description": "find",
               "input_schema": TOOLS_SCHEMA},
              {"name": "record_x", "input_schema": {"type": "object"}}]}


def expected_view(provider, model, ids, error):
    return {
        "provider": provider, "model": model, "system": "You are AGENT-X.",
        "messages": [
            {"role": "user", "text": "## Events\n[#7 customer] hi",
             "tool_calls": [], "tool_results": []},
            {"role": "assistant", "text": "Looking.", "tool_calls": [
                {"id": ids[0], "name": "lookup", "arguments": {"q": "a"}},
                {"id": ids[1], "name": "record_x",
                 "arguments": {"object": {"v": 1}}}], "tool_results": []},
            {"role": "tool", "text": "", "tool_calls": [], "tool_results": [
                {"id": ids[0], "name": "lookup", "content": '{"ref": 1}',
                 "is_error": False},
                {"id": ids[1], "name": "record_x", "content": "recorded",
                 "is_error": error}]},
            {"role": "user", "text": "Record the rest.", "tool_calls": [],
             "tool_results": []}],
        "tools": [{"name": "lookup", "description": "find",
                   "parameters": TOOLS_SCHEMA},
                  {"name": "record_x", "description": "",
                   "parameters": {"type": "object", "properties": {}}
                   if provider == "openai" else {"type": "object"}}]}


class Responders(ServerTest):

    def use(self, name, **extra):
        self.scenario({"rules": [{"match": {}, "repeat_last": True,
                                  "responses": [dict(extra,
                                                     respond_with=name)]}]})

    def test_view_openai(self):
        self.use("echo_view")
        doc = self.assertOAResponse(self.oa(OA_CONVO))
        view = json.loads(doc["choices"][0]["message"]["content"])
        self.assertEqual(view, expected_view("openai", "gpt-4.1",
                                             ["call_1", "call_2"], False))
        log = self.requests_log()["requests"]
        self.assertEqual((log[0]["rule"], log[0]["responder"]),
                         ("rules[0].responses[0]", "echo_view"))

    def test_view_anthropic(self):
        self.use("echo_view")
        doc = self.assertANResponse(self.an(AN_CONVO))
        view = json.loads(doc["content"][0]["text"])
        self.assertEqual(view, expected_view("anthropic",
                                             "claude-sonnet-4-5",
                                             ["toolu_1", "toolu_2"], True))

    def test_tool_loop_openai(self):
        self.use("tool_loop")
        body = {"model": "m", "messages": [{"role": "user",
                                            "content": "ORD-1"}],
                "tools": OA_CONVO["tools"]}
        doc = self.assertOAResponse(self.oa(body))
        msg = doc["choices"][0]["message"]
        self.assertEqual(doc["choices"][0]["finish_reason"], "tool_calls")
        self.assertEqual(msg["content"], "Calling lookup.")
        call = msg["tool_calls"][0]
        self.assertEqual((call["function"]["name"],
                          json.loads(call["function"]["arguments"])),
                         ("lookup", {"asked": "ORD-1", "turns": 1}))
        self.assertEqual(doc["usage"]["prompt_tokens"], 11)
        body["messages"] += [
            {"role": "assistant", "content": msg["content"],
             "tool_calls": msg["tool_calls"]},
            {"role": "tool", "tool_call_id": call["id"], "content": "found"}]
        got = oa_collect(self.oa(dict(body, stream=True)).body)
        self.assertEqual(got["message"]["content"], "lookup said: found")
        self.assertEqual(got["finish_reason"], "stop")

    def test_tool_loop_anthropic_stream(self):
        self.use("tool_loop")
        body = {"model": "claude-x", "max_tokens": 500, "stream": True,
                "messages": [{"role": "user", "content": "ORD-2"}],
                "tools": AN_CONVO["tools"]}
        msg, _ = an_collect(self.an(body).body)
        self.assertEqual(msg["stop_reason"], "tool_use")
        use = msg["content"][1]
        self.assertEqual((use["name"], use["input"]),
                         ("lookup", {"asked": "ORD-2", "turns": 1}))
        body["messages"] += [
            {"role": "assistant", "content": msg["content"]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": use["id"],
                 "content": "no such order", "is_error": True}]}]
        doc = self.assertANResponse(self.an(dict(body, stream=False)))
        self.assertEqual(doc["content"][0]["text"],
                         "lookup said: no such order (error)")

    def test_keys_beside_respond_with_win(self):
        self.use("tool_loop", usage={"input_tokens": 99}, delay_ms=250,
                 text="Scripted text.")
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": OA_CONVO["tools"]}
        t0 = time.monotonic()
        doc = self.assertOAResponse(self.oa(body))
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertEqual(doc["usage"]["prompt_tokens"], 99)
        msg = doc["choices"][0]["message"]
        self.assertEqual(msg["content"], "Scripted text.")
        self.assertEqual(msg["tool_calls"][0]["function"]["name"], "lookup")
        # a fault beside respond_with applies to the computed response
        self.use("tool_loop", status=503)
        self.assertOAError(self.oa(body), 503, "overloaded")

    def test_responder_raises(self):
        self.use("boom")
        doc = self.assertOAError(self.oa(OA_CONVO), 500,
                                 "responder 'boom' raised RuntimeError: "
                                 "kaboom in openai")
        self.assertEqual(doc["error"]["type"], "model_server_responder_error")
        self.assertIn("rules[0].responses[0]", doc["error"]["message"])
        self.assertANError(self.an(AN_CONVO), 500,
                           "model_server_responder_error",
                           "kaboom in anthropic")
        log = self.requests_log()["requests"]
        self.assertEqual([(e["status"], e["responder"]) for e in log],
                         [(500, "boom"), (500, "boom")])
        self.assertIn("kaboom in openai", log[0]["error"])
        err = testlib.server().stderr()
        self.assertIn("Traceback", err)
        self.assertIn("RuntimeError: kaboom in anthropic", err)
        self.use("echo_view")       # the server goes on serving
        self.assertOAResponse(self.oa(OA_CONVO))

    def test_responder_returns_invalid_spec(self):
        for name, part in (("bad_spec", "spec.tool_calls[0]: needs a string "
                            "'name'"),
                           ("not_a_dict", "returned str, not a response "
                            "spec object"),
                           ("nested", "spec.respond_with: not allowed")):
            self.use(name)
            self.assertOAError(self.oa(OA_CONVO), 500, part)
            self.assertANError(self.an(AN_CONVO), 500,
                               "model_server_responder_error", part)
        self.use("bad_spec")
        self.assertOAError(self.oa(OA_CONVO), 500,
                           "responder 'bad_spec' returned an invalid spec")

    def test_unknown_responder_refused(self):
        self.use("echo_view")
        for doc, where in (
                ({"rules": [{"responses": [{"text": "a"},
                                           {"respond_with": "nope"}]}]},
                 "rules[0].responses[1].respond_with"),
                ({"default": {"respond_with": "nope"}},
                 "default.respond_with")):
            r = self.post("/_control/scenario", doc)
            self.assertEqual(r.status, 400, r.body)
            msg = r.json()["error"]
            self.assertIn("%s: unknown responder 'nope'" % where, msg)
            self.assertIn("loaded: bad_spec, boom, echo_view", msg)
        r = self.post("/_control/scenario",
                      {"default": {"respond_with": 7}})
        self.assertEqual(r.status, 400)
        self.assertIn("default.respond_with: must be a string",
                      r.json()["error"])
        # the scenario in place is untouched
        state = self.get("/_control/scenario").json()
        self.assertEqual(len(state["rules"]), 1)
        self.assertEqual(self.get("/_control/responders").json(),
                         {"responders": ["bad_spec", "boom", "echo_view",
                                         "nested", "not_a_dict",
                                         "tool_loop"]})

    def test_as_default(self):
        self.default({"respond_with": "echo_view"})
        doc = self.assertANResponse(self.an(AN_CONVO))
        self.assertEqual(json.loads(doc["content"][0]["text"])["provider"],
                         "anthropic")


class ResponderCommandLine(unittest.TestCase):

    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".py", prefix="resp_")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_without_responders_respond_with_is_refused(self):
        srv = ServerProcess()
        try:
            r = request(srv.port, "POST", "/_control/scenario",
                        {"default": {"respond_with": "echo_view"}})
            self.assertEqual(r.status, 400)
            self.assertIn("unknown responder 'echo_view' (no responder is "
                          "loaded; start the server with --responder",
                          r.json()["error"])
        finally:
            srv.stop()

    def test_bad_responder_files_stop_the_start(self):
        cases = [(self.write("X = 1\n"), "must define RESPONDERS"),
                 (self.write("RESPONDERS = {'a': 3}\n"),
                  "RESPONDERS['a'] is not callable"),
                 (self.write("import nonexistent_mod_xyz\n"),
                  "import failed: ModuleNotFoundError"),
                 ("/nonexistent/r.py", "no such file")]
        for path, part in cases:
            with self.assertRaises(RuntimeError) as cm:
                ServerProcess(extra=("--responder", path)).stop()
            self.assertIn(part, str(cm.exception))
        dup = self.write("RESPONDERS = {'echo_view': print}\n")
        with self.assertRaises(RuntimeError) as cm:
            ServerProcess(extra=("--responder", SAMPLE_RESPONDERS,
                                 "--responder", dup)).stop()
        self.assertIn("responder 'echo_view' is already defined by",
                      str(cm.exception))

    def test_two_files_and_startup_line(self):
        other = self.write("RESPONDERS = {'other': lambda v: "
                           "{'text': v['model']}}\n")
        srv = ServerProcess(quiet=False, extra=(
            "--responder", SAMPLE_RESPONDERS, "--responder", other))
        try:
            request(srv.port, "POST", "/_control/scenario",
                    {"default": {"respond_with": "other"}})
            r = request(srv.port, "POST", "/v1/chat/completions",
                        {"model": "m-9", "messages": [
                            {"role": "user", "content": "x"}]},
                        testlib.oa_headers())
            self.assertEqual(r.json()["choices"][0]["message"]["content"],
                             "m-9")
        finally:
            srv.stop()
        self.assertIn("responders: bad_spec, boom, echo_view, nested, "
                      "not_a_dict, other, tool_loop", srv.stderr())
