#!/usr/bin/python3
"""Seed corpora for the fuzz targets, from the project's own test material.

    make_seeds.py [--out DIR] [--suite DIR]

writes DIR/<target>/<sha1 of the seed> (DIR defaults to corpus/ beside this
file) for the targets jsonschema, openai, anthropic, transcript and stream:

  jsonschema  every test of the JSON Schema Test Suite (--suite, default
              ../shared/conformance/json-schema-test-suite beside the repo),
              the pa_validate calls of sql/validate.sql, the cases of
              test/unit/jsonschema_unit.c (patterns included), and the
              provider schemas of test/model_server/schemas with responses
              as instances; "<schema>\\n<instance>"
  openai,     responses, error bodies and faults the local model server
  anthropic   (test/model_server) renders, and the bodies parsed in
              test/unit/providers_unit.c and stream_unit.c
  transcript  the contexts of test/unit/transcript_unit.c, with the prompt
              renderers' arguments (its outputs and tools, the outputs of
              sql/definitions.sql) added to some
  stream      the model server's event streams, and the SSE fixtures of
              stream_unit.c, each behind a control byte (stream_fuzz.c)

Standard library only. The model server's modules import python3-jsonschema
at load time but rendering never validates, so a stand-in module is used
when that package is missing.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER = os.path.join(ROOT, "test", "model_server")
UNIT = os.path.join(ROOT, "test", "unit")


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()


# ---------- C and SQL string literals of the test sources ----------

C_TOKEN = re.compile(rb'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|'
                     rb'[A-Za-z_]\w*|\d+|\S', re.S)
C_ESC = re.compile(rb'\\(x[0-9A-Fa-f]+|u[0-9A-Fa-f]{4}|[0-7]{1,3}|.)', re.S)
SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b",
          b"f": b"\f", b"v": b"\v"}


def c_unescape(body):
    def one(m):
        e = m.group(1)
        if e[:1] == b"x":
            return bytes([int(e[1:], 16) & 0xFF])
        if e[:1] == b"u":
            return chr(int(e[1:], 16)).encode()
        if e[:1].isdigit():
            return bytes([int(e, 8) & 0xFF])
        return SIMPLE.get(e, e)
    return C_ESC.sub(one, body)


def c_calls(path):
    """{function name: [[arg, ...], ...]}: each argument made only of string
    literals (adjacent ones joined) as bytes, any other argument as None.
    Also records 'x = "..." ...;' initialisers under the name '='."""
    with open(path, "rb") as f:
        toks = [t for t in C_TOKEN.findall(f.read()) if not t.startswith((b"//", b"/*"))]
    calls = {}
    for i, t in enumerate(toks):
        if t == b"=" and i + 1 < len(toks) and toks[i + 1].startswith(b'"'):
            start, closer = i + 1, b";"
        elif re.match(rb"[A-Za-z_]", t) and i + 1 < len(toks) and toks[i + 1] == b"(":
            start, closer = i + 2, b")"
        else:
            continue
        args, cur, depth, j = [], b"", 0, start
        while j < len(toks) and not (depth == 0 and toks[j] in (closer, b",")):
            depth += toks[j] in (b"(", b"[", b"{")
            depth -= toks[j] in (b")", b"]", b"}")
            if cur is not None and toks[j].startswith(b'"'):
                cur += c_unescape(toks[j][1:-1])
            else:
                cur = None
            j += 1
            if j < len(toks) and depth == 0 and toks[j] == b"," and closer == b")":
                args.append(cur)
                cur, j = b"", j + 1
        args.append(cur)
        calls.setdefault("=" if closer == b";" else t.decode(), []).append(args)
    return calls


def c_strings(path, name, index):
    return [a[index] for a in c_calls(path).get(name, [])
            if len(a) > index and a[index]]


def json_or_none(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def sql_literals(path):
    """(psql \\set variables, [(schema, instance)] of pa_validate calls)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    sets = {m.group(1): m.group(2).replace("\\\\", "\\")
            for m in re.finditer(r"^\\set (\w+) '((?:[^']|'')*)'$", text, re.M)}
    lit = r"(?::'(\w+)'|'((?:[^']|'')*)')"
    pairs = []
    for m in re.finditer(r"pa_(?:validate|is_valid)\(" + lit + r",\s*" + lit + r"\)", text):
        schema = sets.get(m.group(1)) if m.group(1) else m.group(2).replace("''", "'")
        inst = sets.get(m.group(3)) if m.group(3) else m.group(4).replace("''", "'")
        if schema and inst:
            pairs.append((schema, inst))
    return sets, pairs


# ---------- the local model server's renderings ----------

