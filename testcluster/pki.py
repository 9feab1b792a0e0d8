"""Certificates and keys for one cluster, generated at start with the ``openssl`` CLI.

One throwaway CA signs every certificate, so clients verify the apiserver and the
apiserver verifies the node agent's kubelet endpoint like a real cluster does
(no ``insecure-skip-tls-verify`` anywhere). Keys are ECDSA P-256: fast to generate.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = "30"
# Our own minimal config: the distribution's openssl.cnf adds CA extensions to every
# `req -x509` certificate, which would make the leaf certificates CAs too.
_OPENSSL_CNF = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = testcluster\n"
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    """Paths of the generated files."""

    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    kubelet_client_cert: Path  # the apiserver's client certificate towards the kubelet
    kubelet_client_key: Path
    node_cert: Path  # the node agent's serving certificate for its kubelet endpoint
    node_key: Path
    service_account_key: Path
    service_account_public_key: Path
    # The real kubelet's client certificate (system:node:<node>, group system:nodes), so the
    # apiserver's Node authorizer limits it like any kubelet.
    node_client_cert: Path | None = None
    node_client_key: Path | None = None


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def _leaf(cnf: Path, ca: tuple[Path, Path], out: tuple[Path, Path], subject: str, extensions: list[str]) -> None:
    ca_cert, ca_key = ca
    cert, key = out
    addext = [arg for ext in extensions for arg in ("-addext", ext)]
    _openssl("req", "-x509", "-config", str(cnf), *_EC_KEY, "-days", VALID_DAYS, "-subj", subject,
             "-CA", str(ca_cert), "-CAkey", str(ca_key), "-keyout", str(key), "-out", str(cert), *addext)


def generate(directory: Path, node_name: str = "testcluster-node") -> Pki:
    """Create a fresh CA, the serving and client certificates, and the service-account key."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    cnf = directory / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF)
    pki = Pki(
        ca_cert=directory / "ca.crt", ca_key=directory / "ca.key",
        apiserver_cert=directory / "apiserver.crt", apiserver_key=directory / "apiserver.key",
        kubelet_client_cert=directory / "apiserver-kubelet-client.crt",
        kubelet_client_key=directory / "apiserver-kubelet-client.key",
        node_cert=directory / "node.crt", node_key=directory / "node.key",
        service_account_key=directory / "service-account.key",
        service_account_public_key=directory / "service-account.pub",
        node_client_cert=directory / "node-client.crt", node_client_key=directory / "node-client.key",
    )
    _openssl("req", "-x509", "-config", str(cnf), *_EC_KEY, "-days", VALID_DAYS,
             "-subj", f"/CN=testcluster-ca-{secrets.token_hex(4)}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
             "-keyout", str(pki.ca_key), "-out", str(pki.ca_cert))
    ca = (pki.ca_cert, pki.ca_key)
    server = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
              "extendedKeyUsage=serverAuth"]
    _leaf(cnf, ca, (pki.apiserver_cert, pki.apiserver_key), "/CN=kube-apiserver",
          [*server, "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc"])
    _leaf(cnf, ca, (pki.node_cert, pki.node_key), "/CN=testcluster-node",
          [*server, "subjectAltName=IP:127.0.0.1,DNS:localhost"])
    _leaf(cnf, ca, (pki.kubelet_client_cert, pki.kubelet_client_key),
          "/O=system:masters/CN=kube-apiserver-kubelet-client",
          ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
           "extendedKeyUsage=clientAuth"])
    assert pki.node_client_cert is not None and pki.node_client_key is not None
    _leaf(cnf, ca, (pki.node_client_cert, pki.node_client_key), f"/O=system:nodes/CN=system:node:{node_name}",
          ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"])
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(pki.service_account_key))
    _openssl("pkey", "-in", str(pki.service_account_key), "-pubout", "-out", str(pki.service_account_public_key))
    return pki
