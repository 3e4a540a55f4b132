"""What the demo's responders know how to read: the transcript the
extension renders (conversation header, customer, events as
"[#id time role kind name call=id] text", the invocation input), parsed
into a Conversation with keyword heuristics (topic, outcome, order ids,
amounts, sentiment, promises), and a Run: the tools called and the results
that came back, read from the request (demo/model_responses.py uses them).
"""
import json
import re

# --------------------------------------------------------------------------
# The transcript

ROLES = {"customer", "agent", "human_agent", "system", "tool"}
KINDS = {"message", "tool_call", "tool_result", "system", "event"}


def _header_tokens(line):
    """Tokens of an event header "[#id time role kind name call=id]" and
    the rest of the line. Tokens that are not plain words are JSON
    strings."""
    tokens, i, n = [], 1, len(line)
    dec = json.JSONDecoder()
    while i < n:
        c = line[i]
        if c == "]":
            i += 1
            break
        if c == " ":
            i += 1
            continue
        if c == '"':
            try:
                val, i = dec.raw_decode(line, i)
                tokens.append(str(val))
                continue
            except ValueError:
                pass
        j = i
        while j < n and line[j] not in " ]":
            j += 1
        tokens.append(line[i:j])
        i = j
    return tokens, line[i:][1:] if line[i:i + 1] == " " else line[i:]


def _event(line):
    tokens, rest = _header_tokens(line)
    ev = {"id": None, "time": None, "role": None, "kind": "message",
          "name": None, "call": None, "lines": [rest]}
    if tokens and tokens[0].startswith("#"):
        try:
            ev["id"] = int(tokens[0][1:])
        except ValueError:
            pass
        tokens = tokens[1:]
    if tokens and re.match(r"^\d{4}-\d\d-\d\d", tokens[0]):
        ev["time"] = tokens.pop(0)
    if tokens and tokens[0] in ROLES:
        ev["role"] = tokens.pop(0)
        if ev["role"] == "system":
            ev["kind"] = "system"
    if tokens and tokens[0] in KINDS:
        ev["kind"] = tokens.pop(0)
    for t in tokens:
        if t.startswith("call="):
            ev["call"] = t[5:]
        elif ev["name"] is None:
            ev["name"] = t
    return ev


def _finish_event(ev):
    body = "\n".join(ev.pop("lines")).rstrip("\n")
    payload = None
    m = re.search(r"\n  payload: (.*)$", body, re.S)
    if m:
        body, ptext = body[:m.start()], m.group(1)
        payload = _json_or_none(ptext)
    elif ev["kind"] in ("tool_call", "tool_result", "event") or \
            body.startswith("{"):
        payload = _json_or_none(body)
        if payload is not None:
            body = ""
    ev["text"] = re.sub(r"\n  ", "\n", body)
    ev["payload"] = payload
    ev["blob"] = ev["text"] + (" " + json.dumps(payload)
                               if payload is not None else "")
    return ev


