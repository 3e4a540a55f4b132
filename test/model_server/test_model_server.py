#!/usr/bin/python3
"""Tests for the local model server (scripting, request log, faults, CLI),
plus the provider suites in tests_openai.py and tests_anthropic.py and the
responder plug-ins in tests_responders.py.

    /usr/bin/python3 test/model_server/test_model_server.py [-v] [pattern]

The last line printed is "N passed, N failed"; the exit status is non-zero
if any test failed."""

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testlib  # noqa: E402
from testlib import (OA_RESPONSE, ServerProcess, ServerTest,  # noqa: E402
                     an_collect, an_headers, oa_collect, oa_headers, request)

OA_BODY = {"model": "gpt-4o",
           "messages": [{"role": "user", "content": "hello CONV-1"}]}
AN_BODY = {"model": "claude-x", "max_tokens": 100,
           "messages": [{"role": "user", "content": "hello CONV-1"}]}


class Scripting(ServerTest):

    def test_sequence_then_default(self):
        self.scenario({"rules": [{"match": {"contains": "CONV-1"},
                                  "responses": [{"text": "one"},
                                                {"text": "two"}]}],
                       "default": {"text": "dflt"}})
        got = [self.assertOAResponse(self.oa(OA_BODY))["choices"][0]
               ["message"]["content"] for _ in range(4)]
        self.assertEqual(got, ["one", "two", "dflt", "dflt"])

    def test_repeat_last(self):
        self.scenario({"rules": [{"match": {}, "repeat_last": True,
                                  "responses": [{"text": "a"},
                                                {"text": "b"}]}]})
        got = [self.assertANResponse(self.an(AN_BODY))["content"][0]["text"]
               for _ in range(4)]
        self.assertEqual(got, ["a", "b", "b", "b"])

    def test_match_keys(self):
        self.scenario({"rules": [
            {"match": {"provider": "anthropic", "model": "claude-x"},
             "repeat_last": True, "responses": [{"text": "anthropic"}]},
            {"match": {"has_tool": "lookup"}, "repeat_last": True,
             "responses": [{"text": "has lookup"}]},
            {"match": {"contains": "CONV-2", "turn": 2},
             "responses": [{"text": "conv2 turn2"}]},
            {"match": {"stream": True}, "repeat_last": True,
             "responses": [{"text": "streamed"}]},
            {"match": {"contains": ["CONV-", "hello"]}, "repeat_last": True,
             "responses": [{"text": "fallback"}]}]})

        def oa_text(body):
            return self.assertOAResponse(self.oa(body))["choices"][0][
                "message"]["content"]
        self.assertEqual(self.assertANResponse(self.an(AN_BODY))["content"][0]
                         ["text"], "anthropic")
        other_model = dict(AN_BODY, model="claude-y")
        self.assertEqual(self.assertANResponse(self.an(other_model))
                         ["content"][0]["text"], "fallback")
        with_tool = dict(OA_BODY, tools=[{"type": "function", "function": {
            "name": "lookup", "parameters": {"type": "object"}}}])
        self.assertEqual(oa_text(with_tool), "has lookup")
        conv2 = {"model": "m", "messages": [{"role": "user",
                                             "content": "hello CONV-2"}]}
        self.assertEqual(oa_text(conv2), "fallback")       # turn 1
        self.assertEqual(oa_text(conv2), "conv2 turn2")    # turn 2
        self.assertEqual(oa_text(conv2), "fallback")       # turn 3
        got = oa_collect(self.oa(dict(OA_BODY, stream=True)).body)
        self.assertEqual(got["message"]["content"], "streamed")
        # non-ASCII marker, JSON-escaped by the client, still matches
        self.scenario({"rules": [{"match": {"contains": "Zürich"},
                                  "responses": [{"text": "z"}]}]})
        body = json.dumps({"model": "m", "messages": [
            {"role": "user", "content": "in Zürich"}]}, ensure_ascii=True)
        self.assertIn("\\u00fc", body)
        r = self.oa(body.encode())
        self.assertEqual(self.assertOAResponse(r)["choices"][0]["message"]
                         ["content"], "z")

    def test_no_match_is_a_clear_500(self):
        self.scenario({"rules": [{"match": {"contains": "OTHER"},
                                  "responses": [{"text": "x"}]}]})
        r = self.oa(OA_BODY)
        doc = self.assertOAError(r, 500, "no scenario rule matched")
        self.assertIn("/_control/scenario", doc["error"]["message"])
        r = self.an(AN_BODY)
        self.assertANError(r, 500, "model_server_no_match",
                           "no scenario rule matched")
        log = self.requests_log()["requests"]
        self.assertIsNone(log[-1]["rule"])
        self.assertIn("no scenario rule matched", log[-1]["error"])

    def test_bad_scenarios_are_rejected(self):
        cases = [({"rules": [{"match": {"contain": "x"}, "responses": []}]},
                  "unknown key(s): contain"),
                 ({"rules": [{"responses": [{"txt": "x"}]}]},
                  "rules[0].responses[0]: unknown response spec key(s): txt"),
                 ({"default": {"fault": "explode"}}, "default.fault"),
                 ({"default": {"tool_calls": [{"arguments": {}}]}},
                  "needs a string 'name'"),
                 ({"rules": {}}, "rules: must be an array")]
        for doc, msg in cases:
            r = self.post("/_control/scenario", doc)
            self.assertEqual(r.status, 400, doc)
            self.assertFalse(r.json()["ok"])
            self.assertIn(msg, r.json()["error"])
        r = self.post("/_control/scenario", b"{bad")
        self.assertEqual(r.status, 400)

    def test_append_and_state(self):
        self.scenario({"rules": [{"match": {"contains": "A"},
                                  "responses": [{"text": "a"}]}]})
        self.scenario({"append": True, "rules": [
            {"match": {"contains": "CONV-1"}, "responses": [{"text": "c"}]}]})
        doc = self.assertOAResponse(self.oa(OA_BODY))
        self.assertEqual(doc["choices"][0]["message"]["content"], "c")
        state = self.get("/_control/scenario").json()
        self.assertEqual([(r["index"], r["served"]) for r in state["rules"]],
                         [(0, 0), (1, 1)])

    def test_computed_content(self):
        self.scenario({"rules": [{"match": {}, "responses": [
            {"text_from": "last_user_text"},
            {"text": "sys=", "text_from": "system"},
            {"text_from": "tool_names"},
            {"tool_calls": [{"name": "echo",
                             "arguments_from": "echo_last_tool_result"},
                            {"name": "echo2",
                             "arguments_from": "last_user_text"}]}]}]})
        msgs = [{"role": "system", "content": "SYS"},
                {"role": "user", "content": [{"type": "text",
                                              "text": "part1 "},
                                             {"type": "text",
                                              "text": "part2"}]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1",
                 "content": '{"k": [1, 2]}'}]
        tools = [{"type": "function", "function": {"name": n}}
                 for n in ("f", "g")]
        body = {"model": "m", "messages": msgs, "tools": tools}
        texts = [self.assertOAResponse(self.oa(body))["choices"][0]["message"]
                 for _ in range(4)]
        self.assertEqual([t["content"] for t in texts[:3]],
                         ["part1 part2", "sys=SYS", "f,g"])
        args = [json.loads(c["function"]["arguments"])
                for c in texts[3]["tool_calls"]]
        self.assertEqual(args, [{"k": [1, 2]}, {"text": "part1 part2"}])

    def test_request_log(self):
        self.default({"text": "x"})
        self.oa(OA_BODY, headers=dict(oa_headers(), **{"X-Trace": "t1"}))
        self.an(dict(AN_BODY, bogus=1))
        request(self.port, "POST", "/v1/chat/completions", b"not json",
                oa_headers())
        request(self.port, "GET", "/v1/models", None, oa_headers())
        doc = self.requests_log()
        reqs = doc["requests"]
        self.assertEqual([r["seq"] for r in reqs], [1, 2, 3, 4])
        self.assertEqual(doc["last_seq"], 4)
        first = reqs[0]
        self.assertEqual((first["method"], first["path"], first["status"],
                          first["rule"], first["provider"]),
                         ("POST", "/v1/chat/completions", 200, "default",
                          "openai"))
        self.assertEqual(first["headers"]["x-trace"], "t1")
        self.assertEqual(first["headers"]["authorization"],
                         "Bearer test-key")
        self.assertEqual(first["body"], OA_BODY)
        self.assertIsInstance(first["time"], float)
        self.assertEqual(reqs[1]["status"], 400)
        self.assertIn("bogus: Extra inputs", reqs[1]["error"])
        self.assertEqual(reqs[2]["body"], "not json")
        self.assertEqual(reqs[3]["status"], 404)
        self.assertEqual([r["seq"] for r in self.requests_log(2)["requests"]],
                         [3, 4])
        self.post("/_control/reset", {})
        self.assertEqual(self.requests_log()["requests"], [])
        self.assertEqual(self.get("/_control/health").json(), {"ok": True})

    def test_keep_alive_and_throughput(self):
        self.default({"text": "fast"})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for body in (OA_BODY, dict(OA_BODY, stream=True), OA_BODY):
            r = request(self.port, "POST", "/v1/chat/completions", body,
                        oa_headers(), conn=conn)
            self.assertEqual(r.status, 200)
        sock = conn.sock
        r = request(self.port, "POST", "/v1/messages", AN_BODY, an_headers(),
                    conn=conn)
        self.assertEqual(r.status, 200)
        self.assertIs(conn.sock, sock)      # same connection throughout
        conn.close()
        n, threads, errors = 400, 8, []

        def worker(k):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            for i in range(n // threads):
                r = request(self.port, "POST", "/v1/chat/completions",
                            OA_BODY, oa_headers(), conn=c)
                if r.status != 200:
                    errors.append(r.status)
            c.close()
        t0 = time.monotonic()
        ts = [threading.Thread(target=worker, args=(k,))
              for k in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        rate = n / (time.monotonic() - t0)
        self.assertEqual(errors, [])
        sys.stderr.write("(%d req/s) " % rate)
        self.assertGreater(rate, 100)


class Faults(ServerTest):

    def test_status_faults_openai(self):
        self.scenario({"rules": [{"match": {}, "responses": [
            {"status": 429, "retry_after": 2},
            {"status": 500}, {"status": 503, "retry_after_ms": 250}]}]})
        r = self.oa(OA_BODY)
        doc = self.assertOAError(r, 429, "Rate limit reached")
        self.assertEqual(doc["error"]["code"], "rate_limit_exceeded")
        self.assertEqual(r.headers["retry-after"], "2")
        self.assertEqual(r.headers["x-ratelimit-remaining-requests"], "0")
        doc = self.assertOAError(self.oa(OA_BODY), 500, "server had an error")
        self.assertEqual(doc["error"]["type"], "server_error")
        r = self.oa(OA_BODY)
        self.assertOAError(r, 503, "overloaded")
        self.assertEqual(r.headers["retry-after-ms"], "250")

    def test_status_faults_anthropic(self):
        self.scenario({"rules": [{"match": {}, "responses": [
            {"status": 429, "retry_after": 3}, {"status": 529},
            {"status": 500}, {"status": 400, "message": "custom bad"}]}]})
        r = self.an(AN_BODY)
        self.assertANError(r, 429, "rate_limit_error", "rate limit")
        self.assertEqual(r.headers["retry-after"], "3")
        for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
            for what in ("limit", "remaining", "reset"):
                self.assertIn("anthropic-ratelimit-%s-%s" % (kind, what),
                              r.headers)
        self.assertEqual(r.headers["anthropic-ratelimit-requests-remaining"],
                         "0")
        self.assertRegex(r.headers["anthropic-ratelimit-requests-reset"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertANError(self.an(AN_BODY), 529, "overloaded_error",
                           "Overloaded")
        self.assertANError(self.an(AN_BODY), 500, "api_error",
                           "Internal server error")
        self.assertANError(self.an(AN_BODY), 400, "invalid_request_error",
                           "custom bad")

    def test_drop(self):
        self.default({"fault": "drop"})
        with self.assertRaises(http.client.RemoteDisconnected):
            self.oa(OA_BODY)
        self.default({"fault": "drop", "rst": True})
        with self.assertRaises((ConnectionResetError,
                                http.client.RemoteDisconnected)):
            self.an(AN_BODY)
        log = self.requests_log()["requests"]
        self.assertEqual([(e["status"], e["fault"]) for e in log],
                         [(None, "drop"), (None, "drop")])

    def test_reset_mid_body(self):
        self.default({"text": "y" * 500, "fault": "reset_mid_body"})
        with self.assertRaises(http.client.IncompleteRead) as cm:
            self.oa(OA_BODY)
        self.assertGreater(len(cm.exception.partial), 100)
        self.assertGreater(cm.exception.expected, 100)

    def test_truncated_json(self):
        self.default({"text": "z" * 200, "fault": "truncated_json"})
        r = self.an(AN_BODY)
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.headers["content-length"]), len(r.body))
        self.assertTrue(r.body.startswith(b'{"id":"msg_'))
        with self.assertRaises(ValueError):
            json.loads(r.body)

    def test_non_json_and_wrong_shape(self):
        self.scenario({"rules": [{"match": {}, "responses": [
            {"fault": "non_json"}, {"fault": "wrong_shape"}]}]})
        r = self.oa(OA_BODY)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        self.assertIn(b"<html>", r.body)
        r = self.oa(OA_BODY)
        self.assertEqual(r.status, 200)
        self.assertNotEqual(list(OA_RESPONSE.iter_errors(r.json())), [])

    def test_hang_until_client_gives_up(self):
        self.default({"fault": "hang"})
        t0 = time.monotonic()
        with self.assertRaises(socket.timeout):
            self.oa(OA_BODY, timeout=0.5)
        self.assertLess(time.monotonic() - t0, 3)
        log = self.requests_log()["requests"]
        self.assertEqual((log[0]["status"], log[0]["rule"]), (None, "default"))
        self.default({"text": "alive"})     # the server is still serving
        self.assertOAResponse(self.oa(OA_BODY))

    def test_delay_ms(self):
        self.default({"text": "late", "delay_ms": 300})
        t0 = time.monotonic()
        self.assertOAResponse(self.oa(OA_BODY))
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_huge(self):
        self.default({"fault": "huge", "bytes": 2000000})
        doc = self.assertOAResponse(self.oa(OA_BODY))
        self.assertEqual(len(doc["choices"][0]["message"]["content"]),
                         2000000)
        got, _ = an_collect(self.an(dict(AN_BODY, stream=True)).body)
        self.assertEqual(len(got["content"][0]["text"]), 2000000)

    def test_stream_stall_then_finish(self):
        self.default({"text": "s" * 300, "fault": "stall", "after": 2,
                      "stall_ms": 400})
        t0 = time.monotonic()
        r = self.oa(dict(OA_BODY, stream=True))
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        got = oa_collect(r.body)
        self.assertEqual(got["message"]["content"], "s" * 300)
        self.assertTrue(got["done"])

    def test_stream_stall_forever(self):
        self.default({"text": "s" * 300, "fault": "stall", "after": 3})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        conn.request("POST", "/v1/messages",
                     json.dumps(dict(AN_BODY, stream=True)),
                     an_headers())
        r = conn.getresponse()          # headers and 3 events arrive
        self.assertEqual(r.status, 200)
        first = r.read1()
        self.assertIn(b"message_start", first)
        with self.assertRaises(socket.timeout):
            while True:
                if not r.read1():
                    break
        conn.close()

    def test_stream_end_early(self):
        self.default({"text": "e" * 300, "fault": "end_early", "after": 3})
        with self.assertRaises(http.client.IncompleteRead):
            self.oa(dict(OA_BODY, stream=True))
        with self.assertRaises(http.client.IncompleteRead):
            self.an(dict(AN_BODY, stream=True))

    def test_stream_error_event(self):
        self.default({"text": "e" * 300, "fault": "stream_error", "after": 2})
        got, names = an_collect(self.an(dict(AN_BODY, stream=True)).body)
        self.assertEqual(names[-1], "error")
        self.assertEqual(got["error"]["type"], "overloaded_error")
        got = oa_collect(self.oa(dict(OA_BODY, stream=True)).body)
        self.assertEqual(got["message"]["error"]["type"], "server_error")
        self.assertFalse(got["done"])


class CommandLine(unittest.TestCase):

    def test_log_lines_port_file_and_sigterm(self):
        srv = ServerProcess(quiet=False)
        try:
            request(srv.port, "POST", "/_control/scenario",
                    {"default": {"fault": "hang"}})
            # a client stuck on a hung request must not block shutdown
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            c.request("POST", "/v1/chat/completions", json.dumps(OA_BODY),
                      oa_headers())
            time.sleep(0.3)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(5)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 3)
            c.close()
        finally:
            srv.stop()
        err = srv.stderr()
        self.assertIn("listening on 127.0.0.1:%d" % srv.port, err)
        self.assertRegex(err, r"POST /v1/chat/completions -> - default")
        self.assertIn("stopped", err)


class Result(unittest.TextTestResult):
    pass


def main(argv):
    verbosity = 2 if "-v" in argv else 1
    names = [a for a in argv if not a.startswith("-")]
    loader = unittest.TestLoader()
    if names:
        loader.testNamePatterns = ["*%s*" % n for n in names]
    import tests_anthropic
    import tests_openai
    import tests_responders
    suite = unittest.TestSuite()
    for mod in (sys.modules[__name__], tests_openai, tests_anthropic,
                tests_responders):
        suite.addTests(loader.loadTestsFromModule(mod))
    t0 = time.monotonic()
    try:
        result = unittest.TextTestRunner(stream=sys.stdout,
                                         verbosity=verbosity,
                                         resultclass=Result).run(suite)
    finally:
        testlib.stop_server()
    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    sys.stdout.write("(%.1f s)\n" % (time.monotonic() - t0))
    sys.stdout.write("%d passed, %d failed\n" % (passed, failed))
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
