# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migration report of playbooks/migrate.yml: ``migration_report`` gathers each pair's registered results into one
record, ``migration_report_html`` draws the page people read.

Filters, not templates: at 200 pairs the two templates cost the run 26 s, in a single process, at the end of the
migration. Each template expression (about 60 per pair) went through Ansible's templating of every value it touched."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.kvmigrate.replication.plugins.filter.inventory import pair_endpoints

MEASURED = 'from REPLICAOF sent to the first poll that saw the target synced'
ALREADY_REPLICATING = 'the target was already replicating before this run'


def _dict(value):
    """A registered result or a part of one, or {} where there is none (unset, skipped part, null)."""
    return value if isinstance(value, Mapping) else {}


def _plain(value):
    """Plain dicts and lists, so the record serialises like any JSON."""
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _pair(name, variables, results, failed, check_mode):
    pre = _dict(results.get('preflight_result'))
    rep = _dict(results.get('replicate_replicaof'))
    ver = _dict(results.get('verify_sync'))
    pro = _dict(results.get('promote_result'))
    cut = pro.get('cutover')
    rep_timeline, ver_timeline, pro_timeline = (_dict(r.get('timeline')) for r in (rep, ver, pro))
    # REPLICAOF was sent by this run a few ms before replicaof returned (its timeline's finished_at); a target that was
    # already replicating (changed false) started earlier, at a time this run does not know
    sync_started = rep_timeline.get('finished_at') if rep.get('changed') and not check_mode else None
    # synced: when verify's wait first saw the target synced
    synced_at = ver_timeline.get('synced_at')
    measured = synced_at is not None and sync_started is not None
    if measured:
        note = MEASURED
    elif 'changed' in rep and not rep.get('skipped') and not boolean(rep['changed'], strict=False):
        note = ALREADY_REPLICATING
    else:
        note = 'not measured'
    findings = [_dict(f) for f in pre.get('findings') or []]
    slot = _dict(rep.get('sync_slot'))
    progress = _dict(ver.get('sync_progress'))
    promoted = _dict(pro.get('after')).get('role') == 'primary' or pre.get('promoted', False)
    ends = {name: variables}
    return _plain(dict(
        target=name,
        target_endpoint=pair_endpoints(ends, [name], 'target')[0]['endpoint'],
        source_endpoint=pair_endpoints(ends, [name], 'source')[0]['endpoint'],
        failed=failed,
        preflight=dict(blockers=pre.get('blockers'), warnings=pre.get('warning_count'),
                       findings=[f.get('message') for f in findings if f.get('severity') != 'ok']),
        source=pre.get('source', {}),
        target_before=pre.get('target', {}),
        synced=boolean(ver.get('synced', pre.get('cut_over', False)), strict=False),
        timeline=dict(
            started=results.get('migrate_started_at'),
            sync_requested=rep_timeline.get('started_at') if sync_started is not None else None,
            sync_started=sync_started,
            synced=synced_at,
            verify_started=ver_timeline.get('started_at'),
            verified=ver_timeline.get('finished_at'),
            cutover_started=pro_timeline.get('started_at') if pro.get('changed') else None,
            cutover=pro_timeline.get('finished_at') if pro.get('changed') else None),
        sync_seconds=round(float(synced_at) - float(sync_started), 3) if measured else None,
        sync_seconds_note=note,
        queued_for_sync_slot=slot.get('queued', False),
        sync_slot_wait_seconds=slot.get('waited_seconds'),
        full_syncs_on_source=slot.get('full_syncs_seen'),
        full_sync_seen=progress.get('full_sync_seen'),
        lag_bytes=ver.get('lag_bytes'),
        lag_seconds=ver.get('lag_seconds'),
        lag_samples=ver.get('lag_samples') or [],
        source_keys=ver.get('source_keys'),
        target_keys=ver.get('target_keys'),
        promoted=promoted,
        write_pause_ms=cut.get('pause_ms') if isinstance(cut, Mapping) else None,
        warnings=[f.get('message') for f in findings if f.get('severity') == 'warning'] + list(pro.get('warnings') or []),
        cutover=cut))


