# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of kvmigrate.replication.report_files: runs the module in the worker when the task runs on the control
node (see plugin_utils/in_process.py), else as a module process."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.kvmigrate.replication.plugins.modules.report_files import main
from ansible_collections.kvmigrate.replication.plugins.plugin_utils.in_process import ModuleAction


class ActionModule(ModuleAction):
    MODULE = 'kvmigrate.replication.report_files'
    MAIN = staticmethod(main)
    NEEDS_REDIS = False
