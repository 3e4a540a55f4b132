#!/usr/bin/python3
"""A model with a fixed latency for P2: every POST gets the canned OpenAI
completion of bench/nginx.py after DELAY seconds. asyncio, so a thousand
connections waiting at once cost next to nothing (the test suite's
threaded model server spends a thread, and CPU, on each).

    bench/latency_server.py PORT_FILE DELAY
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nginx import COMPLETION  # noqa: E402

BODY = json.dumps(COMPLETION, separators=(",", ":")).encode()
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n")


async def serve(reader, writer, delay):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(HEAD + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    port_file, delay = sys.argv[1], float(sys.argv[2])
    server = await asyncio.start_server(lambda r, w: serve(r, w, delay), "127.0.0.1", 0, backlog=4096)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(tmp, port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
