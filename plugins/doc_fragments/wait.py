# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Paired with wait_argument_spec() in plugins/module_utils/sync.py.
    DOCUMENTATION = r'''
options:
  timeout:
    description:
      - Seconds to wait in all before failing. A full sync of a large dataset can take long, so the default is generous.
      - It also bounds each reply of the servers, so a server that stops answering fails the wait near this time.
      - Must be a finite number.
    type: float
    default: 3600.0
  poll_interval:
    description:
      - Seconds between two looks at the target and the source. Each look is one C(INFO replication) per server.
    type: float
    default: 0.1
  max_lag_bytes:
    description:
      - Largest accepted replication lag in bytes. This is the source's C(master_repl_offset) minus the offset the
        target has applied.
      - Unset means lag in bytes is not checked.
      - A Dragonfly source reports no offsets, so this option cannot be used with one.
    type: int
  max_lag_seconds:
    description:
      - Largest accepted lag in seconds since the target last acknowledged the source. This is the C(lag=) on the
        source's replica line.
      - Unset means lag in seconds is not checked.
    type: float
  stable_for:
    description:
      - Seconds for which every condition must hold without a break before the wait succeeds.
    type: float
    default: 0.0
  link_down_timeout:
    description:
      - Seconds the replication link may stay down, with no sync in progress, before the wait fails and gives the reason.
      - A sync counts as in progress once the target has received snapshot bytes or the source lists it as a replica.
        A handshake that the source keeps refusing does not count, though the target reports it as a sync.
      - The reason may be that the source is unreachable or that it rejects the target's credentials.
      - Authentication failures, commands the source's ACL refuses the link (seen in its C(ACL LOG)), and replication
        the two servers cannot do (RDB versions) fail as soon as they are seen.
    type: float
    default: 30.0
'''
