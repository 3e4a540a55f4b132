"""OpenAI Chat Completions wire format: request checks, responses, errors
and server-sent events for POST /v1/chat/completions."""

import json
import re
import time

from common import (WireError, dumps, dumps_bytes, estimate_tokens,
                    first_error, load_schema, pytype_name, rand_id, chunks,
                    validator)

REQ_SCHEMA = "openai/CreateChatCompletionRequest.schema.json"
FUNC_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
FINISH = {"end_turn": "stop", "max_tokens": "length",
          "refusal": "content_filter", "pause_turn": "stop",
          "tool_use": "tool_calls", "stop_sequence": "stop",
          "model_context_window_exceeded": "length"}
FINGERPRINT = "fp_pa_local"

_allowed = None


def allowed_arguments():
    """Every top-level property the request schema names (across allOf)."""
    global _allowed
    if _allowed is None:
        schema = load_schema(REQ_SCHEMA)
        defs = schema["$defs"]

        def props(node):
            out = set(node.get("properties", {}))
            if "$ref" in node:
                out |= props(defs[node["$ref"].rsplit("/", 1)[-1]])
            for branch in node.get("allOf", []):
                out |= props(branch)
            return out
        _allowed = props(schema)
    return _allowed


def _path(parts):
    out = ""
    for p in parts:
        out += "[%d]" % p if isinstance(p, int) else ("." + p if out else p)
    return out or None


_ARTICLE = {"string": "a string", "integer": "an integer", "object": "an object",
            "array": "an array", "boolean": "a boolean", "number": "a number",
            "null": "null"}


def _schema_error(err):
    path = list(err.absolute_path)
    v = err.validator
    inst = err.instance
    if v == "required":
        missing = [r for r in err.validator_value
                   if isinstance(inst, dict) and r not in inst]
        p = _path(path + missing[:1])
        return WireError(400, "Missing required parameter: '%s'." % p,
                         param=p, code="missing_required_parameter")
    p = _path(path)
    if v == "type":
        want = err.validator_value
        want = want if isinstance(want, list) else [want]
        return WireError(
            400, "Invalid type for '%s': expected %s, but got %s instead."
            % (p, " or ".join(_ARTICLE.get(w, w) for w in want),
               _ARTICLE.get(pytype_name(inst), pytype_name(inst))),
            param=p, code="invalid_type")
    if v in ("enum", "const"):
        vals = err.validator_value if v == "enum" else [err.validator_value]
        return WireError(
            400, "Invalid value: %s. Supported values are: %s."
            % (json.dumps(inst), ", ".join(json.dumps(x) for x in vals)),
            param=p, code="invalid_value")
    if v == "minItems" and isinstance(inst, list) and not inst:
        return WireError(
            400, "Invalid '%s': empty array. Expected an array with minimum "
            "length %d, but got an empty array instead."
            % (p, err.validator_value), param=p, code="empty_array")
    if v == "maxLength":
        return WireError(
            400, "Invalid '%s': string too long. Expected a string with "
            "maximum length %d, but got a string with length %d instead."
            % (p, err.validator_value, len(inst)), param=p,
            code="string_above_max_length")
    if v in ("maximum", "minimum"):
        kind = "integer" if isinstance(inst, int) else "decimal"
        word = "above maximum" if v == "maximum" else "below minimum"
        op = "<=" if v == "maximum" else ">="
        return WireError(
            400, "Invalid '%s': %s %s value. Expected a value %s %s, but got "
            "%s instead." % (p, kind, word, op, err.validator_value, inst),
            param=p, code="%s_%s_value" % (kind, word.replace(" ", "_")))
    return WireError(400, "Invalid value for '%s': %s" % (p, err.message),
                     param=p, code="invalid_value")