def migration_report(hostvars, hosts, ok_hosts, check_mode=False, promote=False, generated_at=None):
    """The report of a run: one record per host of ``hosts`` (the play's, failed ones included) from its registered
    results; a host not in ``ok_hosts`` failed.

    Registered results and facts are data, never templates, so they are read untemplated (``HostVars.raw_get``): going
    through the templating view cost about 7 ms a pair, each value of each result wrapped and walked. The endpoints,
    which inventory may write as templates, are read through it."""
    if not isinstance(hosts, (list, tuple)) or not isinstance(ok_hosts, (list, tuple)):
        raise AnsibleFilterError('migration_report: hosts and ok_hosts must be lists of inventory hostnames '
                                 '(ansible_play_hosts_all, ansible_play_hosts).')
    ok = set(ok_hosts)
    raw_get = getattr(hostvars, 'raw_get', None)
    pairs = []
    started_at = None
    for index, name in enumerate(hosts):
        variables = hostvars[name]
        results = raw_get(name) if raw_get is not None else variables
        if index == 0:
            started_at = results.get('migrate_started_at')
        pairs.append(_pair(name, variables, results, name not in ok, boolean(check_mode, strict=False)))
    return dict(generated_at=generated_at, check_mode=boolean(check_mode, strict=False),
                promote_requested=boolean(promote, strict=False), started_at=started_at, pairs=pairs)


# -- the page ------------------------------------------------------------------------------------------------------

def _e(value):
    """Text or attribute value, escaped."""
    return (str(value).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;')
            .replace("'", '&#39;'))


def _or_dash(value):
    return '-' if value is None else _e(value)


def _ts(value):
    """HH:MM:SS.mmm UTC of a Unix time, or '-'."""
    if value is None:
        return '-'
    seconds = float(value)
    return time.strftime('%H:%M:%S', time.gmtime(seconds)) + '.%03d' % (int(seconds * 1000) % 1000)


def _lag_chart(samples):
    points = [p for p in samples or [] if len(p) > 1 and p[1] is not None]
    if not points:
        return '<p class="none">No lag samples.</p>'
    t0 = float(points[0][0])
    span = max(float(points[-1][0]) - t0, 0.001)
    top = max(max(p[1] for p in points), 1)
    out = ['<svg class="lag-chart" width="460" height="170" viewBox="0 0 460 170" role="img" '
           'aria-label="replication lag in bytes over seconds">',
           '<line class="axis" x1="70" y1="140" x2="450" y2="140"/><line class="axis" x1="70" y1="10" x2="70" y2="140"/>']
    for step in range(5):
        out.append('<text class="tick" x="%d" y="155" text-anchor="middle">%.1f</text>' % (70 + 95 * step, span * step / 4))
        label = int(round(top * step / 4.0))
        out.append('<text class="tick" x="64" y="%.1f" text-anchor="end">%d</text>' % (143 - 32.5 * step, label))
    out.append('<text class="unit" x="260" y="168" text-anchor="middle">seconds since the first sample</text>')
    out.append('<text class="unit" x="12" y="75" text-anchor="middle" transform="rotate(-90 12 75)">lag (bytes)</text>')
    out.append('<polyline class="lag-line" fill="none" stroke="#2b6cb0" stroke-width="1.5" points="%s"/>' % ' '.join(
        '%.1f,%.1f' % (70 + 380 * (float(p[0]) - t0) / span, 140 - 130 * float(p[1]) / top) for p in points))
    if len(points) == 1:
        out.append('<circle class="lag-point" cx="70" cy="%.1f" r="3" fill="#2b6cb0"/>' % (140 - 130 * float(points[0][1]) / top))
    out.append('</svg>')
    out.append('<p class="none">%d samples over %.1f s, largest lag %s bytes.</p>' % (len(points), span, _e(top)))
    return '\n'.join(out)


