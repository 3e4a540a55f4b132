"""The demo's "model": one responder per agent of demo/agents.sql, for the
local model server (test/model_server, see its README, "Responders").

    /usr/bin/python3 test/model_server/server.py --port 0 \\
        --port-file /tmp/ms.port --responder demo/model_responses.py
    curl -s -X POST http://127.0.0.1:PORT/_control/scenario \\
        -d @demo/scenario.json

Each responder behaves like a competent model, deterministically: it reads
the transcript the extension sends (the first user message: conversation
header, customer, events as "[#id time role kind name call=id] text",
the invocation input), calls the agent's tools in the order its
instructions ask for, reads their results, and records schema-valid
outputs with content derived from the text by keyword heuristics (topic,
outcome, order ids like ORD-12345, amounts, angry or grateful words,
transfer / escalation / payment events).

The state of a run is read from the request alone (which tools were
called, what came back), so the responders are pure functions of the view
and serve any number of runs at once. demo/scenario.json routes each
agent's requests by a phrase of its instructions (then, as a fallback, by
its record_<output> tool).

quality_metrics: when the system prompt contains "Score empathy strictly"
(the demo's version 2), empathy is one point lower (at least 1) whenever
the customer was negative, so the two versions differ on those
conversations.
"""

import datetime
import re

# the transcript and the run so far (demo/ is on sys.path while this loads)
from transcript_reader import (AMOUNT, CALLBACK, EMPATHY, NEGATIVE, REPEAT, TOPICS, Run,
                               _clip, _json_or_none, _sentence, _unique)

def call(name, arguments, text=None):
    spec = {"tool_calls": [{"name": name, "arguments": arguments}]}
    if text:
        spec["text"] = text
    return spec


def result_json(c):
    """A tool result parsed as JSON (None if it is not)."""
    if c is None or c["result"] is None:
        return None
    text = c["result"]
    if text.startswith("ERROR: "):
        text = text[7:]
    return _json_or_none(text)


def rows_of(c):
    doc = result_json(c)
    if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
        return [r for r in doc["rows"] if isinstance(r, dict)]
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, dict)]
    return []


# --------------------------------------------------------------------------
# What a conversation still needs (next_steps, crm_ticket)

TEAMS = {"logistics": "logistics", "billing": "billing",
         "fraud & security": "security", "security": "security",
         "retention": "billing", "technical support": "support",
         "supervisor desk": "support", "support": "support"}


def _team(line, default="support"):
    line = (line or "").lower()
    for k, v in TEAMS.items():
        if k in line:
            return v
    return default