def _strict_problem(schema, ctx):
    """First reason a strict function schema is not strict-compatible."""
    if not isinstance(schema, dict):
        return None
    t = schema.get("type")
    is_obj = t == "object" or (isinstance(t, list) and "object" in t) \
        or "properties" in schema
    if is_obj:
        if schema.get("additionalProperties", None) is not False:
            return ctx, ("'additionalProperties' is required to be supplied "
                         "and to be false")
        props = schema.get("properties") or {}
        req = schema.get("required")
        if not isinstance(req, list):
            req = []
        missing = [k for k in props if k not in req]
        if missing or ("required" not in schema and props):
            return ctx, ("'required' is required to be supplied and to be an "
                         "array including every key in properties. Missing "
                         "'%s'" % (missing[0] if missing else ""))
        extra = [k for k in req if k not in props]
        if extra:
            return ctx, ("'required' includes '%s', which is not in "
                         "'properties'" % extra[0])
        for k, sub in props.items():
            r = _strict_problem(sub, ctx + ("properties", k))
            if r:
                return r
    if "items" in schema:
        r = _strict_problem(schema["items"], ctx + ("items",))
        if r:
            return r
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            r = _strict_problem(sub, ctx + (key, i))
            if r:
                return r
    for key in ("$defs", "definitions"):
        for k, sub in (schema.get(key) or {}).items():
            r = _strict_problem(sub, ctx + (key, k))
            if r:
                return r
    return None


def _check_strict(schema, what, param):
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise WireError(
            400, "Invalid schema for %s: schema must be a JSON Schema of "
            "'type: \"object\"', got 'type: \"%s\"'."
            % (what, schema.get("type") if isinstance(schema, dict) else None),
            param=param, code="invalid_function_parameters")
    r = _strict_problem(schema, ())
    if r:
        raise WireError(400, "Invalid schema for %s: In context=%r, %s."
                        % (what, r[0], r[1]), param=param,
                        code="invalid_function_parameters")


