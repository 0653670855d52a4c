"""deploy and teardown make no AWS call that deployer_policy() does not grant.

Every API operation the backend's boto3 session makes during a deploy, a second deploy, a
rollback-free teardown and their plans is recorded (botocore's before-call event) and turned
into the IAM actions AWS checks for it (Service Authorization Reference): the operation's own
action, the ones a call's parameters add (tags, logging), and the documented exceptions (S3's
HeadBucket/ListObjectsV2 are s3:ListBucket; GetFunction returns tags only with
lambda:ListTags). Each of those must be granted by deployer_policy().

moto's own IAM enforcement (INITIAL_NO_AUTH_ACTION_COUNT) cannot carry this test: moto's
server (5.2.6 here) rejects the signature of every Lambda (and Scheduler) request once
enforcement is on, and it authorizes every non-S3 call against Resource "*" only, so it refuses
the exact-ARN grants deployer_policy() makes (both checked below).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import boto3
import pytest
from aws_helpers import ACCOUNT, REGION
from botocore.exceptions import ClientError
from support.moto_server import wait_ready

from opsbook.backends.aws.iam import deployer_policy

pytestmark = pytest.mark.aws

PREFIX = {
    "stepfunctions": "states",
    "cloudwatch": "cloudwatch",
    "logs": "logs",
    "sqs": "sqs",
    "s3": "s3",
    "iam": "iam",
    "lambda": "lambda",
    "scheduler": "scheduler",
    "secretsmanager": "secretsmanager",
    "sts": "sts",
    "ssm": "ssm",
    "events": "events",
}
# Where the IAM action is not the operation's name.
RENAMED = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
}
# What a call's parameters add to the actions AWS checks.
IMPLIED = {
    ("lambda:GetFunction", None): ["lambda:ListTags"],  # teardown reads the opsbook tag
    ("lambda:CreateFunction", "Tags"): ["lambda:TagResource"],
    ("iam:CreateRole", "Tags"): ["iam:TagRole"],
    ("secretsmanager:CreateSecret", "Tags"): ["secretsmanager:TagResource"],
    ("states:CreateStateMachine", "tags"): ["states:TagResource"],
    ("states:CreateStateMachine", "publish"): ["states:PublishStateMachineVersion"],
    ("states:UpdateStateMachine", "publish"): ["states:PublishStateMachineVersion"],
    ("states:CreateStateMachine", "loggingConfiguration"): ["logs:CreateLogDelivery"],
    ("states:UpdateStateMachine", "loggingConfiguration"): ["logs:UpdateLogDelivery"],
    ("logs:CreateLogGroup", "tags"): ["logs:TagResource"],
    ("sqs:CreateQueue", "tags"): ["sqs:TagQueue"],
    ("cloudwatch:PutMetricAlarm", "Tags"): ["cloudwatch:TagResource"],
    # Handing a role to a service is iam:PassRole.
    ("lambda:CreateFunction", "Role"): ["iam:PassRole"],
    ("lambda:UpdateFunctionConfiguration", "Role"): ["iam:PassRole"],
    ("states:CreateStateMachine", "roleArn"): ["iam:PassRole"],
    ("states:UpdateStateMachine", "roleArn"): ["iam:PassRole"],
    ("scheduler:CreateSchedule", None): ["iam:PassRole"],
    ("scheduler:UpdateSchedule", None): ["iam:PassRole"],
}


class Recorder:
    def __init__(self) -> None:
        self.actions: set[str] = set()

    def hook(self, model=None, params=None, **_kw) -> None:
        service = model.service_model.service_name
        action = f"{PREFIX[service]}:{model.name}"
        action = RENAMED.get(action, action)
        self.actions.add(action)
        for (implied_by, param), extra in IMPLIED.items():
            if implied_by == action and (param is None or (params or {}).get(param)):
                self.actions.update(extra)


def granted(policy: dict) -> set[str]:
    return {
        a
        for st in policy["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }


def test_deploy_and_teardown_need_nothing_beyond_the_deployer_policy(make_backend, tmp_path):
    recorder = Recorder()
    backend = make_backend()
    backend.session.events.register("before-call", recorder.hook)
    backend.deploy(plan=True)
    backend.deploy()
    backend.deploy()  # unchanged: the read-only path
    backend.teardown(plan=True)
    gone = backend.teardown()
    functions = {c.name for c in gone.changes if c.kind == "lambda" and c.action == "delete"}
    assert functions == {
        "opsbook-check-records", "opsbook-notify", "opsbook-insert-week",
        "opsbook-weekly-load-start",  # the schedule's starter
    }  # fmt: skip
    policy = deployer_policy(backend.cfg, ACCOUNT, REGION)
    missing = sorted(recorder.actions - granted(policy))
    assert missing == [], f"deployer_policy() lacks {missing}"
    # The recording is not empty by accident: the calls of every family are in it.
    assert {"lambda:ListTags", "states:ListExecutions", "sqs:CreateQueue", "logs:PutRetentionPolicy",
            "cloudwatch:PutMetricAlarm", "iam:PassRole"} <= recorder.actions  # fmt: skip


def test_the_recorder_catches_an_action_the_policy_lacks(make_backend):
    recorder = Recorder()
    backend = make_backend()
    backend.session.events.register("before-call", recorder.hook)
    backend.deploy()
    policy = deployer_policy(backend.cfg, ACCOUNT, REGION)
    for st in policy["Statement"]:
        if st["Sid"] == "Functions":
            st["Action"] = [a for a in st["Action"] if a != "lambda:ListTags"]
    assert sorted(recorder.actions - granted(policy)) == ["lambda:ListTags"]


@pytest.mark.slow
def test_moto_iam_enforcement_cannot_judge_the_deployer_policy(tmp_path):
    """Why the test above records calls instead of relying on moto's enforcement: moto rejects
    every Lambda request's signature, and refuses a grant scoped to a resource for that very
    resource. When this fails, moto has learned both: run deploy and teardown under its
    enforcement as a user holding only deployer_policy() instead."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=20, alive=lambda: proc.poll() is None)
        root = {"aws_access_key_id": "root", "aws_secret_access_key": "root"}
        iam = boto3.client("iam", endpoint_url=url, region_name=REGION, **root)
        iam.create_user(UserName="deployer")
        everything = {"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip
        iam.put_user_policy(
            UserName="deployer", PolicyName="all", PolicyDocument=json.dumps(everything)
        )
        key = iam.create_access_key(UserName="deployer")["AccessKey"]
        creds = {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }
        sts = boto3.client("sts", endpoint_url=url, region_name=REGION, **creds)
        assert sts.get_caller_identity()["Arn"].endswith("user/deployer")  # enforcement is on
        lam = boto3.client("lambda", endpoint_url=url, region_name=REGION, **creds)
        with pytest.raises(ClientError) as caught:
            lam.list_functions()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # And it judges every call against Resource "*": a grant scoped to the exact queue, as
        # deployer_policy() scopes its grants, is refused for that very queue.
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scoped"
        scoped = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "sqs:CreateQueue", "Resource": queue}]}  # fmt: skip
        admin = boto3.client("iam", endpoint_url=url, region_name=REGION, **creds)
        admin.create_user(UserName="scoped")
        admin.put_user_policy(UserName="scoped", PolicyName="q", PolicyDocument=json.dumps(scoped))
        key = admin.create_access_key(UserName="scoped")["AccessKey"]
        sqs = boto3.client(
            "sqs",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        with pytest.raises(ClientError) as caught:
            sqs.create_queue(QueueName="scoped")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "AccessDenied" in str(caught.value)  # moto answers in XML; botocore keeps it
    finally:
        proc.terminate()
        proc.wait(timeout=20)
