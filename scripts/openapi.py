#!/usr/bin/env python3
"""Writes src/api/openapi.json, the OpenAPI 3.1 document served at GET /openapi.json.

Edit this file, run `python3 scripts/openapi.py`, and commit both. The unit test
unit.api.OpenApi.* checks that every route of the router is documented, and
tests/e2e/api_openapi.py that every example validates against its schema."""
import json
import os

JOB_ID = "01a21fe8-133d-7b7d-90d9-ce4c3ddb2567"
MAIL_ID = JOB_ID + "#00000000#00000000"


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def string(desc=None, **kw):
    s = {"type": "string", **kw}
    if desc:
        s["description"] = desc
    return s


def obj(props, required=(), desc=None, additional=False):
    o = {"type": "object", "properties": props, "additionalProperties": additional}
    if required:
        o["required"] = list(required)
    if desc:
        o["description"] = desc
    return o


EMAIL = obj({"email": string("An address, optionally with a display name: \"Name <addr@example.org>\"",
                             minLength=1, maxLength=256)}, ["email"])
TEXT = obj({"content": string("The text", minLength=1),
            "contentEncoding": {"type": "string", "enum": ["plain", "base64", "quoted-printable"],
                                "description": "How `content` is encoded in this request (default plain)"},
            "charset": {"type": "string", "description": "UTF-8 (default) or US-ASCII"},
            "contentTransferEncoding": {"type": "string",
                                        "description": "Accepted for compatibility; txmail chooses the encoding"}},
           ["content"])
FEATURES = obj({"openTracking": obj({"active": {"type": "boolean"}}),
                "linkTracking": obj({"active": {"type": "boolean"}})},
               desc="Tracking is not offered by txmail: `active: true` is refused")
MAIL_OPTIONS = {
    "replyTo": ref("Address"),
    "inReplyTo": string("Message-ID this message answers", minLength=1, maxLength=900),
    "priority": {"type": "string", "enum": ["HIGH", "NORMAL", "LOW"]},
    "listUnsubscribe": string("https:, http: or mailto: URL, or an address; https adds one-click (RFC 8058)"),
    "xHeaders": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 900},
                 "description": "Extra header fields; names must start with X-"},
}
PROBLEM = obj({"type": string("Stable problem type, /problems/<name>"), "title": string(),
               "status": {"type": "integer"}, "detail": string(),
               "code": string("LIMIT_EXCEEDED on 429"),
               "errors": {"type": "array", "items": obj({"path": string("JSON path of the invalid field"),
                                                         "message": string()}, ["path", "message"])}},
              ["type", "title", "status"])
RECIPIENT_ANSWER = obj({"email": string(), "mailId": string(), "status": {"type": "string", "enum": ["ACCEPTED", "DROPPED"]},
                        "reason": {"type": "string", "enum": ["INVALID_ADDRESS", "VALIDATION_ERROR",
                                                              "PREVIOUSLY_BOUNCED", "PREVIOUSLY_COMPLAINED", "PREVIOUSLY_UNSUBSCRIBED",
                                                              "FORBIDDEN_RECIPIENT"]},
                        "detail": string()}, ["email", "mailId", "status"])
EVENT = obj({"tag": string(), "phase": string(), "state": string(), "type": string(), "subType": string(),
             "ts": string(format="date-time"), "description": string(), "attempt": {"type": "integer"},
             "remoteHost": string(), "egress": string(), "tls": string()},
            ["tag", "phase", "state", "type", "subType", "ts", "description"])
STATUSES = ["ACCEPTED", "DEFERRED", "DELIVERED", "BOUNCED", "DROPPED"]
JOB_STATUS = obj({
    "jobId": string(), "account": string(), "receivedTs": string(format="date-time"), "finished": {"type": "boolean"},
    "summary": obj({"total": {"type": "integer"}, **{s: {"type": "integer"} for s in STATUSES}}, ["total", *STATUSES]),
    "recipients": {"type": "array", "items": obj({
        "mailId": string(), "email": string(), "status": {"type": "string", "enum": STATUSES},
        "subType": string(), "attempts": {"type": "integer"}, "ts": string(format="date-time"),
        "description": string()}, ["mailId", "email", "status", "subType", "attempts", "ts", "description"])}},
    ["jobId", "account", "receivedTs", "finished", "summary", "recipients"])
MESSAGE_STATUS = obj({"mailId": string(), "jobId": string(), "email": string(), "from": string(),
                      "status": {"type": "string", "enum": STATUSES}, "events": {"type": "array", "items": ref("Event")}},
                     ["mailId", "jobId", "email", "status", "events"])
CIDRS = {"type": "array", "items": {"type": "string"}}
ACCOUNT = obj({"name": string(), "disabled": {"type": "boolean"}, "pool": string(), "allowIps": CIDRS,
               "apiAllowIps": CIDRS, "allowUnverifiedDomains": {"type": "boolean"},
               "sandbox": {"type": "boolean", "description": "Mail is captured (GET /v2/sandbox/messages), never sent"},
               "unsubscribe": {"type": "boolean", "description": "REST jobs get one-click unsubscribe links txmail hosts "
                                                                 "(GET|POST /u/{token}; docs/api.md)"},
               "createdTs": {"type": "integer", "description": "Unix milliseconds"},
               "hourlyLimit": {"type": "integer", "description": "Absent: the node's default ([api] hourly_limit)"}},
              ["name", "disabled", "pool", "allowIps", "apiAllowIps", "allowUnverifiedDomains", "sandbox", "createdTs"])
