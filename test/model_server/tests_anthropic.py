"""Anthropic Messages: accepted requests, response shape, every rule of
schemas/anthropic/README.md, thinking signatures, streaming."""

import copy

from testlib import ServerTest, an_collect, an_headers

TOOL = {"name": "record_x", "description": "record",
        "input_schema": {"type": "object",
                         "properties": {"v": {"type": "integer"}},
                         "required": ["v"]}}
THINK = {"type": "enabled", "budget_tokens": 1024}


def req(messages, **kw):
    body = {"model": "claude-sonnet-4-5", "max_tokens": 2048,
            "messages": messages}
    body.update(kw)
    return body


def user(text):
    return {"role": "user", "content": text}


def tool_turns(use_id="toolu_1"):
    return [user("start"),
            {"role": "assistant", "content": [
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": use_id, "name": "record_x",
                 "input": {"v": 1}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": use_id,
                 "content": "done"}]}]


class AnthropicAccepted(ServerTest):

    def test_text_response_shape(self):
        self.default({"text": "Hello.", "usage": {"cached_tokens": 7}})
        r = self.an(req([user("hi")], system=[{"type": "text", "text": "s"}],
                        temperature=0.3, top_k=5,
                        metadata={"user_id": "u1"}))
        doc = self.assertANResponse(r)
        self.assertEqual(doc["content"], [{"type": "text", "text": "Hello.",
                                           "citations": None}])
        self.assertEqual(doc["stop_reason"], "end_turn")
        self.assertIsNone(doc["stop_sequence"])
        self.assertEqual(doc["usage"]["cache_read_input_tokens"], 7)
        self.assertEqual(doc["model"], "claude-sonnet-4-5")
        self.assertTrue(r.headers["request-id"].startswith("req_"))
        self.assertIn("anthropic-ratelimit-requests-remaining", r.headers)

    def test_tool_use_round_trip_and_echo(self):
        self.scenario({"rules": [
            {"match": {"provider": "anthropic", "has_tool": "record_x",
                       "turn": 1},
             "responses": [{"text": "Let me record.",
                            "tool_calls": [{"name": "record_x",
                                            "arguments_from":
                                            "last_user_json"}]}]},
            {"match": {"provider": "anthropic"}, "repeat_last": True,
             "responses": [{"text": "tool said: ",
                            "text_from": "last_tool_result"}]}]})
        msgs = [user('please record {"v": 17} now')]
        doc = self.assertANResponse(self.an(req(msgs, tools=[TOOL])))
        self.assertEqual(doc["stop_reason"], "tool_use")
        self.assertEqual([b["type"] for b in doc["content"]],
                         ["text", "tool_use"])
        use = doc["content"][1]
        self.assertEqual(use["input"], {"v": 17})
        self.assertTrue(use["id"].startswith("toolu_"))
        msgs += [{"role": "assistant", "content": doc["content"]},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": use["id"],
                      "content": [{"type": "text", "text": "stored 17"}]},
                     {"type": "text", "text": "continue"}]}]
        doc = self.assertANResponse(self.an(req(msgs, tools=[TOOL])))
        self.assertEqual(doc["content"][0]["text"], "tool said: stored 17")

    def test_thinking_signature_round_trip(self):
        self.default({"thinking": "I should call record_x.",
                      "tool_calls": [{"name": "record_x",
                                      "arguments": {"v": 2}}]})
        msgs = [user("go")]
        doc = self.assertANResponse(self.an(req(msgs, tools=[TOOL],
                                                thinking=THINK)))
        self.assertEqual([b["type"] for b in doc["content"]],
                         ["thinking", "tool_use"])
        sig = doc["content"][0]["signature"]
        self.assertTrue(sig)
        use_id = doc["content"][1]["id"]
        follow = msgs + [
            {"role": "assistant", "content": doc["content"]},
            {"role": "user", "content": [{"type": "tool_result",
                                          "tool_use_id": use_id,
                                          "content": "ok"}]}]
        self.assertANResponse(self.an(req(follow, tools=[TOOL],
                                          thinking=THINK)))
        # modified signature
        bad = copy.deepcopy(follow)
        bad[1]["content"][0]["signature"] = sig[:-4] + "AAA="
        self.assertANError(self.an(req(bad, tools=[TOOL], thinking=THINK)),
                           400, "invalid_request_error",
                           "messages.1.content.0: Invalid `signature` in "
                           "`thinking` block")
        # modified thinking text, signature kept
        bad = copy.deepcopy(follow)
        bad[1]["content"][0]["thinking"] += " (edited)"
        self.assertANError(self.an(req(bad, tools=[TOOL], thinking=THINK)),
                           400, "invalid_request_error",
                           "Invalid `signature`")
        # missing signature
        bad = copy.deepcopy(follow)
        del bad[1]["content"][0]["signature"]
        self.assertANError(self.an(req(bad, tools=[TOOL], thinking=THINK)),
                           400, "invalid_request_error",
                           "messages.1.content.0.thinking.signature: "
                           "Field required")
        # thinking block dropped from a tool-use turn while thinking is on
        bad = copy.deepcopy(follow)
        del bad[1]["content"][0]
        self.assertANError(self.an(req(bad, tools=[TOOL], thinking=THINK)),
                           400, "invalid_request_error",
                           "messages.1.content.0.type: Expected `thinking` "
                           "or `redacted_thinking`, but found `tool_use`")
        # thinking blocks are only emitted when thinking is enabled
        doc = self.assertANResponse(self.an(req(msgs, tools=[TOOL])))
        self.assertEqual([b["type"] for b in doc["content"]], ["tool_use"])

    def test_redacted_thinking_round_trip(self):
        self.default({"thinking": "t", "redacted_thinking": True,
                      "text": "answer"})
        msgs = [user("go")]
        doc = self.assertANResponse(self.an(req(msgs, thinking=THINK)))
        self.assertEqual([b["type"] for b in doc["content"]],
                         ["thinking", "redacted_thinking", "text"])
        follow = msgs + [{"role": "assistant", "content": doc["content"]},
                         user("more")]
        self.assertANResponse(self.an(req(follow, thinking=THINK)))
        bad = copy.deepcopy(follow)
        bad[1]["content"][1]["data"] = "UEFSMQ" + "A" * 80
        self.assertANError(self.an(req(bad, thinking=THINK)), 400,
                           "invalid_request_error",
                           "messages.1.content.1: Invalid `data` in "
                           "`redacted_thinking` block")

    def test_interleaved_beta_allows_budget_over_max_tokens(self):
        self.default({"text": "ok"})
        body = req([user("x")], max_tokens=1500,
                   thinking={"type": "enabled", "budget_tokens": 4000})
        r = self.an(body)
        self.assertANError(r, 400, "invalid_request_error",
                           "`max_tokens` must be greater than "
                           "`thinking.budget_tokens`")
        r = self.an(body, headers=an_headers(
            beta="interleaved-thinking-2025-05-14"))
        self.assertANResponse(r)

    def test_stream_reassembles_to_same_content(self):
        self.default({"thinking": "deliberating " * 10,
                      "text": "Answer with ünïcödé ✓ " * 4,
                      "tool_calls": [{"name": "record_x", "id": "toolu_s1",
                                      "arguments": {"v": 3, "s": "x" * 90}}]})
        body = req([user("go")], tools=[TOOL], thinking=THINK)
        plain = self.assertANResponse(self.an(body))
        r = self.an(dict(body, stream=True))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith(
            "text/event-stream"))
        got, names = an_collect(r.body)
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[1:3], ["content_block_start", "ping"])
        self.assertEqual(names[-2:], ["message_delta", "message_stop"])
        self.assertEqual(got["content"], plain["content"])
        self.assertEqual(got["stop_reason"], "tool_use")
        self.assertEqual(got["usage"]["output_tokens"],
                         plain["usage"]["output_tokens"])
        # the streamed thinking block's signature is accepted on follow-up
        follow = body["messages"] + [
            {"role": "assistant", "content": got["content"]},
            {"role": "user", "content": [{"type": "tool_result",
                                          "tool_use_id": "toolu_s1",
                                          "content": "ok"}]}]
        self.assertANResponse(self.an(dict(body, messages=follow)))

    def test_stop_override_and_refusal(self):
        self.scenario({"rules": [{"match": {}, "responses": [
            {"refusal": "I won't."},
            {"text": "cut", "stop": "max_tokens"},
            {"text": "paused", "stop": "pause_turn"}]}]})
        doc = self.assertANResponse(self.an(req([user("x")])))
        self.assertEqual(doc["stop_reason"], "refusal")
        self.assertEqual(doc["content"][0]["text"], "I won't.")
        doc = self.assertANResponse(self.an(req([user("x")])))
        self.assertEqual(doc["stop_reason"], "max_tokens")
        doc = self.assertANResponse(self.an(req([user("x")])))
        self.assertEqual(doc["stop_reason"], "pause_turn")