def load_wires():
    sys.dont_write_bytecode = True  # leave test/model_server as it is
    sys.path.insert(0, SERVER)
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        sys.modules["jsonschema"] = types.SimpleNamespace(Draft202012Validator=None)
    import anthropic_wire
    import common
    import faults
    import openai_wire
    # fixed ids, times and signatures: the same seeds (and names) every run
    counter = iter(range(10 ** 9))
    for mod in (openai_wire, anthropic_wire):
        mod.rand_id = lambda n: ("%0*d" % (n, next(counter)))[-n:]
    openai_wire.time = types.SimpleNamespace(time=lambda: 1700000000)
    signer = common.Signer("fuzz-seeds")
    signer.new_redacted = lambda: "UEFSMQ" + "A" * 118
    oa = object.__new__(openai_wire.OpenAIWire)
    an = object.__new__(anthropic_wire.AnthropicWire)
    an.signer = signer
    return oa, an, faults


def turns():
    """Assistant turns as server.build_turn makes them."""
    base = {"text": "", "thinking": None, "redacted": False, "refusal": None,
            "tool_calls": [], "stop": None, "usage": {}}
    call = {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
    specs = [
        {"text": "Hello, w\u00f6rld \u2713 done."},
        {"text": "Line one.\nLine two.\r\n\u2028end", "usage": {
            "input_tokens": 120, "output_tokens": 45, "cached_tokens": 64,
            "cache_creation_tokens": 8, "reasoning_tokens": 11}},
        {"tool_calls": [call]},
        {"text": "Checking.", "thinking": "Let me see.", "redacted": True,
         "tool_calls": [call, {"name": "record", "arguments": "{\"temp\": ", "id": "c2"},
                        {"name": "noop", "arguments": "[1,2]", "id": "c3"},
                        {"name": "noop", "arguments": "", "id": "c4"}]},
        {"refusal": "I can't help with that."},
        {"text": "Partial", "stop": "max_tokens"},
        {"text": "More later", "stop": "pause_turn"},
        {"text": "x", "stop": "stop_sequence"},
        {"text": "y", "stop": "model_context_window_exceeded"},
        {"text": "The quick brown fox. " * 200},
    ]
    return [dict(base, **s) for s in specs]


def server_seeds(seeds):
    """Fill the provider and stream seeds; return {provider: [bodies]} of
    plain responses and error bodies, instances for the provider schemas."""
    oa, an, faults = load_wires()
    plain = {"model": "m"}
    thinking = {"model": "m", "thinking": {"type": "enabled", "budget_tokens": 1024},
                "stream_options": {"include_usage": True}}
    bodies = {"openai": [], "anthropic": [], "openai_errors": []}
    for turn in turns():
        for body in (plain, thinking):
            for target, wire, control in (("openai", oa, 0), ("anthropic", an, 1)):
                resp = compact(wire.render(turn, body, 400))
                bodies[target].append(resp)
                seeds[target] += [resp, resp[:len(resp) // 2]]  # and truncated_json
                events = b"".join(wire.stream_events(turn, body, 400))
                for step in (0, 1, 7, 63):
                    seeds["stream"].append(bytes([control | step << 2]) + events)
                seeds["stream"] += [bytes([control | 2]) + events,  # small event limit
                                    bytes([control]) + events[:len(events) // 2],  # end_early
                                    bytes([control]) + events + wire.stream_error_event()]
    for target, wire in (("openai", oa), ("anthropic", an)):
        seeds[target] += [compact(wire.wrong_shape(plain)), faults.HTML]
        for status in (400, 401, 429, 500, 503, 529):
            error = wire.status_fault({"status": status, "retry_after": 2})[2]
            seeds[target].append(error)
            if target == "openai":
                bodies["openai_errors"].append(error)
    return bodies


# ---------- per target ----------

def schema_seeds(seeds, suite, bodies):
    out = []
    for name in sorted(os.listdir(suite)) if os.path.isdir(suite) else []:
        if name.endswith(".json"):
            with open(os.path.join(suite, name), encoding="utf-8") as f:
                for group in json.load(f):
                    for test in group["tests"]:
                        out.append(compact(group["schema"]) + b"\n" + compact(test["data"]))
    for schema, inst in sql_literals(os.path.join(ROOT, "sql", "validate.sql"))[1]:
        out.append(schema.encode() + b"\n" + inst.encode())
    unit = os.path.join(UNIT, "jsonschema_unit.c")
    for fn, n in (("expect_errors", 2), ("expect_compile_error", 1), ("expect_compiles", 1)):
        for args in c_calls(unit).get(fn, []):
            if all(args[:n]):
                out.append(args[0] + b"\n" + (args[1] if n == 2 else args[0]))
    for pattern in c_strings(unit, "expect_translation", 0):
        p = compact(pattern.decode("utf-8", "replace"))
        out.append(b'{"pattern":' + p + b'}\n"abc 123 \xc3\xa9\xf0\x9f\x98\x80"')
        out.append(b'{"patternProperties":{' + p + b':{"type":"integer"}}}\n{"a":1,"1":"x"}')
    out.append(b'{"pattern":"^a"}\n"a !regex-error!"')  # see jsonschema_fuzz.c
    request = b'{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}'
    for rel, insts in (("openai/CreateChatCompletionResponse.schema.json", bodies["openai"][:6]),
                       ("openai/ErrorResponse.schema.json", bodies["openai_errors"]),
                       ("anthropic/MessagesRequest.schema.json", [request]),
                       ("openai/CreateChatCompletionRequest.schema.json", [request])):
        with open(os.path.join(SERVER, "schemas", rel), "rb") as f:
            schema = compact(json.load(f))
        out.extend(schema + b"\n" + i for i in insts)
    seeds["jsonschema"] += out


def provider_seeds(seeds):
    unit = os.path.join(UNIT, "providers_unit.c")
    for fn in ("parse", "parse_fails"):
        for args in c_calls(unit).get(fn, []):
            if len(args) > 1 and args[1] is not None:
                body = args[1]
                is_openai = b'"choices"' in body or b'"error"' in body
                is_anthropic = b'"choices"' not in body
                if is_openai:
                    seeds["openai"].append(body)
                if is_anthropic:
                    seeds["anthropic"].append(body)
    for fn in ("pa_openai_error_message", "pa_anthropic_error_message"):
        for args in c_calls(unit).get(fn, []):
            if len(args) > 1 and args[1]:
                seeds["openai"].append(args[1])
                seeds["anthropic"].append(args[1])
    # stream_unit.c: the non-stream bodies (' stands for ") and raw SSE
    calls = c_calls(os.path.join(UNIT, "stream_unit.c"))
    sse = [a[0] for fn in ("decodes_to", "decode") for a in calls.get(fn, []) if a[0]]
    for args in calls.get("=", []):
        body = (args[0] or b"").replace(b"'", b'"')
        if isinstance(json_or_none(body), dict):
            seeds["anthropic" if b'"content":[' in body else "openai"].append(body)
        elif b"data" in body:
            sse.append(args[0])
    seeds["stream"] += [bytes([c]) + s for s in sse for c in (0, 1, 3 << 2 | 1)]


def transcript_seeds(seeds):
    unit = os.path.join(UNIT, "transcript_unit.c")
    calls = c_calls(unit)
    contexts = [s for s in c_strings(unit, "parse", 0) + [a[0] for a in calls.get("=", []) if a[0]]
                if isinstance(json_or_none(s), dict)]
    outputs = [json_or_none(s) for s in contexts if b'"schema"' in s]
    sets = sql_literals(os.path.join(ROOT, "sql", "definitions.sql"))[0]
    outputs += [json.loads(sets[k]) for k in ("outputs", "one") if k in sets]
    tools = [json_or_none(s) for s in c_strings(unit, "parse", 0) if s.startswith(b"[")]
    seeds["transcript"].extend(contexts)
    # a long conversation, as make_context() builds them
    events = [{"id": 5001 + i, "seq": i + 1, "occurred_at": "2024-06-01T09:00:%02dZ" % (i % 60),
               "kind": "message", "role": ("agent", "customer")[i % 2],
               "content": "Where is my order?\nIt was due last week.", "payload": {}}
              for i in range(40)]
    seeds["transcript"].append(compact({"conversation": {"id": 7}, "events": events,
                                        "input": {"audit": True}}))
    for i, ctx in enumerate(c for c in contexts if b'"events"' in c):
        doc = json.loads(ctx)
        doc.update({"instructions": "Audit the call.\r\nBe strict.",
                    "planning": ("none", "low", "high")[i % 3],
                    "outputs": outputs[i % len(outputs)] if outputs else {},
                    "tools": tools[i % len(tools)] if tools else None})
        seeds["transcript"].append(compact(doc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--suite", default=os.environ.get(
        "PA_JSON_SCHEMA_SUITE",
        os.path.join(os.path.dirname(ROOT), "shared", "conformance", "json-schema-test-suite")))
    args = ap.parse_args()
    seeds = {t: [] for t in ("jsonschema", "openai", "anthropic", "transcript", "stream")}
    bodies = server_seeds(seeds)
    provider_seeds(seeds)
    schema_seeds(seeds, args.suite, bodies)
    transcript_seeds(seeds)
    for target, items in seeds.items():
        d = os.path.join(args.out, target)
        os.makedirs(d, exist_ok=True)
        names = set()
        for data in items:
            name = hashlib.sha1(data).hexdigest()
            names.add(name)
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds in %s" % (target, len(names), d))


if __name__ == "__main__":
    main()