API_KEY = obj({"id": string(), "account": string(), "name": string(), "createdTs": {"type": "integer"}},
              ["id", "account", "name", "createdTs"])
API_KEY_NEW = obj({**API_KEY["properties"], "key": string("The key; shown only in this answer")},
                  API_KEY["required"] + ["key"])
DOMAIN = obj({
    "name": string(), "account": string(), "verified": {"type": "boolean"}, "verified_ms": {"type": "integer"},
    "checked_ms": {"type": "integer"},
    "return_path_domain": string("The envelope sender's domain of this domain's mail: bounce.<name> once its MX and SPF records "
                                 "verify ([bounces] mx); empty: the service's own return path"),
    "keys": {"type": "array", "items": obj({"selector": string(), "algorithm": {"type": "string", "enum": ["rsa-sha256", "ed25519-sha256"]},
                                            "state": {"type": "string", "enum": ["pending", "active", "retired"]},
                                            "created_ms": {"type": "integer"}, "activated_ms": {"type": "integer"},
                                            "retire_at_ms": {"type": "integer"}, "dns_record": string()},
                                           ["selector", "algorithm", "state", "dns_record"])},
    "records": {"type": "array", "items": obj({"purpose": string(), "name": string(), "type": string(), "value": string(),
                                               "alternative_cname": string(), "required": {"type": "boolean"},
                                               "status": {"type": "string", "enum": ["ok", "missing", "wrong", "unchecked"]},
                                               "found": string()}, ["purpose", "name", "type", "value", "status"])}},
    ["name", "account", "verified", "keys", "records"])

SCHEMAS = {
    "Problem": PROBLEM,
    "Address": EMAIL,
    "Text": TEXT,
    "Attachment": obj({"name": string(minLength=1, maxLength=255), "contentType": string(),
                       "content": string("Base64"), "contentId": string("Makes the part inline (cid:<contentId>)"),
                       "secureDocument": string("Accepted for compatibility; no effect")}, ["name", "content"]),
    "RecipientBlock": obj({"mail": obj({"to": {"type": "array", "items": ref("Address")},
                                        "cc": {"type": "array", "items": ref("Address")},
                                        "bcc": {"type": "array", "items": ref("Address")}, **MAIL_OPTIONS}),
                           "reference": string(maxLength=50), "features": FEATURES}, ["mail"],
                          desc="One MIME message; its to and cc see each other, bcc never appears"),
    "JobRequest": obj({
        "subject": {"oneOf": [ref("Text"), {"type": "string", "minLength": 1, "maxLength": 500}]},
        "body": obj({"contentType": {"type": "string", "enum": ["text/plain", "text/html"]}, **TEXT["properties"]},
                    ["contentType", "content"]),
        "alternative": ref("Text"),
        "attachments": {"type": "array", "items": ref("Attachment")},
        "recipients": {"type": "array", "minItems": 1, "items": ref("RecipientBlock"),
                       "description": "At most 1,000 addresses over all blocks"},
        "mail": obj({"from": ref("Address"), "mimeFrom": ref("Address"), **MAIL_OPTIONS},
                    desc="from: envelope sender; mimeFrom: header From; either or both"),
        "job": obj({"referenceJob": string(maxLength=50), "campaignId": string(maxLength=50),
                    "costCenter": string(maxLength=50), "features": FEATURES, "options": {"type": "object"}}),
        "notification": obj({"endPoint": obj({"url": string(maxLength=1000), "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                                              "authentication": obj({"method": {"type": "string", "enum": ["BASIC"]},
                                                                     "user": string(), "password": string()}, ["method"])})})},
        ["subject", "recipients", "mail"]),
    "JobAccepted": obj({"jobId": string(), "recipients": {"type": "array", "items": RECIPIENT_ANSWER}}, ["jobId", "recipients"]),
    "Event": EVENT,
    "JobStatus": JOB_STATUS,
    "MessageStatus": MESSAGE_STATUS,
    "Account": ACCOUNT,
    "AccountCreate": obj({"name": string(maxLength=64), "password": string("12 characters or more; generated when absent"),
                          "allowIps": CIDRS, "apiAllowIps": CIDRS, "pool": string(),
                          "hourlyLimit": {"type": "integer", "minimum": 0}, "allowUnverifiedDomains": {"type": "boolean"},
                          "sandbox": {"type": "boolean", "description": "A sandbox account: mail is captured, never sent"},
                          "unsubscribe": {"type": "boolean", "description": "Host one-click unsubscribe links in its REST jobs"}},
                         ["name"]),
    "AccountCreated": obj({**ACCOUNT["properties"], "password": string("Generated SMTP/API password, shown once"),
                           "apiKey": ref("ApiKeyCreated")}, ACCOUNT["required"] + ["apiKey"]),
    "AccountList": obj({"accounts": {"type": "array", "items": ref("Account")}}, ["accounts"]),
    "ApiKey": API_KEY,
    "ApiKeyCreated": API_KEY_NEW,
    "ApiKeyList": obj({"keys": {"type": "array", "items": ref("ApiKey")}}, ["keys"]),
    "Domain": DOMAIN,
    "DomainList": obj({"domains": {"type": "array", "items": ref("Domain")}}, ["domains"]),
    "Status": obj({"status": string()}, ["status"]),
    "WebhookEndpoint": obj({"url": string(maxLength=1000), "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                            "authentication": obj({"method": {"type": "string", "enum": ["BASIC"]}, "user": string(),
                                                   "password": string("Write-only: never shown")}, ["method", "user"])},
                           ["url"]),
    "WebhookSecret": obj({"secret": string("64 hex digits"), "header": string(), "scheme": string()}, ["secret", "header", "scheme"]),
    "DeadLetters": obj({"deadLetters": {"type": "array", "items": obj({
        "id": {"type": "integer"}, "account": string(), "jobId": string(), "url": string(), "attempts": {"type": "integer"},
        "lastError": string(), "createdTs": string(format="date-time"), "notifications": {"type": "integer"}},
        ["id", "account", "jobId", "url", "attempts", "lastError", "createdTs", "notifications"])}}, ["deadLetters"]),
    "Replayed": obj({"replayed": {"type": "integer"}}, ["replayed"]),
    "Suppression": obj({"email": string(), "type": {"type": "string", "enum": ["PREVIOUSLY_BOUNCED", "TEMPORARY_SUPPRESSED",
                                                                                 "COMPLAINT", "UNSUBSCRIBED"]},
                        "reason": string(), "source": {"type": "string", "enum": ["bounce", "complaint", "unsubscribe", "api"]},
                        "createdTs": string(format="date-time"), "expiresTs": string(format="date-time")},
                       ["email", "type", "reason", "source", "createdTs", "expiresTs"]),
    "SuppressionList": obj({"suppressions": {"type": "array", "items": ref("Suppression")},
                            "next": string("The next page, when this one is full")}, ["suppressions"]),
    "SuppressionAdd": obj({"email": string(maxLength=256), "type": {"type": "string", "enum": ["PREVIOUSLY_BOUNCED", "TEMPORARY_SUPPRESSED"]},
                           "reason": string(maxLength=300), "ttlDays": {"type": "integer", "minimum": 1, "maximum": 45}}, ["email"]),
}

