"""How to make browsers and tools trust the development CA, and how to stop trusting it.

Printed by `keyfob certs dev`: the commands name this CA's file, common name, serial and
fingerprint, so they can be pasted as they are and undone exactly.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

ANCHOR_NAME = "keyfob-dev-ca"

TEMPLATE = """\
Trust the development CA once per machine (it signs only what `keyfob certs dev` makes):
  CA certificate: {pem}
  name: {name}
  SHA-256 fingerprint: {sha256}

Debian / Ubuntu (system store: curl, Python, and most command-line tools)
  sudo cp '{pem}' /usr/local/share/ca-certificates/{anchor}.crt
  sudo update-ca-certificates
  undo: sudo rm /usr/local/share/ca-certificates/{anchor}.crt && sudo update-ca-certificates --fresh

Chrome / Chromium on Linux (per-user NSS store; `apt install libnss3-tools` for certutil)
  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n {anchor} -i '{pem}'
  undo: certutil -d sql:$HOME/.pki/nssdb -D -n {anchor}

macOS (System keychain: Safari, Chrome, curl)
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain '{pem}'
  undo: sudo security delete-certificate -Z {sha1} /Library/Keychains/System.keychain

Windows (current user's Root store: Edge, Chrome; confirm the dialog)
  certutil -user -addstore Root "{pem}"
  undo: certutil -user -delstore Root {serial}

Firefox (keeps its own store on every system)
  Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import,
  choose {pem} and tick "Trust this CA to identify websites".
  undo: same list, select "{name}" > Delete or Distrust.

Keep {key} private: whoever holds it can make certificates this machine trusts.
Undo the trust when you no longer develop here, then delete {folder}.
"""


def instructions(pem: Path, key: Path, ca: x509.Certificate) -> str:
    names = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return TEMPLATE.format(
        pem=pem.resolve(),
        key=key.resolve(),
        folder=pem.resolve().parent,
        anchor=ANCHOR_NAME,
        name=str(names[0].value) if names else ca.subject.rfc4514_string(),
        sha256=ca.fingerprint(hashes.SHA256()).hex(":").upper(),
        sha1=ca.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - macOS names certs by SHA-1
        serial=format(ca.serial_number, "x"),
    )
