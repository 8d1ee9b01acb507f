"""A minimal, fast OpenAI-shaped HTTP/1.1 keep-alive server for benchmarks (run as a process).

Prints its port on stdout, then serves canned answers until killed:

- any path: a chat-completion JSON body (Content-Length framing);
- a path starting ``/sse-chunked/``: an SSE stream of ``STREAM_EVENTS`` events, chunked, one
  HTTP chunk per event (the way OpenAI and Anthropic send them);
- a path starting ``/sse-length/``: the same stream with Content-Length framing.

Faster than MockProvider, so the client's own overhead dominates the comparison.
"""

from __future__ import annotations

import asyncio
import sys

if __package__ in (None, ""):  # run as a script: python bench/_fast_server.py
    from _payload import RESPONSE, SSE_CHUNKED, SSE_LENGTH
else:
    from ._payload import RESPONSE, SSE_CHUNKED, SSE_LENGTH


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/sse-chunked/"):
                writer.write(SSE_CHUNKED)
            elif path.startswith(b"/sse-length/"):
                writer.write(SSE_LENGTH)
            else:
                writer.write(RESPONSE)
            if writer.transport.get_write_buffer_size() > 1 << 16:
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