def _json_or_none(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def parse_transcript(text):
    """{"conversation": {...}, "customer": {...}, "memory": {...},
    "events": [...], "input": {...}} from the rendered transcript."""
    out = {"conversation": {}, "customer": {}, "memory": {}, "events": [],
           "input": {}}
    section, field, ev, input_lines = None, None, None, []
    for line in text.split("\n"):
        if line.startswith("## "):
            if ev is not None:
                out["events"].append(_finish_event(ev))
                ev = None
            title = line[3:]
            section = ("events" if title.startswith("Events") else
                       {"Conversation": "conversation", "Customer": "customer",
                        "Customer memory": "memory",
                        "Input": "input"}.get(title))
            field = None
            continue
        if section in ("conversation", "customer", "memory"):
            m = re.match(r"^([A-Za-z0-9_\-.]+|\"[^\"]*\"): (.*)$", line)
            if m and not line.startswith(" "):
                field = m.group(1).strip('"')
                val = m.group(2)
                if section == "memory" or field in ("metadata", "context",
                                                    "id"):
                    j = _json_or_none(val)
                    val = j if j is not None else val
                out[section][field] = val
            elif line.startswith("  ") and field and \
                    isinstance(out[section].get(field), str):
                out[section][field] += "\n" + line[2:]
        elif section == "events":
            if line.startswith("[#"):
                if ev is not None:
                    out["events"].append(_finish_event(ev))
                ev = _event(line)
            elif line.startswith("[... "):
                continue                    # events left out
            elif ev is not None:
                ev["lines"].append(line)
        elif section == "input":
            input_lines.append(line)
    if ev is not None:
        out["events"].append(_finish_event(ev))
    j = _json_or_none("\n".join(input_lines).strip() or "null")
    out["input"] = j if isinstance(j, dict) else {}
    return out


# --------------------------------------------------------------------------
# Reading a conversation

TOPICS = [
    ("security", r"hack|password|suspicious|fraud|unauthori[sz]ed|logged "
                 r"in|log ?in|2fa|two-factor|locked out|compromised|phishing|"
                 r"takeover|security|identity theft"),
    ("privacy", r"gdpr|privacy|personal data|my data|data request|delete my "
                r"(?:data|account)|ccpa|data protection"),
    ("damage", r"damaged|broken|broke\b|cracked|shattered|smashed|dented|"
               r"defective|torn|scratched|arrived in pieces"),
    ("warranty", r"warrant|guarantee|repair|stopped working|faulty|"
                 r"manufacturing defect|leaks?\b"),
    ("refund", r"refund|money back|reimburs|chargeback|return (?:it|the|my)"),
    ("subscription", r"subscription|subscribe|membership|auto-?renew|"
                     r"renewal|cancel (?:my )?(?:plan|account)|monthly plan"),
    ("pricing", r"price|pricing|discount|coupon|promo|cheaper|overcharg|"
                r"charged twice|\bfee\b|invoice"),
    ("delivery", r"deliver|parcel|package|arrive|courier|tracking|carrier|"
                 r"\blate\b|lost in transit|not received"),
    ("shipping", r"shipping|ship (?:it )?to|address|dispatch|customs|"
                 r"express|postage|international"),
    ("escalation", r"manager|supervisor|escalat|complaint|speak to "
                   r"(?:a|someone|your)|head of"),
]

NEGATIVE = re.compile(
    r"angry|furious|ridiculous|unacceptable|not acceptable|terrible|worst|"
    r"scam|disgust|outrag|frustrat|annoy|useless|horrible|awful|pathetic|"
    r"never again|lawyer|\bsue\b|fed up|third time|explained this twice|"
    r"!!|waste of (?:my )?time|incompetent|rip-?off|upset|disappoint|"
    r"not happy|unhappy|joke\b|still (?:hasn't|has not|haven't|have not)|"
    r"hurry|disput|chargeback|formal complaint|isn't good enough|"
    r"escalate it|someone who can actually|are you serious|never came|"
    r"how you treat|losing (?:my )?patience|second broken|not good enough|"
    r"sick of|had enough", re.I)
POSITIVE = re.compile(
    r"thank|great\b|perfect|appreciate|awesome|helpful|wonderful|excellent|"
    r"brilliant|lovely|amazing|glad|that works|much better|sorted", re.I)
EMPATHY = re.compile(
    r"sorry|apologi[sz]e|i understand|understand how|frustrating|i can see|"
    r"i hear you|that must|thank you for your patience|i appreciate|"
    r"alarming|i know how", re.I)
ORDER = re.compile(r"\bORD-\d{3,}\b")
AMOUNT = re.compile(r"(?:[$€£]\s?\d{1,3}(?:,\d{3})*(?:\.\d{1,2})?|"
                    r"\b\d+(?:\.\d{1,2})?\s?(?:USD|EUR|GBP|dollars|euros)\b)")
CALLBACK = re.compile(r"call (?:you )?back|callback|get back to you|"
                      r"follow up|reach out|contact you", re.I)
REPEAT = re.compile(r"again|third time|second time|already (?:contacted|"
                    r"called|written|explained)|called before|last week I|"
                    r"spoke to you|come back|last call|never came", re.I)


class Conversation:
    """What the responders know about a conversation, from its transcript."""

    def __init__(self, transcript):
        t = parse_transcript(transcript)
        self.header = t["conversation"]
        self.customer = t["customer"]
        self.input = t["input"]
        self.events = [e for e in t["events"] if e["id"] is not None]
        self.id = self.header.get("id")
        self.external_id = self.header.get("external_id") or \
            ("#%s" % self.id if self.id is not None else "(no conversation)")
        self.outcome = self.header.get("outcome")
        self.status = self.header.get("status")
        self.channel = self.header.get("channel") or "chat"
        self.name = self.customer.get("name") or \
            self.customer.get("external_id") or "the customer"
        self.first_name = self.name.split()[0] if self.customer.get("name") \
            else None
        self.customer_msgs = [e for e in self.events
                              if e["role"] == "customer" and e["text"]]
        self.agent_msgs = [e for e in self.events
                           if e["role"] in ("agent", "human_agent") and
                           e["kind"] == "message" and e["text"]]
        self.system_events = [e for e in self.events if e["kind"] == "event"]
        self.all_text = "\n".join(e["blob"] for e in self.events)
        self.topic = self._topic()
        self.orders = _unique(ORDER.findall(self.all_text))
        self.order = self.orders[0] if self.orders else None
        self.amount = self._amount()
        self.negative_any = any(NEGATIVE.search(e["text"])
                                for e in self.customer_msgs) or any(
            str((e["payload"] or {}).get("customer_sentiment")).lower() in
            ("angry", "negative", "frustrated", "upset")
            for e in self.events if isinstance(e["payload"], dict))
        self.sentiment = self._sentiment()
        self.negative = self.negative_any or self.sentiment == "negative"

    def _topic(self):
        scores = {}
        for name, rx in TOPICS:
            r = re.compile(rx, re.I)
            s = sum(2 * len(r.findall(e["text"])) for e in self.customer_msgs)
            s += sum(len(r.findall(e["text"])) for e in self.agent_msgs)
            s += sum(1 for e in self.system_events
                     if r.search(e["name"] or ""))
            scores[name] = s
        meta = self.header.get("metadata")
        if isinstance(meta, dict):
            for key in ("topic", "category", "queue", "reason"):
                v = meta.get(key)
                if isinstance(v, str) and v.lower() in scores:
                    scores[v.lower()] += 8      # what the desk filed it as
        order = [x for x, _ in TOPICS]
        self.topic_ranking = [t for t in sorted(
            order, key=lambda t: (-scores[t], order.index(t)))
            if scores[t] > 0]
        return self.topic_ranking[0] if self.topic_ranking else "other"

    def _amount(self):
        m = AMOUNT.findall(self.all_text)
        if m:
            return m[0].replace(" ", "")
        for e in self.events:
            p = e["payload"]
            if isinstance(p, dict) and isinstance(p.get("amount"),
                                                  (int, float)):
                return "$%.2f" % p["amount"]
        return None

    def angriest(self):
        """The customer message with the most negative words, or None."""
        best = max(self.customer_msgs, default=None,
                   key=lambda e: len(NEGATIVE.findall(e["text"])))
        return best if best and NEGATIVE.search(best["text"]) else None

    def _sentiment(self):
        last = self.customer_msgs[-2:]
        neg = sum(len(NEGATIVE.findall(e["text"])) for e in last)
        pos = sum(len(POSITIVE.findall(e["text"])) for e in last)
        if neg > pos:
            return "negative"
        if pos > neg:
            return "positive"
        if self.negative_any and self.outcome in ("abandoned", "escalated",
                                                  "transferred"):
            return "negative"
        return "neutral"

    # -- helpers ------------------------------------------------------------

    def evidence(self, pattern=None, roles=None, limit=3):
        """Ids of the events that match pattern (falling back to the first
        customer message, then the first event)."""
        rx = re.compile(pattern, re.I) if pattern else None
        ids = [e["id"] for e in self.events
               if (roles is None or e["role"] in roles) and
               (rx is None or rx.search(e["blob"]) or
                (e["kind"] == "event" and rx.search(e["name"] or "")))]
        if not ids:
            ids = [e["id"] for e in self.customer_msgs[:1]] or \
                [e["id"] for e in self.events[:1]]
        return ids[:limit]

    def events_named(self, *names):
        return [e for e in self.system_events
                if (e["name"] or "").lower() in names]

    def said(self, pattern, roles=("agent", "human_agent")):
        rx = re.compile(pattern, re.I)
        return [e for e in self.events if e["role"] in roles and
                rx.search(e["text"])]

    def resolved(self):
        if self.outcome:
            return self.outcome in ("resolved", "refund_issued")
        return self.sentiment == "positive"

    def first_customer_text(self, n=200):
        return _clip(self.customer_msgs[0]["text"], n) \
            if self.customer_msgs else "(no customer message)"

    def last_agent_text(self, n=200):
        return _clip(self.agent_msgs[-1]["text"], n) if self.agent_msgs \
            else "(no agent reply)"

    def on_order(self):
        return " for %s" % self.order if self.order else ""


def _unique(seq):
    out = []
    for x in seq:
        if x not in out:
            out.append(x)
    return out


def _sentence(text):
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _clip(text, n):
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1].rstrip() + "…"


# --------------------------------------------------------------------------
# The request: transcript, tool calls made so far and their results

class Run:
    def __init__(self, view):
        self.view = view
        self.system = view.get("system") or ""
        users = [m for m in view["messages"] if m["role"] == "user"]
        self.conv = Conversation(users[0]["text"] if users else "")
        self.calls = []         # [{"name", "arguments", "result", "error"}]
        results = {}
        for m in view["messages"]:
            for r in m["tool_results"]:
                results[r["id"]] = r
        for m in view["messages"]:
            for c in m["tool_calls"]:
                r = results.get(c["id"])
                content = r["content"] if r else None
                self.calls.append({
                    "name": c["name"], "arguments": c["arguments"],
                    "result": content,
                    "error": bool(r and (r["is_error"] or
                                         content.startswith("ERROR")))})

    def called(self, name):
        return [c for c in self.calls if c["name"] == name]

    def last(self, name):
        got = self.called(name)
        return got[-1] if got else None


