"""The verify step of a rehearsal: testinfra checks a scenario imports (docs/rehearsal.md)::

    # molecule/rehearsal/tests/test_rehearsal.py
    from ansible_collections.kvmigrate.replication.tests.rehearsal.checks import *  # noqa: F401,F403

Per pair, after ``migrate.yml -e migrate_promote=true``: the promoted target is a primary holding every sampled key
with its recorded value; its source is fenced (the server refuses a write with READONLY or NOREPLICAS); the other
targets of that source (``kvmigrate_promote: false``) replicate from the new primary; the migration report holds each
pair's write pause and sync time.

Where things are: the record of the prepare step in ``MOLECULE_EPHEMERAL_DIRECTORY`` (``rehearsal-record.json``),
the reports in ``KVMIGRATE_REHEARSAL_REPORTS``, the inventory as ``staging.load_pairs`` finds it.
"""
import os
import time

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import connection
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import probe
from ansible_collections.kvmigrate.replication.tests.rehearsal import staging
from ansible_collections.kvmigrate.replication.tests.rehearsal import summary

__all__ = ['testinfra_hosts', 'rehearsal_record', 'rehearsal_pairs', 'rehearsal_reports',
           'test_promoted_targets_are_primaries_with_every_sampled_key',
           'test_sources_of_promoted_targets_are_fenced', 'test_other_targets_follow_the_new_primary',
           'test_report_has_write_pause_and_sync_time_of_every_pair']

testinfra_hosts = ['local://']

# A replica's link comes up a moment after REPLICAOF (the sibling is moved last): wait this long before failing.
SETTLE_SECONDS = 15.0


@pytest.fixture(scope='session')
def rehearsal_record():
    """What the prepare step recorded (staging.snapshot)."""
    directory = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY')
    assert directory, 'MOLECULE_EPHEMERAL_DIRECTORY is not set: run the checks with molecule verify'
    return staging.read_record(os.path.join(directory, staging.RECORD_NAME))


@pytest.fixture(scope='session')
def rehearsal_pairs():
    """The inventory's pairs (staging.load_pairs), credentials resolved in memory."""
    return staging.load_pairs()


@pytest.fixture(scope='session')
def rehearsal_reports(rehearsal_record):
    """The migration reports written since the record, oldest first."""
    directory = os.environ.get('KVMIGRATE_REHEARSAL_REPORTS')
    assert directory, 'KVMIGRATE_REHEARSAL_REPORTS is not set: the scenario\'s molecule.yml sets it (provisioner env)'
    return summary.collect(directory, since=rehearsal_record['recorded_at'])


def _with(options, what, use):
    server = staging.connect(options, what)
    try:
        return use(server)
    finally:
        server.close()


def _promoted(pairs):
    return [p for p in pairs if p.promote]


def test_promoted_targets_are_primaries_with_every_sampled_key(rehearsal_pairs, rehearsal_record):
    assert _promoted(rehearsal_pairs), 'no pair has kvmigrate_promote true: nothing was promoted'
    problems = []
    for pair in _promoted(rehearsal_pairs):
        def check(server, pair=pair):
            role = staging.describe(server)['role']
            if role != info_utils.ROLE_PRIMARY:
                return ['target of %s (%s) is a %s, not a primary.' % (pair.name, server.endpoint, role)]
            sample = rehearsal_record['samples'].get(pair.source_endpoint)
            if not sample:
                return ['source of %s (%s) had no sampled key: prepare found no key without a TTL.'
                        % (pair.name, pair.source_endpoint)]
            return staging.sample_problems(server, sample, 'target of %s' % pair.name)
        problems.extend(_with(pair.target, 'target of %s' % pair.name, check))
    assert not problems, '\n'.join(problems)


def test_sources_of_promoted_targets_are_fenced(rehearsal_pairs):
    problems = []
    for pair in _promoted(rehearsal_pairs):
        found = _with(pair.source, 'source of %s' % pair.name, probe.probe_write)
        # only the server's own refusal counts; a timeout or NOPERM proves nothing (probe.py)
        if found['outcome'] != probe.REFUSED:
            problems.append('source of %s (%s) is not fenced: the write probe was %s%s.'
                            % (pair.name, pair.source_endpoint, found['outcome'],
                               ' (%s)' % found['error'] if found['error'] else ''))
    assert not problems, '\n'.join(problems)


def test_other_targets_follow_the_new_primary(rehearsal_pairs):
    problems = []
    for pair in rehearsal_pairs:
        if pair.promote:
            continue
        primaries = [p for p in _promoted(rehearsal_pairs)
                     if connection.same_endpoint(p.source['login_host'], p.source['login_port'],
                                                 pair.source['login_host'], pair.source['login_port'])]
        if not primaries:
            continue  # no target of its source was promoted: it stays behind its source, as migrate.yml leaves it
        new = primaries[0].target

        def follows(server, new=new):
            deadline = time.time() + SETTLE_SECONDS
            while True:
                now = staging.describe(server)
                ok = (now['role'] == info_utils.ROLE_REPLICA and now['link_up']
                      and connection.same_endpoint(now['primary_host'], now['primary_port'], new['login_host'], new['login_port']))
                if ok or time.time() > deadline:
                    return ok, now
                time.sleep(0.2)
        ok, now = _with(pair.target, 'target of %s' % pair.name, follows)
        if not ok:
            problems.append('target of %s (%s) should replicate from the new primary %s (link up); it is a %s of %s, '
                            'link up: %s.' % (pair.name, pair.target_endpoint, primaries[0].target_endpoint,
                                              now['role'], now['primary'], now['link_up']))
    assert not problems, '\n'.join(problems)


def test_report_has_write_pause_and_sync_time_of_every_pair(rehearsal_pairs, rehearsal_reports):
    assert rehearsal_reports, 'no migration report was written since prepare (KVMIGRATE_REHEARSAL_REPORTS)'
    found = summary.pairs(rehearsal_reports)
    problems = []
    for pair in rehearsal_pairs:
        entry = found.get(pair.name)
        if entry is None:
            problems.append('%s is in no migration report.' % pair.name)
            continue
        if entry['failed']:
            problems.append('%s failed in the migration.' % pair.name)
        if entry['sync_seconds'] is None:
            problems.append('%s has no sync time in the reports.' % pair.name)
        if pair.promote and entry['write_pause_ms'] is None:
            problems.append('%s was to be promoted, and no report holds its write pause.' % pair.name)
    assert not problems, '\n'.join(problems)
