"""openapi_check.py - validates stippled's replies against proto/openapi.yaml.

The OpenAPI document is the single source of truth for the API: every reply
the integration tests receive is checked against the schema its path, method
and status declare. OpenAPI 3.0 schemas are JSON Schema draft 4 plus a few
keywords (format: byte/binary, nullable) that a draft-4 validator ignores.
"""
import re

import jsonschema
import yaml


class OpenAPI:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.routes = []
        for template, ops in self.doc["paths"].items():
            regex = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            self.routes.append((re.compile(regex), template, ops))

    def operation(self, method, path):
        path = path.split("?", 1)[0]
        for regex, template, ops in self.routes:
            if regex.match(path) and method.lower() in ops:
                return template, ops[method.lower()]
        return None, None

    def check(self, method, path, status, content_type, body):
        """Raises AssertionError when the reply does not match the document."""
        template, op = self.operation(method, path)
        if op is None:
            # Unknown routes and methods: a documented error reply all the same.
            assert status in (404, 405), "%s %s is not in openapi.yaml" % (method, path)
            op = {"responses": {str(status): {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}}}
        responses = op["responses"]
        assert str(status) in responses, "%s %s: status %d is not documented" % (
            method, template, status)
        content = responses[str(status)].get("content", {})
        media = (content_type or "").split(";")[0].strip()
        assert media in content, "%s %s %d: Content-Type %r is not documented" % (
            method, template, status, content_type)
        schema = content[media].get("schema")
        if schema is None or media != "application/json":
            return
        resolver = jsonschema.RefResolver("", self.doc)
        try:
            jsonschema.Draft4Validator(schema, resolver=resolver).validate(body)
        except jsonschema.ValidationError as e:
            raise AssertionError("%s %s %d: reply does not match the schema: %s" % (
                method, template, status, e.message))
