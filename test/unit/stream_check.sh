#!/usr/bin/env bash
# The SSE decoder and the streamed-response accumulators outside the server:
# the unit tests, counted one by one (gcc build, PostgreSQL's warnings
# fatal); the same tests under ASan + UBSan and under valgrind, each counted
# once; then real streams from the local model server, one check each: every
# scripted response is requested twice, with "stream": true and without, and
# the streamed bytes, fed to the accumulator whole (gcc build) and a few
# bytes at a time (ASan build), must give the neutral response the
# non-stream parser gives for the plain body (stream_unit compare); faults
# (a stream cut short, an error event, a half event) must fail with the
# right sentence. Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
U=test/unit
. test/lib/counts.sh

tmp=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
if ! make -s -f $U/Makefile.stream all >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log"; echo "0 passed, 1 failed"; exit 1
fi

unit_suite "stream unit tests" $U/stream_unit valgrind
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# ---------- the local model server ----------

/usr/bin/python3 test/model_server/server.py --host 127.0.0.1 --port 0 \
    --port-file "$tmp/port" --api-key test-key --secret stream-check-secret --quiet \
    >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
if [ ! -s "$tmp/port" ]; then
    cat "$tmp/server.log"; failed=$((failed + 1))
    echo "$passed passed, $failed failed"; exit 1
fi
base=http://127.0.0.1:$(cat "$tmp/port")

TOOLS_OA='[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"record","parameters":{"type":"object","properties":{}}}}]'
TOOLS_AN='[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},{"name":"record","input_schema":{"type":"object","properties":{}}}]'
MSGS='[{"role":"user","content":"What is the weather in Paris?"}]'
# fixed usage, as the server's estimate counts the request's bytes, and
# those differ between a streamed and a plain request
USAGE='"usage":{"input_tokens":120,"output_tokens":45,"cached_tokens":64,"cache_creation_tokens":8,"reasoning_tokens":11}'

scenario() {    # spec [stream-only keys]: spec answers both; the keys are
                # added for streamed requests
    local rules='[]'
    [ -n "$2" ] && rules="[{\"match\":{\"stream\":true},\"responses\":[${1%\}},$2}],\"repeat_last\":true}]"
    curl -s -o /dev/null -X POST "$base/_control/reset" &&
    curl -s -f -o "$tmp/scenario.out" -X POST "$base/_control/scenario" \
        -d "{\"rules\":$rules,\"default\":$1}"
}
request() {     # provider stream(true|false) out-file -> HTTP status on stdout
    local body
    if [ "$1" = openai ]; then
        body="{\"model\":\"gpt-test\",\"messages\":$MSGS,\"tools\":$TOOLS_OA"
        [ "$2" = true ] && body="$body,\"stream\":true,\"stream_options\":{\"include_usage\":true}"
        curl -s -N -o "$3" -w '%{http_code}' "$base/v1/chat/completions" \
            -H 'authorization: Bearer test-key' -H 'content-type: application/json' -d "$body}"
        true    # a stream cut short is curl 18; the status tells what came
    else
        body="{\"model\":\"claude-test\",\"max_tokens\":4096,\"messages\":$MSGS,\"tools\":$TOOLS_AN"
        body="$body,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}"
        [ "$2" = true ] && body="$body,\"stream\":true"
        curl -s -N -o "$3" -w '%{http_code}' "$base/v1/messages" \
            -H 'x-api-key: test-key' -H 'anthropic-version: 2023-06-01' \
            -H 'content-type: application/json' -d "$body}"
        true
    fi
}
same_both_ways() {  # provider spec [stream-only keys]: streamed == non-streamed
    local status
    scenario "$2" "$3" || { echo "scenario rejected: $(cat "$tmp/scenario.out" 2>/dev/null)"; return 1; }
    status=$(request "$1" true "$tmp/sse") || return 1
    [ "$status" = 200 ] || { echo "stream: HTTP $status"; head -c 400 "$tmp/sse"; return 1; }
    grep -q '^data: ' "$tmp/sse" || { echo "not an event stream"; return 1; }
    status=$(request "$1" false "$tmp/body") || return 1
    [ "$status" = 200 ] || { echo "body: HTTP $status"; head -c 400 "$tmp/body"; return 1; }
    $U/stream_unit compare "$1" "$tmp/sse" "$tmp/body" &&
        $U/stream_unit_asan compare "$1" "$tmp/sse" "$tmp/body" 3
}
stream_fails() {    # provider spec expected-sentence: the stream fails so
    local status out
    scenario "$2" || { echo "scenario rejected: $(cat "$tmp/scenario.out" 2>/dev/null)"; return 1; }
    status=$(request "$1" true "$tmp/sse")
    [ "$status" = 200 ] || { echo "stream: HTTP $status"; return 1; }
    if out=$($U/stream_unit_asan stream "$1" 5 <"$tmp/sse" 2>&1); then
        echo "the stream was accepted: $out"; return 1
    fi
    case "$out" in
        *"$3"*) return 0 ;;
        *) echo "got: $out"; echo "want: $3"; return 1 ;;
    esac
}

