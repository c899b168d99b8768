#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: report_files
short_description: Write a run's report files into one directory and point links at them
version_added: 0.1.0
description:
  - Creates O(path) (mode C(0755)) when it is missing, writes each of O(files) into it with mode C(0644), and points
    each link of O(links) at one of those files.
  - A file is written to a temporary file in the same directory and renamed over its name, and a link is made under a
    temporary name and renamed too, so a reader never sees half a report or a missing link.
  - A file whose content is already the same, and a link that already points at its file, are left alone.
  - C(playbooks/migrate.yml) writes its JSON and HTML reports and the C(latest.json) and C(latest.html) links with it,
    on the control node. There the action plugin runs it in the Ansible worker (C(kvmigrate_in_process),
    C(docs/inventory.md)), one module run for the whole fleet instead of a Python process for the directory, each file
    and each link.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
attributes:
  check_mode:
    support: full
    description: Reports what it would write and link, and writes nothing.
  diff_mode:
    support: none
    description: The files are whole reports; RV(written) and RV(linked) name what changed.
options:
  path:
    description:
      - The directory the files and links go into. Created with its missing parents when missing.
    type: path
    required: true
  files:
    description:
      - The files to write, each a plain file name (no C(/)) and its text.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: File name inside O(path).
        type: str
        required: true
      content:
        description: The file's text, written as UTF-8.
        type: str
        required: true
  links:
    description:
      - Symbolic links to make in O(path), each link name (a plain file name) mapped to the name of one of O(files).
        The link is relative, so the directory can be moved or copied whole.
    type: dict
    default: {}
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
'''

EXAMPLES = r'''
- name: Write this run's reports and point latest.json at the JSON one
  kvmigrate.replication.report_files:
    path: "{{ playbook_dir }}/reports"
    files:
      - name: "migrate-{{ stamp }}.json"
        content: "{{ report | to_nice_json }}"
      - name: "report-{{ stamp }}.html"
        content: "{{ report_html }}"
    links:
      latest.json: "migrate-{{ stamp }}.json"
      latest.html: "report-{{ stamp }}.html"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
written:
  description: The files whose content changed (or would change, in check mode), as full paths.
  returned: always
  type: list
  elements: str
  sample: ["/srv/awx/reports/migrate-20261202T021500Z.json"]
linked:
  description: The links made or moved (or that would be, in check mode), as full paths.
  returned: always
  type: list
  elements: str
  sample: ["/srv/awx/reports/latest.json"]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes


def _plain_name(name, what):
    if not name or name in ('.', '..') or '/' in name or '\0' in name:
        raise ValueError('%s %r is not a plain file name: give a name without "/" (the directory is path).'
                         % (what, name))
    return name


def _same_content(path, data):
    try:
        with open(path, 'rb') as handle:
            return handle.read() == data
    except (IOError, OSError):
        return False


def _write(directory, name, data):
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % name, dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.rename(temporary, os.path.join(directory, name))
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _link(directory, name, target):
    temporary = os.path.join(directory, '.%s.%d.link' % (name, os.getpid()))
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    try:
        os.rename(temporary, os.path.join(directory, name))
    except BaseException:
        os.unlink(temporary)
        raise


def run(params, check_mode=False):
    directory = params['path']
    files = []
    for entry in params['files']:
        files.append((_plain_name(entry['name'], 'File name'), to_bytes(entry['content'], errors='surrogate_or_strict')))
    names = set(name for name, dummy in files)
    links = []
    for link, target in sorted((params['links'] or {}).items()):
        _plain_name(link, 'Link name')
        if target not in names:
            raise ValueError('Link %s points at %r, which is not one of the files written: name one of %s.'
                             % (link, target, ', '.join(sorted(names))))
        if link in names:
            raise ValueError('Link %s has the name of a file written in the same run: give it another name.' % link)
        links.append((link, target))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError('Path %s exists and is not a directory: point path at a directory.' % directory)
    written = [os.path.join(directory, name) for name, data in files
               if not _same_content(os.path.join(directory, name), data)]
    linked = []
    for link, target in links:
        path = os.path.join(directory, link)
        if os.path.isdir(path) and not os.path.islink(path):
            raise ValueError('Link %s would replace a directory: remove it or name another link.' % path)
        if not (os.path.islink(path) and os.readlink(path) == target):
            linked.append(path)
    if not check_mode:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        for name, data in files:
            if os.path.join(directory, name) in written:
                _write(directory, name, data)
        for link, target in links:
            if os.path.join(directory, link) in linked:
                _link(directory, link, target)
    return dict(changed=bool(written or linked), written=written, linked=linked)


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    module = module_class(
        argument_spec=dict(
            path=dict(type='path', required=True),
            files=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                content=dict(type='str', required=True),
            )),
            links=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, check_mode=module.check_mode)
    except ValueError as exc:
        module.fail_json(msg=str(exc), written=[], linked=[])
    except (IOError, OSError) as exc:
        module.fail_json(msg='Could not write the report files in %s: %s. Check that the directory is writable, or '
                             'set kvmigrate_report_dir to one that is.' % (module.params['path'], exc),
                         written=[], linked=[])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
