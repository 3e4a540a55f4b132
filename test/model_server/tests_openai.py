"""OpenAI Chat Completions: accepted requests, responses against the official
schema, every rejection, streaming."""

import json

from testlib import ServerTest, oa_collect, oa_headers

STRICT_PARAMS = {
    "type": "object",
    "properties": {"q": {"type": "string"},
                   "opts": {"type": "object",
                            "properties": {"n": {"type": "integer"}},
                            "required": ["n"],
                            "additionalProperties": False}},
    "required": ["q", "opts"], "additionalProperties": False}


def tool(name="lookup", params=None, strict=None):
    fn = {"name": name, "description": "find things",
          "parameters": params or {"type": "object",
                                   "properties": {"q": {"type": "string"}}}}
    if strict is not None:
        fn["strict"] = strict
    return {"type": "function", "function": fn}


def convo(marker="M1"):
    """A valid conversation with one answered tool call."""
    return [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "find %s please" % marker},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q":"x"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q":"y"}'}}]},
        {"role": "tool", "tool_call_id": "call_a",
         "content": '{"answer": 42}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "none"},
    ]


class OpenAIAccepted(ServerTest):

    def test_text_response_matches_official_schema(self):
        self.default({"text": "Hello there."})
        r = self.oa({"model": "gpt-4o-mini",
                     "messages": [{"role": "developer", "content": "be brief"},
                                  {"role": "user", "content": "hi"}],
                     "temperature": 0.2, "max_completion_tokens": 50,
                     "metadata": {"k": "v"}, "seed": 7})
        doc = self.assertOAResponse(r)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["model"], "gpt-4o-mini")
        ch = doc["choices"][0]
        self.assertEqual(ch["message"],
                         {"role": "assistant", "content": "Hello there.",
                          "refusal": None, "annotations": []})
        self.assertIsNone(ch["logprobs"])
        self.assertEqual(ch["finish_reason"], "stop")
        self.assertTrue(r.headers["content-type"].startswith(
            "application/json"))

    def test_tool_calls_response_and_round_trip(self):
        self.scenario({"rules": [
            {"match": {"provider": "openai", "has_tool": "lookup"},
             "responses": [
                 {"tool_calls": [{"name": "lookup", "arguments": {"q": "M1"}},
                                 {"name": "lookup", "id": "call_fixed",
                                  "arguments": {"q": "M2"}}]},
                 {"text": "got: ", "text_from": "last_tool_result"}]}]})
        body = {"model": "gpt-4o", "tools": [tool()], "tool_choice": "auto",
                "parallel_tool_calls": True,
                "messages": [{"role": "user", "content": "find M1"}]}
        doc = self.assertOAResponse(self.oa(body))
        msg = doc["choices"][0]["message"]
        self.assertEqual(doc["choices"][0]["finish_reason"], "tool_calls")
        self.assertIsNone(msg["content"])
        calls = msg["tool_calls"]
        self.assertEqual(len(calls), 2)
        self.assertTrue(calls[0]["id"].startswith("call_"))
        self.assertEqual(calls[1]["id"], "call_fixed")
        self.assertIsInstance(calls[0]["function"]["arguments"], str)
        self.assertEqual(json.loads(calls[0]["function"]["arguments"]),
                         {"q": "M1"})
        # send the calls back with answers: accepted, echo proves it arrived
        body["messages"] += [
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "r1"},
            {"role": "tool", "tool_call_id": calls[1]["id"],
             "content": "r2-M2"}]
        doc = self.assertOAResponse(self.oa(body))
        self.assertEqual(doc["choices"][0]["message"]["content"], "got: r2-M2")

    def test_strict_compatible_tool_accepted(self):
        self.default({"text": "ok"})
        r = self.oa({"model": "gpt-4o", "messages": convo(),
                     "tools": [tool(params=STRICT_PARAMS, strict=True)],
                     "tool_choice": {"type": "function",
                                     "function": {"name": "lookup"}}})
        self.assertOAResponse(r)

    def test_refusal_stop_mapping_and_usage(self):
        self.scenario({"rules": [{"match": {}, "responses": [
            {"refusal": "I can't help with that."},
            {"text": "partial", "stop": "max_tokens"},
            {"text": "blocked", "stop": "refusal"},
            {"text": "t", "thinking": "a" * 400,
             "usage": {"input_tokens": 11, "cached_tokens": 5}},
            {"text": "t", "usage": {"input_tokens": 3, "output_tokens": 9,
                                    "reasoning_tokens": 4}}]}]})
        body = {"model": "o3", "messages": [{"role": "user", "content": "x"}]}
        doc = self.assertOAResponse(self.oa(body))
        m = doc["choices"][0]["message"]
        self.assertEqual((m["content"], m["refusal"]),
                         (None, "I can't help with that."))
        doc = self.assertOAResponse(self.oa(body))
        self.assertEqual(doc["choices"][0]["finish_reason"], "length")
        doc = self.assertOAResponse(self.oa(body))
        self.assertEqual(doc["choices"][0]["finish_reason"], "content_filter")
        doc = self.assertOAResponse(self.oa(body))
        u = doc["usage"]
        self.assertEqual(u["prompt_tokens"], 11)
        self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 5)
        self.assertEqual(u["completion_tokens_details"]["reasoning_tokens"],
                         100)
        self.assertGreaterEqual(u["completion_tokens"], 100)
        doc = self.assertOAResponse(self.oa(body))
        self.assertEqual((doc["usage"]["prompt_tokens"],
                          doc["usage"]["completion_tokens"],
                          doc["usage"]["total_tokens"],
                          doc["usage"]["completion_tokens_details"]
                          ["reasoning_tokens"]), (3, 9, 12, 4))

    def test_stream_reassembles_to_same_content(self):
        spec = {"text": "Streaming works, " * 5 + "ünïcödé ✓",
                "tool_calls": [{"name": "lookup", "id": "call_s1",
                                "arguments": {"q": "long " * 20}}]}
        self.default(spec)
        body = {"model": "gpt-4o", "tools": [tool()],
                "messages": [{"role": "user", "content": "go"}]}
        plain = self.assertOAResponse(self.oa(body))["choices"][0]
        r = self.oa(dict(body, stream=True,
                         stream_options={"include_usage": True}))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith(
            "text/event-stream"))
        self.assertEqual(r.headers.get("transfer-encoding"), "chunked")
        got = oa_collect(r.body)
        self.assertTrue(got["done"])
        self.assertTrue(r.body.endswith(b"data: [DONE]\n\n"))
        self.assertEqual(got["message"]["content"],
                         plain["message"]["content"])
        self.assertEqual(got["finish_reason"], plain["finish_reason"])
        pc = plain["message"]["tool_calls"][0]
        self.assertEqual(got["message"]["tool_calls"], [
            {"id": pc["id"], "name": pc["function"]["name"],
             "arguments": pc["function"]["arguments"]}])
        self.assertIsNotNone(got["usage"])
        self.assertIn("total_tokens", got["usage"])
        # without include_usage: no usage chunk, still [DONE]
        got = oa_collect(self.oa(dict(body, stream=True)).body)
        self.assertIsNone(got["usage"])
        self.assertTrue(got["done"])