EX_JOB = {
    "subject": {"content": "Your invoice 2026-117"},
    "body": {"contentType": "text/html", "content": "<p>Hello Ann, your invoice is attached.</p><img src=\"cid:logo\">"},
    "alternative": {"content": "Hello Ann, your invoice is attached."},
    "attachments": [{"name": "invoice.pdf", "contentType": "application/pdf", "content": "JVBERi0xLjQK"},
                    {"name": "logo.png", "contentType": "image/png", "content": "iVBORw0KGgo=", "contentId": "logo"}],
    "mail": {"from": {"email": "bounces@shop.example"}, "mimeFrom": {"email": "Shop <billing@shop.example>"},
             "replyTo": {"email": "help@shop.example"}},
    "recipients": [{"mail": {"to": [{"email": "Ann Example <ann@example.org>"}], "bcc": [{"email": "archive@shop.example"}],
                             "xHeaders": {"X-Invoice": "2026-117"}}, "reference": "customer-42"}],
    "job": {"referenceJob": "invoices-nov", "campaignId": "billing", "costCenter": "finance"},
}
EX_ACCEPTED = {"jobId": JOB_ID, "recipients": [
    {"email": "ann@example.org", "mailId": MAIL_ID, "status": "ACCEPTED"},
    {"email": "archive@shop.example", "mailId": JOB_ID + "#00000000#00000001", "status": "ACCEPTED"}]}
EX_EVENT_START = {"tag": "9a39eeb433e119dc0d6fd7b5b750c6f0", "phase": "PROCESS", "state": "INITIAL", "type": "STARTED",
                  "subType": "PROCESSING_STARTED", "ts": "2026-11-28T02:07:12.701Z", "description": ""}
EX_EVENT_DONE = {"tag": "e7ca3389da75bb608300bc7af36002a5", "phase": "DELIVER", "state": "FINISHED", "type": "DELIVERED",
                 "subType": "OK", "ts": "2026-11-28T02:07:13.020Z", "attempt": 1, "remoteHost": "mx.example.org[192.0.2.10]",
                 "egress": "198.51.100.7", "tls": "TLSv1.3",
                 "description": "mx.example.org[192.0.2.10]: 250 2.0.0 Ok: queued as 4F2A1"}
EX_JOB_STATUS = {"jobId": JOB_ID, "account": "shop", "receivedTs": "2026-11-28T02:07:12.701Z", "finished": True,
                 "summary": {"total": 2, "ACCEPTED": 0, "DEFERRED": 0, "DELIVERED": 2, "BOUNCED": 0, "DROPPED": 0},
                 "recipients": [{"mailId": MAIL_ID, "email": "ann@example.org", "status": "DELIVERED", "subType": "OK",
                                 "attempts": 1, "ts": "2026-11-28T02:07:13.020Z",
                                 "description": "mx.example.org[192.0.2.10]: 250 2.0.0 Ok: queued as 4F2A1"},
                                {"mailId": JOB_ID + "#00000000#00000001", "email": "archive@shop.example",
                                 "status": "DELIVERED", "subType": "OK", "attempts": 1, "ts": "2026-11-28T02:07:13.020Z",
                                 "description": "mx.shop.example[192.0.2.20]: 250 2.0.0 Ok"}]}
