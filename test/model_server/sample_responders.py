"""Responders for the model server's own tests (tests_responders.py); the
shared test server loads this file with --responder."""

import json


def echo_view(view):
    """The view itself, as the text of the answer."""
    return {"text": json.dumps(view, sort_keys=True)}


def tool_loop(view):
    """Call the first offered tool with what the request holds, then, once
    its result is back, answer with the result."""
    last = view["messages"][-1]
    if last["role"] == "tool":
        r = last["tool_results"][0]
        return {"text": "%s said: %s%s" % (r["name"], r["content"],
                                           " (error)" if r["is_error"]
                                           else "")}
    users = [m["text"] for m in view["messages"] if m["role"] == "user"]
    return {"text": "Calling %s." % view["tools"][0]["name"],
            "tool_calls": [{"name": view["tools"][0]["name"],
                            "arguments": {"asked": users[-1],
                                          "turns": len(view["messages"])}}],
            "usage": {"input_tokens": 11, "output_tokens": 5}}


def boom(view):
    raise RuntimeError("kaboom in %s" % view["provider"])


def bad_spec(view):
    return {"tool_calls": [{"arguments": {}}]}


def not_a_dict(view):
    return "just text"


def nested(view):
    return {"respond_with": "echo_view"}


RESPONDERS = {"echo_view": echo_view, "tool_loop": tool_loop, "boom": boom,
              "bad_spec": bad_spec, "not_a_dict": not_a_dict,
              "nested": nested}
