# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting for a replica to be in sync: the wait options (doc fragment
``wait``) and the one polling loop the modules and roles share."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, endpoint, resolve, validate_port)


def wait_argument_spec():
    """Options of doc fragment ``wait``."""
    return dict(
        timeout=dict(type='float', default=3600.0),
        poll_interval=dict(type='float', default=0.1),
        max_lag_bytes=dict(type='int'),
        max_lag_seconds=dict(type='float'),
        stable_for=dict(type='float', default=0.0),
        link_down_timeout=dict(type='float', default=30.0),
    )


def validate_wait_params(params):
    for option in ('timeout', 'poll_interval'):
        if params[option] is None or params[option] <= 0:
            raise KvmigrateError("Option %s=%s must be a positive number of seconds." % (option, params[option]))
    for option in ('stable_for', 'link_down_timeout', 'max_lag_seconds', 'max_lag_bytes'):
        if params.get(option) is not None and params[option] < 0:
            raise KvmigrateError("Option %s=%s must not be negative." % (option, params[option]))
    if params.get('primary_port') is not None:
        validate_port(params['primary_port'], 'primary_port')


# Most (t, lag_bytes) samples a wait returns; past this, every other one is dropped and sampling slows down.
LAG_SAMPLES_MAX = 120


class _FinalError(KvmigrateError):
    """A reason to stop waiting at once: waiting longer cannot fix it."""


