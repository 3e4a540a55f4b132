-- pa_validate: JSON Schema draft 2020-12 validation, one row per violation.
\set ticket '{"type": "object", "required": ["title", "priority"], "additionalProperties": false, "properties": {"title": {"type": "string", "minLength": 3}, "priority": {"enum": ["low", "high"]}, "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+\\\\d*$"}, "uniqueItems": true}, "due": {"type": "string", "format": "date"}}}'

-- valid: no rows
SELECT * FROM pa_validate(:'ticket', '{"title": "Refund", "priority": "low", "tags": ["billing", "vip2"]}');
SELECT pa_is_valid(:'ticket', '{"title": "Refund", "priority": "high"}');

-- every violation, with a JSON pointer and a message a model can act on
SELECT * FROM pa_validate(:'ticket', '{"title": "x", "tags": ["ok", "Not-OK", "ok"], "extra": 1}') ORDER BY path, keyword;
SELECT * FROM pa_validate(:'ticket', '[]');
SELECT * FROM pa_validate(:'ticket', '{"title": 42, "priority": "urgent"}') ORDER BY path, keyword;

-- format is an annotation
SELECT count(*) FROM pa_validate(:'ticket', '{"title": "abc", "priority": "low", "due": "not a date"}');

-- pointers escape ~ and /
SELECT path, message FROM pa_validate('{"properties": {"a/b": {"properties": {"c~d": {"type": "integer"}}}}}',
                                      '{"a/b": {"c~d": "x"}}');

-- $defs and $ref, recursion
\set tree '{"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}'
SELECT path, message FROM pa_validate(:'tree', '{"value": 1, "children": [{"value": 2}, {"value": "three", "children": [{"value": 4.5}]}]}');

-- numbers: 1.0 is an integer, huge values do not break anything
SELECT pa_is_valid('{"type": "integer"}', '1.0'), pa_is_valid('{"type": "integer"}', '1.5');
SELECT pa_is_valid('{"type": "integer", "multipleOf": 0.123456789}', '1e308');
SELECT pa_is_valid('{"maximum": 9223372036854775807}', '92233720368547758070');
SELECT pa_is_valid('{"multipleOf": 0.01}', '19.99'), pa_is_valid('{"multipleOf": 0.01}', '19.999');
-- lengths count characters, not bytes
SELECT pa_is_valid('{"maxLength": 2}', '"日本"'), pa_is_valid('{"maxLength": 1}', '"日本"');
-- ECMA-262 patterns run on PostgreSQL's regex engine, unanchored
SELECT pa_is_valid('{"pattern": "\\d{3}"}', '"ab123"'), pa_is_valid('{"pattern": "^\\d{3}$"}', '"ab123"');
SELECT pa_is_valid('{"pattern": "^\\p{Lu}"}', '"Élan"'), pa_is_valid('{"pattern": "^\\p{Lu}"}', '"élan"');
-- boolean schemas, const, oneOf
SELECT pa_is_valid('true', '{"any": "thing"}'), pa_is_valid('false', 'null');
SELECT path, keyword, message FROM pa_validate('{"oneOf": [{"type": "integer"}, {"minimum": 2}]}', '3');

-- the number of errors is capped by a setting
SET procedural_agent.max_validation_errors = 2;
SELECT count(*) FROM pa_validate('{"items": {"type": "string"}}', '[1, 2, 3, 4, 5]');
RESET procedural_agent.max_validation_errors;
SELECT count(*) FROM pa_validate('{"items": {"type": "string"}}', '[1, 2, 3, 4, 5]');

-- invalid schemas are refused with 42P17 and say where
SELECT expect_error($$SELECT * FROM pa_validate('{"type": "strin"}', '1')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"minLength": -1}', '"x"')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"required": "name"}', '{}')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"pattern": "(unclosed"}', '"x"')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"$ref": "#/$defs/missing"}', '1')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}', '1')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"$ref": "https://example.com/schema.json"}', '1')$$);
-- NULL is not a JSON value
SELECT expect_error($$SELECT * FROM pa_validate(NULL, '1')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{}', NULL)$$);
-- a compiled schema is reused across rows
SELECT count(*) FROM generate_series(1, 1000) i
 WHERE pa_is_valid(:'ticket', jsonb_build_object('title', 'row ' || i, 'priority', CASE WHEN i % 2 = 0 THEN 'low' ELSE 'mid' END));
-- numbers beyond double precision are refused, not a crash
SELECT expect_error($$SELECT * FROM pa_validate('{"type": "string"}', '1e400')$$);
SELECT expect_error($$SELECT * FROM pa_validate('{"type": "object"}', '{"a": 1e400}')$$);
