"""Anthropic Messages wire format: request checks (schema plus the rules in
schemas/anthropic/README.md), responses, errors and server-sent events for
POST /v1/messages."""

import datetime
import json

from common import (WireError, dumps, dumps_bytes, estimate_tokens,
                    first_error, pytype_name, rand_id, chunks, validator)

REQ_SCHEMA = "anthropic/MessagesRequest.schema.json"
VERSIONS = ("2023-06-01", "2023-01-01")
INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"
DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"

_PYD_TYPE = {"string": "string", "integer": "integer", "object": "dictionary",
             "array": "list", "boolean": "boolean", "number": "number"}
_TAGGED_KEYS = ("thinking", "tool_choice", "source")


def _path(instance, parts, tag_last=True):
    """Dotted error path naming union members like the API does:
    messages.1.content.0.thinking.cache_control, tools.0.custom.name,
    thinking.enabled.budget_tokens."""
    out = []
    cur = instance
    parent = None
    for n, seg in enumerate(parts):
        out.append(str(seg))
        try:
            cur = cur[seg]
        except (KeyError, IndexError, TypeError):
            cur = None
        last = n == len(parts) - 1
        if isinstance(cur, dict) and (tag_last or not last) and (
                isinstance(seg, int) or seg in _TAGGED_KEYS):
            tag = cur.get("type")
            if isinstance(tag, str):
                out.append(tag)
            elif parent == "tools":
                out.append("custom")
        parent = seg
    return ".".join(out)


def _quote_list(vals):
    vals = ["'%s'" % v if isinstance(v, str) else json.dumps(v) for v in vals]
    if len(vals) <= 1:
        return "".join(vals)
    return ", ".join(vals[:-1]) + " or " + vals[-1]


def _schema_error(body, err):
    path = list(err.absolute_path)
    v = err.validator
    inst = err.instance
    if v == "additionalProperties":
        known = set((err.schema.get("properties") or {}))
        extra = [k for k in inst if k not in known]
        return WireError(400, "%s: Extra inputs are not permitted"
                         % _path(body, path + extra[:1]))
    if v == "required":
        missing = [r for r in err.validator_value if r not in inst]
        return WireError(400, "%s: Field required"
                         % _path(body, path + missing[:1]))
    p = _path(body, path)
    if v == "type":
        want = err.validator_value
        want = [w for w in (want if isinstance(want, list) else [want])
                if w != "null"]
        msg = "Input should be a valid %s" % _PYD_TYPE.get(want[0], want[0])
    elif v in ("enum", "const"):
        vals = err.validator_value if v == "enum" else [err.validator_value]
        if path and path[-1] == "type" and len(vals) > 1:
            # a bad union tag: the API names the union, not its member
            p = _path(body, path[:-1], tag_last=False)
            msg = ("Input tag '%s' found using 'type' does not match any of "
                   "the expected tags: %s" % (inst, ", ".join(
                       "'%s'" % x for x in vals if x is not None)))
        else:
            msg = "Input should be %s" % _quote_list(vals)
    elif v == "pattern":
        msg = "String should match pattern '%s'" % err.validator_value
    elif v == "minimum":
        msg = "Input should be greater than or equal to %s" % \
            err.validator_value
    elif v == "maximum":
        msg = "Input should be less than or equal to %s" % err.validator_value
    elif v == "minItems":
        msg = "List should have at least %d item%s after validation, not %d" \
            % (err.validator_value, "" if err.validator_value == 1 else "s",
               len(inst))
    elif v == "maxItems":
        msg = "List should have at most %d items after validation, not %d" % (
            err.validator_value, len(inst))
    elif v == "minLength":
        msg = "String should have at least %d character%s" % (
            err.validator_value, "" if err.validator_value == 1 else "s")
    else:
        msg = err.message
    return WireError(400, "%s: %s" % (p or "body", msg))


