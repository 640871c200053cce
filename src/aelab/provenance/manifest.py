"""Signed metadata: a C2PA manifest (Coalition for Content Provenance and Authenticity) attached to a
PNG with ``c2pa-python``, signed by a test certificate the kit makes itself (no network, no real CA).

:func:`test_credentials` makes a throw-away certificate authority and an end-entity certificate it
signs (ECDSA P-256, with the key usages C2PA asks of a signer) with ``cryptography``. :func:`sign_png`
embeds a manifest saying "created by a trained algorithm" in the PNG's bytes; :func:`verify` reads it
back and returns the validation state the C2PA library gives ("Valid", "Invalid"...), or "missing"
when the file holds no manifest at all -- which is what any re-encode (a screenshot, a re-save, a JPEG
conversion) leaves, since the manifest lives in the file's bytes, not in its pixels. The test CA is not
on C2PA's trust list, so a valid manifest reports the status ``signingCredential.untrusted`` too.
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass

from torch import Tensor

from aelab.forensics.degrade import to_uint8
from aelab.validate import check_images

__all__ = ["Credentials", "test_credentials", "png_bytes", "sign_png", "verify"]

_DIGITAL_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@dataclass(frozen=True)
class Credentials:
    """PEM bytes: the signer's certificate chain (end entity, then CA) and its private key."""

    chain: bytes
    private_key: bytes


def test_credentials(organisation: str = "aelab test") -> Credentials:
    """A fresh test CA and a signing certificate it issues (ECDSA P-256, valid 2026-2036)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            ]
        )

    def usage(signer: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not signer,
            crl_sign=not signer,
            encipher_only=False,
            decipher_only=False,
        )

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    end = start + datetime.timedelta(days=3650)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(signer=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("signed decoder"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Credentials(leaf.public_bytes(pem) + ca.public_bytes(pem), private)


def png_bytes(image: Tensor) -> bytes:
    """One image (1, 3, H, W) in [0, 1] as the bytes of an 8-bit PNG (Pillow)."""
    from PIL import Image

    image = check_images("image", image, channels=3)
    if len(image) != 1:
        raise ValueError(f"image must hold one image (1, 3, H, W), got {tuple(image.shape)}")
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def sign_png(data: bytes, credentials: Credentials, *, title: str = "swap.png", generator: str = "aelab") -> bytes:
    """The PNG ``data`` with a C2PA manifest (action "c2pa.created" by a trained algorithm) signed by
    ``credentials``."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": generator}],
        "title": title,
        "format": "image/png",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": _DIGITAL_SOURCE}]},
            }
        ],
    }
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.chain, credentials.private_key, None)
    )
    out = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, "image/png", io.BytesIO(data), out)
    return out.getvalue()


def verify(data: bytes) -> tuple[str, list[str]]:
    """The C2PA validation state of PNG ``data`` and its status codes; ("missing", []) without a manifest."""
    import c2pa

    try:
        with c2pa.Reader("image/png", io.BytesIO(data)) as reader:
            report = json.loads(reader.json())
    except c2pa.C2paError as error:
        if "ManifestNotFound" in type(error).__name__ or "no JUMBF" in str(error):
            return "missing", []
        raise
    codes = [entry["code"] for entry in report.get("validation_status", [])]
    return str(report.get("validation_state", "unknown")), codes
