"""HTTP on the wire: one request, a multipart body, and unique JPEG bytes; URLs for messages."""

from __future__ import annotations

import http.client
import secrets

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 120.0


def request(
    method: str,
    port: int,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
) -> tuple[int, bytes]:
    """One request on a fresh connection; (status, body). Connection errors raise OSError."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as e:
        raise OSError(f"{type(e).__name__}: {e}") from None
    finally:
        conn.close()


def multipart(field_name: str, filename: str, data: bytes, mime: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field, and its Content-Type."""
    boundary = f"pyosi-bench-{secrets.token_hex(12)}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def with_comment(jpeg: bytes) -> bytes:
    """``jpeg`` with a random COM segment just before its first scan (pixels and metadata kept)."""
    comment = b"pyosi-bench " + secrets.token_hex(8).encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    i = 2  # after SOI
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if marker == 0xDA:  # start of scan
            return jpeg[:i] + segment + jpeg[i:]
        i += 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
    return jpeg  # not a layout this understands: upload it unchanged
