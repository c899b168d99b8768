# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Copy scripts/role-inventory-options.yml, the one definition of the inventory's connection variables, into the
BEGIN/END block of each role's meta/argument_specs.yml (ansible-core reads every role's specs on its own).

    python scripts/sync-argument-specs.py          rewrite the blocks that differ
    python scripts/sync-argument-specs.py --check  exit 1, naming them, when any differs
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLES_DIR = os.path.join(ROOT, 'roles')
SOURCE = os.path.join(ROOT, 'scripts', 'role-inventory-options.yml')
ROLES = ('preflight', 'replicate', 'verify', 'promote')
BEGIN = '      # BEGIN inventory options: generated from scripts/role-inventory-options.yml by scripts/sync-argument-specs.py\n'
END = '      # END inventory options\n'
INDENT = ' ' * 6


def spec_path(role):
    return os.path.join(ROLES_DIR, role, 'meta', 'argument_specs.yml')


def expected_block():
    """The options of scripts/role-inventory-options.yml, indented as the ``options`` of an entry point."""
    with open(SOURCE) as handle:
        lines = [line for line in handle if not line.startswith(('---', '#'))]
    return BEGIN + ''.join(INDENT + line if line.strip() else line for line in lines) + END


def synced(text, block):
    """``text`` (a role's argument_specs.yml) with its generated block replaced by ``block``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError('one BEGIN and one END marker line expected')
    return text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]


def main(argv):
    check = '--check' in argv
    block = expected_block()
    stale = []
    for role in ROLES:
        with open(spec_path(role)) as handle:
            text = handle.read()
        new_text = synced(text, block)
        if new_text != text:
            stale.append(role)
            if not check:
                with open(spec_path(role), 'w') as handle:
                    handle.write(new_text)
    if stale:
        print('%s: %s' % ('differ from scripts/role-inventory-options.yml' if check else 'rewritten', ', '.join(stale)))
    return 1 if check and stale else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
