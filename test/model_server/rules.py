"""Scenario rules: which scripted response answers a request.

A scenario is {"rules": [{"match": {...}, "responses": [...],
"repeat_last": bool}], "default": spec | null}. The first rule whose match
holds and that still has a response (or repeats its last) serves the request.
"""

import copy
import json
import threading

from common import string_leaves

MATCH_KEYS = {"provider", "model", "contains", "has_tool", "turn", "stream"}

SPEC_KEYS = {
    # content
    "text", "text_from", "thinking", "redacted_thinking", "tool_calls",
    "refusal", "stop", "usage",
    # timing and HTTP
    "delay_ms", "headers",
    # error statuses
    "status", "retry_after", "retry_after_ms", "message", "error_type",
    # faults
    "fault", "bytes", "after", "stall_ms", "event_delay_ms", "rst",
    # computed by a responder plug-in (server.py --responder FILE.py)
    "respond_with",
}
TOOL_CALL_KEYS = {"name", "arguments", "arguments_from", "id"}
USAGE_KEYS = {"input_tokens", "output_tokens", "cached_tokens",
              "reasoning_tokens", "cache_creation_tokens"}
FAULTS = {"drop", "reset_mid_body", "truncated_json", "non_json",
          "wrong_shape", "hang", "huge", "stall", "end_early", "stream_error"}
STOPS = {"end_turn", "max_tokens", "refusal", "pause_turn", "tool_use",
         "stop_sequence", "model_context_window_exceeded"}
TEXT_FROM = {"last_user_text", "last_tool_result", "system", "tool_names",
             "message_count"}
ARGS_FROM = {"echo_last_tool_result", "last_user_text", "last_user_json"}


def check_spec(spec, where, responders=None):
    """Raise ValueError naming the problem if spec is not a response spec.

    responders: the names of the loaded responders, which "respond_with"
    may name; None when "respond_with" is not allowed at all (in a spec a
    responder returned)."""
    if not isinstance(spec, dict):
        raise ValueError("%s: a response spec must be an object" % where)
    bad = sorted(set(spec) - SPEC_KEYS)
    if bad:
        raise ValueError("%s: unknown response spec key(s): %s"
                         % (where, ", ".join(bad)))
    if "respond_with" in spec:
        name = spec["respond_with"]
        if responders is None:
            raise ValueError("%s.respond_with: not allowed here (a responder "
                             "returns the spec itself)" % where)
        if not isinstance(name, str):
            raise ValueError("%s.respond_with: must be a string" % where)
        if name not in responders:
            raise ValueError(
                "%s.respond_with: unknown responder '%s' (%s)" % (
                    where, name, "loaded: " + ", ".join(sorted(responders))
                    if responders else "no responder is loaded; start the "
                    "server with --responder FILE.py"))
    if "text" in spec and not isinstance(spec["text"], str):
        raise ValueError("%s.text: must be a string" % where)
    if "thinking" in spec and not isinstance(spec["thinking"], str):
        raise ValueError("%s.thinking: must be a string" % where)
    if "refusal" in spec and not isinstance(spec["refusal"], str):
        raise ValueError("%s.refusal: must be a string" % where)
    if "text_from" in spec and spec["text_from"] not in TEXT_FROM:
        raise ValueError("%s.text_from: must be one of %s"
                         % (where, ", ".join(sorted(TEXT_FROM))))
    if "stop" in spec and spec["stop"] not in STOPS:
        raise ValueError("%s.stop: must be one of %s"
                         % (where, ", ".join(sorted(STOPS))))
    if "fault" in spec and spec["fault"] not in FAULTS:
        raise ValueError("%s.fault: must be one of %s"
                         % (where, ", ".join(sorted(FAULTS))))
    if spec.get("fault") == "huge" and not isinstance(spec.get("bytes"), int):
        raise ValueError("%s: fault huge needs an integer 'bytes'" % where)
    if "status" in spec and (not isinstance(spec["status"], int)
                             or not 400 <= spec["status"] <= 599):
        raise ValueError("%s.status: must be an integer 400..599" % where)
    for k in ("delay_ms", "bytes", "after", "stall_ms", "event_delay_ms"):
        if k in spec and spec[k] is not None and (
                not isinstance(spec[k], int) or spec[k] < 0):
            raise ValueError("%s.%s: must be a non-negative integer"
                             % (where, k))
    if "usage" in spec:
        if not isinstance(spec["usage"], dict):
            raise ValueError("%s.usage: must be an object" % where)
        bad = sorted(set(spec["usage"]) - USAGE_KEYS)
        if bad:
            raise ValueError("%s.usage: unknown key(s): %s"
                             % (where, ", ".join(bad)))
    if "headers" in spec and not isinstance(spec["headers"], dict):
        raise ValueError("%s.headers: must be an object" % where)
    calls = spec.get("tool_calls", [])
    if not isinstance(calls, list):
        raise ValueError("%s.tool_calls: must be an array" % where)
    for i, c in enumerate(calls):
        w = "%s.tool_calls[%d]" % (where, i)
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise ValueError("%s: needs a string 'name'" % w)
        bad = sorted(set(c) - TOOL_CALL_KEYS)
        if bad:
            raise ValueError("%s: unknown key(s): %s" % (w, ", ".join(bad)))
        if "arguments_from" in c and c["arguments_from"] not in ARGS_FROM:
            raise ValueError("%s.arguments_from: must be one of %s"
                             % (w, ", ".join(sorted(ARGS_FROM))))
        if "arguments" in c and not isinstance(c["arguments"], (dict, str)):
            raise ValueError("%s.arguments: must be an object (or a raw "
                             "JSON string)" % w)


