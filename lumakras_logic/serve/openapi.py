"""The service's OpenAPI 3.1 description (GET /openapi.json; docs/openapi.json is the shipped kb's copy),
made from the same schemas `lumakras schema` prints, so a system's client is generated from what the service
really reads and writes."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..core.schema import answer_schema, request_schema

PROBLEM = {"type": "object", "required": ["error", "problems", "status"], "additionalProperties": False,
           "properties": {"error": {"type": "string", "description": "The CLI's one-line message (without "
                                                                     "its 'lumakras: ' prefix)."},
                          "problems": {"type": "array", "items": {"type": "string"},
                                       "description": "Every problem of the document, one line each."},
                          "status": {"type": "integer"}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}},
                        "text/plain": {"schema": {"type": "string"}},
                        "text/html": {"schema": {"type": "string"}}}}


def openapi(payers: tuple[str, ...]) -> dict[str, Any]:
    """The description, for a kb of these payers."""
    answers = {"oneOf": [{"$ref": "#/components/schemas/Answer"},
                         {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}}]}
    body = {"required": True, "description": "A request document (docs/requests.md), a FHIR R4 Bundle or a "
                                             "QuestionnaireResponse (docs/fhir.md).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Request"}},
                        "application/yaml": {"schema": {"$ref": "#/components/schemas/Request"}},
                        "application/fhir+json": {"schema": {"type": "object", "required": ["resourceType"]}}}}
    params = [
        {"name": "payer", "in": "query", "required": False, "explode": True,
         "description": "A payer, several, or all; none: the request's own.",
         "schema": {"type": "array", "items": {"type": "string", "enum": [*payers, "all"]}}},
        {"name": "source", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 256},
         "description": "The name the request is decided under (provenance.request_source); its suffix tells "
                        "YAML from JSON."}]
    why_params = [*params,
                  {"name": "nearest", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
                  {"name": "all", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]}},
                  {"name": "rules", "in": "query", "required": False,
                   "schema": {"type": "string", "enum": ["0", "1"]}}]
    decided = {"200": {"description": "The answer, as `lumakras decide --json` prints it (an array for several "
                                      "payers or payer=all); the why page, the text or a ClaimResponse by Accept. "
                                      "A payer whose policy could not read the request is named in the "
                                      "Lumakras-Problem header.",
                       "headers": {"Lumakras-Problem": {"schema": {"type": "string"}}},
                       "content": {"application/json": {"schema": answers},
                                   "text/html": {"schema": {"type": "string"}},
                                   "text/plain": {"schema": {"type": "string"}},
                                   "application/fhir+json": {"schema": {"type": "object"}}}},
               "400": _problem("The body cannot be read as a document, or a parameter is wrong."),
               "413": _problem("The body is over the limit (--max-bytes)."),
               "422": _problem("The document is read and a field is refused.")}
    paths = {
        "/decide": {"post": {"summary": "Decide a request", "parameters": params, "requestBody": body,
                             "responses": decided}},
        "/why": {"post": {"summary": "Decide and explain a request", "parameters": why_params,
                          "requestBody": body, "responses": decided}},
        "/questionnaire/{payer}": {"get": {
            "summary": "The payer's FHIR R4 Questionnaire",
            "parameters": [{"name": "payer", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": list(payers)}}],
            "responses": {"200": {"description": "As `lumakras questionnaire --payer P` prints it.",
                                  "content": {"application/fhir+json": {"schema": {"type": "object"}}}},
                          "404": _problem("No such payer.")}}},
        "/health": {"get": {"summary": "Whether the worker's engine answers", "responses": {"200": {
            "description": "ok", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status", "payers", "worker"],
                "properties": {"status": {"const": "ok"}, "payers": {"type": "array", "items": {"type": "string"}},
                               "worker": {"type": "integer", "description": "The worker process's id."}}}}}}}}},
        "/version": {"get": {"summary": "The package's version and the kb's digests", "responses": {"200": {
            "description": "The digests the answers' provenance carries.", "content": {"application/json": {
                "schema": {"type": "object", "required": ["version", "kb_digest", "kb_files", "payers"]}}}}}}},
        "/openapi.json": {"get": {"summary": "This description", "responses": {"200": {
            "description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    }
    request = request_schema(payers)
    answer = answer_schema()
    schemas: dict[str, Any] = {"Request": request, "Answer": answer, "Problem": PROBLEM}
    for schema in (request, answer):
        schema.pop("$schema", None)
        schema.pop("$id", None)
        for name, part in schema.pop("$defs", {}).items():  # a $defs entry becomes a component of its own
            schemas[name.capitalize()] = part
    for name in list(schemas):
        schemas[name] = _refs(schemas[name])
    return {"openapi": "3.1.0",
            "info": {"title": "lumakras-logic", "version": __version__,
                     "description": "Decides and explains prior-authorization requests for sotorasib (Lumakras) "
                                    "under the payers' written policies (docs/serve.md). The page at / and the "
                                    "questionnaire forms at /form/{payer} are for people and are not described "
                                    "here."},
            "servers": [{"url": "http://127.0.0.1:8549"}],
            "paths": paths,
            "components": {"schemas": schemas}}


def _refs(value: Any) -> Any:
    """'#/$defs/x' made '#/components/schemas/X', where the $defs entries now stand."""
    if isinstance(value, dict):
        return {k: (f"#/components/schemas/{v.rsplit('/', 1)[1].capitalize()}"
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/") else _refs(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_refs(v) for v in value]
    return value
