import time
def test_full(make_backend):
    b = make_backend(layer_requirements=__import__("opsbook.packaging").packaging.LAYER_REQUIREMENTS)
    t=time.time(); r=b.deploy(); print("first", time.time()-t)
    t=time.time(); r=b.deploy(); print("second", time.time()-t)
    for c in r.changes:
        if c.action!="unchanged": print(c)
    lam=b.client("lambda")
    v=lam.list_layer_versions(LayerName="opsbook-deps")["LayerVersions"]
    print(v)
    print(lam.get_layer_version(LayerName="opsbook-deps", VersionNumber=1)["Content"])