def _content_text(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return None


class View:
    """What scripted responses may read from a request."""

    def __init__(self, body):
        self.body = body
        self.msgs = body.get("messages") or []

    def _last(self, roles):
        for m in reversed(self.msgs):
            if m.get("role") in roles:
                t = _content_text(m.get("content"))
                if t:
                    return t
        return None

    def last_user_text(self):
        return self._last(("user",))

    def last_tool_result(self):
        for m in reversed(self.msgs):
            if m.get("role") == "tool":
                return _content_text(m.get("content")) or ""
        return None

    def system_text(self):
        return "\n".join(_content_text(m.get("content")) or ""
                         for m in self.msgs
                         if m.get("role") in ("system", "developer"))

    def tool_names(self):
        return tool_names(self.body)

    def message_count(self):
        return len(self.msgs)


def neutral_view(body):
    """The provider-neutral view of a request that responders read (see
    responders.py): system text, messages with text / tool_calls /
    tool_results, tools. Consecutive "tool" messages form one message, as
    an Anthropic user turn of tool_result blocks does."""
    system, messages, names = [], [], {}
    for m in body.get("messages") or []:
        role = m.get("role")
        text = _content_text(m.get("content")) or ""
        if role in ("system", "developer"):
            system.append(text)
            continue
        if role in ("tool", "function"):    # "function": the legacy form
            tid = m.get("tool_call_id")
            result = {"id": tid, "name": names.get(tid, m.get("name")),
                      "content": text, "is_error": False}
            if messages and messages[-1]["role"] == "tool":
                messages[-1]["tool_results"].append(result)
            else:
                messages.append({"role": "tool", "text": "", "tool_calls": [],
                                 "tool_results": [result]})
            continue
        calls = []
        if role == "assistant":
            for c in m.get("tool_calls") or []:
                fn = c.get("function") or {}
                raw = fn.get("arguments")
                try:
                    args = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    args = raw          # not JSON: the raw string
                calls.append({"id": c.get("id"), "name": fn.get("name"),
                              "arguments": args})
                names[c.get("id")] = fn.get("name")
            if not text and m.get("refusal"):
                text = m["refusal"]
        messages.append({"role": "assistant" if role == "assistant"
                         else "user", "text": text, "tool_calls": calls,
                         "tool_results": []})
    tools = []
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            tools.append({"name": fn["name"],
                          "description": fn.get("description") or "",
                          "parameters": fn.get("parameters") or
                          {"type": "object", "properties": {}}})
    return {"provider": "openai", "model": body.get("model"),
            "system": "\n".join(system), "messages": messages,
            "tools": tools}


def tool_names(body):
    out = []
    for t in (body.get("tools") or []) if isinstance(body, dict) else []:
        if isinstance(t, dict) and isinstance(t.get("function"), dict):
            name = t["function"].get("name")
            if isinstance(name, str):
                out.append(name)
    return out


class OpenAIWire:
    name = "openai"

    def __init__(self, api_key):
        self.api_key = api_key
        allowed_arguments()
        validator(REQ_SCHEMA)

    # -- errors ---------------------------------------------------------

    def base_headers(self):
        return {"x-request-id": "req_" + rand_id(32),
                "openai-version": "2020-10-01",
                "openai-processing-ms": "1"}

    def error_response(self, err):
        etype = err.etype or _etype(err.status)
        body = {"error": {"message": err.message, "type": etype,
                          "param": err.param, "code": err.code}}
        headers = self.base_headers()
        headers.update(err.headers)
        return err.status, headers, dumps_bytes(body)

    def status_fault(self, spec):
        status = spec["status"]
        code = None
        headers = {}
        if status == 429:
            msg = ("Rate limit reached for requests in organization "
                   "org-local on requests per min (RPM): Limit 3, Used 3, "
                   "Requested 1. Please try again in %ss. Visit "
                   "https://platform.openai.com/account/rate-limits to learn "
                   "more." % spec.get("retry_after", 1))
            code = "rate_limit_exceeded"
            ra = spec.get("retry_after")
            reset = "%ss" % (ra if ra is not None else 1)
            headers.update({"x-ratelimit-limit-requests": "3",
                            "x-ratelimit-remaining-requests": "0",
                            "x-ratelimit-reset-requests": reset,
                            "x-ratelimit-limit-tokens": "40000",
                            "x-ratelimit-remaining-tokens": "0",
                            "x-ratelimit-reset-tokens": reset})
        elif status == 401:
            msg, code = "Incorrect API key provided.", "invalid_api_key"
        elif status >= 500:
            msg = ("The server had an error while processing your request. "
                   "Sorry about that!") if status == 500 else \
                "The engine is currently overloaded, please try again later."
        else:
            msg = "Invalid request."
        if spec.get("retry_after") is not None:
            headers["retry-after"] = str(spec["retry_after"])
        if spec.get("retry_after_ms") is not None:
            headers["retry-after-ms"] = str(spec["retry_after_ms"])
        return self.error_response(WireError(
            status, spec.get("message", msg), etype=spec.get("error_type"),
            code=code, headers=headers))

    def not_found(self, method, path):
        return self.error_response(WireError(
            404, "Invalid URL (%s %s)" % (method, path)))

    # -- request checks ---------------------------------------------------

    def authenticate(self, headers):
        auth = headers.get("authorization")
        if not auth:
            raise WireError(
                401, "You didn't provide an API key. You need to provide your "
                "API key in an Authorization header using Bearer auth (i.e. "
                "Authorization: Bearer YOUR_KEY), or as the password field "
                "(with blank username) if you're accessing the API from your "
                "browser and are prompted for a username. You can obtain an "
                "API key from https://platform.openai.com/account/api-keys.")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if key.strip() != self.api_key:
            shown = (key[:3] + "*" * 12 + key[-4:]) if len(key) > 8 else key
            raise WireError(
                401, "Incorrect API key provided: %s. You can find your API "
                "key at https://platform.openai.com/account/api-keys." % shown,
                code="invalid_api_key")

    def parse_and_validate(self, raw, headers):
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise WireError(
                400, "We could not parse the JSON body of your request. (HINT: "
                "This likely means you aren't using your HTTP library "
                "correctly. The OpenAI API expects a JSON payload, but what "
                "was sent was not valid JSON. If you have trouble figuring out "
                "how to fix this, please contact us through our help center "
                "at help.openai.com.)")
        if not isinstance(body, dict):
            raise WireError(400, "Invalid type for request body: expected an "
                            "object, but got %s instead." % pytype_name(body),
                            code="invalid_type")
        self.validate(body)
        return body

    def validate(self, body):
        allowed = allowed_arguments()
        for k in body:
            if k not in allowed:
                raise WireError(
                    400, "Unrecognized request argument supplied: %s" % k)
        msgs = body.get("messages")
        if isinstance(msgs, list):
            for i, m in enumerate(msgs):
                if isinstance(m, dict) and "role" in m and \
                        m["role"] not in ROLES:
                    raise WireError(
                        400, "Invalid value: %s. Supported values are: "
                        "'system', 'assistant', 'user', 'function', 'tool', "
                        "and 'developer'." % json.dumps(m["role"]),
                        param="messages[%d].role" % i, code="invalid_value")
        err = first_error(validator(REQ_SCHEMA), body)
        if err is not None:
            raise _schema_error(err)
        self._check_tools(body)
        self._check_pairing(msgs)
        if body.get("stream_options") is not None and not body.get("stream"):
            raise WireError(400, "The 'stream_options' parameter is only "
                            "allowed when 'stream' is enabled.",
                            param="stream_options", code="invalid_value")

    def _check_tools(self, body):
        tools = body.get("tools") or []
        names = []
        for i, t in enumerate(tools):
            if t.get("type") != "function":
                continue
            fn = t["function"]
            name = fn["name"]
            p = "tools[%d].function.name" % i
            if len(name) > 64:
                raise WireError(
                    400, "Invalid '%s': string too long. Expected a string "
                    "with maximum length 64, but got a string with length %d "
                    "instead." % (p, len(name)), param=p,
                    code="string_above_max_length")
            if not FUNC_NAME.match(name):
                raise WireError(
                    400, "Invalid '%s': string does not match pattern. "
                    "Expected a string that matches the pattern "
                    "'^[a-zA-Z0-9_-]+$'." % p, param=p, code="invalid_value")
            if name in names:
                raise WireError(
                    400, "Invalid 'tools': duplicate function name '%s'."
                    % name, param="tools", code="invalid_value")
            names.append(name)
            if fn.get("strict") is True:
                _check_strict(fn.get("parameters", {"type": "object",
                                                    "properties": {},
                                                    "required": [],
                                                    "additionalProperties":
                                                    False}),
                              "function '%s'" % name,
                              "tools[%d].function.parameters" % i)
        rf = body.get("response_format")
        if isinstance(rf, dict) and rf.get("type") == "json_schema":
            js = rf.get("json_schema") or {}
            if js.get("strict") is True:
                _check_strict(js.get("schema"), "response_format '%s'"
                              % js.get("name"), "response_format")
        tc = body.get("tool_choice")
        if tc is not None and not tools:
            raise WireError(400, "Invalid value for 'tool_choice': "
                            "'tool_choice' is only allowed when 'tools' are "
                            "specified.", param="tool_choice",
                            code="invalid_value")
        if body.get("parallel_tool_calls") is not None and not tools:
            raise WireError(400, "Invalid value for 'parallel_tool_calls': "
                            "'parallel_tool_calls' is only allowed when "
                            "'tools' are specified.",
                            param="parallel_tool_calls", code="invalid_value")
        if isinstance(tc, dict) and tc.get("type") == "function":
            name = tc["function"]["name"]
            if name not in names:
                raise WireError(400, "Invalid value for 'tool_choice': "
                                "function '%s' not found in 'tools' "
                                "parameter." % name, param="tool_choice",
                                code="invalid_value")

    def _check_pairing(self, msgs):
        calls = None        # ids of the assistant message being answered
        owner = None        # its index
        answered = set()

        def unanswered():
            missing = [c for c in calls if c not in answered]
            if missing:
                raise WireError(
                    400, "An assistant message with 'tool_calls' must be "
                    "followed by tool messages responding to each "
                    "'tool_call_id'. The following tool_call_ids did not have "
                    "response messages: %s" % ", ".join(missing),
                    param="messages.[%d].role" % owner)

        for i, m in enumerate(msgs):
            role = m.get("role")
            if role == "tool":
                if calls is None:
                    raise WireError(
                        400, "Invalid parameter: messages with role 'tool' "
                        "must be a response to a preceeding message with "
                        "'tool_calls'.", param="messages.[%d].role" % i)
                tid = m.get("tool_call_id")
                if tid not in calls:
                    raise WireError(
                        400, "Invalid parameter: 'tool_call_id' of '%s' not "
                        "found in 'tool_calls' of previous message." % tid,
                        param="messages.[%d].tool_call_id" % i)
                answered.add(tid)
                continue
            if calls is not None:
                unanswered()
            calls, owner, answered = None, None, set()
            if role == "assistant" and m.get("tool_calls") == []:
                raise WireError(
                    400, "Invalid 'messages[%d].tool_calls': empty array. "
                    "Expected an array with minimum length 1, but got an "
                    "empty array instead." % i,
                    param="messages[%d].tool_calls" % i, code="empty_array")
            if role == "assistant" and m.get("tool_calls"):
                calls = [c.get("id") for c in m["tool_calls"]]
                owner = i
        if calls is not None:
            unanswered()

    # -- responses ----------------------------------------------------------

    def view(self, body):
        return View(body)

    def neutral_view(self, body):
        return neutral_view(body)

    def tool_names(self, body):
        return tool_names(body)

    def success_headers(self):
        h = self.base_headers()
        h.update({"x-ratelimit-limit-requests": "10000",
                  "x-ratelimit-remaining-requests": "9999",
                  "x-ratelimit-reset-requests": "6ms"})
        return h

    def _calls(self, turn):
        out = []
        for c in turn["tool_calls"]:
            args = c["arguments"]
            out.append({"id": c.get("id") or "call_" + rand_id(24),
                        "type": "function",
                        "function": {"name": c["name"],
                                     "arguments": args if isinstance(args, str)
                                     else dumps(args)}})
        return out

    def _usage(self, turn, raw_len):
        u = turn["usage"]
        reasoning = u.get("reasoning_tokens")
        if reasoning is None:
            reasoning = estimate_tokens(turn["thinking"] or "") + \
                (16 if turn["redacted"] else 0)
        completion = u.get("output_tokens")
        if completion is None:
            completion = estimate_tokens(
                turn["text"] + (turn["refusal"] or "") +
                "".join(c["arguments"] if isinstance(c["arguments"], str)
                        else dumps(c["arguments"])
                        for c in turn["tool_calls"])) + reasoning
        prompt = u.get("input_tokens")
        if prompt is None:
            prompt = max(1, raw_len // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens":
                                          u.get("cached_tokens", 0),
                                          "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning,
                                              "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def _finish(self, turn):
        if turn["stop"]:
            return FINISH[turn["stop"]]
        if turn["tool_calls"]:
            return "tool_calls"
        return "stop"

    def render(self, turn, body, raw_len):
        calls = self._calls(turn)
        msg = {"role": "assistant",
               "content": turn["text"] if turn["text"] or not (
                   calls or turn["refusal"]) else None,
               "refusal": turn["refusal"], "annotations": []}
        if calls:
            msg["tool_calls"] = calls
        turn["_rendered_calls"] = calls
        return {"id": "chatcmpl-" + rand_id(29), "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model"),
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": self._finish(turn)}],
                "usage": self._usage(turn, raw_len),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT}

    def stream_events(self, turn, body, raw_len):
        cid = "chatcmpl-" + rand_id(29)
        created = int(time.time())
        with_usage = bool((body.get("stream_options") or {})
                          .get("include_usage"))

        def chunk(delta, finish=None, choices=True):
            c = {"id": cid, "object": "chat.completion.chunk",
                 "created": created, "model": body.get("model"),
                 "service_tier": "default", "system_fingerprint": FINGERPRINT,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish}] if choices else []}
            if with_usage:
                c["usage"] = None
            return b"data: " + dumps_bytes(c) + b"\n\n"

        events = [chunk({"role": "assistant", "content": "",
                         "refusal": None})]
        for piece in chunks(turn["text"]):
            events.append(chunk({"content": piece}))
        for piece in chunks(turn["refusal"] or ""):
            events.append(chunk({"refusal": piece}))
        for i, c in enumerate(self._calls(turn)):
            events.append(chunk({"tool_calls": [{
                "index": i, "id": c["id"], "type": "function",
                "function": {"name": c["function"]["name"],
                             "arguments": ""}}]}))
            for piece in chunks(c["function"]["arguments"]):
                events.append(chunk({"tool_calls": [{
                    "index": i, "function": {"arguments": piece}}]}))
        events.append(chunk({}, self._finish(turn)))
        if with_usage:
            last = {"id": cid, "object": "chat.completion.chunk",
                    "created": created, "model": body.get("model"),
                    "service_tier": "default",
                    "system_fingerprint": FINGERPRINT, "choices": [],
                    "usage": self._usage(turn, raw_len)}
            events.append(b"data: " + dumps_bytes(last) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return events

    def stream_error_event(self):
        return b"data: " + dumps_bytes({"error": {
            "message": "The server had an error while processing your "
            "request. Sorry about that!", "type": "server_error",
            "param": None, "code": None}}) + b"\n\n"

    def wrong_shape(self, body):
        return {"object": "list", "data": [{"id": body.get("model"),
                                            "object": "model"}]}


def _etype(status):
    if status == 429:
        return "requests"
    if status >= 500:
        return "server_error"
    if status == 403:
        return "permission_error"
    return "invalid_request_error"
