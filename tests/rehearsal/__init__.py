"""The staging rehearsal kit of kvmigrate.replication (docs/rehearsal.md): a public API for users' Molecule scenarios.

* ``staging``  reads the pairs of an inventory (the inventory contract of docs/inventory.md, vault and templates
  resolved by Ansible, in memory only), records and compares the state of staging, and is the command the scenario's
  playbooks run (``python -m ansible_collections.kvmigrate.replication.tests.rehearsal.staging``).
* ``summary``  the one-page summary of a rehearsal, from the migration reports.
* ``checks``   the testinfra checks of the verify step. A scenario imports them and does not copy them::

      from ansible_collections.kvmigrate.replication.tests.rehearsal.checks import *  # noqa: F401,F403

Names without a leading underscore are the API; they keep working across minor releases.
"""