class OpenAIRejected(ServerTest):

    def setUp(self):
        super().setUp()
        self.default({"text": "should not be served"})

    def test_auth_missing_and_wrong(self):
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        r = self.oa(body, headers={})
        self.assertOAError(r, 401, "You didn't provide an API key")
        r = self.oa(body, headers=oa_headers("sk-wrong-key-123456"))
        doc = self.assertOAError(r, 401, "Incorrect API key provided")
        self.assertEqual(doc["error"]["code"], "invalid_api_key")
        r = self.oa(body, headers={"Authorization": "Basic dGVzdC1rZXk="})
        self.assertOAError(r, 401, "Incorrect API key provided")

    def test_unrecognized_argument(self):
        r = self.oa({"model": "m", "foo": 1,
                     "messages": [{"role": "user", "content": "x"}]})
        self.assertOAError(r, 400,
                           "Unrecognized request argument supplied: foo")
        # an Anthropic-only field is just as unknown here
        r = self.oa({"model": "m", "max_tokens": 5, "system": "s",
                     "messages": [{"role": "user", "content": "x"}]})
        self.assertOAError(r, 400,
                           "Unrecognized request argument supplied: system")

    def test_schema_violations(self):
        r = self.oa({"model": "m"})
        self.assertOAError(r, 400, "Missing required parameter: 'messages'.",
                           param="messages")
        r = self.oa({"model": "m", "messages": []})
        self.assertOAError(r, 400, "empty array", param="messages")
        r = self.oa({"model": "m", "messages": [{"role": "user",
                                                 "content": 5}]})
        self.assertOAError(r, 400, "Invalid type for 'messages[0].content'",
                           param="messages[0].content")
        r = self.oa({"model": "m", "messages": [{"role": "tool",
                                                 "content": "x"}]})
        self.assertOAError(r, 400, "Missing required parameter: "
                           "'messages[0].tool_call_id'.")
        r = self.oa({"model": "m", "messages": [{"role": "bot",
                                                 "content": "x"}]})
        self.assertOAError(r, 400, "Invalid value: \"bot\"",
                           param="messages[0].role")
        r = self.oa({"model": "m", "top_logprobs": None,
                     "messages": [{"role": "user", "content": "x"}]})
        self.assertOAError(r, 400, "'top_logprobs'", param="top_logprobs")
        r = self.oa({"model": "m", "temperature": 3,
                     "messages": [{"role": "user", "content": "x"}]})
        self.assertOAError(r, 400, "temperature", param="temperature")
        r = self.oa(b"{not json", headers=oa_headers())
        self.assertOAError(r, 400, "We could not parse the JSON body")
        r = self.oa({"model": "m", "stream_options": {"include_usage": True},
                     "messages": [{"role": "user", "content": "x"}]})
        self.assertOAError(r, 400, "'stream_options' parameter is only "
                           "allowed when 'stream' is enabled")

    def test_tool_message_without_tool_calls(self):
        msgs = [{"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "call_a", "content": "r"}]
        r = self.oa({"model": "m", "messages": msgs})
        self.assertOAError(r, 400, "messages with role 'tool' must be a "
                           "response to a preceeding message with "
                           "'tool_calls'", param="messages.[1].role")

    def test_tool_call_id_not_in_previous_message(self):
        msgs = convo()
        msgs[4]["tool_call_id"] = "call_zzz"
        r = self.oa({"model": "m", "messages": msgs})
        self.assertOAError(r, 400, "'tool_call_id' of 'call_zzz' not found "
                           "in 'tool_calls' of previous message",
                           param="messages.[4].tool_call_id")

    def test_unanswered_tool_calls(self):
        msgs = convo()
        del msgs[4]
        msgs.append({"role": "user", "content": "and?"})
        r = self.oa({"model": "m", "messages": msgs})
        self.assertOAError(r, 400, "did not have response messages: call_b",
                           param="messages.[2].role")
        # unanswered at the very end of the list too
        r = self.oa({"model": "m", "messages": convo()[:3]})
        self.assertOAError(r, 400, "did not have response messages: "
                           "call_a, call_b")
        msgs = convo()[:2] + [{"role": "assistant", "content": "x",
                               "tool_calls": []}]
        r = self.oa({"model": "m", "messages": msgs})
        self.assertOAError(r, 400, "empty array",
                           param="messages[2].tool_calls")

    def test_function_names(self):
        r = self.oa({"model": "m", "messages": convo(),
                     "tools": [tool("bad name!")]})
        self.assertOAError(r, 400, "string does not match pattern",
                           param="tools[0].function.name")
        r = self.oa({"model": "m", "messages": convo(),
                     "tools": [tool("x" * 65)]})
        self.assertOAError(r, 400, "string too long",
                           param="tools[0].function.name")
        r = self.oa({"model": "m", "messages": convo(),
                     "tools": [tool("x" * 64)]})
        self.assertEqual(r.status, 200, r.body)

    def test_strict_schema_not_strict_compatible(self):
        p = json.loads(json.dumps(STRICT_PARAMS))
        del p["additionalProperties"]
        r = self.oa({"model": "m", "messages": convo(),
                     "tools": [tool(params=p, strict=True)]})
        self.assertOAError(r, 400, "In context=(), 'additionalProperties' is "
                           "required to be supplied and to be false",
                           param="tools[0].function.parameters")
        p = json.loads(json.dumps(STRICT_PARAMS))
        p["properties"]["opts"]["required"] = []
        r = self.oa({"model": "m", "messages": convo(),
                     "tools": [tool(params=p, strict=True)]})
        self.assertOAError(r, 400, "In context=('properties', 'opts'), "
                           "'required' is required to be supplied and to be "
                           "an array including every key in properties. "
                           "Missing 'n'")
        # the same schema without strict is fine
        r = self.oa({"model": "m", "messages": convo(),
                     "tools": [tool(params=p, strict=False)]})
        self.assertEqual(r.status, 200, r.body)

    def test_tool_choice_unknown_function(self):
        r = self.oa({"model": "m", "messages": convo(), "tools": [tool()],
                     "tool_choice": {"type": "function",
                                     "function": {"name": "nope"}}})
        self.assertOAError(r, 400, "function 'nope' not found in 'tools'",
                           param="tool_choice")
        r = self.oa({"model": "m", "messages": convo(),
                     "tool_choice": "required"})
        self.assertOAError(r, 400, "'tool_choice' is only allowed when "
                           "'tools' are specified", param="tool_choice")
