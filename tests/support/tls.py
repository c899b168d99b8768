"""Certificates made by the tests (cryptography) and redis-server listening only with TLS.

``make_pki(directory)`` writes a CA, a server certificate for 127.0.0.1 (IP SAN only, so ``localhost`` does not
match it), a client certificate from the same CA, and a second CA that signed none of them.
``TlsRedisServer`` is a ``RedisServer`` with ``port 0`` and ``tls-port``: clients must present a certificate
(``tls-auth-clients yes``) and replication runs over TLS (``tls-replication yes``).
"""
import datetime
import ipaddress
import os

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.servers import RedisServer


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _certificate(subject, issuer_name, public_key, signing_key, ca=False, san=None, usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_pki(directory):
    """Write the files and return their paths: ca, server_cert/key, client_cert/key, other_ca."""
    paths = {}
    ca_key = _key()
    ca_cert = _certificate('kvmigrate test CA', 'kvmigrate test CA', ca_key.public_key(), ca_key, ca=True)
    paths['ca'] = _write(os.path.join(directory, 'ca.pem'), ca_cert.public_bytes(serialization.Encoding.PEM))
    both_ways = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    for name, san, usage in (('server', [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))], both_ways),
                             ('client', None, [ExtendedKeyUsageOID.CLIENT_AUTH])):
        key = _key()
        cert = _certificate('kvmigrate test %s' % name, 'kvmigrate test CA', key.public_key(), ca_key, san=san, usage=usage)
        paths['%s_cert' % name] = _write(os.path.join(directory, '%s.pem' % name), cert.public_bytes(serialization.Encoding.PEM))
        paths['%s_key' % name] = _write(os.path.join(directory, '%s.key' % name), _pem_key(key))
    other_key = _key()
    other = _certificate('some other CA', 'some other CA', other_key.public_key(), other_key, ca=True)
    paths['other_ca'] = _write(os.path.join(directory, 'other-ca.pem'), other.public_bytes(serialization.Encoding.PEM))
    return paths


class TlsRedisServer(RedisServer):
    """redis-server with TLS only: ``port 0``, ``tls-port``, client certificates required, TLS replication."""

    def __init__(self, pki, binary=None, password=None, extra=(), name='tls'):
        self.pki = pki
        tls_lines = ['port 0', 'tls-port %d', 'tls-cert-file %s' % pki['server_cert'], 'tls-key-file %s' % pki['server_key'],
                     'tls-ca-cert-file %s' % pki['ca'], 'tls-auth-clients yes', 'tls-replication yes']
        super(TlsRedisServer, self).__init__(binary=binary, password=password, extra=(), name=name)
        self.extra = tls_lines + list(extra)

    def _start(self, timeout):
        # the TLS port is the port picked, which start() may pick again
        self.extra[1] = 'tls-port %d' % self.port
        return super(TlsRedisServer, self)._start(timeout)

    def client(self, **kw):
        kw.setdefault('socket_timeout', 30)
        return redis.Redis(host=self.host, port=self.port, password=self.password, decode_responses=True,
                           ssl=True, ssl_ca_certs=self.pki['ca'], ssl_certfile=self.pki['client_cert'],
                           ssl_keyfile=self.pki['client_key'], **kw)

    def module_args(self):
        """The connection options a module needs to reach this server."""
        return dict(login_host=self.host, login_port=self.port, tls=True, ca_certs=self.pki['ca'],
                    client_cert_file=self.pki['client_cert'], client_key_file=self.pki['client_key'])