EX_MESSAGE = {"mailId": MAIL_ID, "jobId": JOB_ID, "email": "ann@example.org", "from": "bounces@shop.example",
              "status": "DELIVERED", "events": [EX_EVENT_START, EX_EVENT_DONE]}
EX_ACCOUNT = {"name": "shop", "disabled": False, "pool": "default", "allowIps": [], "apiAllowIps": ["203.0.113.0/24"],
              "allowUnverifiedDomains": False, "sandbox": False, "unsubscribe": False, "createdTs": 1795831331415, "hourlyLimit": 20000}
EX_KEY = {"id": "8fd8fb2235f2fa3c", "account": "shop", "name": "deploy", "createdTs": 1795831333003}
EX_KEY_NEW = dict(EX_KEY, key="txm_taWjrnmmH4Efwtv8zTnROuAcSvvxVGrRsLUA8isMzrM")
EX_DOMAIN = {"name": "shop.example", "account": "shop", "verified": False, "verified_ms": 0, "checked_ms": 0,
             "keys": [{"selector": "txm1", "algorithm": "rsa-sha256", "state": "pending", "created_ms": 1795831331415,
                       "activated_ms": 0, "retire_at_ms": 0, "dns_record": "v=DKIM1; k=rsa; p=MIIBIjANBgkq..."}],
             "records": [{"purpose": "dkim", "name": "txm1._domainkey.shop.example", "type": "TXT",
                          "value": "v=DKIM1; k=rsa; p=MIIBIjANBgkq...", "alternative_cname": "txm1.shop.example._dkim.mail.example.net",
                          "required": True, "status": "unchecked", "found": ""}]}
EX_SUPPRESSION = {"email": "ann@example.org", "type": "PREVIOUSLY_BOUNCED", "source": "bounce",
                  "reason": "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown",
                  "createdTs": "2026-11-28T02:07:13.020Z", "expiresTs": "2027-01-12T02:07:13.020Z"}
EX_PROBLEM_400 = {"type": "/problems/validation-error", "title": "Bad Request", "status": 400,
                  "detail": "subject.content: contains CR, LF or NUL",
                  "errors": [{"path": "subject.content", "message": "contains CR, LF or NUL"}]}
EX_PROBLEM_404 = {"type": "/problems/not-found", "title": "Not Found", "status": 404, "detail": "no job " + JOB_ID}
EX_PROBLEM_429 = {"type": "/problems/limit-exceeded", "title": "Too Many Requests", "status": 429, "code": "LIMIT_EXCEEDED",
                  "detail": "the account's limit of 5000 requests an hour is reached"}


def json_content(schema, example):
    return {"application/json": {"schema": schema, "example": example}}


def problem(desc, example=EX_PROBLEM_404):
    return {"description": desc, "content": {"application/problem+json": {"schema": ref("Problem"), "example": example}}}


COMMON = {"401": problem("No or wrong credentials", {"type": "/problems/unauthorized", "title": "Unauthorized",
                                                     "status": 401, "detail": "unknown API key"})}


