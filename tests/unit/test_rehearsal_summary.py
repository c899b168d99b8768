"""The rehearsal summary (tests/rehearsal/summary.py) from migration reports."""
from ansible_collections.kvmigrate.replication.tests.rehearsal import summary


def _entry(target, pause=None, sync=None, promoted=False, warnings=()):
    return dict(target=target, source_endpoint='10.0.0.1:6379', target_endpoint='10.0.0.2:6379', promoted=promoted,
                write_pause_ms=pause, sync_seconds=sync, failed=False, warnings=list(warnings))


def test_summary_takes_the_first_sync_time_and_the_cutover_pause_across_runs():
    first = dict(started_at=10, pairs=[_entry('a', pause=3.25, sync=4.0, promoted=True, warnings=['backlog small']),
                                       _entry('b', sync=5.5)])
    second = dict(started_at=20, pairs=[_entry('a', promoted=True, warnings=['backlog small']), _entry('b')])
    text = summary.render(dict(pairs=[dict(name='a'), dict(name='b')]), [first, second])
    rows = dict((line.split('|')[1].strip(), line) for line in text.splitlines() if line.startswith('| a') or line.startswith('| b'))
    assert '3.2 ms' in rows['a'] and '4.0 s' in rows['a'] and 'promoted' in rows['a']
    assert 'none (stays a replica)' in rows['b'] and '5.5 s' in rows['b']
    assert text.count('backlog small') == 1


def test_summary_says_when_no_report_was_written():
    text = summary.render(dict(pairs=[dict(name='a')]), [])
    assert 'No migration report was written' in text
    assert '| a | | | | not in any report |' in text
