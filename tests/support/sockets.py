"""Unix sockets that are not runtimes: one closes every connection at once, one holds them unanswered.

Factories must fail fast against either (one probe per retry interval), not hang or hammer them.
"""

from __future__ import annotations

import os
import socket
import threading


class _AcceptingSocket:
    """A listening unix socket whose thread hands every accepted connection to :meth:`_on_accept`."""

    def __init__(self, path: str) -> None:
        self.path = path
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
            self._on_accept(conn)

    def _on_accept(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()
        os.unlink(self.path)


class ClosingSocket(_AcceptingSocket):
    """A unix socket that accepts connections and closes them at once, counting them: not a runtime."""

    def __init__(self, path: str) -> None:
        self.accepted = 0
        super().__init__(path)

    def _on_accept(self, conn: socket.socket) -> None:
        self.accepted += 1
        conn.close()


class HungSocket(_AcceptingSocket):
    """A unix socket that accepts connections and never answers: a wedged runtime."""

    def __init__(self, path: str) -> None:
        self.held: list[socket.socket] = []
        super().__init__(path)

    def _on_accept(self, conn: socket.socket) -> None:
        self.held.append(conn)

    def close(self) -> None:
        super().close()
        for c in self.held:
            c.close()
