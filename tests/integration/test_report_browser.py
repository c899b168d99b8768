"""The migration report of a real fleet run, rendered by a real headless Chromium (Debian's chromium; scripts/bootstrap.sh
installs it): the page loads with no console error and no network fetch, and after it rendered the DOM holds the fleet
counts, a Gantt row with chart segments for every pair and a lag chart with axes for every pair."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from tests.support.page import parse
from tests.support.servers import REPO, ansible_env, fill

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']


def _render(path):
    profile = tempfile.mkdtemp(prefix='kvm-chromium-')
    try:
        proc = subprocess.run([CHROMIUM] + FLAGS + ['--user-data-dir=%s' % profile, '--enable-logging=stderr', '--v=0',
                                                    '--dump-dom', 'file://%s' % path],
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return proc


def test_fleet_report_renders_in_chromium_with_a_gantt_row_and_a_lag_chart_per_pair(start_server, tmp_path):
    assert os.path.exists(CHROMIUM), 'chromium is missing: scripts/bootstrap.sh installs it (apt-get install chromium)'
    sources = [start_server(name='report-src%d' % i, password='report-Src-pw') for i in range(2)]
    targets = [start_server(name='report-tgt%d' % i, password='report-Tgt-pw') for i in range(3)]
    for i, source in enumerate(sources):
        fill(source, 2000, prefix='src%d' % i)
    # source 0 feeds tgt0 and tgt1 (one of them promoted) with one full sync at a time: the source waits 2 s for more
    # replicas before each diskless transfer, so whichever target comes second queues for the slot; source 1 feeds tgt2
    sources[0].client().config_set('repl-diskless-sync-delay', '2')
    source_of = [0, 0, 1]
    hosts = dict(('tgt%d' % i, dict(kvmigrate_target_host='127.0.0.1', kvmigrate_target_port=target.port,
                                    kvmigrate_target_password='report-Tgt-pw', kvmigrate_source_host='127.0.0.1',
                                    kvmigrate_source_port=sources[source_of[i]].port,
                                    kvmigrate_source_password='report-Src-pw', kvmigrate_promote=i != 1))
                 for i, target in enumerate(targets))
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'kvmigrate_targets': {'hosts': hosts, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}))
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
               os.path.join(REPO, 'playbooks', 'migrate.yml'), '-e', 'migrate_promote=true',
               '-e', 'replicate_max_concurrent_syncs=1', '-e', 'kvmigrate_report_dir=%s' % tmp_path]
    run = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

    page = os.path.realpath(str(tmp_path / 'latest.html'))
    with open(page) as handle:
        source_html = handle.read()
    # self-contained: nothing to fetch
    for fetch in ('src=', 'href="http', "href='http", '@import', 'url('):
        assert fetch not in source_html, fetch

    proc = _render(page)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console_errors = [line for line in proc.stderr.splitlines() if 'CONSOLE' in line and ('ERROR' in line or 'Uncaught' in line)]
    assert console_errors == [], console_errors
    dom = parse(proc.stdout)
    text = ' '.join(dom.text)
    assert '3 pairs' in text and '0 failed' in text and '2 promoted' in text, text[:2000]

    rows = [attrs['data-target'] for tag, attrs, dummy in dom.found if tag == 'g' and 'gantt-row' in attrs.get('class', '')]
    assert rows == ['tgt0', 'tgt1', 'tgt2']
    for name in rows:
        segments = [attrs['class'] for tag, attrs, parents in dom.found
                    if tag == 'rect' and any(parent.get('data-target') == name for parent in parents)]
        assert {'seg-preflight', 'seg-sync', 'seg-verify'} <= set(segments), (name, segments)
        charts = [attrs for tag, attrs, parents in dom.found
                  if tag == 'svg' and 'lag-chart' in attrs.get('class', '')
                  and any(parent.get('id') == name for parent in parents)]
        assert len(charts) == 1, name
    # the promoted targets show their cutover; tgt1 (a sibling) does not; one target of source 0 queued for its slot
    cutovers = [parents for tag, attrs, parents in dom.found if tag == 'rect' and attrs.get('class') == 'seg-cutover']
    assert sorted(p.get('data-target') for parents in cutovers for p in parents if p.get('data-target')) == ['tgt0', 'tgt2']
    queued = [p.get('data-target') for tag, attrs, parents in dom.found if tag == 'rect' and attrs.get('class') == 'seg-queued'
              for p in parents if p.get('data-target')]
    assert len(queued) == 1 and queued[0] in ('tgt0', 'tgt1'), queued
    assert re.search(r'after [0-9.]+ s queued for a sync slot', text), text[:3000]
    # every lag chart has both axes with units
    assert text.count('lag (bytes)') == 3 and text.count('seconds since the first sample') == 3
    assert len([1 for tag, attrs, dummy in dom.found if tag == 'details']) == 3
    assert 'report-Src-pw' not in source_html and 'report-Tgt-pw' not in source_html
