"""`keyfob certs dev` and `keyfob serve --https` with what it made, as a developer runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from cryptography import x509

from tests.integration.test_certs_support import TlsTarget, keyfob, keyfob_env, serving, tls_get
from tests.mailsink import free_port

TOKEN = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"  # the shape of an ACME token


def dev_paths(var: Path) -> dict[str, Path]:
    folder = var / "certs" / "dev"
    return {name: folder / name for name in ("ca.pem", "ca.key", "cert.pem", "key.pem")}


def test_certs_dev_makes_a_ca_and_a_certificate_openssl_accepts(tmp_path: Path) -> None:
    env = keyfob_env(tmp_path / "var", site_url="http://localhost:8000")
    result = keyfob("certs", "dev", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    paths = dev_paths(tmp_path / "var")
    for section in ("Debian / Ubuntu", "Chrome / Chromium on Linux", "macOS", "Windows", "Firefox"):
        assert section in result.stdout
    assert result.stdout.count("undo:") == 5
    assert str(paths["ca.pem"]) in result.stdout
    assert paths["ca.key"].stat().st_mode & 0o777 == 0o600
    assert paths["key.pem"].stat().st_mode & 0o777 == 0o600

    for check in (
        ["-verify_hostname", "localhost"],
        ["-verify_ip", "127.0.0.1"],
        ["-verify_ip", "::1"],
    ):
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", paths["ca.pem"], "-purpose", "sslserver", *check,
             paths["cert.pem"]],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.strip().endswith(": OK")


def test_a_second_run_reuses_the_ca_and_keeps_a_valid_certificate(tmp_path: Path) -> None:
    env = keyfob_env(tmp_path / "var", site_url="http://localhost:8000")
    keyfob("certs", "dev", cwd=tmp_path, env=env)
    paths = dev_paths(tmp_path / "var")
    before = {name: path.read_bytes() for name, path in paths.items()}
    again = keyfob("certs", "dev", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "Development CA reused" in again.stdout and "still valid, kept" in again.stdout
    assert {name: path.read_bytes() for name, path in paths.items()} == before


def test_a_new_site_host_gets_a_new_certificate_from_the_same_ca(tmp_path: Path) -> None:
    var = tmp_path / "var"
    keyfob("certs", "dev", cwd=tmp_path, env=keyfob_env(var, site_url="http://localhost:8000"))
    ca_before = dev_paths(var)["ca.pem"].read_bytes()
    env = keyfob_env(var, site_url="https://keyfob.test", smtp_url="smtp://127.0.0.1:9")
    moved = keyfob("certs", "dev", cwd=tmp_path, env=env)
    assert moved.returncode == 0, moved.stderr
    assert "Certificate for keyfob.test issued" in moved.stdout
    assert dev_paths(var)["ca.pem"].read_bytes() == ca_before
    leaf = x509.load_pem_x509_certificates(dev_paths(var)["cert.pem"].read_bytes())[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["keyfob.test", "localhost"]


def test_serve_https_serves_it_and_redirects_plain_http(tmp_path: Path) -> None:
    port, plain = free_port(), free_port()
    env = keyfob_env(tmp_path / "var", site_url=f"https://localhost:{port}")
    assert keyfob("certs", "dev", cwd=tmp_path, env=env).returncode == 0
    target = TlsTarget(port, "localhost", dev_paths(tmp_path / "var")["ca.pem"])
    args = ("--https", "--port", str(port), "--redirect-http", str(plain))
    with serving(*args, cwd=tmp_path, env=env, ready="/healthz", tls=target):
        answer = tls_get(target, "/login")
        assert answer.status == 200
        assert "strict-transport-security" in answer.headers.lower()

        base = f"http://127.0.0.1:{plain}"
        moved = httpx.get(f"{base}/account?next=1", headers={"Host": "evil.example"})
        assert moved.status_code == 308
        assert moved.headers["location"] == f"https://localhost:{port}/account?next=1"

        assert httpx.get(f"{base}/.well-known/acme-challenge/{TOKEN}").status_code == 404
        answers = tmp_path / "var" / "acme-challenge"
        answers.mkdir()
        (answers / TOKEN).write_text(f"{TOKEN}.thumbprint")
        found = httpx.get(f"{base}/.well-known/acme-challenge/{TOKEN}")
        assert (found.status_code, found.text) == (200, f"{TOKEN}.thumbprint")
        assert tls_get(target, f"/.well-known/acme-challenge/{TOKEN}").status == 200


def test_serve_https_without_a_certificate_says_what_to_run(tmp_path: Path) -> None:
    env = keyfob_env(tmp_path / "var", site_url="https://localhost:8443")
    result = keyfob("serve", "--https", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "no certificate for localhost" in result.stderr
    assert "`keyfob certs dev`" in result.stderr


def test_redirect_http_goes_with_https(tmp_path: Path) -> None:
    env = keyfob_env(tmp_path / "var", site_url="http://localhost:8000")
    result = keyfob("serve", "--redirect-http", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "--redirect-http PORT goes with --https" in result.stderr
