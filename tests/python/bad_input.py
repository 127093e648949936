"""Send malformed requests straight over TLS and check each answer.

Arguments: server host, port, CA file, client cert file, client key file. Prints one line per
case; exits non-zero if any answer is wrong.
"""
import http.client
import json
import socket
import ssl
import sys

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
failures = []


def ctx(with_cert=True):
    c = ssl.create_default_context(cafile=ca)
    c.check_hostname = False
    if with_cert:
        c.load_cert_chain(cert, key)
    return c


def request(method, path, body=None, ctype="application/json", with_cert=True):
    conn = http.client.HTTPSConnection(host, port, context=ctx(with_cert), timeout=10)
    headers = {}
    if ctype is not None:
        headers["Content-Type"] = ctype
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


def expect(name, got_code, status, code, reason=None, contains=None):
    ok = got_code == code
    if ok and isinstance(status, dict):
        ok = status.get("kind") == "Status" and status.get("code") == code
        if reason:
            ok = ok and status.get("reason") == reason
        if contains:
            ok = ok and contains in status.get("message", "")
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got_code} {status if not ok else ''}")
    if not ok:
        failures.append(name)


cms = "/api/v1/namespaces/default/configmaps"
good = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keepme"}, "data": {"k": "v"}})
code, body = request("POST", cms, good)
assert code == 201, (code, body)

code, body = request("GET", cms, with_cert=False)
expect("no client certificate", code, body, 401, "Unauthorized")
code, body = request("GET", "/healthz", with_cert=False)
print(f"{'ok  ' if code == 200 else 'FAIL'} healthz without certificate: {code}")
if code != 200:
    failures.append("healthz")

cases = [
    ("invalid name", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}}), 422, "Invalid", "metadata.name"),
    ("missing name", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}), 422, "Invalid", "name or generateName is required"),
    ("wrong type", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": "notamap"}), 400, "BadRequest", None),
    ("garbage bytes", b"\x00\xff\xfe{{{garbage", 400, "BadRequest", None),
    ("not an object", b"[1,2,3]", 400, "BadRequest", None),
    ("wrong kind", json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}), 400, "BadRequest", None),
]
for name, body_in, code_want, reason, contains in cases:
    code, body = request("POST", cms, body_in)
    expect(name, code, body, code_want, reason, contains)

code, body = request("POST", cms + "?fieldValidation=Strict", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"}, "bogus": 1}))
expect("unknown field under Strict", code, body, 400, "BadRequest", 'unknown field "bogus"')
code, body = request("POST", cms, good, ctype="text/html")
expect("wrong content type", code, body, 415, "UnsupportedMediaType")
big = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}})
code, body = request("POST", cms, big)
expect("body over 3 MiB", code, body, 413, "RequestEntityTooLarge")
code, body = request("GET", cms + "/nope")
expect("not found", code, body, 404, "NotFound", 'configmaps "nope" not found')
code, body = request("POST", cms, good)
expect("already exists", code, body, 409, "AlreadyExists")
code, body = request("PUT", cms + "/keepme", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keepme", "resourceVersion": "1"}}))
expect("stale resourceVersion", code, body, 409, "Conflict")
code, body = request("PATCH", cms + "/keepme", b"{not json", ctype="application/merge-patch+json")
expect("bad patch", code, body, 400, "BadRequest")
code2, body2 = request("GET", "/api/v1/nodes/x/exec")
expect("unknown subresource", code2, body2, 404, "NotFound")
conn = http.client.HTTPSConnection(host, port, context=ctx(), timeout=10)
conn.request("GET", cms, headers={"Accept": "text/html"})
r = conn.getresponse()
data = json.loads(r.read())
conn.close()
expect("unacceptable Accept", r.status, data, 406, "NotAcceptable")
code, body = request("PUT", "/api/v1/namespaces", good)
expect("method not allowed", code, body, 405, "MethodNotAllowed")

# Truncated TLS handshakes and raw garbage on the TLS port must not hurt the server.
for payload in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET / HTTP/1.1\r\n\r\n", b"\xff" * 4096, b""]:
    s = socket.create_connection((host, port), timeout=5)
    if payload:
        s.sendall(payload)
    s.close()

code, body = request("GET", cms + "/keepme")
ok = code == 200 and body["data"] == {"k": "v"}
print(f"{'ok  ' if ok else 'FAIL'} server up and store intact after bad input: {code}")
if not ok:
    failures.append("intact")
if failures:
    sys.exit("failed: " + ", ".join(failures))
print("bad input: ok")
