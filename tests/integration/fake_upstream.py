"""A scriptable fake MongoDB for tests that need control the reference
upstream does not give: delays, exhaust streams, byte-exact echo checks.

FakeUpstream(handler) listens on 127.0.0.1 (free port).  For every whole
message received it records the raw bytes in .received and calls
handler(msg) -> list of (reply_bytes, delay_seconds) to send back in order.
Every thread is a daemon and every socket has a timeout, so nothing outlives
the test.
"""
import socket
import threading
import time

import wire


class FakeUpstream:
    def __init__(self, handler):
        self.handler = handler
        self.received = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.uri = "mongodb://127.0.0.1:%d/" % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(30)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            while not self.stopped:
                msg = wire.recv_msg(conn)
                self.received.append(msg)
                for reply, delay in self.handler(msg):
                    if delay:
                        time.sleep(delay)
                    conn.sendall(reply)
        except (ConnectionError, OSError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


def reply_to(msg, doc, flags=0):
    """An OP_MSG reply document answering msg."""
    request_id = wire.header(msg)[1]
    return wire.op_msg(doc, request_id=request_id + 100000, response_to=request_id, flags=flags)
