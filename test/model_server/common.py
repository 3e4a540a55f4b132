"""Shared helpers for the local model server: ids, JSON, token estimates,
thinking signatures, schema loading and schema-error selection."""

import base64
import hashlib
import hmac
import json
import os
import random
import string
import threading

from jsonschema import Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.join(HERE, "schemas")

_ALNUM = string.ascii_letters + string.digits
_rng = random.SystemRandom()


class WireError(Exception):
    """A request the provider would reject; rendered in the provider's error
    shape by the wire module that raised it."""

    def __init__(self, status, message, etype=None, param=None, code=None,
                 headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.etype = etype
        self.param = param
        self.code = code
        self.headers = headers or {}


def rand_id(n):
    return "".join(_rng.choice(_ALNUM) for _ in range(n))


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def dumps_bytes(obj):
    return dumps(obj).encode("utf-8")


def estimate_tokens(text):
    """~4 characters per token, at least 1 for non-empty text."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


def string_leaves(obj, out):
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            string_leaves(v, out)
    elif isinstance(obj, list):
        for v in obj:
            string_leaves(v, out)
    return out


def chunks(text, size=None, max_pieces=200):
    """Split text into stream pieces: ~20 characters, at most ~max_pieces."""
    if not text:
        return []
    if size is None:
        size = max(20, -(-len(text) // max_pieces))
    return [text[i:i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------
# Thinking signatures and redacted-thinking blobs (per-server secret)

class Signer:
    def __init__(self, secret=None):
        self.secret = secret.encode() if secret else os.urandom(32)

    def sign_thinking(self, text):
        mac = hmac.new(self.secret, b"thinking\0" + text.encode("utf-8"),
                       hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")

    def verify_thinking(self, text, signature):
        if not isinstance(signature, str) or not signature:
            return False
        return hmac.compare_digest(self.sign_thinking(text), signature)

    def new_redacted(self):
        nonce = os.urandom(24)
        mac = hmac.new(self.secret, b"redacted\0" + nonce,
                       hashlib.sha256).digest()
        return base64.b64encode(b"PAR1" + nonce + mac).decode("ascii")

    def verify_redacted(self, data):
        try:
            raw = base64.b64decode(data.encode("ascii"), validate=True)
        except Exception:
            return False
        if len(raw) != 4 + 24 + 32 or raw[:4] != b"PAR1":
            return False
        nonce, mac = raw[4:28], raw[28:]
        good = hmac.new(self.secret, b"redacted\0" + nonce,
                        hashlib.sha256).digest()
        return hmac.compare_digest(mac, good)


# --------------------------------------------------------------------------
# Schemas: loaded once from the vendored copies, validators cached.

_schemas = {}
_vlock = threading.Lock()
_local = threading.local()   # jsonschema's RefResolver keeps a scope stack,
                             # so each thread gets its own validator


def load_schema(relpath):
    with open(os.path.join(SCHEMA_DIR, relpath), encoding="utf-8") as f:
        return json.load(f)


def validator(relpath):
    cache = getattr(_local, "validators", None)
    if cache is None:
        cache = _local.validators = {}
    v = cache.get(relpath)
    if v is None:
        with _vlock:
            schema = _schemas.get(relpath)
            if schema is None:
                schema = load_schema(relpath)
                Draft202012Validator.check_schema(schema)
                _schemas[relpath] = schema
        v = cache[relpath] = Draft202012Validator(schema)
    return v


def _branch_of(err):
    # err.relative_schema_path of a context error starts with the branch index
    p = list(err.relative_schema_path)
    return p[0] if p else 0


def pick_error(err):
    """Descend through anyOf/oneOf context to the most informative error:
    prefer branches whose discriminator matches, then the branch whose
    errors go deepest into the instance (ties: fewest errors, then first
    branch)."""
    while err.context:
        branches = {}
        for e in err.context:
            branches.setdefault(_branch_of(e), []).append(e)
        best = None
        best_key = None
        for b in sorted(branches, key=str):
            errs = branches[b]
            depth = max(len(e.path) for e in errs)
            # a branch whose discriminator ("role"/"type") does not match is
            # the wrong union member, whatever else fails in it
            tag_ok = not any(e.validator in ("enum", "const")
                             and len(e.path) == 1
                             and e.path[0] in ("role", "type")
                             for e in errs)
            key = (tag_ok, depth, -len(errs))
            if best_key is None or key > best_key:
                best, best_key = errs, key
        best.sort(key=lambda e: -len(e.path))
        err = best[0]
    return err


def first_error(v, instance):
    """The error to report for instance, or None if it validates."""
    errs = list(v.iter_errors(instance))
    if not errs:
        return None
    # prefer the error nearest the start of the document in instance order,
    # then the deepest one
    return pick_error(errs[0])


def pytype_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