def op(summary, ok_code, ok_desc, ok_schema=None, ok_example=None, body=None, body_example=None, errors=None,
       security="account", params=()):
    o = {"summary": summary, "responses": {}}
    if security == "none":
        o["security"] = []
    elif security == "admin":
        o["security"] = [{"bearer": []}]
    if params:
        o["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    if body is not None:
        o["requestBody"] = {"required": True, "content": json_content(body, body_example)}
    if ok_schema is not None:
        o["responses"][ok_code] = {"description": ok_desc, "content": json_content(ok_schema, ok_example)}
    else:
        o["responses"][ok_code] = {"description": ok_desc}
    if security != "none":
        o["responses"].update(COMMON)
    for code, (desc, ex) in (errors or {}).items():
        o["responses"][code] = problem(desc, ex)
    return o


NOT_FOUND = {"404": ("Not found (another account's objects answer the same)", EX_PROBLEM_404)}
INVALID = {"400": ("Invalid request; each invalid field by its JSON path", EX_PROBLEM_400)}

paths = {
    "/healthz": {"get": op("Liveness", "200", "The process serves requests", ref("Status"), {"status": "ok"}, security="none")},
    "/readyz": {"get": op("Readiness: may this node take traffic", "200", "Ready", ref("Status"), {"status": "ready"},
                          security="none", errors={"503": ("Not ready", {"type": "/problems/unavailable", "title": "Service Unavailable", "status": 503})})},
    "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4): events by phase/type/subType, jobs by "
                                    "interface, acceptance and delivery latency, queue, spool and suppression sizes",
                         "security": [],
                         "responses": {"200": {"description": "Metrics", "content": {"text/plain": {
                             "schema": {"type": "string"},
                             "example": "# TYPE txmail_events_total counter\n"
                                        "txmail_events_total{phase=\"DELIVER\",type=\"DELIVERED\",subType=\"OK\"} 42\n"}}}}}},
    "/u/{token}": {
        "get": {"summary": "One-click unsubscribe (RFC 8058): a confirmation page with a button; changes nothing",
                "security": [],
                "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The page", "content": {"text/html": {
                                  "schema": {"type": "string"}, "example": "<!DOCTYPE html>\n<html>...<form method=\"post\" ...>"}}},
                              "404": {"description": "Not a valid link (nothing says why)",
                                      "content": {"text/html": {"schema": {"type": "string"},
                                                                "example": "<!DOCTYPE html>\n<html>...This link is not valid..."}}}}},
        "post": {"summary": "One-click unsubscribe (RFC 8058): records UNSUBSCRIBED and suppresses the address for the "
                            "account; idempotent",
                 "security": [],
                 "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                 "requestBody": {"required": True, "content": {
                     "application/x-www-form-urlencoded": {"schema": {"type": "string"}, "example": "List-Unsubscribe=One-Click"},
                     "multipart/form-data": {"schema": {"type": "string"},
                                             "example": "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                                                        "One-Click\r\n--b--\r\n"}}},
                 "responses": {"200": {"description": "Unsubscribed (again: the same page, no second event)",
                                       "content": {"text/html": {"schema": {"type": "string"},
                                                                 "example": "<!DOCTYPE html>\n<html>...Unsubscribed..."}}},
                               "400": problem("The body is not List-Unsubscribe=One-Click", EX_PROBLEM_400),
                               "404": problem("Not a valid link (a wrong MAC, or a mail the event log does not know)",
                                              EX_PROBLEM_404),
                               "413": problem("The body is over 4096 bytes",
                                              {"type": "/problems/body-too-large", "title": "Content Too Large", "status": 413}),
                               "503": problem("Try again later", {"type": "/problems/unavailable",
                                                                   "title": "Service Unavailable", "status": 503})}}},
    "/openapi.json": {"get": op("This document", "200", "OpenAPI 3.1", {"type": "object"}, {"openapi": "3.1.0"}, security="none")},
    "/v2/jobs": {"post": {**op("Submit a job: one MIME message per recipient block", "202",
                               "Accepted: stored durably; each recipient ACCEPTED or DROPPED", ref("JobAccepted"), EX_ACCEPTED,
                               body=ref("JobRequest"), body_example=EX_JOB,
                               errors={**INVALID, "403": ("The sender domain is not this account's verified domain",
                                                          {"type": "/problems/sender-domain", "title": "Forbidden", "status": 403,
                                                           "detail": "Sender domain shop.example is not registered for this account"}),
                                       "409": ("A request with this Idempotency-Key is in progress", {"type": "/problems/idempotency-key-in-use", "title": "Conflict", "status": 409}),
                                       "413": ("A composed message or the body is too large", {"type": "/problems/message-too-large", "title": "Content Too Large", "status": 413}),
                                       "415": ("Not application/json", {"type": "/problems/unsupported-media-type", "title": "Unsupported Media Type", "status": 415}),
                                       "422": ("The Idempotency-Key was used for another request", {"type": "/problems/idempotency-key-reused", "title": "Unprocessable Content", "status": 422}),
                                       "429": ("The account's hourly limit is reached (Retry-After)", EX_PROBLEM_429)}),
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                         "schema": {"type": "string", "maxLength": 255},
                                         "description": "The same key from the same account within 24 hours returns the first answer"}]}},
    "/v2/jobs/{jobId}": {"get": op("A job's summary and each recipient's current state", "200", "The job", ref("JobStatus"),
                                   EX_JOB_STATUS, errors=NOT_FOUND, params=["jobId"])},
    "/v2/messages/{mailId}": {"get": op("Every event of one recipient (encode # as %23)", "200", "The recipient's events",
                                        ref("MessageStatus"), EX_MESSAGE, errors=NOT_FOUND, params=["mailId"])},
    "/v2/domains": {
        "get": op("Sender domains (the operator: every domain)", "200", "Domains", ref("DomainList"), {"domains": [EX_DOMAIN]}),
        "post": op("Register a sender domain; the answer lists the DNS records to publish", "201", "Registered",
                   ref("Domain"), EX_DOMAIN, body=obj({"domain": string(), "account": string("Operator only")}, ["domain"]),
                   body_example={"domain": "shop.example"},
                   errors={**INVALID, "409": ("Already registered", {"type": "/problems/conflict", "title": "Conflict", "status": 409})})},
    "/v2/domains/{domain}": {
        "get": op("One domain, its keys and records", "200", "The domain", ref("Domain"), EX_DOMAIN, errors=NOT_FOUND, params=["domain"]),
        "delete": op("Remove a sender domain", "204", "Removed", errors=NOT_FOUND, params=["domain"])},
    "/v2/domains/{domain}/verify": {"post": op("Look the records up; activates keys found in place", "200", "Checked",
                                               ref("Domain"), dict(EX_DOMAIN, checked_ms=1795831400000), params=["domain"],
                                               errors={**NOT_FOUND, "503": ("DNS could not say", {"type": "/problems/unavailable", "title": "Service Unavailable", "status": 503})})},
    "/v2/domains/{domain}/rotate": {"post": op("New pending keys (the current ones retire once the new ones verify)", "200",
                                               "Rotated", ref("Domain"), EX_DOMAIN, errors=NOT_FOUND, params=["domain"])},
    "/v2/domains/{domain}/keys": {"post": op("Import a PEM private key", "200", "Imported", ref("Domain"), EX_DOMAIN,
                                             body=obj({"pem": string("PKCS#8 PEM")}, ["pem"]),
                                             body_example={"pem": "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"},
                                             errors={**INVALID, **NOT_FOUND}, params=["domain"])},
    "/v2/webhooks/endpoint": {
        "get": op("The account's default notification endpoint (never its password)", "200", "The endpoint",
                  ref("WebhookEndpoint"), {"url": "https://hooks.shop.example/txmail", "headers": {"X-Env": "prod"},
                                           "authentication": {"method": "BASIC", "user": "txmail"}}, errors=NOT_FOUND),
        "put": op("Set the account's default endpoint (jobs without their own get it)", "200", "Set",
                  ref("WebhookEndpoint"), {"url": "https://hooks.shop.example/txmail", "headers": {"X-Env": "prod"},
                                           "authentication": {"method": "BASIC", "user": "txmail"}},
                  body=ref("WebhookEndpoint"), body_example={"url": "https://hooks.shop.example/txmail", "headers": {"X-Env": "prod"},
                                                             "authentication": {"method": "BASIC", "user": "txmail", "password": "s3cret"}},
                  errors=INVALID),
        "delete": op("Remove the account's default endpoint", "204", "Removed")},
    "/v2/webhooks/secret": {"get": op("The account's signing secret for X-Txmail-Signature", "200", "The secret",
                                      ref("WebhookSecret"), {"secret": "9f" * 32, "header": "X-Txmail-Signature",
                                                             "scheme": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">"})},
    "/v2/webhooks/dead-letters": {"get": op("Notification batches that ran out of tries (the operator: every account's)", "200",
                                            "Dead letters", ref("DeadLetters"),
                                            {"deadLetters": [{"id": 7, "account": "shop", "jobId": JOB_ID,
                                                              "url": "https://hooks.shop.example/txmail", "attempts": 16,
                                                              "lastError": "HTTP 503", "createdTs": "2026-11-28T03:07:13.020Z",
                                                              "notifications": 3}]})},
    "/v2/webhooks/dead-letters/replay": {"post": op("Send the dead letters again (they go back to the retry queue)", "200",
                                                    "Replayed", ref("Replayed"), {"replayed": 1})},
    "/v2/suppressions": {
        "get": {**op("The suppression list in address order (an account's own, or the global list)", "200", "A page",
                     ref("SuppressionList"), {"suppressions": [EX_SUPPRESSION],
                                              "next": "/v2/suppressions?after=ann@example.org&limit=1"}, errors=INVALID),
                "parameters": [{"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
                               {"name": "limit", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}]},
        "post": op("Suppress an address", "201", "Added", ref("Suppression"), dict(EX_SUPPRESSION, source="api", reason="asked to stop"),
                   body=ref("SuppressionAdd"), body_example={"email": "ann@example.org", "reason": "asked to stop"},
                   errors={**INVALID, "403": ("The list is global: only the operator changes it",
                                              {"type": "/problems/forbidden", "title": "Forbidden", "status": 403})})},
    "/v2/suppressions/{email}": {
        "get": op("Whether an address is suppressed", "200", "Suppressed", ref("Suppression"), EX_SUPPRESSION,
                  errors=NOT_FOUND, params=["email"]),
        "delete": op("Make an address deliverable again", "204", "Removed", errors=NOT_FOUND, params=["email"])},
    "/v2/admin/accounts": {
        "get": op("Every account", "200", "Accounts", ref("AccountList"), {"accounts": [EX_ACCOUNT]}, security="admin"),
        "post": op("Create an account with SMTP credentials and a first API key", "201", "Created; secrets shown once",
                   ref("AccountCreated"), dict(EX_ACCOUNT, password="2tJt9C9gioR7yuGCwSuR45oD", apiKey=dict(EX_KEY_NEW, name="initial")),
                   body=ref("AccountCreate"), body_example={"name": "shop", "apiAllowIps": ["203.0.113.0/24"], "hourlyLimit": 20000},
                   errors={**INVALID, "409": ("The account exists", {"type": "/problems/conflict", "title": "Conflict", "status": 409})},
                   security="admin")},
    "/v2/admin/accounts/{account}": {
        "get": op("One account", "200", "The account", ref("Account"), EX_ACCOUNT, errors=NOT_FOUND, security="admin", params=["account"]),
        "delete": op("Delete an account, its API keys and sender domains", "204", "Deleted", errors=NOT_FOUND,
                     security="admin", params=["account"])},
    "/v2/admin/accounts/{account}/disable": {"post": op("Refuse the account's credentials (SMTP and REST)", "200", "Disabled",
                                                        ref("Account"), dict(EX_ACCOUNT, disabled=True), errors=NOT_FOUND,
                                                        security="admin", params=["account"])},
    "/v2/admin/accounts/{account}/enable": {"post": op("Accept the account's credentials again", "200", "Enabled",
                                                       ref("Account"), EX_ACCOUNT, errors=NOT_FOUND, security="admin", params=["account"])},
    "/v2/admin/accounts/{account}/keys": {
        "get": op("The account's API keys (ids, never the keys)", "200", "Keys", ref("ApiKeyList"), {"keys": [EX_KEY]},
                  errors=NOT_FOUND, security="admin", params=["account"]),
        "post": op("A new API key, shown once", "201", "Created", ref("ApiKeyCreated"), EX_KEY_NEW,
                   body=obj({"name": string(maxLength=64)}), body_example={"name": "deploy"}, errors=NOT_FOUND,
                   security="admin", params=["account"])},
    "/v2/admin/accounts/{account}/keys/{keyId}": {"delete": op("Revoke an API key", "204", "Revoked", errors=NOT_FOUND,
                                                               security="admin", params=["account", "keyId"])},
}