class Rule:
    def __init__(self, doc, index, responders=()):
        where = "rules[%d]" % index
        if not isinstance(doc, dict):
            raise ValueError("%s: must be an object" % where)
        bad = sorted(set(doc) - {"match", "responses", "repeat_last"})
        if bad:
            raise ValueError("%s: unknown key(s): %s" % (where, ", ".join(bad)))
        self.index = index
        self.match = doc.get("match") or {}
        if not isinstance(self.match, dict):
            raise ValueError("%s.match: must be an object" % where)
        bad = sorted(set(self.match) - MATCH_KEYS)
        if bad:
            raise ValueError("%s.match: unknown key(s): %s (known: %s)"
                             % (where, ", ".join(bad),
                                ", ".join(sorted(MATCH_KEYS))))
        if self.match.get("provider") not in (None, "openai", "anthropic"):
            raise ValueError("%s.match.provider: openai or anthropic" % where)
        turn = self.match.get("turn")
        if turn is not None and not (
                isinstance(turn, int) or (isinstance(turn, list) and all(
                    isinstance(t, int) for t in turn))):
            raise ValueError("%s.match.turn: an integer or a list of them"
                             % where)
        self.responses = doc.get("responses", [])
        if not isinstance(self.responses, list):
            raise ValueError("%s.responses: must be an array" % where)
        for j, s in enumerate(self.responses):
            check_spec(s, "%s.responses[%d]" % (where, j), responders)
        self.repeat_last = bool(doc.get("repeat_last", False))
        self.seen = 0      # requests that reached this rule and matched it
        self.served = 0    # responses handed out

    def keys_hold(self, req):
        m = self.match
        if "provider" in m and m["provider"] != req["provider"]:
            return False
        if "model" in m and m["model"] != req["model"]:
            return False
        if "stream" in m and bool(m["stream"]) != req["stream"]:
            return False
        if "has_tool" in m:
            wanted = m["has_tool"]
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if not all(w in req["tools"] for w in wanted):
                return False
        if "contains" in m:
            wanted = m["contains"]
            wanted = wanted if isinstance(wanted, list) else [wanted]
            for w in wanted:
                if w not in req["raw"] and w not in req["text"]():
                    return False
        return True

    def state(self):
        return {"index": self.index, "match": self.match,
                "responses": len(self.responses),
                "repeat_last": self.repeat_last,
                "seen": self.seen, "served": self.served}