def _blocks(content):
    """A message's content as a list of blocks (string -> one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


class View:
    def __init__(self, body):
        self.body = body
        self.msgs = body.get("messages") or []

    def last_user_text(self):
        for m in reversed(self.msgs):
            if m.get("role") != "user":
                continue
            texts = [b.get("text", "") for b in _blocks(m.get("content"))
                     if b.get("type") == "text"]
            if texts:
                return "".join(texts)
        return None

    def last_tool_result(self):
        for m in reversed(self.msgs):
            c = m.get("content")
            if not isinstance(c, list):
                continue
            for b in reversed(c):
                if b.get("type") == "tool_result":
                    rc = b.get("content")
                    if isinstance(rc, str):
                        return rc
                    return "".join(x.get("text", "") for x in rc or []
                                   if x.get("type") == "text")
        return None

    def system_text(self):
        s = self.body.get("system")
        if isinstance(s, list):
            return "".join(b.get("text", "") for b in s)
        return s or ""

    def tool_names(self):
        return tool_names(self.body)

    def message_count(self):
        return len(self.msgs)


def _result_text(content):
    if isinstance(content, str):
        return content
    return "".join(x.get("text", "") for x in content or []
                   if isinstance(x, dict) and x.get("type") == "text")


def neutral_view(body):
    """The provider-neutral view of a request that responders read (see
    responders.py). A user turn's tool_result blocks become a "tool"
    message (before a "user" message with the turn's text, if any), so the
    view is the same as for the OpenAI request of the same conversation."""
    names, messages = {}, []
    for m in body.get("messages") or []:
        blocks = _blocks(m.get("content")) or []
        text = "".join(b.get("text", "") for b in blocks
                       if b.get("type") == "text")
        if m.get("role") == "assistant":
            calls = []
            for b in blocks:
                if b.get("type") == "tool_use":
                    calls.append({"id": b.get("id"), "name": b.get("name"),
                                  "arguments": b.get("input")})
                    names[b.get("id")] = b.get("name")
            messages.append({"role": "assistant", "text": text,
                             "tool_calls": calls, "tool_results": []})
            continue
        results = [{"id": b.get("tool_use_id"),
                    "name": names.get(b.get("tool_use_id")),
                    "content": _result_text(b.get("content")),
                    "is_error": bool(b.get("is_error"))}
                   for b in blocks if b.get("type") == "tool_result"]
        if results:
            if messages and messages[-1]["role"] == "tool":
                messages[-1]["tool_results"].extend(results)
            else:
                messages.append({"role": "tool", "text": "", "tool_calls": [],
                                 "tool_results": results})
        if text or not results:
            messages.append({"role": "user", "text": text, "tool_calls": [],
                             "tool_results": []})
    tools = []
    for t in body.get("tools") or []:
        if isinstance(t, dict) and isinstance(t.get("name"), str):
            tools.append({"name": t["name"],
                          "description": t.get("description") or "",
                          "parameters": t.get("input_schema") or
                          {"type": "object", "properties": {}}})
    return {"provider": "anthropic", "model": body.get("model"),
            "system": View(body).system_text(), "messages": messages,
            "tools": tools}


def tool_names(body):
    tools = body.get("tools") if isinstance(body, dict) else None
    return [t["name"] for t in tools or []
            if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _thinking_on(body):
    t = body.get("thinking")
    return isinstance(t, dict) and t.get("type") in ("enabled", "adaptive")


class AnthropicWire:
    name = "anthropic"

    def __init__(self, api_key, signer):
        self.api_key = api_key
        self.signer = signer
        validator(REQ_SCHEMA)

    # -- errors ---------------------------------------------------------

    def _ratelimit_headers(self, exhausted, retry_after):
        reset = datetime.datetime.now(datetime.timezone.utc) + \
            datetime.timedelta(seconds=retry_after or 0)
        reset = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
        h = {}
        for kind, limit in (("requests", 4000), ("tokens", 400000),
                            ("input-tokens", 200000),
                            ("output-tokens", 80000)):
            pre = "anthropic-ratelimit-%s-" % kind
            h[pre + "limit"] = str(limit)
            h[pre + "remaining"] = "0" if exhausted else str(limit - 1)
            h[pre + "reset"] = reset
        return h

    def error_response(self, err):
        rid = "req_011C" + rand_id(20)
        body = {"type": "error",
                "error": {"type": err.etype or _etype(err.status),
                          "message": err.message},
                "request_id": rid}
        headers = {"request-id": rid}
        headers.update(err.headers)
        return err.status, headers, dumps_bytes(body)

    def status_fault(self, spec):
        status = spec["status"]
        ra = spec.get("retry_after")
        headers = {}
        if status == 429:
            msg = ("Number of request tokens has exceeded your per-minute "
                   "rate limit (https://docs.claude.com/en/api/rate-limits); "
                   "see the response headers for current usage. Please "
                   "reduce the prompt length or the maximum tokens "
                   "requested, or try again later.")
            headers.update(self._ratelimit_headers(True, ra or 1))
        elif status == 529:
            msg = "Overloaded"
        elif status >= 500:
            msg = "Internal server error"
        elif status == 401:
            msg = "invalid x-api-key"
        else:
            msg = "Invalid request"
        if ra is not None:
            headers["retry-after"] = str(ra)
        if spec.get("retry_after_ms") is not None:
            headers["retry-after-ms"] = str(spec["retry_after_ms"])
        return self.error_response(WireError(
            status, spec.get("message", msg), etype=spec.get("error_type"),
            headers=headers))

    def not_found(self, method, path):
        return self.error_response(WireError(404, "Not Found"))

    # -- request checks ---------------------------------------------------

    def authenticate(self, headers):
        key = headers.get("x-api-key")
        if not key:
            raise WireError(401, "x-api-key header is required")
        if key != self.api_key:
            raise WireError(401, "invalid x-api-key")
        ver = headers.get("anthropic-version")
        if not ver:
            raise WireError(400, "anthropic-version: header is required")
        if ver not in VERSIONS:
            raise WireError(400, "anthropic-version: \"%s\" is not a valid "
                            "version" % ver)

    def parse_and_validate(self, raw, headers):
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise WireError(400, "There was an error parsing the body of "
                            "your request, please check that it is valid "
                            "JSON: %s" % e)
        if not isinstance(body, dict):
            raise WireError(400, "body: Input should be a valid dictionary, "
                            "got %s" % pytype_name(body))
        betas = [b.strip() for b in
                 headers.get("anthropic-beta", "").split(",") if b.strip()]
        self.validate(body, betas)
        return body

    def validate(self, body, betas=()):
        err = first_error(validator(REQ_SCHEMA), body)
        if err is not None:
            raise _schema_error(body, err)
        self._check_thinking_config(body, betas)
        self._check_tools(body)
        self._check_content(body["messages"])
        self._check_turns(body)

    def _check_thinking_config(self, body, betas):
        if not _thinking_on(body):
            return
        t = body["thinking"]
        if t["type"] == "enabled" and INTERLEAVED_BETA not in betas and \
                body["max_tokens"] <= t["budget_tokens"]:
            raise WireError(400, "`max_tokens` must be greater than "
                            "`thinking.budget_tokens`. Please consult our "
                            "documentation at %s#max-tokens-and-context-"
                            "window-size" % DOCS)
        tc = body.get("tool_choice")
        if isinstance(tc, dict) and tc.get("type") in ("any", "tool"):
            raise WireError(400, "Thinking may not be enabled when "
                            "tool_choice forces tool use.")
        if "temperature" in body and body["temperature"] != 1:
            raise WireError(400, "`temperature` may only be set to 1 when "
                            "thinking is enabled. Please consult our "
                            "documentation at %s#feature-compatibility"
                            % DOCS)
        if "top_k" in body:
            raise WireError(400, "`top_k` must be unset when thinking is "
                            "enabled. Please consult our documentation at "
                            "%s#feature-compatibility" % DOCS)
        if "top_p" in body and body["top_p"] < 0.95:
            raise WireError(400, "`top_p` must be greater than or equal to "
                            "0.95 or unset when thinking is enabled. Please "
                            "consult our documentation at "
                            "%s#feature-compatibility" % DOCS)

    def _check_tools(self, body):
        names = tool_names(body)
        seen = set()
        for n in names:
            if n in seen:
                raise WireError(400, "tools: Tool names must be unique.")
            seen.add(n)
        tc = body.get("tool_choice")
        if tc is not None and not body.get("tools") and \
                tc.get("type") != "none":
            raise WireError(400, "tool_choice: tool_choice may only be "
                            "specified while providing tools.")
        if isinstance(tc, dict) and tc.get("type") == "tool" and \
                tc["name"] not in names:
            raise WireError(400, "tool_choice.tool.name: Tool '%s' not found "
                            "in provided tools" % tc["name"])

    def _check_content(self, msgs):
        last = len(msgs) - 1
        for i, m in enumerate(msgs):
            final_asst = i == last and m["role"] == "assistant"
            c = m["content"]
            if (c == "" or c == []) and not final_asst:
                raise WireError(400, "messages.%d: all messages must have "
                                "non-empty content except for the optional "
                                "final assistant message" % i)
            blocks = _blocks(c)
            for j, b in enumerate(blocks):
                where = "messages.%d.content.%d" % (i, j) \
                    if isinstance(c, list) else "messages.%d.content" % i
                if b["type"] == "text":
                    if final_asst and j == len(blocks) - 1 and \
                            b["text"] != b["text"].rstrip():
                        raise WireError(400, "messages: final assistant "
                                        "content cannot end with trailing "
                                        "whitespace")
                    if b["text"] == "" and not (final_asst and
                                                isinstance(c, str)):
                        raise WireError(400, "%s.text: text content blocks "
                                        "must be non-empty" % where)
                    if b["text"] and not b["text"].strip():
                        raise WireError(400, "%s.text: text content blocks "
                                        "must contain non-whitespace text"
                                        % where)
                elif b["type"] == "thinking":
                    if not self.signer.verify_thinking(b["thinking"],
                                                       b["signature"]):
                        raise WireError(400, "%s: Invalid `signature` in "
                                        "`thinking` block" % where)
                elif b["type"] == "redacted_thinking":
                    if not self.signer.verify_redacted(b["data"]):
                        raise WireError(400, "%s: Invalid `data` in "
                                        "`redacted_thinking` block" % where)

    def _check_turns(self, body):
        msgs = body["messages"]
        # consecutive same-role messages form one turn
        turns = []
        for i, m in enumerate(msgs):
            blocks = [(i, j, b) for j, b in enumerate(_blocks(m["content"]))]
            if turns and turns[-1]["role"] == m["role"]:
                turns[-1]["blocks"].extend(blocks)
            else:
                turns.append({"role": m["role"], "first": i,
                              "blocks": blocks})
        for turn in turns:
            turn["uses"] = [(i, j, b) for i, j, b in turn["blocks"]
                            if b["type"] == "tool_use"]
        seen_ids = set()
        for turn in turns:
            for i, j, b in turn["uses"]:
                if b["id"] in seen_ids:
                    raise WireError(400, "messages.%d.content.%d: `tool_use` "
                                    "ids must be unique" % (i, j))
                seen_ids.add(b["id"])
        if _thinking_on(body):
            for turn in turns:
                i0, j0, b0 = turn["blocks"][0] if turn["blocks"] else \
                    (turn["first"], 0, {"type": "nothing"})
                if turn["role"] == "assistant" and turn["uses"] and \
                        b0["type"] not in ("thinking", "redacted_thinking"):
                    raise WireError(
                        400, "messages.%d.content.%d.type: Expected "
                        "`thinking` or `redacted_thinking`, but found `%s`. "
                        "When `thinking` is enabled, a final `assistant` "
                        "message must start with a thinking block "
                        "(preceeding the lastmost set of `tool_use` and "
                        "`tool_result` blocks). We recommend you include "
                        "thinking blocks from previous turns. To avoid this "
                        "requirement, disable `thinking`. Please consult our "
                        "documentation at %s" % (i0, j0, b0["type"], DOCS))
        for t, turn in enumerate(turns):
            if turn["role"] != "user":
                continue
            other = None
            for i, j, b in turn["blocks"]:
                if b["type"] != "tool_result":
                    if other is None:
                        other = (i, j)
                elif other is not None:
                    raise WireError(
                        400, "messages.%d.content.%d: tool_result_order: "
                        "`tool_result` blocks must come first in a user "
                        "turn, before any other content (found after "
                        "messages.%d.content.%d)" % ((i, j) + other))
            prev = turns[t - 1] if t > 0 else None
            ids = {b["id"] for _, _, b in prev["uses"]} \
                if prev is not None and prev["role"] == "assistant" else set()
            for i, j, b in turn["blocks"]:
                if b["type"] == "tool_result" and \
                        b["tool_use_id"] not in ids:
                    raise WireError(
                        400, "messages.%d.content.%d: unexpected "
                        "`tool_use_id` found in `tool_result` blocks: %s. "
                        "Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous "
                        "message." % (i, j, b["tool_use_id"]))
        for t, turn in enumerate(turns):
            if turn["role"] != "assistant" or not turn["uses"]:
                continue
            nxt = turns[t + 1] if t + 1 < len(turns) else None
            answered = set()
            if nxt is not None and nxt["role"] == "user":
                for _, _, b in nxt["blocks"]:
                    if b["type"] != "tool_result":
                        break
                    answered.add(b["tool_use_id"])
            missing = [b["id"] for _, _, b in turn["uses"]
                       if b["id"] not in answered]
            if missing:
                raise WireError(
                    400, "messages.%d: `tool_use` ids were found without "
                    "`tool_result` blocks immediately after: %s. Each "
                    "`tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                    % (turn["uses"][0][0], ", ".join(missing)))

    # -- responses ----------------------------------------------------------

    def view(self, body):
        return View(body)

    def neutral_view(self, body):
        return neutral_view(body)

    def tool_names(self, body):
        return tool_names(body)

    def success_headers(self):
        h = self._ratelimit_headers(False, 1)
        h["request-id"] = "req_011C" + rand_id(20)
        return h

    def _content(self, turn, body):
        if body.get("max_tokens") == 0:
            return []
        out = []
        if _thinking_on(body):
            if turn["thinking"] is not None:
                out.append({"type": "thinking", "thinking": turn["thinking"],
                            "signature":
                            self.signer.sign_thinking(turn["thinking"])})
            if turn["redacted"]:
                out.append({"type": "redacted_thinking",
                            "data": self.signer.new_redacted()})
        if turn["text"]:
            out.append({"type": "text", "text": turn["text"],
                        "citations": None})
        if turn["refusal"]:
            out.append({"type": "text", "text": turn["refusal"],
                        "citations": None})
        for c in turn["tool_calls"]:
            args = c["arguments"]
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    pass    # deliberately malformed: passed through raw
            out.append({"type": "tool_use",
                        "id": c.get("id") or "toolu_01" + rand_id(22),
                        "name": c["name"], "input": args})
        return out

    def _stop(self, turn, body):
        if turn["stop"]:
            return turn["stop"]
        if body.get("max_tokens") == 0:
            return "max_tokens"
        if turn["tool_calls"]:
            return "tool_use"
        if turn["refusal"]:
            return "refusal"
        return "end_turn"

    def _usage(self, turn, content, raw_len):
        u = turn["usage"]
        out_tokens = u.get("output_tokens")
        if out_tokens is None:
            text = ""
            for b in content:
                text += b.get("text", "") + b.get("thinking", "")
                if b["type"] == "tool_use":
                    text += b["name"] + dumps(b["input"])
                if b["type"] == "redacted_thinking":
                    text += "x" * 64
            out_tokens = estimate_tokens(text)
        inp = u.get("input_tokens")
        return {"input_tokens": inp if inp is not None else
                max(1, raw_len // 4),
                "output_tokens": out_tokens,
                "cache_creation_input_tokens":
                u.get("cache_creation_tokens", 0),
                "cache_read_input_tokens": u.get("cached_tokens", 0),
                "service_tier": "standard"}

    def render(self, turn, body, raw_len):
        content = self._content(turn, body)
        return {"id": "msg_01" + rand_id(22), "type": "message",
                "role": "assistant", "model": body.get("model"),
                "content": content, "stop_reason": self._stop(turn, body),
                "stop_sequence": None,
                "usage": self._usage(turn, content, raw_len)}

    def stream_events(self, turn, body, raw_len):
        msg = self.render(turn, body, raw_len)
        usage = msg["usage"]

        def ev(name, data):
            return ("event: %s\ndata: " % name).encode() + \
                dumps_bytes(data) + b"\n\n"

        start = dict(msg, content=[], stop_reason=None)
        start["usage"] = dict(usage, output_tokens=1)
        events = [ev("message_start", {"type": "message_start",
                                       "message": start})]
        for idx, b in enumerate(msg["content"]):
            def delta(d):
                return ev("content_block_delta", {
                    "type": "content_block_delta", "index": idx, "delta": d})
            if b["type"] == "thinking":
                head = {"type": "thinking", "thinking": "", "signature": ""}
            elif b["type"] == "text":
                head = {"type": "text", "text": "", "citations": None}
            elif b["type"] == "tool_use":
                head = {"type": "tool_use", "id": b["id"], "name": b["name"],
                        "input": {}}
            else:
                head = b
            events.append(ev("content_block_start", {
                "type": "content_block_start", "index": idx,
                "content_block": head}))
            if idx == 0:
                events.append(ev("ping", {"type": "ping"}))
            if b["type"] == "thinking":
                for piece in chunks(b["thinking"]):
                    events.append(delta({"type": "thinking_delta",
                                         "thinking": piece}))
                events.append(delta({"type": "signature_delta",
                                     "signature": b["signature"]}))
            elif b["type"] == "text":
                for piece in chunks(b["text"]):
                    events.append(delta({"type": "text_delta",
                                         "text": piece}))
            elif b["type"] == "tool_use":
                raw = b["input"] if isinstance(b["input"], str) \
                    else dumps(b["input"])
                events.append(delta({"type": "input_json_delta",
                                     "partial_json": ""}))
                for piece in chunks(raw):
                    events.append(delta({"type": "input_json_delta",
                                         "partial_json": piece}))
            events.append(ev("content_block_stop", {
                "type": "content_block_stop", "index": idx}))
        if not msg["content"]:
            events.append(ev("ping", {"type": "ping"}))
        events.append(ev("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": msg["stop_reason"],
                      "stop_sequence": None},
            "usage": {"input_tokens": usage["input_tokens"],
                      "output_tokens": usage["output_tokens"],
                      "cache_creation_input_tokens":
                      usage["cache_creation_input_tokens"],
                      "cache_read_input_tokens":
                      usage["cache_read_input_tokens"]}}))
        events.append(ev("message_stop", {"type": "message_stop"}))
        return events

    def stream_error_event(self):
        return b"event: error\ndata: " + dumps_bytes({
            "type": "error", "error": {"type": "overloaded_error",
                                       "message": "Overloaded"},
            "request_id": "req_011C" + rand_id(20)}) + b"\n\n"

    def wrong_shape(self, body):
        return {"type": "message", "role": "assistant",
                "content": "this should have been a list of blocks",
                "stop_reason": 42}


def _etype(status):
    return {400: "invalid_request_error", 401: "authentication_error",
            403: "permission_error", 404: "not_found_error",
            413: "request_too_large", 429: "rate_limit_error",
            504: "timeout_error",
            529: "overloaded_error"}.get(status, "api_error"
                                         if status >= 500 else
                                         "invalid_request_error")