# Message search and the deliveries report (issue console-1, item 1).
def query_param(name, desc, schema=None, required=False):
    return {"name": name, "in": "query", "required": required, "description": desc,
            "schema": schema or {"type": "string"}}


SEARCH_TIME = {"type": "string", "description": "RFC 3339 or unix milliseconds"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SEARCH_401 = {"description": "No or wrong credentials", "content": {"application/problem+json": {
    "schema": PROBLEM_REF, "example": {"type": "/problems/unauthorized", "title": "Unauthorized", "status": 401,
                                   "detail": "unknown API key"}}}}


def bad_param(name, message):
    return {"description": "A bad parameter, named in errors[].path", "content": {"application/problem+json": {
        "schema": PROBLEM_REF, "example": {"type": "/problems/validation-error", "title": "Bad Request", "status": 400,
                                       "detail": f"{name}: {message}", "errors": [{"path": name, "message": message}]}}}}


MESSAGE_ROW = {"type": "object", "additionalProperties": False,
               "required": ["mailId", "jobId", "account", "email", "from", "status", "firstTs", "lastTs", "reply"],
               "properties": {
                   "mailId": {"type": "string"}, "jobId": {"type": "string"}, "account": {"type": "string"},
                   "email": {"type": "string", "description": "The recipient (domain as an A-label)"},
                   "from": {"type": "string", "description": "The envelope sender"},
                   "status": {"type": "string", "enum": ["ACCEPTED", "DEFERRED", "DELIVERED", "BOUNCED", "DROPPED"]},
                   "firstTs": {"type": "string", "description": "The message's first event"},
                   "lastTs": {"type": "string", "description": "The message's latest event"},
                   "attempt": {"type": "integer", "description": "Of the latest event"},
                   "remoteHost": {"type": "string", "description": "Of the latest event"},
                   "reply": {"type": "string", "description": "What the remote said in the latest event, or why it failed"}}}
MESSAGE_PAGE = {"type": "object", "additionalProperties": False, "required": ["messages", "nextCursor"],
                "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/MessageRow"}},
                               "nextCursor": {"type": ["string", "null"],
                                              "description": "Opaque; pass it as cursor= for the next page; null on the last"}}}