TEXT='"text":"Bonjour! Il fait beau \u00e0 Paris \u2014 24 \u00b0C, ciel d\u00e9gag\u00e9 \u2713 \ud83d\ude00. A longer sentence follows, so that the text comes in several pieces of the stream."'
CALLS='"tool_calls":[{"name":"get_weather","id":"call_1","arguments":{"city":"Paris","days":[1,2,3],"units":{"t":"C"}}},{"name":"record","id":"call_2","arguments":"{\"temp\": 24, \"note\": "}]'

check "openai: text + usage chunk, streamed = non-streamed" \
    same_both_ways openai "{$TEXT,$USAGE}"
check "openai: text + two tool calls (one with bad arguments), streamed = non-streamed" \
    same_both_ways openai "{$TEXT,$CALLS,$USAGE}"
check "openai: refusal, streamed = non-streamed" \
    same_both_ways openai "{\"refusal\":\"I can not help with that request, sorry.\",$USAGE}"
check "openai: max_tokens (length), streamed = non-streamed" \
    same_both_ways openai "{$TEXT,\"stop\":\"max_tokens\",$USAGE}"
check "openai: 200 kB of text, streamed = non-streamed" \
    same_both_ways openai "{\"fault\":\"huge\",\"bytes\":200000,$USAGE}"
check "openai: events 5 ms apart, streamed = non-streamed" \
    same_both_ways openai "{$TEXT,$CALLS,$USAGE,\"event_delay_ms\":5}"
check "anthropic: thinking + redacted + text + two tool calls (one with bad input), streamed = non-streamed" \
    same_both_ways anthropic "{$TEXT,\"thinking\":\"Paris, so metric units; check the forecast first.\",\"redacted_thinking\":true,$CALLS,$USAGE}"
check "anthropic: thinking + text, streamed = non-streamed" \
    same_both_ways anthropic "{$TEXT,\"thinking\":\"Short.\",$USAGE}"
check "anthropic: refusal, streamed = non-streamed" \
    same_both_ways anthropic "{\"refusal\":\"I will not help with that.\",$USAGE}"
check "anthropic: max_tokens, streamed = non-streamed" \
    same_both_ways anthropic "{$TEXT,\"stop\":\"max_tokens\",$USAGE}"
check "anthropic: pause_turn, streamed = non-streamed" \
    same_both_ways anthropic "{$TEXT,\"stop\":\"pause_turn\",$USAGE}"
check "anthropic: 200 kB of text, streamed = non-streamed" \
    same_both_ways anthropic "{\"fault\":\"huge\",\"bytes\":200000,$USAGE}"
check "anthropic: events 5 ms apart, streamed = non-streamed" \
    same_both_ways anthropic "{$TEXT,\"thinking\":\"Hmm.\",$CALLS,$USAGE,\"event_delay_ms\":5}"

for p in openai anthropic; do
    check "$p: a stream closed early fails: ended before its final event" \
        stream_fails $p "{$TEXT,$CALLS,\"fault\":\"end_early\",\"after\":4}" \
        "the stream ended before its final event"
    # every event sent, then the connection closed without the chunked
    # end (curl 18): the response is whole, the transport's error is for
    # the caller to weigh
    check "$p: closed after its final event, the stream is still whole" \
        same_both_ways $p "{$TEXT,$USAGE}" '"fault":"end_early","after":1000'
    check "$p: a stream ending in half an event fails" \
        stream_fails $p "{$TEXT,\"fault\":\"truncated_json\",\"after\":3}" \
        "the stream ended before its final event"
done
check "openai: an error chunk midway fails with the provider's sentence" \
    stream_fails openai "{$TEXT,\"fault\":\"stream_error\",\"after\":3}" \
    "the provider returned an error: server_error: The server had an error"
check "anthropic: an error event midway fails with the provider's sentence" \
    stream_fails anthropic "{$TEXT,\"fault\":\"stream_error\",\"after\":3}" \
    "the provider returned an error: overloaded_error: Overloaded"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
