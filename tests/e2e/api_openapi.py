"""GET /openapi.json (issue core-4, item 9 and acceptance 4): an OpenAPI 3.1 document whose
every example validates against its schema (jsonschema, Draft 2020-12), and whose schemas
describe what the server really answers: a real job, its status, a message, an account, a key
and problems are validated against them. (That every route is documented, and nothing else, is
checked by the unit test unit.api.OpenApi.DocumentsEveryRouteAndNothingElse.)"""
import jsonschema
from jsonschema import Draft202012Validator, RefResolver
from txmail_harness import *

with Txmail() as tx:
    r = http(tx, "GET", "/openapi.json")
    check(r.status == 200 and r.headers["content-type"] == "application/json", f"{r}")
    doc = r.json
    check(doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["paths"], "not an OpenAPI 3.1 document")
    resolver = RefResolver(base_uri="", referrer=doc)
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})

    def validate(schema, instance, where):
        try:
            Draft202012Validator(schema, resolver=resolver).validate(instance)
        except jsonschema.ValidationError as e:
            fail(f"{where}: {e.message} at {list(e.absolute_path)}")

    examples = 0
    for path, item in doc["paths"].items():
        for method, o in item.items():
            check("summary" in o and "responses" in o, f"{method} {path}: summary and responses")
            media = []
            if "requestBody" in o:
                media += [(f"{method} {path} request", m) for m in o["requestBody"]["content"].values()]
            for code, res in o["responses"].items():
                media += [(f"{method} {path} {code}", m) for m in res.get("content", {}).values()]
            for where, m in media:
                check("schema" in m and "example" in m, f"{where}: no schema or example")
                validate(m["schema"], m["example"], where)
                examples += 1
    check(examples >= 60, f"only {examples} examples")

    # The server's real answers match the schemas.
    def schema_of(name):
        return {"$ref": f"#/components/schemas/{name}"}
    job = {"subject": {"content": "openapi"}, "body": {"contentType": "text/plain", "content": "x"},
           "mail": {"from": {"email": "a@sender.test"}},
           "recipients": [{"mail": {"to": [{"email": "b@dest.test"}, {"email": "broken@"}]}}]}
    validate(schema_of("JobRequest"), job, "a real request")
    r = http(tx, "POST", "/v2/jobs", job, user="alice")
    check(r.status == 202, f"{r}")
    validate(schema_of("JobAccepted"), r.json, "a real 202")
    s = http(tx, "GET", "/v2/jobs/" + r.json["jobId"], user="alice")
    validate(schema_of("JobStatus"), s.json, "a real job status")
    m = http(tx, "GET", "/v2/messages/" + r.json["recipients"][0]["mailId"].replace("#", "%23"), user="alice")
    validate(schema_of("MessageStatus"), m.json, "a real message status")
    a = http(tx, "POST", "/v2/admin/accounts", {"name": "docs"}, token=True)
    validate(schema_of("AccountCreated"), a.json, "a real account")
    validate(schema_of("AccountList"), http(tx, "GET", "/v2/admin/accounts", token=True).json, "a real account list")
    validate(schema_of("ApiKeyList"), http(tx, "GET", "/v2/admin/accounts/docs/keys", token=True).json, "real keys")
    d = http(tx, "POST", "/v2/domains", {"domain": "docs.test"}, user="alice")
    validate(schema_of("Domain"), d.json, "a real domain")
    http(tx, "POST", "/v2/suppressions", {"email": "s@x.test"}, user="alice")
    validate(schema_of("SuppressionList"), http(tx, "GET", "/v2/suppressions", user="alice").json, "a real list")
    validate(schema_of("Suppression"), http(tx, "GET", "/v2/suppressions/s@x.test", user="alice").json, "a real entry")
    for bad in (http(tx, "POST", "/v2/jobs", {"subject": "x\r\ny"}, user="alice"),
                http(tx, "GET", "/v2/jobs/" + r.json["jobId"], user="relayer"),
                http(tx, "GET", "/v2/admin/accounts")):
        validate(schema_of("Problem"), bad.json, f"a real problem {bad.status}")
print("ok")
