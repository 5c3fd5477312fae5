#!/usr/bin/env python3
"""Stalled uploads over raw HTTP/2 (standard library only): each connection
starts a Classify call, announces a gRPC message of --total bytes, sends the
first --sent bytes and then stops sending, keeping the socket open. Prints one
JSON line: for each connection, how many bytes it sent and after how many
seconds the server reset the stream or closed the connection (null if it did
not within --hold seconds).

  stalled_upload.py HOST:PORT [--connections N] [--total BYTES] [--sent BYTES]
                    [--timeout-ms MS] [--hold SECONDS]
"""
import argparse
import json
import socket
import struct
import threading
import time

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    # Literal header field without indexing, new name, no Huffman coding.
    def string(s):
        s = s.encode()
        assert len(s) < 127
        return bytes([len(s)]) + s
    return b"\x00" + string(name) + string(value)


class Stalled:
    def __init__(self, host, port, total, sent, timeout_ms):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(2.0)  # a send the server does not take stops the upload
        self.lock = threading.Condition()
        self.conn_window = 65535
        self.stream_window = 65535
        self.ended_at = None
        self.reason = None
        self.sent = 0
        self.start = time.monotonic()
        self.reader = threading.Thread(target=self.read_loop, daemon=True)
        headers = [(":method", "POST"), (":scheme", "http"), (":path", "/catdog.v1.InferenceService/Classify"),
                   (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")]
        if timeout_ms:
            headers.append(("grpc-timeout", f"{timeout_ms}m"))
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0) +
                          frame(HEADERS, 0x4, 1, b"".join(hpack_literal(n, v) for n, v in headers)))
        self.reader.start()
        self.body = struct.pack(">BI", 0, total)
        self.target = sent

    def read_exact(self, n):
        data = b""
        while len(data) < n:
            try:
                chunk = self.sock.recv(n - len(data))
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def read_loop(self):
        try:
            while True:
                head = self.read_exact(9)
                length = struct.unpack(">I", b"\x00" + head[:3])[0]
                kind, flags, stream = head[3], head[4], struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
                payload = self.read_exact(length)
                with self.lock:
                    if kind == SETTINGS and not flags & 1:
                        for i in range(0, len(payload), 6):
                            key, value = struct.unpack(">HI", payload[i:i + 6])
                            if key == 4:  # SETTINGS_INITIAL_WINDOW_SIZE
                                self.stream_window += value - 65535
                        self.sock.sendall(frame(SETTINGS, 1, 0))
                    elif kind == PING and not flags & 1:
                        self.sock.sendall(frame(PING, 1, 0, payload))
                    elif kind == WINDOW_UPDATE:
                        inc = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
                        if stream == 0:
                            self.conn_window += inc
                        else:
                            self.stream_window += inc
                    elif (kind == RST_STREAM and stream == 1) or kind == GOAWAY or \
                            (kind == HEADERS and stream == 1 and flags & 1):
                        self.end({RST_STREAM: "RST_STREAM", GOAWAY: "GOAWAY"}.get(kind, "trailers") +
                                 (" " + payload.decode("latin-1") if kind == HEADERS else
                                  " code %d" % struct.unpack(">I", payload[-4:] if kind == RST_STREAM else payload[4:8])[0]))
                        if kind != HEADERS:
                            return
                    self.lock.notify_all()
        except (EOFError, OSError):
            with self.lock:
                self.end("connection closed")
                self.lock.notify_all()

    def end(self, reason):
        if self.ended_at is None:
            self.ended_at = time.monotonic() - self.start
            self.reason = reason

    def send_until_stalled(self):
        message = memoryview(self.body + bytes(self.target))
        offset = 0
        while offset < len(message):
            with self.lock:
                while self.ended_at is None and min(self.conn_window, self.stream_window) <= 0:
                    self.lock.wait(1.0)
                if self.ended_at is not None:
                    break
                n = min(16384, self.conn_window, self.stream_window, len(message) - offset)
                self.conn_window -= n
                self.stream_window -= n
            try:
                self.sock.sendall(frame(DATA, 0, 1, bytes(message[offset:offset + n])))
            except OSError:  # includes the send timeout
                break
            offset += n
        self.sent = max(0, offset - 5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server")
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--total", type=int, default=60 << 20)
    ap.add_argument("--sent", type=int, default=55 << 20)
    ap.add_argument("--timeout-ms", type=int, default=0)
    ap.add_argument("--hold", type=float, default=10.0)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    clients = [Stalled(host, int(port), a.total, a.sent, a.timeout_ms) for _ in range(a.connections)]
    senders = [threading.Thread(target=c.send_until_stalled) for c in clients]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    print(json.dumps({"event": "stalled", "sent_bytes": [c.sent for c in clients]}), flush=True)
    deadline = time.monotonic() + a.hold
    for c in clients:
        with c.lock:
            while c.ended_at is None and time.monotonic() < deadline:
                c.lock.wait(max(0.0, deadline - time.monotonic()))
    print(json.dumps({"event": "done", "sent_bytes": [c.sent for c in clients],
                      "ended_after_s": [None if c.ended_at is None else round(c.ended_at, 3) for c in clients],
                      "reasons": [c.reason for c in clients]}),
          flush=True)


if __name__ == "__main__":
    main()
