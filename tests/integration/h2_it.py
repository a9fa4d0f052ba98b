"""HTTP/2 and gRPC helpers for the integration tests (python3-h2 and the hpack and hyperframe
packages it depends on; scripts/deps.sh --test installs them).

  H2Conn     a client connection driven by h2's state machine: requests on many streams of
             one connection, their responses, trailers and resets, GOAWAY.
  RawConn    a connection that writes hand-made frames (hyperframe) and reads what the server
             answers frame by frame: for the attack tests, which send what h2 would refuse to.
  grpc_*     the gRPC length-prefixed message framing.
"""

import gzip
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
from hyperframe import frame as hf

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# HTTP/2 error codes (RFC 9113, 7)
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xb


def grpc_frame(msg, compressed=False):
    """One gRPC message: flag byte, big-endian length, bytes."""
    if compressed:
        msg = gzip.compress(msg)
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


def grpc_messages(data):
    """The messages of a gRPC body (uncompressed ones only)."""
    out, pos = [], 0
    while pos + 5 <= len(data):
        flag, n = struct.unpack(">BI", data[pos:pos + 5])
        if flag != 0:
            raise AssertionError(f"compressed response message (flag {flag})")
        out.append(bytes(data[pos + 5:pos + 5 + n]))
        pos += 5 + n
    if pos != len(data):
        raise AssertionError(f"{len(data) - pos} bytes after the last whole gRPC message")
    return out


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.headers = None      # response headers: list of (name, value)
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None        # error code of a RST_STREAM from the server
        self.ended_at = None

    @property
    def done(self):
        return self.ended or self.reset is not None

    def header(self, name):
        for k, v in (self.headers or []) + (self.trailers or []):
            if k == name:
                return v
        return None

    @property
    def status(self):
        s = self.header(":status")
        return int(s) if s is not None else None

    def grpc_status(self):
        """grpc-status from the trailers, or from the headers of a trailers-only answer."""
        v = self.header("grpc-status")
        return int(v) if v is not None else None

    def __repr__(self):
        return (f"<stream {self.id} headers={self.headers} trailers={self.trailers} "
                f"reset={self.reset} data={bytes(self.data[:300])!r}>")


class H2Conn:
    """A client connection (prior knowledge, cleartext) driven by h2."""

    def __init__(self, addr, timeout=30, settings=None):
        host, port = addr.rsplit(":", 1)
        self.authority = addr
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(cfg)
        if settings:
            self.h2.local_settings.update(settings)
        self.h2.initiate_connection()
        self.streams = {}
        self.goaway = None   # (error_code, last_stream_id, additional_data)
        self.closed = False
        self.flush()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers_for(self, path, method="POST", headers=()):
        return [(":method", method), (":scheme", "http"), (":authority", self.authority),
                (":path", path)] + list(headers)

    def request(self, path, headers=(), body=b"", method="POST", end=True):
        """Opens a stream; sends headers and body (end: END_STREAM after them). Returns its id."""
        sid = self.h2.get_next_available_stream_id()
        self.streams[sid] = Stream(sid)
        self.h2.send_headers(sid, self.headers_for(path, method, headers),
                             end_stream=end and not body)
        self.flush()
        if body:
            self.send_body(sid, body, end)
        return sid

    def send_body(self, sid, body, end=True, timeout=30):
        view = memoryview(body)
        deadline = time.monotonic() + timeout
        while len(view) > 0:
            window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if window <= 0:
                if time.monotonic() > deadline or self.closed:
                    raise TimeoutError("no flow-control credit to send the body")
                self.pump(0.2)
                if sid in self.streams and self.streams[sid].done:
                    return
                continue
            chunk, view = view[:window], view[window:]
            self.h2.send_data(sid, bytes(chunk), end_stream=end and len(view) == 0)
            self.flush()
        if end and len(body) == 0:
            self.h2.end_stream(sid)
            self.flush()

    def end_stream(self, sid):
        self.h2.end_stream(sid)
        self.flush()

    def pump(self, timeout):
        """Reads what arrives within timeout (at least one read) and handles it. False once the
        connection is closed."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.closed = True
            raise
        for ev in events:
            self.on_event(ev)
        try:
            self.flush()
        except OSError:
            self.closed = True
        return not self.closed

    def on_event(self, ev):
        sid = getattr(ev, "stream_id", None)
        st = self.streams.get(sid) if sid else None
        if isinstance(ev, h2.events.ResponseReceived) and st is not None:
            st.headers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            if st is not None:
                st.data += ev.data
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived) and st is not None:
            st.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded) and st is not None:
            st.ended = True
            st.ended_at = time.monotonic()
        elif isinstance(ev, h2.events.StreamReset) and st is not None:
            st.reset = ev.error_code
            st.ended_at = time.monotonic()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (ev.error_code, ev.last_stream_id, ev.additional_data)

    def wait(self, sids, timeout=30):
        """Pumps until every stream in sids is done (ended or reset) or the connection closed."""
        if isinstance(sids, int):
            sids = [sids]
        deadline = time.monotonic() + timeout
        while not all(self.streams[s].done for s in sids):
            if self.closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"streams not done within {timeout}s: "
                                   f"{[self.streams[s] for s in sids if not self.streams[s].done]}")
            self.pump(min(left, 0.5))
        return [self.streams[s] for s in sids]

    def close(self):
        try:
            self.h2.close_connection()
            self.flush()
        except Exception:  # noqa: BLE001 -- closing anyway
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


# ------------------------------------------------------------ raw frames ----

def headers_block(headers, encoder=None):
    return (encoder or hpack.Encoder()).encode(headers)


def request_headers(addr, path, method="POST", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", addr), (":path", path)] + \
        list(extra)


class RawConn:
    """Writes frames as given (no state machine) and reads the server's frames."""

    def __init__(self, addr, timeout=10, settings=b""):
        host, port = addr.rsplit(":", 1)
        self.addr = addr
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.frames = []       # every frame received
        self.goaway = None     # the first GOAWAY received
        self.resets = {}       # stream id -> error code
        self.closed = False
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 65536
        self.send(PREFACE + hf.SettingsFrame(0).serialize())

    def send(self, data):
        """Sends bytes; False if the server closed the connection meanwhile."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True
            return False
        except socket.timeout:
            return False

    def send_frames(self, frames):
        return self.send(b"".join(f.serialize() for f in frames))

    def headers(self, sid, headers, end_stream=True, end_headers=True):
        flags = []
        if end_stream:
            flags.append("END_STREAM")
        if end_headers:
            flags.append("END_HEADERS")
        return hf.HeadersFrame(sid, data=self.encoder.encode(headers), flags=flags)

    def read(self, timeout=1.0, until=None):
        """Reads frames for up to timeout seconds (or until until(frame) is true, or the
        connection closes). Returns the frames read by this call."""
        got = []
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            stop = False
            while len(self.buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                got.append(f)
                self.frames.append(f)
                if isinstance(f, hf.GoAwayFrame) and self.goaway is None:
                    self.goaway = f
                elif isinstance(f, hf.RstStreamFrame):
                    self.resets[f.stream_id] = f.error_code
                elif isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                    self.send(hf.SettingsFrame(0, flags=["ACK"]).serialize())
                if until is not None and until(f):
                    stop = True
            if stop:
                break
        return got

    def read_until_closed(self, timeout=10):
        self.read(timeout, until=None)
        return self.closed

    def decode_headers(self, f):
        return self.decoder.decode(f.data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True
