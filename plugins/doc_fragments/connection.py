# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Paired with connection_argument_spec() in plugins/module_utils/connection.py.
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Address of the server the module talks to (the target, for modules that change replication).
      - Host name or IP address, resolved on the node that runs the module (the control node when delegated).
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of that server.
    type: int
    default: 6379
  login_user:
    description:
      - ACL user to authenticate as (Redis 6.0+, Valkey, Dragonfly). Leave unset for the default user.
    type: str
  login_password:
    description:
      - Password of O(login_user), or of the default user (C(requirepass)).
    type: str
  tls:
    description:
      - Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the server certificate and host name when O(tls=true).
      - Set to V(false) only for self-signed test set-ups.
    type: bool
    default: true
  ca_certs:
    description:
      - Path of the CA bundle that signed the server certificate. Needs O(tls=true).
    type: path
  client_cert_file:
    description:
      - Path of the client certificate, for servers with C(tls-auth-clients yes). Needs O(client_key_file).
    type: path
  client_key_file:
    description:
      - Path of the client certificate's private key. Needs O(client_cert_file).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the TCP connection, then for the TLS handshake, then for each answer while the connection
        is set up (authentication and the first C(PING)) before failing.
      - Once connected, every reply is awaited for at most the larger of this and 10 seconds, except for commands a
        module documents as slower; a stopped or overloaded server fails the task instead of hanging it.
    type: float
    default: 5.0
  option_labels:
    description:
      - How the fix sentences of error messages name options, as a mapping from a module option (V(login_password),
        V(primary_host), V(source_port), ...) to the name the user sets, such as an inventory variable.
      - The roles of this collection set it so that their errors name C(kvmigrate_target_password) rather than
        O(login_password). Options missing from the mapping keep their own name; unknown keys are ignored.
    type: dict
attributes:
  action_group:
    description: Use C(group/kvmigrate.replication.redis) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - kvmigrate.replication.redis
requirements:
  - redis (redis-py) >= 4.0 on the node that runs the module
notes:
  - Connection errors name the endpoint and the cause (refused, timeout, no answer, authentication, TLS, permission);
    passwords never appear in results or messages.
  - Host options (O(login_host) and every other C(*_host) option) must be a host name or address without spaces or
    control characters; float options must be finite numbers; O(ca_certs), O(client_cert_file) and O(client_key_file)
    must be readable files on the node that runs the module. These are checked before anything is contacted.
  - When the task runs on the control node (C(delegate_to=localhost) or C(connection=local)), the action plugin runs the
    module inside the Ansible worker process instead of starting a new Python process and importing its libraries for
    every task. Arguments are validated and C(no_log) values masked as in a module process, and the result has the same
    keys.
  - The module runs as a separate Python process when the connection is not local, when C(become), C(async), a task
    C(timeout) or a task C(environment) is set, when C(ansible_python_interpreter) names another Python than the
    controller's (V(auto) and unset name none), when the controller's Python lacks redis-py, or when the variable
    C(kvmigrate_in_process) is V(false).
'''

    # Modules that only read: they run the same in check mode and have nothing to diff.
    READ_ONLY = r'''
attributes:
  check_mode:
    support: full
    description: Only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
'''

    PRIMARY_AUTH = r'''
options:
  primary_user:
    description:
      - ACL user the target uses to authenticate to its primary (C(masteruser)).
    type: str
    aliases: [master_user]
  primary_password:
    description:
      - Password the target uses to authenticate to its primary (C(masterauth)).
    type: str
    aliases: [master_password]
'''
