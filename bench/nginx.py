#!/usr/bin/python3
"""Write the configuration of the zero-latency model server used by the
benchmarks: nginx answering every POST /v1/chat/completions with one canned
OpenAI completion that records the agent's output (a single-step run).

    bench/nginx.py DIR PORT    -> DIR/nginx.conf (run: nginx -c DIR/nginx.conf)
"""
import json
import os
import sys

COMPLETION = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-bench",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "record_answer", "arguments": json.dumps({"text": "ok"})}}]}}],
    "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
}


def nginx_string(s):
    """A single-quoted nginx string: nginx unescapes backslashes in it."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def main():
    run_dir, port = sys.argv[1], int(sys.argv[2])
    body = json.dumps(COMPLETION, separators=(",", ":"))
    user = "user www-data;" if os.geteuid() == 0 else ""
    conf = f"""
{user}
daemon off;
worker_processes 1;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx_error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_buffer_size 1m;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/chat/completions {{
            default_type application/json;
            return 200 {nginx_string(body)};
        }}
        location / {{ return 404; }}
    }}
}}
"""
    with open(os.path.join(run_dir, "nginx.conf"), "w") as f:
        f.write(conf)


if __name__ == "__main__":
    main()
