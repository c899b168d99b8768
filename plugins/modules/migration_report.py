#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: migration_report
short_description: Write the report of a migration run and give AWX its summary, once for the whole play
version_added: 0.1.0
description:
  - Makes the record of a C(playbooks/migrate.yml) run from each pair's registered results, as the
    P(kvmigrate.replication.migration_report#filter) does, and writes it on the control node into O(path) as
    C(migrate-<time>.json) and C(report-<time>.html), pointing the C(latest.json) and C(latest.html) links at them
    (each file and link renamed into place whole, as M(kvmigrate.replication.report_files) writes them).
  - With O(stats), the record is also the run's custom statistic C(kvmigrate_migration), as M(ansible.builtin.set_stats)
    gives one with O(ansible.builtin.set_stats#module:per_host=false) and
    O(ansible.builtin.set_stats#module:aggregate=false). AWX and Automation Controller keep it as the job's artifact.
  - An action plugin that runs on the control node, in the Ansible worker, and starts no module process. Run it once
    (C(run_once)); it reads the results of every host of O(hosts) itself. At 200 pairs it replaces three tasks that
    took 7 to 18 s under load, most of it spent templating the record again in each one.
  - Writing the report counts as no change. A dry run (C(--check)) writes nothing; the record is still returned and
    given to AWX.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
attributes:
  action:
    support: full
    description: Runs on the control node only; the files are written where C(ansible-playbook) runs.
  check_mode:
    support: full
    description: Writes nothing, and returns and gives AWX the record of the dry run.
  diff_mode:
    support: none
    description: No diff of a report against the last one; RV(written) and RV(linked) list the files and links made.
options:
  path:
    description:
      - The directory of the report files, on the control node. Created with its missing parents when missing.
    type: path
    required: true
  hosts:
    description:
      - The play's hosts, failed ones included (C(ansible_play_hosts_all)), in the order of the report. Each is one
        pair, read from C(hostvars).
    type: list
    elements: str
    required: true
  ok_hosts:
    description:
      - The hosts that did not fail (C(ansible_play_hosts)). A host of O(hosts) missing here is reported as failed.
    type: list
    elements: str
    required: true
  promote:
    description:
      - Whether the run was asked to promote the targets (C(migrate_promote)), as the report says.
    type: bool
    default: false
  stats:
    description:
      - Give the record as the run's custom statistic C(kvmigrate_migration), for AWX.
    type: bool
    default: true
notes:
  - The record holds no password; the cutover's commands in it show C(********) in their place.
seealso:
  - module: kvmigrate.replication.report_files
  - module: ansible.builtin.set_stats
  - plugin: kvmigrate.replication.migration_report
    plugin_type: filter
  - plugin: kvmigrate.replication.migration_report_html
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Write the migration report (JSON and HTML) on the control node, and give AWX the summary
  kvmigrate.replication.migration_report:
    path: "{{ kvmigrate_report_dir | default('reports' | ansible.builtin.realpath) }}"
    hosts: "{{ ansible_play_hosts_all }}"
    ok_hosts: "{{ ansible_play_hosts }}"
    promote: "{{ migrate_promote | bool }}"
  run_once: true
'''

RETURN = r'''
report:
  description:
    - The record of the run, as written to the JSON file; P(kvmigrate.replication.migration_report#filter) lists its
      keys.
  returned: unless the files could not be written
  type: dict
  sample: {"check_mode": false, "generated_at": "2026-12-02T07:40:12.052113", "pairs": [], "promote_requested": true,
           "started_at": 1796193769.29}
written:
  description: The report files whose content changed, as full paths. Empty in check mode.
  returned: always
  type: list
  elements: str
  sample: ["/srv/awx/reports/migrate-20261202T074012Z.json", "/srv/awx/reports/report-20261202T074012Z.html"]
linked:
  description: The links made or moved, as full paths. Empty in check mode.
  returned: always
  type: list
  elements: str
  sample: ["/srv/awx/reports/latest.json", "/srv/awx/reports/latest.html"]
'''
