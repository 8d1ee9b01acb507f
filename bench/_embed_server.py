"""A minimal HTTP/1.1 keep-alive server answering every request with one canned OpenAI
embeddings body: ``INPUTS`` vectors of ``DIMENSIONS`` float32, base64 (run as a process;
prints its port, serves until killed). Faster than MockProvider, so the clients' own work
dominates the comparison."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import struct
import sys

INPUTS = 2048
DIMENSIONS = 1536


def body() -> bytes:
    rng = random.Random(0)
    data = []
    for i in range(INPUTS):
        row = struct.pack(f"<{DIMENSIONS}f", *(rng.uniform(-1, 1) for _ in range(DIMENSIONS)))
        data.append({"object": "embedding", "index": i, "embedding": base64.b64encode(row).decode("ascii")})
    usage = {"prompt_tokens": 4 * INPUTS, "total_tokens": 4 * INPUTS}
    payload = {"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage}
    return json.dumps(payload, separators=(",", ":")).encode()


BODY = body()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req-bench\r\n"
    + f"content-length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


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
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=64, limit=1 << 24)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
