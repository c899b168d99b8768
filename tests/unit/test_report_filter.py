"""migration_report and migration_report_html: the record of a run from each pair's registered results, and its page.
The fleet and browser integration tests render both from real runs; these pin each rule on results shaped as the
modules return them."""
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.filter.report import migration_report, migration_report_html
from tests.support.page import parse

T0 = 1796178291.0
ENDS = dict(kvmigrate_target_host='10.0.0.2', kvmigrate_target_port=6380, kvmigrate_source_host='10.0.0.1',
            kvmigrate_target_password='t-secret', kvmigrate_source_password='s-secret', migrate_started_at=T0)
PREFLIGHT = dict(changed=False, blockers=0, warning_count=1, cut_over=False, promoted=False,
                 findings=[dict(severity='ok', message='versions load each other'),
                           dict(severity='warning', message='the backlog holds 3 s of writes'),
                           dict(severity='info', message='source has 5120 keys')],
                 source=dict(dbsize=5120, used_memory=1850216), target=dict(dbsize=0, maxmemory=0))
REPLICAOF = dict(changed=True, timeline=dict(started_at=T0 + 30.0, finished_at=T0 + 30.2),
                 sync_slot=dict(queued=True, waited_seconds=1.5, full_syncs_seen=1))
VERIFY = dict(changed=False, synced=True, lag_bytes=0, lag_seconds=0, source_keys=5313, target_keys=5313,
              lag_samples=[[0.0, 120], [0.5, 0]], timeline=dict(started_at=T0 + 40.0, finished_at=T0 + 41.0, synced_at=T0 + 40.5),
              sync_progress=dict(full_sync_seen=True))
PROMOTE = dict(changed=True, after=dict(role='primary'), warnings=['a Sentinel was told'],
               timeline=dict(started_at=T0 + 50.0, finished_at=T0 + 50.3),
               cutover=dict(method='pause', fence='replicaof_target', pause_ms=3.2, source_role_after='replica'))


def _host(**results):
    return dict(ENDS, **results)


def _report(hostvars, ok=None, **kwargs):
    hosts = list(hostvars)
    return migration_report(hostvars, hosts, hosts if ok is None else ok, generated_at='2026-12-02T04:00:00', **kwargs)


def test_a_migrated_and_promoted_pair():
    report = _report({'t1': _host(preflight_result=PREFLIGHT, replicate_replicaof=REPLICAOF, verify_sync=VERIFY,
                                  promote_result=PROMOTE)}, promote='yes')
    assert (report['generated_at'], report['check_mode'], report['promote_requested'], report['started_at']) == (
        '2026-12-02T04:00:00', False, True, T0)
    pair = report['pairs'][0]
    assert pair['target_endpoint'] == '10.0.0.2:6380' and pair['source_endpoint'] == '10.0.0.1:6379'
    assert pair['failed'] is False and pair['synced'] is True and pair['promoted'] is True
    assert pair['timeline'] == dict(started=T0, sync_requested=T0 + 30.0, sync_started=T0 + 30.2, synced=T0 + 40.5,
                                    verify_started=T0 + 40.0, verified=T0 + 41.0, cutover_started=T0 + 50.0,
                                    cutover=T0 + 50.3)
    assert pair['sync_seconds'] == 10.3 and pair['sync_seconds_note'].startswith('from REPLICAOF sent')
    assert (pair['queued_for_sync_slot'], pair['sync_slot_wait_seconds'], pair['full_syncs_on_source']) == (True, 1.5, 1)
    assert pair['full_sync_seen'] is True and pair['lag_samples'] == [[0.0, 120], [0.5, 0]]
    assert pair['preflight'] == dict(blockers=0, warnings=1, findings=['the backlog holds 3 s of writes',
                                                                       'source has 5120 keys'])
    assert pair['warnings'] == ['the backlog holds 3 s of writes', 'a Sentinel was told']
    assert pair['write_pause_ms'] == 3.2 and pair['cutover']['fence'] == 'replicaof_target'
    # the record is plain JSON, and holds no password of the inventory
    text = json.dumps(report)
    assert 's-secret' not in text and 't-secret' not in text


def test_a_target_already_replicating_has_no_measured_sync():
    pair = _report({'t1': _host(preflight_result=PREFLIGHT, replicate_replicaof=dict(changed=False),
                                verify_sync=VERIFY)})['pairs'][0]
    assert pair['timeline']['sync_started'] is None and pair['timeline']['sync_requested'] is None
    assert pair['timeline']['synced'] == T0 + 40.5
    assert pair['sync_seconds'] is None and pair['sync_seconds_note'] == 'the target was already replicating before this run'
    assert pair['promoted'] is False and pair['cutover'] is None and pair['timeline']['cutover'] is None


