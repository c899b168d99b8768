# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one pair exceeded in the verify role, as sentences: the per-host assert and the run_once table both use it.

A filter, not a template: the table judges every pair of the play in one task, and a template lookup per pair cost
that task more than any module task at 200 pairs."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence


def _count(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise AnsibleFilterError('verify_problems: a key count must be a number, got %r' % (value,))


def verify_problems(result, sample=None, max_key_difference_ratio=0.01):
    """Sentences for what ``result`` (wait_for_sync's, registered with failed_when false) and ``sample``
    (compare_sample's, or its skipped result, or nothing) exceeded; [] for a healthy pair."""
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
    source_keys = _count(result.get('source_keys'))
    difference = abs(source_keys - _count(result.get('target_keys')))
    allowed = int(math.ceil(source_keys * ratio))
    # counts read while the source was ahead of the target (keys_offset_gap > 0) differ by the writes in between: not
    # judged
    if difference > allowed and result.get('keys_offset_gap') in (None, 0):
        problems.append('key counts differ by %d (allowed %d)' % (difference, allowed))
    # failed_when: false resets the result's failed flag: a sample that failed says so by its msg (differences or an
    # error)
    if isinstance(sample, dict) and not sample.get('skipped') and sample.get('msg') is not None:
        message = sample['msg']
        problems.append(' '.join(message) if is_sequence(message) else message)
    return problems


class FilterModule(object):
    def filters(self):
        return {'verify_problems': verify_problems}