def _hours_until(c, when, default=24):
    """Hours from the end of the conversation to an ISO time (1..720)."""
    try:
        t = datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        t0 = datetime.datetime.fromisoformat(
            str(c.header.get("ended_at") or c.header.get("started_at"))
            .replace("Z", "+00:00"))
    except ValueError:
        return default
    hours = -(-(t - t0).total_seconds() // 3600)
    return int(max(1, min(720, hours)))


def _when(when):
    try:
        t = datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return str(when)
    return t.strftime("%a %d %b %H:%M UTC")


def _amount_in(text):
    m = AMOUNT.search(text or "")
    return m.group(0).replace(" ", "") if m else None


def refund_done(c):
    """A refund was actually issued in the conversation."""
    for e in c.events:
        p = e["payload"]
        if not isinstance(p, dict):
            continue
        status = str(p.get("status") or "").lower()
        if (e["kind"] == "event" and (e["name"] or "").lower() in
                ("payment", "refund") and p.get("type", "refund") == "refund"
                and status not in ("pending", "failed", "declined")) or \
                (e["kind"] == "tool_result" and
                 "refund" in (e["name"] or "").lower() and
                 status in ("processed", "succeeded", "completed", "posted")):
            return True
    return bool(c.said(r"is on its way back to you|refund (?:has been|was) "
                       r"(?:issued|processed|posted)|I've refunded"))


# (pattern over the agents' messages, builder(c, match, event) -> (action,
# team, priority, hours) or None): what an agent promised to do later.
def _promises():
    def refund_on_scan(c, m, e):
        a = _amount_in(e["text"]) or c.amount
        return ("Issue the refund%s%s as soon as the return parcel is "
                "scanned" % (" of " + a if a else "", c.on_order()),
                "billing", "normal", 168)

    def carrier_eta(c, m, e):
        days = int(m.group(1))
        return ("Check that %s arrives within %d days as the carrier "
                "expects, and contact %s if it does not"
                % (c.order or "the parcel", days, c.name), "logistics",
                "low", min(720, 24 * (days + 1)))

    def collect(c, m, e):
        return ("Collect the damaged item%s and make sure the replacement "
                "ships as promised" % c.on_order(), "logistics", "normal", 48)

    def repair(c, m, e):
        days = int(m.group(1))
        return ("Repair the returned item%s under warranty within %d working "
                "days of its arrival" % (c.on_order(), days), "logistics",
                "normal", min(720, 24 * (days + 7)))

    def privacy(c, m, e):
        return ("Complete privacy request %s (export, then erasure or "
                "anonymisation) within the 30-day deadline" % m.group(1),
                "operations", "normal", 720)

    def review(c, m, e):
        hours = int(m.group(1))
        return ("Email %s the outcome of the personal review within %d "
                "hours, as promised" % (c.name, hours), "support", "high",
                max(1, min(720, hours)))

    def summary(c, m, e):
        return ("Email %s the summary that was promised" % c.name,
                "support", "normal", 24)

    def exception(c, m, e):
        return ("Send %s the written confirmation of the exception that was "
                "authorised, within the hour" % c.name, "support", "high", 1)

    def goodwill(c, m, e):
        return ("Dispatch the replacement%s today and apply the goodwill "
                "credit that was promised" % c.on_order(), "logistics",
                "high", 24)

    def refund_offer(c, m, e):
        if refund_done(c):
            return None
        a = _amount_in(e["text"]) or c.amount
        return ("Process the refund%s%s that was offered and confirm it to "
                "%s" % (" of " + a if a else "", c.on_order(), c.name),
                "billing", "high", 24)

    return [
        (r"refund is issued as soon as", refund_on_scan),
        (r"carrier expects it within (\d+) days", carrier_eta),
        (r"courier will collect", collect),
        (r"repairs take about (\d+) working days", repair),
        (r"request (PRV-\d+) is open", privacy),
        (r"get back to you by email within (\d+) hours", review),
        (r"email you a summary", summary),
        (r"authoris\w+ an exception", exception),
        (r"replacement dispatched today", goodwill),
        (r"I can refund|eligible for a refund|I'll refund|I will refund|"
         r"process (?:a|the|your) refund", refund_offer),
    ]


PROMISES = _promises()


def planned_actions(c):
    """[(object, evidence)], at most 3: the actions someone must still
    take, from events (escalations, transfers, callbacks), promises in the
    agents' messages, then the topic when nothing else says."""
    out = []
    order = {"order_id": c.order} if c.order else {}

    def add(action, team, priority, hours, evidence):
        if any(o["action"] == action for o, _ in out):
            return
        obj = dict({"action": _clip(action, 300), "team": team,
                    "priority": priority, "due_within_hours": int(hours)},
                   **order)
        out.append((obj, _unique(evidence)[:3] or c.evidence()))

    def ids(pattern):
        return c.evidence(pattern)

    # a security risk comes first
    if c.topic == "security" and (
            c.said(r"suspicious|unauthori") or
            c.said(r"wasn't me|didn't make|not me|unauthori|hacked",
                   ("customer",)) or
            any("security" in str((e["payload"] or {}).get("to", ""))
                for e in c.events_named("transfer", "escalation"))):
        add("Review the suspicious activity on %s's account (logins, "
            "saved cards, recent orders) and confirm it is secured"
            % c.name, "security", "urgent", 4,
            ids(r"suspicious|wasn't me|didn't make|unauthori|security"))

    callbacks = c.events_named("callback_scheduled")
    for e in c.events_named("escalation")[:1]:
        p = e["payload"] if isinstance(e["payload"], dict) else {}
        cb = callbacks[0] if callbacks else None
        cbp = cb["payload"] if cb and isinstance(cb["payload"], dict) else {}
        action = "%s: resolve the escalated %s case%s (%s)" % (
            str(p.get("to") or "Supervisor desk").capitalize(), c.topic,
            c.on_order(), p.get("reason") or "escalated by the agent")
        hours = 24
        if cbp.get("scheduled_for"):
            action += " and call %s back on %s as promised" % (
                c.name, _when(cbp["scheduled_for"]))
            hours = _hours_until(c, cbp["scheduled_for"])
        prio = "high" if p.get("priority") == "high" or c.negative \
            else "normal"
        add(action, "support", prio, hours,
            [e["id"]] + ([cb["id"]] if cb else []) +
            [x["id"] for x in c.customer_msgs if NEGATIVE.search(x["text"])])
        callbacks = callbacks[1:]
    for e in c.events_named("transfer")[:1]:
        p = e["payload"] if isinstance(e["payload"], dict) else {}
        to = p.get("to") or "the specialist team"
        reason = p.get("reason") or "the %s request" % c.topic
        if p.get("mode") == "callback":
            cb = callbacks[0] if callbacks else None
            cbp = cb["payload"] if cb and isinstance(cb["payload"],
                                                     dict) else {}
            action = "%s: call %s back about %s%s" % (
                str(to).capitalize(), c.name, reason, c.on_order())
            hours = 24
            if cbp.get("scheduled_for"):
                action += " on %s as booked" % _when(cbp["scheduled_for"])
                hours = _hours_until(c, cbp["scheduled_for"])
            add(action, _team(to), "high" if c.negative else "normal", hours,
                [e["id"]] + ([cb["id"]] if cb else []))
            callbacks = callbacks[1:]
        else:
            add("%s: complete the handed-over request (%s)%s for %s and "
                "confirm the outcome in writing"
                % (str(to).capitalize(), reason, c.on_order(), c.name),
                _team(to), "high" if c.negative or _team(to) == "security"
                else "normal", 24,
                [e["id"]] + [x["id"] for x in c.events
                             if x["role"] == "human_agent"][:2])
    for cb in callbacks[:1]:
        p = cb["payload"] if isinstance(cb["payload"], dict) else {}
        add("%s: call %s back%s as booked, about the %s issue%s" % (
            str(p.get("line") or "Support").capitalize(), c.name,
            " on " + _when(p["scheduled_for"]) if p.get("scheduled_for")
            else "", c.topic, c.on_order()), _team(p.get("line")),
            "high" if c.negative else "normal",
            _hours_until(c, p.get("scheduled_for")), [cb["id"]])

    for pattern, build in PROMISES:
        rx = re.compile(pattern, re.I)
        for e in c.agent_msgs:
            m = rx.search(e["text"])
            if not m:
                continue
            got = build(c, m, e)
            if got:
                action, team, prio, hours = got
                add(action, team, prio, hours, [e["id"]])
            break

    if c.outcome == "abandoned" and not out:
        add("Call %s back: the conversation about the %s issue%s was "
            "abandoned before it was fixed" % (c.name, c.topic, c.on_order()),
            "support", "high" if c.negative else "normal", 24,
            [e["id"] for e in c.customer_msgs[:1]] +
            [e["id"] for e in c.events if e["kind"] == "system"][-1:])

    if not out and not c.resolved():
        _topic_actions(c, add)
    return out[:3]


def _topic_actions(c, add):
    """When nothing in the conversation says what is left: what its topic
    usually needs."""
    if c.said(CALLBACK.pattern):
        add("Call %s back about the %s issue%s as promised"
            % (c.name, c.topic, c.on_order()), "support",
            "high" if c.negative else "normal", 24,
            c.evidence(CALLBACK.pattern))
    rx = dict(TOPICS).get(c.topic)
    ev = c.evidence(rx) if rx else c.evidence()
    if c.topic == "security":
        add("Lock %s's account, force a password reset and review the "
            "recent logins" % c.name, "security", "urgent", 4, ev)
    elif c.topic == "refund" and not refund_done(c):
        add("Decide on the refund%s%s and tell %s" % (
            " of " + c.amount if c.amount else "", c.on_order(), c.name),
            "billing", "high" if c.negative else "normal", 48, ev)
    elif c.topic == "damage":
        add("Ship a replacement%s or refund it, and tell %s"
            % (c.on_order(), c.name), "logistics", "high", 48, ev)
    elif c.topic == "delivery":
        add("Open a trace with the carrier%s and update %s on the delivery "
            "date" % (c.on_order(), c.name), "logistics",
            "high" if c.negative else "normal", 48, ev)
    elif c.topic == "shipping":
        add("Confirm the shipping address change%s with the carrier"
            % c.on_order(), "logistics", "normal", 24, ev)
    elif c.topic == "subscription":
        add("Settle %s's subscription request and confirm that no further "
            "charge will be taken" % c.name, "billing", "normal", 48, ev)
    elif c.topic == "warranty":
        add("Register the warranty claim%s and arrange the repair"
            % c.on_order(), "logistics", "normal", 72, ev)
    elif c.topic == "privacy":
        add("Complete %s's personal data request within the 30-day "
            "deadline" % c.name, "operations", "normal", 720, ev)
    elif c.topic == "pricing":
        add("Answer %s's pricing request%s" % (c.name, c.on_order()),
            "billing", "normal", 48, ev)
    elif c.topic == "escalation":
        add("Supervisor desk: call %s back about the complaint" % c.name,
            "support", "high", 24, ev)


REQUESTED = {
    "refund": "Post the refund to the original payment method",
    "delivery": "Trace the parcel with the carrier and update the customer",
    "damage": "Ship a replacement for the damaged item",
    "subscription": "Cancel the subscription and stop further charges",
    "pricing": "Apply the price adjustment",
    "warranty": "Register the warranty claim and arrange the repair",
    "security": "Lock the account, reset credentials, review recent logins",
    "escalation": "Supervisor callback within one business day",
    "privacy": "Complete the personal data request within 30 days",
    "shipping": "Update the shipping address before dispatch",
    "other": "Answer the customer's question",
}

TITLES = {
    "refund": "Refund request{o}", "delivery": "Late delivery{o}",
    "damage": "Damaged item{o}", "subscription": "Subscription cancellation",
    "pricing": "Price adjustment request{o}", "warranty": "Warranty claim{o}",
    "security": "Suspected account takeover",
    "escalation": "Escalation requested by the customer",
    "privacy": "Personal data request (GDPR)",
    "shipping": "Shipping address change{o}", "other": "Customer inquiry",
}


# --------------------------------------------------------------------------
# The responders

def _final(text):
    return {"text": text}


def next_steps(view):
    run = Run(view)
    done = run.called("record_next_step")
    if done:
        ok = sum(1 for c in done if not c["error"])
        return _final("Recorded %d next step%s for the operations team."
                      % (ok, "" if ok == 1 else "s"))
    actions = planned_actions(run.conv)
    if not actions:
        return _final("No action is left for the operations team: the "
                      "conversation ended %s." % (run.conv.outcome or
                                                 "without an open request"))
    return {"tool_calls": [{"name": "record_next_step",
                            "arguments": {"object": obj, "evidence": ev}}
                           for obj, ev in actions]}


def _escalation_reason(c):
    for e in c.events_named("escalation", "transfer"):
        p = e["payload"] if isinstance(e["payload"], dict) else {}
        if p.get("reason"):
            return "%s to %s: %s" % (e["name"], p.get("to") or "a specialist",
                                     p["reason"])
    return None


def _money_at_stake(c):
    """A description of the money at stake, or None."""
    said = c.said(r"disput|chargeback|charge I didn't make|bank|"
                  r"unauthori[sz]ed charge|refund", ("customer",))
    reason = _escalation_reason(c) or ""
    m = re.search(r"order value ([\d.,]+ ?[A-Z]{3})", reason)
    amount = m.group(1) if m else c.amount
    if said or re.search(r"charge|refund|order value|price", reason):
        what = "a disputed charge" if c.said(r"disput|chargeback|charge I "
                                             r"didn't make|bank",
                                             ("customer",)) else \
            "a refund or compensation"
        return "%s%s%s" % (what, " of " + amount if amount else "",
                           c.on_order())
    return None


def _security_risk(c):
    return c.topic == "security" and (
        c.said(r"suspicious|unauthori") or
        c.said(r"wasn't me|didn't make|not me|unauthori|hacked|charge I",
               ("customer",)) or
        any("security" in str((e["payload"] or {}).get("to", "")).lower()
            for e in c.events_named("transfer", "escalation")))


def _followup_need(c):
    """(needed, priority, reason)."""
    why = _escalation_reason(c)
    if _security_risk(c):
        return True, "high", _clip(
            "Security risk: possible unauthorised access to %s's account%s "
            "(outcome %s). The account must be secured and the customer "
            "told what happened." % (c.name, c.on_order(),
                                     c.outcome or "open"), 500)
    if c.negative and c.outcome in ("escalated", "abandoned", "transferred"):
        return True, "high", _clip(
            "Angry customer left without a fix (%s%s): %s%s. "
            "Customer said: \"%s\"" % (
                c.outcome, "; " + why if why else "",
                "complaint" if c.topic == "escalation" else
                c.topic + " issue", c.on_order(),
                _clip((c.angriest() or c.customer_msgs[0])["text"], 160)
                if c.customer_msgs else "nothing"), 500)
    money = _money_at_stake(c)
    if money and not c.resolved():
        return True, "normal", _clip(
            "Money at stake: %s, not settled (outcome %s%s)." % (
                money, c.outcome or "open", "; " + why if why else ""), 500)
    return False, "none", _clip(
        "No high-priority follow-up: the %s issue ended %s%s with a %s "
        "customer." % (c.topic, c.outcome or "open",
                       " (%s)" % why if why else "", c.sentiment), 500)


def followup_alert(view):
    run = Run(view)
    c = run.conv
    needed, priority, reason = _followup_need(c)
    if run.called("record_followup"):
        return _final("Follow-up recorded.")
    slack = run.last("notify_slack")
    if needed and slack is None:
        text = ("*%s follow-up needed* — conversation `%s` (%s%s, %s)\n"
                "*Reason:* %s\n*Outcome:* %s · *Topic:* %s%s" % (
                    "High-priority" if priority == "high" else "Normal",
                    c.external_id, c.name,
                    ", " + c.customer["external_id"]
                    if c.customer.get("external_id") else "", c.channel,
                    reason, c.outcome or "open", c.topic,
                    " · *Order:* " + c.order if c.order else ""))
        return call("notify_slack", {"text": text[:2900]},
                    "Posting the follow-up to the operations channel.")
    notified = bool(slack and not slack["error"] and
                    (slack["result"] or "").startswith("HTTP 2"))
    return call("record_followup", {"needed": needed, "priority": priority,
                                    "reason": reason,
                                    "notified": notified})


def quality_metrics(view):
    run = Run(view)
    c = run.conv
    if run.called("record_metrics"):
        return _final("Metrics recorded.")
    resolved = c.resolved()
    transfers = c.events_named("transfer", "escalation")
    fcr = resolved and not transfers and not any(
        REPEAT.search(e["text"]) for e in c.customer_msgs) and \
        not c.said(CALLBACK.pattern + r"|trace|investigat|look into|had to "
                   r"come back|callback was missed|look at the history")
    waited = any(re.search(r"how long|still waiting|taking so long|real "
                           r"person|hello\?|anyone there", e["text"], re.I)
                 for e in c.customer_msgs)
    if resolved:
        quality = 4 + (1 if fcr and not waited else 0)
    elif c.outcome == "abandoned":
        quality = 1
    elif c.outcome in ("escalated", "transferred"):
        quality = 2
    else:
        quality = 3
    if c.sentiment == "negative":
        quality -= 1
    elif c.sentiment == "positive" and not resolved:
        quality += 1
    quality = max(1, min(5, quality))
    warmth = sum(len(EMPATHY.findall(e["text"])) for e in c.agent_msgs)
    empathy = 1 if not c.agent_msgs else min(5, 2 + warmth)
    if "Score empathy strictly" in run.system and c.negative:
        empathy = max(1, empathy - 1)
    refund_over_limit = any(
        float(re.sub(r"[^\d.]", "", a.replace(",", "")) or 0) > 200
        for e in c.said(r"refund") for a in AMOUNT.findall(e["text"])) and \
        not c.said(r"supervisor|approv")
    policy = not c.said(r"exception|just this once|off the record|"
                        r"between us") and not refund_over_limit
    return call("record_metrics", {
        "resolved": resolved, "first_contact_resolution": fcr,
        "customer_sentiment": c.sentiment, "resolution_quality": quality,
        "empathy": empathy, "policy_followed": policy, "topic": c.topic})


def crm_ticket(view):
    run = Run(view)
    c = run.conv
    if run.called("record_ticket"):
        return _final("Ticket recorded.")
    lookups = run.called("lookup_policy")
    if not lookups:
        return call("lookup_policy", {"topic": c.topic},
                    "Looking up the %s policies." % c.topic)
    refs = _unique(str(r["ref"]) for lk in lookups for r in rows_of(lk)
                   if r.get("ref") is not None)
    if not refs and len(lookups) < 3:
        # nothing on that topic: try the next most likely one
        tried = {str((lk["arguments"] or {}).get("topic")) for lk in lookups
                 if isinstance(lk["arguments"], dict)}
        for t in c.topic_ranking + ["escalation"]:
            if t not in tried:
                return call("lookup_policy", {"topic": t},
                            "No %s policy; trying %s." % (c.topic, t))
    if c.topic == "security":
        priority = "urgent"
    elif c.negative or c.topic == "escalation":
        priority = "high"
    elif c.sentiment == "positive" and c.resolved():
        priority = "low"
    else:
        priority = "normal"
    title = TITLES[c.topic].format(o=" for " + c.order if c.order else "")
    if c.customer.get("name"):
        title += " — " + c.customer["name"]
    facts = []
    if c.order:
        facts.append("order " + ", ".join(c.orders[:3]))
    if c.amount:
        facts.append("amount " + c.amount)
    moves = c.events_named("transfer", "escalation", "payment", "refund")
    if moves:
        facts.append("events: " + ", ".join(
            "%s #%d" % (e["name"], e["id"]) for e in moves[:3]))
    summary = ("%s (%s, %s) contacted us about %s. Customer: \"%s\" "
               "Latest agent reply: \"%s\" Status: %s%s; customer %s.%s" % (
                   c.name, c.customer.get("external_id") or "no customer id",
                   c.channel, c.topic, c.first_customer_text(300),
                   c.last_agent_text(250), c.status or "active",
                   ", " + c.outcome if c.outcome else "", c.sentiment,
                   " " + _sentence("; ".join(facts)) if facts else ""))
    ticket = {"title": _clip(title, 120), "category": c.topic,
              "priority": priority, "summary": _clip(summary, 1000),
              "requested_action": REQUESTED[c.topic] +
              (" (%s)" % c.order if c.order else ""),
              "policy_refs": refs}
    return call("record_ticket", ticket)


def transfer_line(view):
    run = Run(view)
    c = run.conv
    if run.called("record_route"):
        return _final("Route recorded.")
    topic = str(c.input.get("topic") or c.topic).strip().lower() or "other"
    urgency = c.input.get("urgency") or ("urgent" if c.negative else
                                         "normal")
    lines = run.last("available_lines")
    if lines is None:
        return call("available_lines", {"topic": topic})
    rows = [r for r in rows_of(lines) if r.get("name")]
    if not rows:
        route = {"line": "General support", "extension": "0",
                 "open_now": False,
                 "reason": "available_lines returned no line for %s%s; "
                           "routing to general support." % (
                               topic, " (error: %s)" % _clip(
                                   lines["result"] or "", 120)
                               if lines["error"] else "")}
        return call("record_route", route)
    open_rows = [r for r in rows if r.get("open_now") is True]
    pick = open_rows[0] if open_rows else rows[0]
    skills = pick.get("skills") or []
    skilled = topic in skills
    if open_rows:
        reason = "%s is open now (%s) and %s; urgency %s." % (
            pick["name"], pick.get("hours") or "hours unknown",
            "handles %s" % topic if skilled else
            "takes general requests (no open line has the %s skill)" % topic,
            urgency)
    else:
        reason = ("No line for %s is open now; %s is the best match and "
                  "opens per its hours (%s); urgency %s." % (
                      topic, pick["name"], pick.get("hours") or "unknown",
                      urgency))
    return call("record_route", {"line": str(pick["name"]),
                                 "extension": str(pick.get("extension") or
                                                  ""),
                                 "open_now": bool(pick.get("open_now")),
                                 "reason": reason})


def _find_route(doc):
    """The object with a "line" in a nested agent's outputs."""
    if isinstance(doc, dict):
        if isinstance(doc.get("line"), str):
            return doc
        for v in doc.values():
            r = _find_route(v)
            if r:
                return r
    elif isinstance(doc, list):
        for v in doc:
            r = _find_route(v)
            if r:
                return r
    return None


def live_assist(view):
    run = Run(view)
    c = run.conv
    if run.called("record_handoff"):
        return _final("Handoff recorded.")
    urgency = "urgent" if (c.negative or c.topic in ("security",
                                                     "escalation")) \
        else "normal"
    chosen = run.last("choose_transfer_line")
    if chosen is None:
        return call("choose_transfer_line", {"topic": c.topic,
                                             "urgency": urgency},
                    "Asking the routing agent for the right line.")
    route = None if chosen["error"] else _find_route(result_json(chosen))
    if route is None:
        line, ext, open_now, why = "General support", "", False, \
            "the routing agent gave no line"
    else:
        line, ext = route["line"], route.get("extension") or ""
        open_now = route.get("open_now") is not False
        why = route.get("reason") or ""
    when = "who can take it right away" if open_now else \
        "who will call you back as soon as the line opens"
    message = ("Thanks for your patience%s. I'm passing your %srequest%s "
               "to our %s team%s, %s. They will see everything we discussed, "
               "so you won't need to repeat yourself." % (
                   ", " + c.first_name if c.first_name else "",
                   c.topic + " " if c.topic != "other" else "", c.on_order(),
                   line,
                   " (extension %s)" % ext if ext else "", when))
    if c.negative:
        message = "I'm sorry for the trouble this has caused. " + message
    latest = ""
    if len(c.customer_msgs) > 1:
        latest = "Latest: \"%s\" " % _clip(c.customer_msgs[-1]["text"], 200)
    summary = ("%s: %s (%s), conversation %s, %s. Customer: \"%s\" %s%s%s"
               "Sentiment: %s; urgency %s. Route: %s" % (
                   c.topic.capitalize(), c.name,
                   c.customer.get("external_id") or "no customer id",
                   c.external_id, c.channel, c.first_customer_text(220),
                   latest,
                   "Order %s. " % ", ".join(c.orders[:3]) if c.orders else "",
                   "Amount %s. " % c.amount if c.amount else "",
                   c.sentiment, urgency, _clip(why, 200) or line))
    return call("record_handoff", {"line": line,
                                   "message_to_customer": message,
                                   "summary_for_human": _clip(summary, 1500)})


def daily_digest(view):
    run = Run(view)
    c = run.conv
    if run.called("record_digest"):
        return _final("Digest recorded.")
    stats_call = run.last("day_stats")
    day = c.input.get("day")
    if stats_call is None:
        return call("day_stats", {"day": day} if isinstance(day, str) and
                    day else {})
    stats = result_json(stats_call)
    if stats_call["error"] or not isinstance(stats, dict):
        d = day or (datetime.date.today() -
                    datetime.timedelta(days=1)).isoformat()
        return call("record_digest", {
            "day": d, "headline": "No statistics for %s" % d,
            "conversations": 0, "highlights": [],
            "risks": ["day_stats failed: %s"
                      % _clip(stats_call["result"] or "no result", 150)]})
    d = str(stats.get("day") or day)[:10]
    n = int(stats.get("conversations") or 0)
    outcomes = stats.get("by_outcome") or {}
    channels = stats.get("by_channel") or {}
    urgent = int(stats.get("urgent_next_steps") or 0)
    avg_q = stats.get("avg_resolution_quality")
    if n == 0:
        return call("record_digest", {
            "day": d, "headline": "No conversations ended on %s" % d,
            "conversations": 0, "highlights": [],
            "risks": ["No traffic recorded: check that conversations are "
                      "being terminated"]})
    solved = int(outcomes.get("resolved", 0)) + \
        int(outcomes.get("refund_issued", 0))
    escalated = int(outcomes.get("escalated", 0)) + \
        int(outcomes.get("transferred", 0))
    abandoned = int(outcomes.get("abandoned", 0))
    pct = round(100.0 * solved / n)
    headline = "%d conversation%s on %s: %d%% resolved" % (
        n, "" if n == 1 else "s", d, pct)
    if escalated:
        headline += ", %d escalated or transferred" % escalated
    if urgent:
        headline += ", %d urgent next step%s" % (urgent,
                                                 "" if urgent == 1 else "s")
    highlights = []
    if outcomes:
        top = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
        highlights.append("Outcomes: " + ", ".join(
            "%s %d" % kv for kv in top))
    if channels:
        ch = sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))
        highlights.append("Busiest channel: %s (%d of %d)" % (
            ch[0][0], ch[0][1], n))
    if avg_q is not None:
        highlights.append("Average resolution quality %.2f / 5" %
                          float(avg_q))
    if outcomes.get("refund_issued"):
        highlights.append("%d refund%s issued" % (
            outcomes["refund_issued"],
            "" if outcomes["refund_issued"] == 1 else "s"))
    risks = []
    if urgent:
        risks.append("%d urgent next step%s still open" % (
            urgent, "" if urgent == 1 else "s"))
    if abandoned:
        risks.append("%d abandoned conversation%s without a fix" % (
            abandoned, "" if abandoned == 1 else "s"))
    if escalated and escalated * 5 >= n:
        risks.append("High escalation rate: %d of %d" % (escalated, n))
    if avg_q is not None and float(avg_q) < 3:
        risks.append("Resolution quality below 3 (%.2f)" % float(avg_q))
    return call("record_digest", {"day": d, "headline": _clip(headline, 200),
                                  "conversations": n,
                                  "highlights": highlights, "risks": risks})


