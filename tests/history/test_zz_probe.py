import json, time
def _start(env, name, payload):
    return env["sfn"].start_execution(stateMachineArn=env["sm_arn"], name=name, input=json.dumps(payload))["executionArn"]
def test_probe(moto_env):
    env = moto_env
    t = time.time()
    timed_out = _start(env, "week-2026-10-29", {"week": "2026-10-29", "mode": "hang"})
    _start(env, "week-2026-10-01", {"week": "2026-10-01"}); print("a", time.time() - t)
    _start(env, "week-2026-10-08", {"week": "2026-10-08", "mode": "fail"}); print("b", time.time() - t)
    aborted = _start(env, "week-2026-10-22", {"week": "2026-10-22", "mode": "hang"})
    _start(env, "4f0c6f7e-0b1d-4a53-9a43-2b8f1d3c5e11", {"scheduled_time": "2026-11-05T00:30:00Z"}); print("c", time.time() - t)
    time.sleep(0.3)
    env["sfn"].stop_execution(executionArn=aborted, error="Stopped", cause="stopped by an operator"); print("d", time.time() - t)
    while env["sfn"].describe_execution(executionArn=timed_out)["status"] == "RUNNING":
        time.sleep(0.2)
    print("e", time.time() - t)
