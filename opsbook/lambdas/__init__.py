"""Lambda handlers shared by the AWS and the local backends.

The weekly load's tasks (check_records, notify, insert_week) and the schedule's starter
(start_partition), with the Resources runtime they share. Which function runs which task is
the workflow's manifest (`[tasks.<Name>] handler = "module:function"`), the one list both
backends read: here is no second copy of it.

Each handler module has `handler(event, context)`, a thin shell that builds Resources from
the environment and calls `run(event, resources)`, which tests and the local backend call
directly. start_partition is no task of a definition: on AWS it is the schedule's target,
which starts the alias under the partition's execution name.
"""