STYLE = '''body { font-family: system-ui, sans-serif; margin: 2em; color: #1a202c; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
td, th { border: 1px solid #cbd5e0; padding: .25em .6em; text-align: left; }
.failed { color: #c53030; font-weight: bold; } .ok { color: #2f855a; } .none { color: #718096; font-size: .9em; }
.counts span { display: inline-block; margin-right: 1.5em; font-size: 1.2em; }
.axis { stroke: #4a5568; } .tick, .unit, .label { font-size: 11px; fill: #2d3748; }
.seg-preflight { fill: #a0aec0; } .seg-queued { fill: #e9d8fd; } .seg-sync { fill: #3182ce; } .seg-verify { fill: #38a169; }
.seg-cutover { fill: #d69e2e; }
.row-failed .label { fill: #c53030; font-weight: bold; } .grid { stroke: #e2e8f0; }
details { border-top: 1px solid #e2e8f0; padding: .3em 0; } summary { cursor: pointer; }
.legend rect { stroke: none; }'''

GANTT_NOTE = '''One row per pair, failing pairs first; times in seconds since %s UTC. Preflight runs
from the start of the run to the pair's next step; sync from REPLICAOF to the first poll that saw it synced; verify
and cutover as their tasks ran. Queued is the time a target waited for a free sync slot on its source (at most
replicate_max_concurrent_syncs full syncs per source at once): the targets of one source that queued start their sync
after the others, as later waves.'''

LEFT = 190  # the Gantt chart: room for the labels, width of the time axis, height of a row
WIDTH = 720
ROW = 16
SEGMENTS = ('preflight', 'queued', 'sync', 'verify', 'cutover')


def _segments(pair):
    t = pair.get('timeline') or {}
    queued = t.get('sync_requested') if pair.get('queued_for_sync_slot') else None
    preflight_end = next((v for v in (queued, t.get('sync_started'), t.get('verify_started'), t.get('cutover_started'))
                          if v is not None), None)
    return [('preflight', t.get('started'), preflight_end), ('queued', queued, t.get('sync_started')),
            ('sync', t.get('sync_started'), t.get('synced')), ('verify', t.get('verify_started'), t.get('verified')),
            ('cutover', t.get('cutover_started'), t.get('cutover'))]