EX_ROW = {"mailId": JOB_ID + "#00000000#00000000", "jobId": JOB_ID, "account": "shop", "email": "ann@example.org",
          "from": "bounces@shop.example", "status": "BOUNCED", "firstTs": "2026-11-28T02:07:12.701Z",
          "lastTs": "2026-11-28T02:07:13.020Z", "attempt": 1, "remoteHost": "mx.example.org[192.0.2.10]",
          "reply": "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown"}
SEARCH_ACCOUNT = query_param("account", "The operator only: one account's messages (an account may name only itself)")
SINCE = query_param("since", "Messages whose first event is at or after this time", SEARCH_TIME)
UNTIL = query_param("until", "Messages whose first event is before this time", SEARCH_TIME)

SEARCH_PATHS = {
    "/v2/messages": {"get": {
        "summary": "Find messages (one row per recipient with its latest status), newest first, a page at a time",
        "parameters": [query_param("recipient", "The recipient's address (its domain as a U-label or an A-label)"),
                       query_param("sender", "The envelope sender's address"),
                       query_param("status", "The latest status",
                             {"type": "string", "enum": ["ACCEPTED", "DEFERRED", "DELIVERED", "BOUNCED", "DROPPED"]}),
                       SINCE, UNTIL,
                       query_param("limit", "Rows per page (default 100)", {"type": "integer", "minimum": 1, "maximum": 1000}),
                       query_param("cursor", "The nextCursor of the previous page"), SEARCH_ACCOUNT],
        "responses": {"200": {"description": "A page", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/MessagePage"},
            "example": {"messages": [EX_ROW], "nextCursor": "1795832832701.4711"}}}},
            "400": bad_param("status", "one of ACCEPTED, DEFERRED, DELIVERED, BOUNCED, DROPPED"),
            "401": SEARCH_401}}},
    "/v2/reports/deliveries.csv": {"get": {
        "summary": "One CSV row (RFC 4180, header line, CRLF) per recipient, oldest first, streamed (chunked): "
                   "mail_id, job_id, account, recipient, sender, status, attempt, remote_host, reply, first_ts, last_ts; "
                   "31 days at most per report",
        "parameters": [dict(SINCE, required=True), dict(UNTIL, description="Messages whose first event is before this "
                                                                           "time (default: now)"), SEARCH_ACCOUNT],
        "responses": {"200": {"description": "The report", "content": {"text/csv": {
            "schema": {"type": "string"},
            "example": "mail_id,job_id,account,recipient,sender,status,attempt,remote_host,reply,first_ts,last_ts\r\n"
                       f"{JOB_ID}#00000000#00000000,{JOB_ID},shop,ann@example.org,bounces@shop.example,DELIVERED,1,"
                       "mx.example.org[192.0.2.10],250 2.0.0 Ok: queued as 4F2A1,2026-11-28T02:07:12.701Z,"
                       "2026-11-28T02:07:13.020Z\r\n"}}},
            "400": bad_param("since", "required"), "401": SEARCH_401}}},
}
SEARCH_SCHEMAS = {"MessageRow": MESSAGE_ROW, "MessagePage": MESSAGE_PAGE}

