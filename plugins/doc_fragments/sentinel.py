# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Paired with sentinel_argument_spec() in plugins/module_utils/sentinel.py.
    DOCUMENTATION = r'''
options:
  sentinels:
    description:
      - Every Sentinel that watches the pair, as V(host:port) strings (port 26379 when left out) or mappings with
        C(host) and C(port). They are reached with the TLS and timeout options of the connection.
      - Empty means no Sentinel is listed. Sentinels found watching either end are then reported, not handed over.
    type: list
    elements: raw
    default: []
  sentinel_user:
    description:
      - ACL user on the Sentinels (their own C(user)/C(requirepass), not the one they use for the servers).
    type: str
  sentinel_password:
    description:
      - Password on the Sentinels.
    type: str
  master_name:
    description:
      - The master name the Sentinels use for the source. Found when unset. The name is then the one every listed
        Sentinel that watches either end uses, or the one in the hand-over record.
    type: str
  source_host:
    description:
      - Address of the other end. This is the source before a cutover, the old primary for C(state=released) and
        C(state=monitored).
    type: str
  source_port:
    description:
      - Port of O(source_host).
    type: int
    default: 6379
  primary_user:
    description:
      - ACL user on O(source_host) and on its other replicas.
    type: str
    aliases: [master_user]
  primary_password:
    description:
      - Password on O(source_host) and on its other replicas.
    type: str
    aliases: [master_password]
'''
