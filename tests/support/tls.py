"""Throw-away certificates for TLS tests, made with the openssl CLI."""

from __future__ import annotations

import os
import subprocess


def make_certs(d: str) -> None:
    """A CA (``ca.pem``), a server certificate for 127.0.0.1 (``server.pem``/``.key``) and a client certificate
    (``client.pem``/``.key``) signed by it, in directory ``d``."""

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pycad-ca",
         "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for who, ext in (("server", ["-extfile", "san.cnf"]), ("client", [])):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", f"{who}.key",
             "-out", f"{who}.csr")  # fmt: skip
        ossl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", f"{who}.pem", *ext)  # fmt: skip