class Scenario:
    def __init__(self, responders=()):
        self.lock = threading.Lock()
        self.rules = []
        self.default = None
        self.responders = frozenset(responders)  # names respond_with may use

    def reset(self):
        with self.lock:
            self.rules = []
            self.default = None

    def install(self, doc):
        """Replace (or with "append": true, extend) the scenario."""
        if not isinstance(doc, dict):
            raise ValueError("scenario must be a JSON object")
        bad = sorted(set(doc) - {"rules", "default", "append"})
        if bad:
            raise ValueError("unknown scenario key(s): %s" % ", ".join(bad))
        rules_doc = doc.get("rules", [])
        if not isinstance(rules_doc, list):
            raise ValueError("rules: must be an array")
        append = bool(doc.get("append", False))
        with self.lock:
            base = len(self.rules) if append else 0
            rules = [Rule(r, base + i, self.responders)
                     for i, r in enumerate(rules_doc)]
            default = doc.get("default")
            if default is not None:
                check_spec(default, "default", self.responders)
            if append:
                self.rules.extend(rules)
                if "default" in doc:
                    self.default = default
            else:
                self.rules = rules
                self.default = default
            return len(self.rules)

    def state(self):
        with self.lock:
            return {"rules": [r.state() for r in self.rules],
                    "default": self.default}

    def select(self, req):
        """req: dict with provider, model, stream, tools (set), raw (str),
        text (callable giving the body's string leaves joined).
        Returns (spec, label) or (None, reason)."""
        with self.lock:
            for rule in self.rules:
                if not rule.keys_hold(req):
                    continue
                rule.seen += 1
                turn = rule.match.get("turn")
                if turn is not None:
                    turns = turn if isinstance(turn, list) else [turn]
                    if rule.seen not in turns:
                        continue
                if rule.served < len(rule.responses):
                    spec = rule.responses[rule.served]
                    rule.served += 1
                    return copy.deepcopy(spec), "rules[%d].responses[%d]" % (
                        rule.index, rule.served - 1)
                if rule.repeat_last and rule.responses:
                    rule.served += 1
                    return copy.deepcopy(rule.responses[-1]), \
                        "rules[%d].responses[%d]" % (
                            rule.index, len(rule.responses) - 1)
            if self.default is not None:
                return copy.deepcopy(self.default), "default"
            return None, ("no scenario rule matched this request and no "
                          "default response is set (%d rule(s) installed)"
                          % len(self.rules))


def request_facts(provider, body, raw_text, tools):
    """The facts rule matching looks at."""
    cache = {}

    def text():
        if "t" not in cache:
            cache["t"] = "\n".join(string_leaves(body, [])) \
                if isinstance(body, (dict, list)) else ""
        return cache["t"]

    model = body.get("model") if isinstance(body, dict) else None
    stream = bool(body.get("stream")) if isinstance(body, dict) else False
    return {"provider": provider, "model": model, "stream": stream,
            "tools": set(tools), "raw": raw_text, "text": text}


# --------------------------------------------------------------------------
# Computed content: text_from / arguments_from, given a provider view with
# last_user_text(), last_tool_result(), system_text(), tool_names(),
# message_count().

def compute_text(spec, view):
    text = spec.get("text", "")
    src = spec.get("text_from")
    if src == "last_user_text":
        text += view.last_user_text() or ""
    elif src == "last_tool_result":
        text += view.last_tool_result() or ""
    elif src == "system":
        text += view.system_text() or ""
    elif src == "tool_names":
        text += ",".join(view.tool_names())
    elif src == "message_count":
        text += str(view.message_count())
    return text


def compute_arguments(call, view):
    """Return a dict, or a raw string when the spec gives a raw string."""
    src = call.get("arguments_from")
    if src is None:
        args = call.get("arguments", {})
        return copy.deepcopy(args)
    if src == "echo_last_tool_result":
        t = view.last_tool_result()
        try:
            v = json.loads(t) if t is not None else None
        except ValueError:
            v = t
        return v if isinstance(v, dict) else {"result": v}
    if src == "last_user_text":
        return {"text": view.last_user_text()}
    if src == "last_user_json":
        t = view.last_user_text() or ""
        try:
            v = json.loads(t)
        except ValueError:
            # find the first {...} in the text
            v = None
            start = t.find("{")
            while start >= 0 and v is None:
                try:
                    v, _ = json.JSONDecoder().raw_decode(t[start:])
                except ValueError:
                    start = t.find("{", start + 1)
        return v if isinstance(v, dict) else {"text": t}
    return {}