def _gantt(ordered):
    stamps = [float(v) for pair in ordered for v in (pair.get('timeline') or {}).values() if v is not None]
    start = min(stamps) if stamps else 0.0
    span = max((max(stamps) - start) if stamps else 0.0, 0.001)
    size = (LEFT + WIDTH + 20, 60 + ROW * len(ordered))
    out = ['<p class="none">%s</p>' % (GANTT_NOTE % _ts(start if stamps else None)),
           '<svg id="fleet-gantt" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
           'aria-label="fleet timeline: one row per pair">' % (size + size),
           '<g class="legend">']
    for index, name in enumerate(SEGMENTS):
        x = LEFT + (0, 80, 160, 230, 300)[index]
        out.append('<rect class="seg-%s" x="%d" y="4" width="10" height="10"/><text class="tick" x="%d" y="13">%s</text>'
                   % (name, x, x + 14, name))
    out.append('</g>')
    axis_y = 30 + ROW * len(ordered)
    out.append('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>' % (LEFT, axis_y, LEFT + WIDTH, axis_y))
    for step in range(7):
        x = LEFT + WIDTH * step / 6.0
        out.append('<line class="grid" x1="%.1f" y1="20" x2="%.1f" y2="%d"/>' % (x, x, axis_y))
        out.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%.1f</text>' % (x, axis_y + 14, span * step / 6))
    out.append('<text class="unit" x="%d" y="%d" text-anchor="middle">seconds since the run started</text>'
               % (LEFT + WIDTH // 2, axis_y + 28))
    for index, pair in enumerate(ordered):
        y = 22 + ROW * index
        target = _e(pair.get('target'))
        out.append('<g class="gantt-row%s" data-target="%s">' % (' row-failed' if pair.get('failed') else '', target))
        out.append('<text class="label" x="%d" y="%d" text-anchor="end">%s%s</text>'
                   % (LEFT - 6, y + 11, target, ' FAILED' if pair.get('failed') else ''))
        for name, begin, end in _segments(pair):
            if begin is None or end is None:
                continue
            begin, end = float(begin), float(end)
            out.append('<rect class="seg-%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s %s: %.2f s</title></rect>'
                       % (name, LEFT + WIDTH * (begin - start) / span, y + 2, max(WIDTH * (end - begin) / span, 1.5),
                          ROW - 4, target, name, end - begin))
        out.append('</g>')
    out.append('</svg>')
    return out


def _pairs_table(ordered):
    out = ['<table>', '<tr><th>target</th><th>source</th><th>queued s</th><th>synced</th><th>sync s</th><th>lag bytes</th>'
           '<th>keys source / target</th><th>promoted</th><th>write pause ms</th></tr>']
    for pair in ordered:
        target = _e(pair.get('target'))
        out.append('<tr><td><a href="#%s">%s</a>%s</td><td>%s</td><td>%s</td><td class="%s">%s</td><td>%s</td><td>%s</td>'
                   '<td>%s / %s</td><td>%s</td><td>%s</td></tr>' % (
                       target, target, ' <span class="failed">FAILED</span>' if pair.get('failed') else '',
                       _e(pair.get('source_endpoint')), _or_dash(pair.get('sync_slot_wait_seconds')),
                       'ok' if pair.get('synced') else 'failed', _e(pair.get('synced')), _or_dash(pair.get('sync_seconds')),
                       _or_dash(pair.get('lag_bytes')), _or_dash(pair.get('source_keys')), _or_dash(pair.get('target_keys')),
                       _e(pair.get('promoted')), _or_dash(pair.get('write_pause_ms'))))
    out.append('</table>')
    return out


def _details(pair):
    target = _e(pair.get('target'))
    t = pair.get('timeline') or {}
    state = (' <span class="failed">FAILED</span>' if pair.get('failed') else
             ' <span class="failed">not synced</span>' if not pair.get('synced') else '')
    queued = (' (after %s s queued for a sync slot; the source served %s full syncs when it was free)' % (
        _e(pair.get('sync_slot_wait_seconds')), _e(pair.get('full_syncs_on_source')))
        if pair.get('queued_for_sync_slot') else '')
    sync_seconds = ' (%s s)' % _e(pair['sync_seconds']) if pair.get('sync_seconds') is not None else ''
    source, before = pair.get('source') or {}, pair.get('target_before') or {}
    cut = pair.get('cutover')
    if isinstance(cut, Mapping) and cut:
        cutover = '<p>Method %s, fence %s, writes paused %s ms; source is now %s.</p>' % (
            _e(cut.get('method')), _e(cut.get('fence')), _or_dash(pair.get('write_pause_ms')),
            _e(cut.get('source_role_after')))
    else:
        cutover = '<p class="none">No cutover in this run.</p>'
    messages = []
    for message in list(pair.get('warnings') or []) + list((pair.get('preflight') or {}).get('findings') or []):
        if message not in messages:
            messages.append(message)
    warnings = ('<ul>%s</ul>' % ''.join('<li>%s</li>' % _e(m) for m in messages)) if messages else \
        '<p class="none">None.</p>'
    return '\n'.join([
        '<details class="pair" id="%s"%s>' % (target, ' open' if pair.get('failed') else ''),
        '<summary><strong>%s</strong> <span class="none">%s from %s</span>%s</summary>' % (
            target, _e(pair.get('target_endpoint')), _e(pair.get('source_endpoint')), state),
        '<h3>Timeline (UTC)</h3>',
        '<table>',
        '<tr><th>run started (preflight)</th><td>%s</td></tr>' % _ts(t.get('started')),
        '<tr><th>sync start (REPLICAOF sent)</th><td>%s%s</td></tr>' % (_ts(t.get('sync_started')), queued),
        '<tr><th>synced</th><td>%s%s <span class="none">%s</span></td></tr>' % (
            _ts(t.get('synced')), sync_seconds, _e(pair.get('sync_seconds_note'))),
        '<tr><th>verified</th><td>%s</td></tr>' % _ts(t.get('verified')),
        '<tr><th>cutover</th><td>%s</td></tr>' % _ts(t.get('cutover')),
        '</table>',
        '<h3>Lag</h3>',
        _lag_chart(pair.get('lag_samples')),
        '<p>At the end: %s bytes, %s s.</p>' % (_or_dash(pair.get('lag_bytes')), _or_dash(pair.get('lag_seconds'))),
        '<h3>Keys and memory</h3>',
        '<table>',
        '<tr><th></th><th>keys before</th><th>keys after</th><th>memory before</th></tr>',
        '<tr><th>source</th><td>%s</td><td>%s</td><td>used_memory %s</td></tr>' % (
            _or_dash(source.get('dbsize')), _or_dash(pair.get('source_keys')), _or_dash(source.get('used_memory'))),
        '<tr><th>target</th><td>%s</td><td>%s</td><td>maxmemory %s</td></tr>' % (
            _or_dash(before.get('dbsize')), _or_dash(pair.get('target_keys')), _or_dash(before.get('maxmemory'))),
        '</table>',
        '<h3>Cutover</h3>',
        cutover,
        '<h3>Warnings</h3>',
        warnings,
        '</details>'])


def migration_report_html(report):
    """One self-contained page (inline SVG, no script, nothing fetched) for a ``migration_report`` record: the fleet
    first (counts, one Gantt row per pair, failing pairs on top), then a table, then each pair's details, folded."""
    if not isinstance(report, Mapping) or not isinstance(report.get('pairs'), list):
        raise AnsibleFilterError('migration_report_html: expects the record of kvmigrate.replication.migration_report.')
    pairs = report['pairs']
    failed = [p for p in pairs if p.get('failed')]
    lagging = [p for p in pairs if not p.get('failed') and not p.get('synced')]
    promoted = [p for p in pairs if p.get('promoted')]
    ordered = failed + lagging + [p for p in pairs if not p.get('failed') and p.get('synced')]
    generated = _e(report.get('generated_at'))
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<title>kvmigrate.replication migration report %s</title>' % generated,
           '<style>', STYLE, '</style>', '</head>', '<body>', '<h1>Migration report</h1>',
           '<p>Generated %s%s;\npromotion %s.</p>' % (
               generated, ' (check mode)' if report.get('check_mode') else '',
               'requested' if report.get('promote_requested') else 'not requested'),
           '<p class="counts" id="counts"><span>%d pairs</span><span class="%s" id="count-failed">%d failed</span>'
           '<span class="%s" id="count-lagging">%d lagging (not synced)</span><span id="count-promoted">%d promoted</span>'
           '</p>' % (len(pairs), 'failed' if failed else 'ok', len(failed), 'failed' if lagging else 'ok', len(lagging),
                     len(promoted)),
           '', '<h2>Fleet overview</h2>']
    out.extend(_gantt(ordered))
    out.extend(['', '<h2>Pairs</h2>'])
    out.extend(_pairs_table(ordered))
    out.extend(_details(pair) for pair in ordered)
    out.extend(['</body>', '</html>', ''])
    return '\n'.join(out)


class FilterModule(object):
    def filters(self):
        return {'migration_report': migration_report, 'migration_report_html': migration_report_html}
