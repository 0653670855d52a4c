import json, time
def test_probe(moto_env):
    env = moto_env
    t = time.time()
    a = env["sfn"].start_execution(stateMachineArn=env["sm_arn"], name="x1", input=json.dumps({"week": "2026-10-29", "mode": "hang"}))["executionArn"]
    print("start", time.time() - t)
    while env["sfn"].describe_execution(executionArn=a)["status"] == "RUNNING":
        time.sleep(0.2)
    print("closed", time.time() - t)
