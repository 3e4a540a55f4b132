"""Sending a scripted response, normally or with a fault.

Every function here works on the request handler `h` from server.py, which
offers: send_full, send_partial, start_chunked, write_chunk, end_chunked,
close_now and wait_gone."""

import time

from common import dumps_bytes

HTML = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx"
        b"</center>\r\n</body>\r\n</html>\r\n")
SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"
STREAM_CUTS = ("stall", "end_early", "reset_mid_body", "stream_error",
               "truncated_json")


def filler(n):
    """n bytes of plain ASCII text for the 'huge' fault."""
    unit = "The quick brown fox jumps over the lazy dog 0123456789. "
    return (unit * (n // len(unit) + 1))[:n]


def respond(h, wire, spec, body, turn, raw_len):
    """Send the response for spec. What the client will see is recorded in
    the request log (h.record) before the bytes go out, so a test that reads
    the log right after its response always finds it."""
    fault = spec.get("fault")
    stream = bool(body.get("stream"))
    headers = wire.success_headers()
    headers.update(spec.get("headers") or {})

    if fault == "drop":
        h.record(None, "dropped the connection without a response")
        h.close_now(rst=bool(spec.get("rst")))
        return
    if fault == "hang":
        h.record(None, "hanging until the client goes away")
        gone = h.wait_gone(None)
        h.record(None, "hung until the %s" % (
            "client went away" if gone else "server stopped"))
        h.close_now()
        return
    if fault == "non_json":
        h.record(200, "sent an HTML body")
        h.send_full(200, headers, HTML, "text/html; charset=utf-8")
        return
    if fault == "wrong_shape":
        h.record(200, "sent JSON of the wrong shape")
        h.send_full(200, headers, dumps_bytes(wire.wrong_shape(body)), JSON)
        return
    if fault == "stream_error" and not stream:
        status, eh, payload = wire.status_fault({"status": 500})
        h.record(status, "stream_error on a non-stream request: sent a 500")
        h.send_full(status, eh, payload, JSON)
        return

    if stream:
        _stream(h, wire, spec, body, turn, raw_len, headers, fault)
        return

    payload = dumps_bytes(wire.render(turn, body, raw_len))
    half = len(payload) // 2
    if fault == "truncated_json":
        h.record(200, "sent %d of %d bytes as a complete body" % (
            half, len(payload)))
        h.send_full(200, headers, payload[:half], JSON)
        return
    if fault in ("reset_mid_body", "end_early"):
        h.record(200, "closed after %d of %d body bytes" % (
            half, len(payload)))
        h.send_partial(200, headers, payload, half, JSON)
        h.close_now(rst=bool(spec.get("rst")))
        return
    if fault == "stall":
        h.record(200, "stalling %s ms after %d body bytes" % (
            spec.get("stall_ms"), half))
        h.send_partial(200, headers, payload, half, JSON)
        gone = h.wait_gone(spec.get("stall_ms"))
        if gone or h.server.stopping.is_set():
            h.record(200, "stalled after %d body bytes; client went away"
                     % half)
            h.close_now()
            return
        h.raw_write(payload[half:])
        return
    h.record(200, None)
    h.send_full(200, headers, payload, JSON)


def _stream(h, wire, spec, body, turn, raw_len, headers, fault):
    events = wire.stream_events(turn, body, raw_len)
    n = len(events)
    after = spec.get("after")
    if after is None:
        after = max(1, n // 2)
    after = min(after, n)       # n: after every event, before the end
    delay = (spec.get("event_delay_ms") or 0) / 1000.0
    cut = fault in STREAM_CUTS
    h.record(200, {
        "end_early": "closing the stream after %d of %d events",
        "reset_mid_body": "closing the stream after %d of %d events",
        "stream_error": "error event after %d of %d events",
        "truncated_json": "cutting event %d of %d in half",
        "stall": "stalling after %d of %d events"}.get(fault, "%d/%d")
        % (after + (fault == "truncated_json"), n) if cut else None)
    h.start_chunked(200, headers, SSE)
    for k in range(n + 1):       # k == n: after the last event
        ev = events[k] if k < n else b""
        if k == after and cut:
            if fault in ("end_early", "reset_mid_body"):
                h.close_now(rst=bool(spec.get("rst")))
                return
            if fault == "stream_error":
                h.write_chunk(wire.stream_error_event())
                h.end_chunked()
                return
            if fault == "truncated_json":
                h.write_chunk(ev[:len(ev) // 2])
                h.end_chunked()
                return
            if fault == "stall":
                gone = h.wait_gone(spec.get("stall_ms"))
                if gone or h.server.stopping.is_set():
                    h.record(200, "stalled after %d of %d events; client "
                             "went away" % (after, n))
                    h.close_now()
                    return
        if k == n:
            break
        if delay and k:
            time.sleep(delay)
        h.write_chunk(ev)
    h.end_chunked()