def _responder(fn):
    """Wrap a responder: a planning call (a request that offers no
    record_<output> tool) gets a short plan; tool calls never name a tool
    the request does not offer; Anthropic tool-use turns carry a thinking
    text (rendered only when the request enabled thinking, which then
    requires it)."""
    def respond(view):
        offered = {t["name"] for t in view.get("tools") or []}
        if not any(n.startswith("record_") for n in offered):
            return {"text": "Plan: read the transcript, call the tools the "
                    "procedure names, then record the outputs."}
        spec = fn(view)
        calls = [c for c in spec.get("tool_calls") or []
                 if c["name"] in offered]
        if len(calls) != len(spec.get("tool_calls") or []):
            spec = dict(spec, tool_calls=calls)
            if not calls:
                spec.pop("tool_calls")
                spec.setdefault("text", "Nothing more to do.")
        if calls and view.get("provider") == "anthropic":
            spec.setdefault("thinking", "Next: %s." % ", ".join(
                c["name"] for c in calls))
        return spec
    respond.__name__ = fn.__name__
    respond.__doc__ = fn.__doc__
    return respond


RESPONDERS = {fn.__name__: _responder(fn) for fn in (
    next_steps, followup_alert, quality_metrics, crm_ticket, transfer_line,
    live_assist, daily_digest)}
