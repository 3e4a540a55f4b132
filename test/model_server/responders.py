"""Responder plug-ins: Python functions that compute a response spec from
the request, for scenarios a fixed script cannot express (a demo whose
"model" must read the transcript and the tool results).

    server.py --responder FILE.py [--responder OTHER.py ...]

FILE.py is imported (its own directory first on sys.path while it loads)
and must define RESPONDERS = {"name": function}. A response spec
{"respond_with": "name"} calls function(view), where view is the
provider-neutral request built by the wire module (openai_wire.neutral_view,
anthropic_wire.neutral_view):

    {"provider": "openai" | "anthropic", "model": str, "system": str,
     "messages": [{"role": "user" | "assistant" | "tool", "text": str,
                   "tool_calls": [{"id", "name", "arguments": dict}],
                   "tool_results": [{"id", "name", "content": str,
                                     "is_error": bool}]}],
     "tools": [{"name", "description", "parameters"}]}

The function returns an ordinary response spec (text, tool_calls, stop,
usage, even faults), which is merged with the other keys written beside
"respond_with" (those win) and validated like a scripted spec.
"""

import importlib.util
import json
import os
import sys
import threading

_count = 0
_lock = threading.Lock()


class ResponderError(Exception):
    """A responder raised (the exception is in .raised), or returned
    something that is not a valid spec (.raised is None)."""

    def __init__(self, message, raised=None):
        super().__init__(message)
        self.raised = raised


def load(paths):
    """Import each file and return {name: function}. Raises ValueError with
    a message naming the file on any problem (missing file, import error,
    no RESPONDERS, a name defined twice)."""
    global _count
    out, origin = {}, {}
    for path in paths:
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise ValueError("--responder %s: no such file" % path)
        with _lock:
            _count += 1
            modname = "pa_responders_%d" % _count
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise ValueError("--responder %s: cannot be imported (not a .py "
                             "file?)" % path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        sys.path.insert(0, os.path.dirname(path))
        try:
            spec.loader.exec_module(mod)
        except Exception as e:
            raise ValueError("--responder %s: import failed: %s: %s"
                             % (path, type(e).__name__, e))
        finally:
            try:
                sys.path.remove(os.path.dirname(path))
            except ValueError:
                pass
        table = getattr(mod, "RESPONDERS", None)
        if not isinstance(table, dict):
            raise ValueError("--responder %s: must define RESPONDERS = "
                             "{\"name\": function}" % path)
        for name, fn in table.items():
            if not isinstance(name, str) or not name:
                raise ValueError("--responder %s: RESPONDERS key %r is not a "
                                 "non-empty string" % (path, name))
            if not callable(fn):
                raise ValueError("--responder %s: RESPONDERS[%r] is not "
                                 "callable" % (path, name))
            if name in out:
                raise ValueError("--responder %s: responder '%s' is already "
                                 "defined by %s" % (path, name, origin[name]))
            out[name] = fn
            origin[name] = path
    return out


def respond(responders, spec, view, check_spec):
    """The spec to serve for a scripted spec with "respond_with": call the
    responder, merge, validate. Raises ResponderError (the server answers
    500 in the provider's error shape)."""
    name = spec["respond_with"]
    fn = responders[name]     # the scenario was checked against the names
    try:
        got = fn(view)
    except Exception as e:
        raise ResponderError("responder '%s' raised %s: %s"
                             % (name, type(e).__name__, e), e)
    if not isinstance(got, dict):
        raise ResponderError("responder '%s' returned %s, not a response "
                             "spec object" % (name, type(got).__name__))
    merged = dict(got)
    merged.update({k: v for k, v in spec.items() if k != "respond_with"})
    try:
        check_spec(merged, "spec")
        json.dumps(merged)
    except (ValueError, TypeError) as e:
        raise ResponderError("responder '%s' returned an invalid spec: %s"
                             % (name, e))
    return merged
