# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kvmigrate.replication.migration_report: the report of a migration run, made, written and given to AWX in one task on
the control node, as ansible.builtin.set_stats gives its data.

It was three single-host tasks over the whole fleet: a set_fact of the record, report_files with the record templated
twice into the file contents, and set_stats templating the record once more. Each templating walked the record value
by value (about 25,000 values at 200 pairs), and each task forked a worker and passed the record through the main
process. Here the record is built once, from each pair's registered results read untemplated, and written as is."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json

from ansible.errors import AnsibleFilterError
from ansible.plugins.action import ActionBase

from ansible_collections.kvmigrate.replication.plugins.filter.report import migration_report, migration_report_html
from ansible_collections.kvmigrate.replication.plugins.modules.report_files import run as write_files

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    hosts=dict(type='list', elements='str', required=True),
    ok_hosts=dict(type='list', elements='str', required=True),
    promote=dict(type='bool', default=False),
    stats=dict(type='bool', default=True),
)
# the name AWX shows the record under (docs/awx.md)
STATS_NAME = 'kvmigrate_migration'


def report_json(report):
    """The JSON file's text: what ansible.builtin.to_nice_json writes (4 spaces, sorted keys), and a final newline."""
    return json.dumps(report, indent=4, sort_keys=True, separators=(',', ': ')) + '\n'


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        check_mode = bool(self._task.check_mode)
        # one instant for the record and the file names; UTC, written as now(utc=true) writes it
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        try:
            report = migration_report(task_vars['hostvars'], args['hosts'], args['ok_hosts'], check_mode=check_mode,
                                      promote=args['promote'], generated_at=now.isoformat())
        except AnsibleFilterError as exc:
            return dict(result, failed=True, msg=str(exc))
        result.update(changed=False, report=report, written=[], linked=[])
        # Report files are the control node's record of a run, not a change to a server: they count as no change. A dry
        # run writes nothing; its record is in the result and in the AWX summary.
        if not check_mode:
            stamp = now.strftime('%Y%m%dT%H%M%SZ')
            json_name, html_name = 'migrate-%s.json' % stamp, 'report-%s.html' % stamp
            try:
                written = write_files(dict(
                    path=args['path'],
                    files=[dict(name=json_name, content=report_json(report)),
                           dict(name=html_name, content=migration_report_html(report))],
                    links={'latest.json': json_name, 'latest.html': html_name}))
            except (IOError, OSError, ValueError) as exc:
                # the record is not repeated in the failure (at 200 pairs a megabyte on the console)
                result.pop('report')
                return dict(result, failed=True,
                            msg='Could not write the report files in %s: %s. Check that the directory is writable, or '
                                'set kvmigrate_report_dir to one that is.' % (args['path'], str(exc).rstrip('.')))
            result.update(written=written['written'], linked=written['linked'])
        if args['stats']:
            # what set_stats returns for data with per_host and aggregate false: the strategy keeps it for the run
            result['ansible_stats'] = dict(data={STATS_NAME: report}, per_host=False, aggregate=False)
        return result