class AnthropicRejected(ServerTest):

    def setUp(self):
        super().setUp()
        self.default({"text": "should not be served"})

    def test_headers(self):
        body = req([user("x")])
        h = an_headers()
        del h["x-api-key"]
        self.assertANError(self.an(body, headers=h), 401,
                           "authentication_error",
                           "x-api-key header is required")
        self.assertANError(self.an(body, headers=an_headers(key="nope")), 401,
                           "authentication_error", "invalid x-api-key")
        h = an_headers()
        del h["anthropic-version"]
        self.assertANError(self.an(body, headers=h), 400,
                           "invalid_request_error",
                           "anthropic-version: header is required")
        self.assertANError(self.an(body, headers=an_headers(
            version="2024-13-01")), 400, "invalid_request_error",
            "is not a valid version")
        self.assertANResponse(self.an(body, headers=an_headers(
            version="2023-01-01")))

    def test_required_fields_and_extra_inputs(self):
        for field in ("model", "messages", "max_tokens"):
            body = req([user("x")])
            del body[field]
            self.assertANError(self.an(body), 400, "invalid_request_error",
                               "%s: Field required" % field)
        self.assertANError(self.an(req([user("x")], foo=1)), 400,
                           "invalid_request_error",
                           "foo: Extra inputs are not permitted")
        msgs = [user("x"), {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "s",
             "cache_control": {"type": "ephemeral"}}]}]
        self.assertANError(self.an(req(msgs)), 400, "invalid_request_error",
                           "messages.1.content.0.thinking.cache_control: "
                           "Extra inputs are not permitted")
        self.assertANError(self.an(req([user("x")], max_tokens=-1)), 400,
                           "invalid_request_error",
                           "max_tokens: Input should be greater than or "
                           "equal to 0")
        self.assertANError(self.an(req([{"role": "user", "content": [
            {"type": "txt", "text": "x"}]}])), 400, "invalid_request_error",
            "messages.0.content.0: Input tag 'txt' found using 'type'")
        self.assertANError(self.an(b"{oops"), 400, "invalid_request_error",
                           "valid JSON")

    def test_tool_definitions(self):
        bad = dict(TOOL, name="bad name")
        self.assertANError(self.an(req([user("x")], tools=[bad])), 400,
                           "invalid_request_error",
                           "tools.0.custom.name: String should match pattern")
        self.assertANError(self.an(req([user("x")], tools=[TOOL, TOOL])),
                           400, "invalid_request_error",
                           "Tool names must be unique")
        self.assertANError(self.an(req([user("x")], tools=[TOOL],
                                       tool_choice={"type": "tool",
                                                    "name": "other"})),
                           400, "invalid_request_error",
                           "Tool 'other' not found")

    def test_tool_use_without_tool_result(self):
        msgs = tool_turns()
        msgs[2] = user("no result here")
        self.assertANError(self.an(req(msgs, tools=[TOOL])), 400,
                           "invalid_request_error",
                           "messages.1: `tool_use` ids were found without "
                           "`tool_result` blocks immediately after: toolu_1")

    def test_tool_result_without_tool_use(self):
        msgs = tool_turns()
        msgs[2]["content"][0]["tool_use_id"] = "toolu_other"
        self.assertANError(self.an(req(msgs, tools=[TOOL])), 400,
                           "invalid_request_error",
                           "unexpected `tool_use_id` found in `tool_result` "
                           "blocks: toolu_other")

    def test_tool_result_must_come_first(self):
        msgs = tool_turns()
        msgs[2]["content"].insert(0, {"type": "text", "text": "here:"})
        self.assertANError(self.an(req(msgs, tools=[TOOL])), 400,
                           "invalid_request_error",
                           "messages.2.content.1: tool_result_order")

    def test_thinking_rules(self):
        body = req([user("x")], thinking={"type": "enabled",
                                          "budget_tokens": 512})
        self.assertANError(self.an(body), 400, "invalid_request_error",
                           "thinking.enabled.budget_tokens: Input should be "
                           "greater than or equal to 1024")
        body = req([user("x")], max_tokens=1024, thinking=THINK)
        self.assertANError(self.an(body), 400, "invalid_request_error",
                           "`max_tokens` must be greater than "
                           "`thinking.budget_tokens`")
        for choice in ({"type": "any"}, {"type": "tool", "name": "record_x"}):
            body = req([user("x")], thinking=THINK, tools=[TOOL],
                       tool_choice=choice)
            self.assertANError(self.an(body), 400, "invalid_request_error",
                               "Thinking may not be enabled when tool_choice "
                               "forces tool use.")
        body = req([user("x")], thinking=THINK, temperature=0.5)
        self.assertANError(self.an(body), 400, "invalid_request_error",
                           "`temperature` may only be set to 1 when thinking "
                           "is enabled")
        self.assertANResponse(self.an(req([user("x")], thinking=THINK,
                                          temperature=1)))
        # a tool-use assistant turn without a thinking block, thinking on
        self.assertANError(self.an(req(tool_turns(), tools=[TOOL],
                                       thinking=THINK)), 400,
                           "invalid_request_error",
                           "Expected `thinking` or `redacted_thinking`, but "
                           "found `text`")

    def test_empty_and_whitespace_content(self):
        self.assertANError(self.an(req([user("x"), {"role": "assistant",
                                                    "content": []},
                                        user("y")])), 400,
                           "invalid_request_error",
                           "messages.1: all messages must have non-empty "
                           "content")
        self.assertANError(self.an(req([{"role": "user", "content": [
            {"type": "text", "text": "  \n"}]}])), 400,
            "invalid_request_error",
            "text content blocks must contain non-whitespace text")
        self.assertANError(self.an(req([user("x"), {
            "role": "assistant", "content": "prefill "}])), 400,
            "invalid_request_error",
            "final assistant content cannot end with trailing whitespace")
        # an empty final assistant turn (prefill) is fine
        self.assertANResponse(self.an(req([user("x"), {
            "role": "assistant", "content": "prefill"}])))