SCHEMAS.update(SEARCH_SCHEMAS)

# Sandbox accounts' captured messages (issue console-1, item 3).
CAPTURE_ROW = obj({"mailId": string(), "jobId": string(), "account": string(),
                   "from": string("The envelope sender it would have had"), "to": string("The envelope recipient"),
                   "size": {"type": "integer", "description": "Bytes of the message"},
                   "capturedTs": string(format="date-time")},
                  ["mailId", "jobId", "account", "from", "to", "size", "capturedTs"])
CAPTURE_PART = obj({"contentType": string(), "charset": string(), "transferEncoding": string(),
                    "disposition": string(), "filename": string(), "size": {"type": "integer"},
                    "content": string("Decoded text (text parts that decode to UTF-8 only)")},
                   ["contentType", "transferEncoding", "size"])
CAPTURED = obj({**CAPTURE_ROW["properties"],
                "envelope": obj({"from": string(), "to": {"type": "array", "items": string()}}, ["from", "to"]),
                "headers": {"type": "array", "items": obj({"name": string(), "value": string()}, ["name", "value"])},
                "parts": {"type": "array", "items": CAPTURE_PART},
                "rawEncoding": {"type": "string", "enum": ["utf-8", "base64"]},
                "raw": string("The message exactly as it would have been sent (DKIM signatures included)")},
               CAPTURE_ROW["required"] + ["envelope", "headers", "parts", "rawEncoding", "raw"])
CAPTURE_PAGE = obj({"messages": {"type": "array", "items": ref("CapturedRow")},
                    "nextCursor": {"type": ["string", "null"],
                                   "description": "Opaque; pass it as cursor= for the next page; null on the last"}},
                   ["messages", "nextCursor"])
EX_CAPTURE_ROW = {"mailId": MAIL_ID, "jobId": JOB_ID, "account": "trial", "from": "orders@shop.example",
                  "to": "ann@example.org", "size": 1520, "capturedTs": "2026-11-28T02:07:13.020Z"}
EX_CAPTURED = dict(EX_CAPTURE_ROW, envelope={"from": "orders@shop.example", "to": ["ann@example.org"]},
                   headers=[{"name": "DKIM-Signature", "value": "v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example; ..."},
                            {"name": "Subject", "value": "Your invoice"}],
                   parts=[{"contentType": "text/plain", "charset": "UTF-8", "transferEncoding": "7bit", "size": 13,
                           "content": "Hello there\r\n"}],
                   rawEncoding="utf-8", raw="DKIM-Signature: v=1; ...\r\nSubject: Your invoice\r\n\r\nHello there\r\n")
SANDBOX_PATHS = {
    "/v2/sandbox/messages": {"get": {
        "summary": "Messages of sandbox accounts, captured instead of sent, newest first, a page at a time",
        "parameters": [query_param("limit", "Rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": 500}),
                       query_param("cursor", "The nextCursor of the previous page"),
                       query_param("account", "The operator only: one account's captures (an account may name only itself)")],
        "responses": {"200": {"description": "A page", "content": {"application/json": {
            "schema": ref("CapturePage"), "example": {"messages": [EX_CAPTURE_ROW], "nextCursor": None}}}},
            "400": bad_param("limit", "a number from 1 to 500"), "401": SEARCH_401}}},
    "/v2/sandbox/messages/{mailId}": {"get": op(
        "One captured message (encode # as %23): envelope, header fields, body parts and the raw bytes", "200",
        "The message", ref("CapturedMessage"), EX_CAPTURED, errors=NOT_FOUND, params=["mailId"])},
}
SCHEMAS.update({"CapturedRow": CAPTURE_ROW, "CapturePage": CAPTURE_PAGE, "CapturedMessage": CAPTURED})
paths = {k2: v2 for k, v in paths.items()
         for k2, v2 in ([("/v2/messages", SEARCH_PATHS["/v2/messages"]), (k, v),
                         ("/v2/reports/deliveries.csv", SEARCH_PATHS["/v2/reports/deliveries.csv"])]
                        if k == "/v2/messages/{mailId}" else [(k, v)])}
paths.update(SANDBOX_PATHS)

doc = {
    "openapi": "3.1.0",
    "info": {"title": "txmail REST API", "version": "2",
             "description": "Transactional email: jobs, status, sender domains and accounts. Errors are "
                            "application/problem+json (RFC 9457) with a stable type. Authenticate with HTTP Basic "
                            "(account and password) or `Authorization: Bearer <API key>`; /v2/admin wants the admin "
                            "token, which may act for an account by naming it in X-Txmail-Account."},
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "security": [{"basic": []}, {"bearer": []}],
    "paths": paths,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                       "bearer": {"type": "http", "scheme": "bearer",
                                                  "description": "An API key (txm_...) or the admin token"}}},
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "api", "openapi.json")
with open(out, "w") as f:
    json.dump(doc, f, indent=1, ensure_ascii=False)
    f.write("\n")
