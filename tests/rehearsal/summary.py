"""The one-page summary of a rehearsal: per pair the expected downtime (the write pause of the fenced cutover) and the
sync time, then everything preflight warned about, from the migration reports (``migrate-<time>.json`` in
``kvmigrate_report_dir``) written since the rehearsal's record. Pure functions: tests/unit/test_rehearsal_summary.py."""
import glob
import json
import os

LAB_NOTES_NAME = 'rehearsal-lab.json'


def collect(report_dir, since=None):
    """The migration reports in ``report_dir`` generated at or after ``since`` (epoch seconds), oldest first."""
    reports = []
    for path in sorted(glob.glob(os.path.join(report_dir, 'migrate-*.json'))):
        with open(path) as handle:
            report = json.load(handle)
        started = report.get('started_at')
        if since is not None and started is not None and float(started) < float(since):
            continue
        reports.append(report)
    return reports


def pairs(reports):
    """{pair: {source, target, promoted, write_pause_ms, sync_seconds, failed, warnings}} over ``reports``: the
    first measured sync time (a later run finds the pair already replicating), the pause of the run that cut over,
    every distinct warning."""
    found = {}
    for report in reports:
        for entry in report.get('pairs', []):
            pair = found.setdefault(entry['target'], dict(source=entry.get('source_endpoint'), target=entry.get('target_endpoint'),
                                                          promoted=False, write_pause_ms=None, sync_seconds=None,
                                                          failed=False, warnings=[]))
            pair['promoted'] = pair['promoted'] or bool(entry.get('promoted'))
            pair['failed'] = pair['failed'] or bool(entry.get('failed'))
            if pair['sync_seconds'] is None:
                pair['sync_seconds'] = entry.get('sync_seconds')
            if entry.get('write_pause_ms') is not None:
                pair['write_pause_ms'] = entry['write_pause_ms']
            for warning in entry.get('warnings') or []:
                if warning not in pair['warnings']:
                    pair['warnings'].append(warning)
    return found


def _seconds(value):
    return 'not measured' if value is None else '%.1f s' % float(value)


def _pause(pair):
    if pair['write_pause_ms'] is not None:
        return '%.1f ms' % float(pair['write_pause_ms'])
    return 'none (stays a replica)' if not pair['promoted'] else 'not measured'


def render(record, reports, lab_notes=None):
    """Markdown, one page."""
    found = pairs(reports)
    lines = ['# Migration rehearsal summary', '']
    if not reports:
        lines += ['No migration report was written since the rehearsal started: did converge run? '
                  '(kvmigrate_report_dir of the scenario)', '']
    lines += ['| pair | source -> target | expected downtime (write pause) | sync time | result |',
              '|---|---|---|---|---|']
    for name in sorted(set(p['name'] for p in record.get('pairs', [])) | set(found)):
        pair = found.get(name)
        if pair is None:
            lines.append('| %s | | | | not in any report |' % name)
            continue
        result = 'failed' if pair['failed'] else ('promoted' if pair['promoted'] else 'replica')
        lines.append('| %s | %s -> %s | %s | %s | %s |' % (name, pair['source'], pair['target'], _pause(pair),
                                                           _seconds(pair['sync_seconds']), result))
    lines += ['', '## Preflight warnings', '']
    warned = [(name, warning) for name in sorted(found) for warning in found[name]['warnings']]
    lines += ['- %s: %s' % item for item in warned] or ['None.']
    if lab_notes:
        lines += ['', '## Lab servers', '']
        lines += ['- %s' % note for note in lab_notes]
    return '\n'.join(lines) + '\n'


def read_lab_notes(path):
    """The substitutions rehearsal-lab made (flavor or version not installed locally), [] outside the lab."""
    try:
        with open(path) as handle:
            return json.load(handle).get('notes', [])
    except FileNotFoundError:
        return []
