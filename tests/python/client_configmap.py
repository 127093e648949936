"""Drive the API with the official Python client: create, list, watch, patch, delete a ConfigMap.

Run inside the server's network namespace with KUBECONFIG set; exits non-zero on any failure.
"""
import os
import sys
import threading

from kubernetes import client, config, watch

config.load_kube_config(config_file=os.environ["KUBECONFIG"])
v1 = client.CoreV1Api()
ns = "default"

created = v1.create_namespaced_config_map(
    ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"from": "python"}), data={"a": "1"})
)
assert created.metadata.resource_version, "no resourceVersion"

items = v1.list_namespaced_config_map(ns, label_selector="from=python").items
assert [i.metadata.name for i in items] == ["py"], items

events = []
w = watch.Watch()
def follow():
    for ev in w.stream(v1.list_namespaced_config_map, ns, label_selector="from=python", timeout_seconds=10):
        events.append((ev["type"], ev["object"].metadata.name, (ev["object"].data or {}).get("a")))
        if ev["type"] == "DELETED":
            w.stop()
t = threading.Thread(target=follow)
t.start()

patched = v1.patch_namespaced_config_map("py", ns, {"data": {"a": "2"}})
assert patched.data["a"] == "2", patched.data
v1.delete_namespaced_config_map("py", ns)
t.join(15)
assert not t.is_alive(), "watch did not end"
assert ("ADDED", "py", "1") in events, events
assert ("MODIFIED", "py", "2") in events, events
assert events[-1][0] == "DELETED", events

for i in range(3):
    v1.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"bulk{i}", labels={"bulk": "yes"}))
    )
v1.delete_collection_namespaced_config_map(ns, label_selector="bulk=yes")
left = v1.list_namespaced_config_map(ns, label_selector="bulk=yes").items
assert left == [], left

try:
    v1.read_namespaced_config_map("py", ns)
    sys.exit("deleted ConfigMap still readable")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
print("python client: ok")