def test_a_pair_cut_over_before_the_run_a_failed_pair_and_check_mode():
    hostvars = {
        'done': _host(preflight_result=dict(PREFLIGHT, cut_over=True, promoted=True),
                      replicate_replicaof=dict(changed=False, skipped=True)),
        'broken': _host(preflight_result=dict(PREFLIGHT, blockers=1), replicate_replicaof=REPLICAOF),
    }
    report = _report(hostvars, ok=['done'])
    done, broken = report['pairs']
    assert done['synced'] is True and done['promoted'] is True and done['failed'] is False
    assert done['sync_seconds_note'] == 'not measured'
    assert broken['failed'] is True and broken['synced'] is False and broken['lag_samples'] == []
    checked = _report(hostvars, check_mode=True)
    assert checked['check_mode'] is True and checked['pairs'][1]['timeline']['sync_started'] is None


def test_the_hosts_must_be_lists():
    with pytest.raises(AnsibleFilterError, match='hosts and ok_hosts must be lists'):
        migration_report({}, 't1', [])
    with pytest.raises(AnsibleFilterError, match='expects the record of kvmigrate.replication.migration_report'):
        migration_report_html({'pairs': 'x'})


def test_the_page_puts_failing_and_lagging_pairs_first_and_escapes_names():
    hostvars = {
        'ok<1>': _host(preflight_result=PREFLIGHT, replicate_replicaof=REPLICAOF, verify_sync=VERIFY, promote_result=PROMOTE),
        'lagging': _host(preflight_result=PREFLIGHT, replicate_replicaof=REPLICAOF,
                         verify_sync=dict(VERIFY, synced=False, lag_samples=[[0.0, 900]])),
        'failed&"': _host(preflight_result=dict(PREFLIGHT, blockers=1)),
    }
    page = migration_report_html(_report(hostvars, ok=['ok<1>', 'lagging']))
    assert 'ok<1>' not in page and 'failed&"' not in page and 's-secret' not in page
    for fetch in ('src=', 'href="http', '@import', 'url(', '<script'):
        assert fetch not in page
    parsed = parse(page)
    text = ' '.join(parsed.text)
    assert '3 pairs' in text and '1 failed' in text and '1 lagging (not synced)' in text and '1 promoted' in text
    rows = [attrs['data-target'] for tag, attrs, dummy in parsed.found if tag == 'g' and 'gantt-row' in attrs.get('class', '')]
    assert rows == ['failed&"', 'lagging', 'ok<1>']
    segments = dict((name, sorted(set(a['class'] for t, a, parents in parsed.found if t == 'rect' and
                                      any(p.get('data-target') == name for p in parents)))) for name in rows)
    assert segments == {'failed&"': [], 'lagging': ['seg-preflight', 'seg-queued', 'seg-sync', 'seg-verify'],
                        'ok<1>': ['seg-cutover', 'seg-preflight', 'seg-queued', 'seg-sync', 'seg-verify']}
    details = [attrs for tag, attrs, dummy in parsed.found if tag == 'details']
    assert [d['id'] for d in details] == rows and [('open' in d) for d in details] == [True, False, False]
    charts = [[p.get('id') for p in parents if p.get('id')] for t, a, parents in parsed.found
              if t == 'svg' and a.get('class') == 'lag-chart']
    assert charts == [['lagging'], ['ok<1>']]
    # one sample: a point to see, not an empty line
    assert len([1 for t, a, parents in parsed.found if t == 'circle']) == 1
    assert 'No lag samples.' in text and 'No cutover in this run.' in text
    assert 'Method pause, fence replicaof_target, writes paused 3.2 ms; source is now replica.' in text
    assert 'after 1.5 s queued for a sync slot; the source served 1 full syncs when it was free' in text


class _HostVars(dict):
    """Ansible's HostVars: each host's variables templated by item, untemplated by raw_get."""

    def __init__(self, templated, raw):
        super(_HostVars, self).__init__(templated)
        self.raw = raw

    def raw_get(self, name):
        return self.raw[name]


def test_results_are_read_untemplated_and_endpoints_templated():
    # the registered results only in the untemplated view, the endpoints only in the templated one
    hostvars = _HostVars({'t1': dict(ENDS, kvmigrate_target_host='10.0.0.9')},
                         {'t1': dict(kvmigrate_target_host='{{ a_template }}', migrate_started_at=T0,
                                     verify_sync=VERIFY, promote_result=PROMOTE)})
    pair = _report(hostvars)['pairs'][0]
    assert pair['target_endpoint'] == '10.0.0.9:6380' and pair['synced'] is True and pair['promoted'] is True
    assert _report(hostvars)['started_at'] == T0


def test_the_json_file_is_what_to_nice_json_writes():
    from ansible.plugins.filter.core import to_nice_json
    from ansible_collections.kvmigrate.replication.plugins.action.migration_report import report_json
    report = _report({'t1': _host(preflight_result=PREFLIGHT, verify_sync=VERIFY, promote_result=PROMOTE)})
    assert report_json(report) == to_nice_json(report) + '\n'
