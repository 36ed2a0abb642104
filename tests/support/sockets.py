"""A unix socket that is not a runtime: it accepts connections and closes them at once, counting them.

Factories must fail fast against it (one probe per retry interval), not hang or hammer it.
"""

from __future__ import annotations

import os
import socket
import threading


class ClosingSocket:
    """A unix socket that accepts connections and closes them at once, counting them: not a runtime."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.accepted = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(16)
        self.server.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()
        os.unlink(self.path)
