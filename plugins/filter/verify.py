# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one pair exceeded in the verify role, as sentences, for its run_once table (wait_for_sync fails the pairs).

A filter, not a template: the table judges every pair of the play in one task, and a template lookup per pair cost
that task more than any module task at 200 pairs."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import key_count_problem


def _count(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise AnsibleFilterError('verify_problems: a key count must be a number, got %r' % (value,))


def verify_problems(result, max_key_difference_ratio=0.01):
    """Sentences for what ``result`` (wait_for_sync's registered result, failed or not) exceeded; [] for a healthy
    pair."""
    if not isinstance(result, dict):
        raise AnsibleFilterError('verify_problems: expects the registered result of wait_for_sync, got %s'
                                 % type(result).__name__)
    try:
        ratio = float(max_key_difference_ratio)
    except (TypeError, ValueError):
        raise AnsibleFilterError('verify_problems: max_key_difference_ratio must be a number, got %r'
                                 % (max_key_difference_ratio,))
    problems = []
    if not result.get('synced'):
        problems.append(result.get('msg') or 'not synced')
    elif result.get('failed') and result.get('msg'):
        # synced, and failed by the module's own checks after the wait (key counts, sampled values): its message says
        # what and why
        problems.append(result['msg'])
    # the rule of wait_for_sync's max_key_difference_ratio: counts read at different offsets are not judged
    counts = key_count_problem(_count(result.get('source_keys')), _count(result.get('target_keys')),
                               result.get('keys_offset_gap'), ratio)
    if counts and not any(problem.startswith(counts) for problem in problems):
        problems.append(counts)
    return problems


class FilterModule(object):
    def filters(self):
        return {'verify_problems': verify_problems}
