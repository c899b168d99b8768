# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Paired with enterprise_argument_spec() in plugins/module_utils/enterprise.py.
    DOCUMENTATION = r'''
attributes:
  action_group:
    support: full
    description: Use C(module_defaults) with C(group/kvmigrate.replication.enterprise) to share the cluster options.
    membership:
      - kvmigrate.replication.enterprise
options:
  cluster_url:
    description:
      - Address of the Redis Enterprise Software cluster REST API, as the node running the module reaches it.
      - V(https://cluster.example.com:9443), V(cluster.example.com:9443) or V(cluster.example.com). The scheme defaults to
        C(https) and the port to C(9443), the API's default.
    type: str
    required: true
  cluster_user:
    description:
      - Cluster user the API authenticates with HTTP basic auth (often an email address). Not a database password.
      - Changing Replica Of needs a role with the C(update_bdb) permission (admin, db_member). Reading needs C(view_bdb_info).
    type: str
    required: true
  cluster_password:
    description:
      - Password of O(cluster_user).
    type: str
    required: true
  validate_certs:
    description:
      - Verify the API's TLS certificate and host name.
      - The cluster's default proxy certificate is self-signed. Prefer O(ca_path) to turning this off.
    type: bool
    default: true
  ca_path:
    description:
      - Path of a PEM file with the CA (or the self-signed certificate) that signed the API certificate.
    type: path
  request_timeout:
    description:
      - Seconds one HTTP request may take.
    type: float
    default: 30.0
  database_uid:
    description:
      - Unique ID (C(uid)) of the database on this cluster. For an Active-Active database, the uid of the local
        instance on this cluster.
      - Exactly one of O(database_uid) and O(database_name) is required.
    type: int
  database_name:
    description:
      - Name of the database on this cluster.
      - Exactly one of O(database_uid) and O(database_name) is required.
    type: str
  database_user:
    description:
      - ACL user for the database's own endpoints (the instance's first C(endpoints) entry and, for an Active-Active
        database, each peer's). Used only to read and write the completion marker.
    type: str
  database_password:
    description:
      - Password of the database's endpoints. Not read from the API, which masks it when C(mask_bdb_credentials) is on.
    type: str
  database_tls:
    description:
      - Connect to the database's endpoints with TLS.
    type: bool
    default: false
  database_ca_certs:
    description:
      - PEM file of the CA that signed the endpoints' certificate.
    type: path
notes:
  - API errors name the cluster URL, the database and the fix (401 credentials, 403 role, 404 database, 406 refused change).
    Passwords never appear in results or messages; source URIs are shown as C(redis://admin:********@host:port).
  - Only the fields Replica Of needs are requested (C(?fields=)), so the module does not read every credential of the
    database.
  - "The API is called from where the module runs: use C(delegate_to: localhost) to call it from the control node."
  - When the task runs on the control node (C(delegate_to=localhost) or C(connection=local)), the action plugin runs the
    module inside the Ansible worker process instead of starting a new Python process and importing its libraries for
    every task. Arguments are validated and C(no_log) values masked as in a module process, and the result has the same
    keys.
  - The module runs as a separate Python process when the connection is not local, when C(become), C(async), a task
    C(timeout) or a task C(environment) is set, when C(ansible_python_interpreter) names another Python than the
    controller's (V(auto) and unset name none), or when the variable C(kvmigrate_in_process) is V(false).
'''
