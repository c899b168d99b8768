# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The write probe: does a server take a write right now?

One probe for ``kvmigrate.replication.write_check`` and the fenced cutover's ``check_writes``. It has three answers,
not two: a write is ``refused`` only when the server itself answers with a refusal code (``READONLY``: a replica, on
Redis, Valkey, KeyDB and Dragonfly alike; ``NOREPLICAS``: ``min-replicas-to-write`` not met, on Redis, Valkey and
KeyDB). A timeout, a reset connection, a permission error or any other failure proves nothing about the server's
role: it is ``unknown``, and every caller treats ``unknown`` as a failed check.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import redis_exceptions

ACCEPTED = 'accepted'
REFUSED = 'refused'
UNKNOWN = 'unknown'

PROBE_KEY = 'kvmigrate:write-check'
PROBE_TTL_MS = 60000

# The error codes a server answers a write with because of its role or its replicas. redis-py maps READONLY to
# ReadOnlyError and strips the code from the message; NOREPLICAS stays a plain ResponseError with the code first.
REFUSAL_CODES = ('READONLY', 'NOREPLICAS')


def refusal_code(exc):
    """The refusal code (``READONLY`` or ``NOREPLICAS``) of a server's error reply, else None (timeouts, resets,
    NOPERM, OOM, a reply cut short: none of them shows that the server refuses writes by its role)."""
    if redis_exceptions is None or not isinstance(exc, redis_exceptions.ResponseError):
        return None
    if isinstance(exc, redis_exceptions.ReadOnlyError):
        return 'READONLY'
    code = str(exc).strip().split(' ', 1)[0].lstrip('-').upper()
    return code if code in REFUSAL_CODES else None


def refusal_text(exc):
    """The server's answer as it sent it (redis-py drops the READONLY code from the message)."""
    text = str(exc).strip()
    code = refusal_code(exc)
    if code and not text.upper().startswith(code):
        text = '%s %s' % (code, text)
    return text


def probe_write(server, key=PROBE_KEY, ttl_ms=PROBE_TTL_MS):
    """Write ``key`` (expiring after ``ttl_ms``) to a connected Server and read it back.

    Returns a dict: ``outcome`` (accepted, refused or unknown), ``error`` (the server's refusal, or a sentence on
    why the outcome is unknown, naming the endpoint) and ``refusal`` (the refusal code or None). The server's
    client bounds how long the probe waits: a server that holds writes (CLIENT PAUSE) gives ``unknown``.
    """
    token = '%.6f:%d' % (time.time(), os.getpid())
    try:
        server.client.set(key, token, px=int(ttl_ms))
    except Exception as exc:  # sorted below: only a refusal code counts as refused
        code = refusal_code(exc)
        if code:
            return dict(outcome=REFUSED, error=refusal_text(exc), refusal=code)
        return dict(outcome=UNKNOWN, error=_unknown(server, exc, 'SET'), refusal=None)
    try:
        value = server.client.get(key)
    except Exception as exc:  # the write was taken; the read-back failing leaves it unproven
        return dict(outcome=UNKNOWN, error=_unknown(server, exc, 'GET'), refusal=None)
    if value != token:
        return dict(outcome=UNKNOWN, refusal=None,
                    error='%s %s acknowledged the probe write but returned another value for %s (another probe at '
                          'the same moment?)' % (server.what, server.endpoint, key))
    return dict(outcome=ACCEPTED, error=None, refusal=None)


def _unknown(server, exc, command):
    cause, sentence = server.explain(exc, command)
    if cause == 'no_answer':  # that sentence already names the command
        return sentence.rstrip('.')
    return '%s (while running %s)' % (sentence.rstrip('.'), command)