class SyncWaiter(object):
    """Polls a target (and its source) until it is a synced replica whose lag is
    within bounds for ``stable_for`` seconds, or fails with the reason."""

    def __init__(self, target, params, clock=time.monotonic, sleep=time.sleep):
        self.target = target
        self.params = params
        self.clock = clock
        self.sleep = sleep
        self.source = None
        self.source_host = None
        self.source_port = None
        self.link_user = None
        self.link_password = None
        self.secrets = []
        self.started = clock()
        self.progress = dict(full_sync_seen=False, sync_percent_max=None, sync_total_bytes=None,
                             seconds_to_link_up=None, seconds_to_synced=None, samples=0)
        self.lag_samples = []
        self._sample_every = 1

    # -- set-up -------------------------------------------------------------------------------------------------------
    def _link_credentials(self):
        """The credentials the target's replication link uses, so a probe with them tells why the link is down."""
        user, password = self.target.link_credentials()
        if password is None:  # not readable or not set: fall back to primary_user/primary_password
            user, password = self.params.get('primary_user'), self.params.get('primary_password')
        if password:
            self.secrets.append(password)
        self.link_user, self.link_password = user, password

    def _connect_source(self):
        user = self.params.get('primary_user') or self.link_user
        password = self.params.get('primary_password') or self.link_password
        self.source = connect(self.params, host=self.source_host, port=self.source_port, username=user, password=password,
                              what='source', secrets=self.secrets, option_prefix='primary_')
        self.source.identify()
        ok, reason = info_utils.replication_compatibility(self.source.flavor, self.source.version,
                                                          self.target.flavor, self.target.version)
        if not ok:
            raise _FinalError("Target %s cannot replicate from source %s: %s. Migrate through a version both can "
                              "handle, or choose a newer target." % (self.target.endpoint, self.source.endpoint, reason))
        lag_limits = (self.params.get('max_lag_bytes'), self.params.get('max_lag_seconds'))
        if self.source.flavor == 'dragonfly' and any(limit is not None for limit in lag_limits):
            raise _FinalError("Source %s is Dragonfly, which reports no replication offsets or lag in seconds: "
                              "max_lag_bytes/max_lag_seconds cannot be checked; leave them unset." % self.source.endpoint)

    def _probe_link_credentials(self):
        """Connect to the source as the target's link does; auth errors are final, anything else may pass."""
        try:
            probe = connect(self.params, host=self.source_host, port=self.source_port, username=self.link_user,
                            password=self.link_password, what='source', secrets=self.secrets, option_prefix='primary_')
        except KvmigrateError as exc:
            if exc.cause == 'auth':
                self._raise_auth(exc, link=True)
            return exc.msg
        probe.close()
        return None

    def _raise_auth(self, exc, link=False):
        if link or not (self.params.get('primary_user') or self.params.get('primary_password')):
            raise _FinalError(
                "Target %s cannot authenticate its replication link: %s The target uses masteruser/masterauth; set them "
                "with kvmigrate.replication.replicaof primary_user/primary_password." % (self.target.endpoint, exc.msg))
        raise _FinalError(exc.msg)

    # -- the loop ---------------------------------------------------------------------------------------------------
    def _evaluate(self, source_status, target_status):
        lag = info_utils.replica_lag(source_status, target_status, resolve(self.target.host), self.target.port) \
            if source_status else dict(lag_bytes=None, lag_seconds=None, offset_source=None)
        unmet = []
        if not target_status.get('synced'):
            unmet.append('not synced (%s)' % target_status.get('sync_state'))
        max_bytes, max_seconds = self.params.get('max_lag_bytes'), self.params.get('max_lag_seconds')
        if max_bytes is not None and (lag['lag_bytes'] is None or lag['lag_bytes'] > max_bytes):
            unmet.append('lag %s bytes > max_lag_bytes %s' % (lag['lag_bytes'], max_bytes))
        if max_seconds is not None and (lag['lag_seconds'] is None or lag['lag_seconds'] > max_seconds):
            unmet.append('lag %s s > max_lag_seconds %s' % (lag['lag_seconds'], max_seconds))
        return lag, unmet

    def _note_progress(self, status, elapsed):
        self.progress['samples'] += 1
        if status.get('sync_in_progress'):
            self.progress['full_sync_seen'] = True
            percent = status.get('sync_percent')
            if percent is not None:
                self.progress['sync_percent_max'] = max(self.progress['sync_percent_max'] or 0.0, percent)
            if status.get('sync_total_bytes'):
                self.progress['sync_total_bytes'] = status['sync_total_bytes']
        if status.get('link_up') and self.progress['seconds_to_link_up'] is None:
            self.progress['seconds_to_link_up'] = round(elapsed, 3)
        if status.get('synced') and self.progress['seconds_to_synced'] is None:
            self.progress['seconds_to_synced'] = round(elapsed, 3)

    def _keep_lag_sample(self, elapsed, lag_bytes):
        """A bounded list of [seconds, lag_bytes] for a chart: halve it when full, and keep every other poll after."""
        if (self.progress['samples'] - 1) % self._sample_every:
            return
        self.lag_samples.append([round(elapsed, 3), lag_bytes])
        if len(self.lag_samples) >= LAG_SAMPLES_MAX:
            self.lag_samples = self.lag_samples[::2]
            self._sample_every *= 2

    def elapsed(self):
        return round(self.clock() - self.started, 3)

    def run(self):
        params = self.params
        start = self.started
        dummy, dummy, status = self.target.status()
        if status.get('role') != 'replica':
            raise KvmigrateError("Target %s is not a replica (role %s): run kvmigrate.replication.replicaof with "
                                 "state=replica first." % (self.target.endpoint, status.get('role')))
        self.source_host = params.get('primary_host') or status.get('primary_host')
        self.source_port = params.get('primary_port') or status.get('primary_port')
        self._link_credentials()

        down_since = None
        stable_since = None
        last_error = None
        lag, unmet = dict(lag_bytes=None, lag_seconds=None, offset_source=None), ['not checked yet']
        while True:
            now = self.clock()
            elapsed = now - start
            source_status = None
            if self.source is None:
                try:
                    self._connect_source()
                except KvmigrateError as exc:
                    if exc.cause == 'auth':
                        self._raise_auth(exc)
                    if isinstance(exc, _FinalError) or exc.cause == 'dns':
                        # a source name that does not resolve will not start to; without this a wait with no lag
                        # limits reported synced=true without ever reaching the source it was told to compare
                        raise
                    last_error = exc.msg
            if self.source is not None:
                try:
                    dummy, dummy, source_status = self.source.status()
                except KvmigrateError as exc:
                    last_error = exc.msg
                    self.source.close()
                    self.source = None
            dummy, dummy, status = self.target.status()
            if status.get('role') != 'replica':
                raise KvmigrateError("Target %s stopped being a replica while waiting (role %s now): another operation "
                                     "changed it." % (self.target.endpoint, status.get('role')))
            self._note_progress(status, elapsed)
            lag, unmet = self._evaluate(source_status, status)
            self._keep_lag_sample(elapsed, lag['lag_bytes'])

            link_down = not status.get('link_up') and not status.get('sync_in_progress')
            if link_down:
                down_since = now if down_since is None else down_since
                if now - down_since >= min(1.0, params['link_down_timeout']):
                    reason = self._probe_link_credentials()
                    last_error = reason or last_error
                if now - down_since >= params['link_down_timeout']:
                    raise KvmigrateError(
                        "Target %s: replication link to %s has been down for %.1f s (limit link_down_timeout=%s)%s. "
                        "Check that the source runs and that the target can reach it." % (
                            self.target.endpoint, endpoint(self.source_host, self.source_port), now - down_since,
                            params['link_down_timeout'], ': %s' % last_error if last_error else ''),
                        replication=status, sync_progress=self.progress, elapsed=round(elapsed, 3))
            else:
                down_since = None

            if not unmet:
                stable_since = now if stable_since is None else stable_since
                if now - stable_since >= params['stable_for']:
                    # back to back, so live writes move the two counts as little as possible
                    source_keys = self.source.key_count() if self.source is not None else None
                    target_keys = self.target.key_count()
                    return dict(synced=True, source_keys=source_keys, target_keys=target_keys,
                                elapsed=round(self.clock() - start, 3), lag_bytes=lag['lag_bytes'],
                                lag_seconds=lag['lag_seconds'], offset_source=lag['offset_source'],
                                sync_progress=self.progress, replication=status, lag_samples=self.lag_samples,
                                primary=endpoint(self.source_host, self.source_port))
            else:
                stable_since = None

            if elapsed >= params['timeout']:
                if not unmet:
                    unmet = ['conditions held for %.1f s, short of stable_for=%s s' % (now - stable_since, params['stable_for'])]
                raise KvmigrateError(
                    "Target %s did not reach sync with %s within timeout=%s s: %s." % (
                        self.target.endpoint, endpoint(self.source_host, self.source_port), params['timeout'],
                        '; '.join(unmet)),
                    synced=False, replication=status, sync_progress=self.progress, lag_bytes=lag['lag_bytes'],
                    lag_seconds=lag['lag_seconds'], elapsed=round(elapsed, 3))
            self.sleep(min(params['poll_interval'], max(0.0, params['timeout'] - elapsed)))

    def close(self):
        if self.source is not None:
            self.source.close()
