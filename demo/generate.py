#!/usr/bin/python3
"""Generate a deterministic customer-support data set for procedural_agent.

Prints one psql script (BEGIN ... COMMIT) that loads:
  * demo.policies and demo.ops_lines, reference tables agents can look things up in;
  * pa.customers and pa.customer_memory;
  * terminated conversations with their events (what post-hoc agents read);
  * a few active "live" conversations stopped mid-story (what pa_invoke examples read).

Every timestamp is computed from --now, so two runs with the same --seed and --now print
byte-identical scripts. With only --seed fixed, a later --now shifts every timestamp by the same
amount and keeps everything else, except what depends on the wall clock: whether an ops line is open
when the bot hands over (live transfer or callback, supervisor or callback) and live-2's wording.
Standard library only:

    /usr/bin/python3 demo/generate.py | psql -X -v ON_ERROR_STOP=1 -q mydb
"""
import argparse
import datetime as dt
import json
import random
import sys
import unicodedata
from collections import Counter
from zoneinfo import ZoneInfo

TD = dt.timedelta
UTC = dt.timezone.utc

# ==== Reference data. Policies state concrete numbers so that stories can follow them (or, rarely and
# on purpose, break them) and an auditing agent has something to check against.

POLICIES = [  # ref, topic, title, body
    ("refund-window", "refund", "Refunds within 30 days of delivery",
     "Items can be returned for a full refund within 30 days of delivery if unused and in their original "
     "packaging. Refunds go to the original payment method and show within 5 business days. Between 31 and 45 days "
     "only store credit may be offered. Agents may refund up to 200 in the order currency; larger amounts go to the "
     "supervisor desk."),
    ("late-delivery", "delivery", "Compensation for late deliveries",
     "When a parcel arrives 3 or more business days after the promised date, offer either a refund of the shipping "
     "fee or a voucher worth 10% of the order (at most 25), whichever the customer prefers. A parcel with no "
     "tracking movement for 10 days is treated as lost: reship it or refund it in full."),
    ("damaged-item", "damage", "Damaged or defective on arrival",
     "Items reported damaged within 14 days of delivery are replaced free of charge, or refunded when out of stock. "
     "Ask for a photo, but do not require one for orders under 50. Items under 20 need not be sent back."),
    ("subscription-cancel", "subscription", "Cancelling a subscription",
     "Subscriptions can be cancelled at any time and end with the paid period. A renewal charged in the last 7 days "
     "is refunded in full on request if the plan was not used since. A retention offer (3 months at 50%) may be "
     "made once per customer per year."),
    ("price-match", "pricing", "Price match guarantee",
     "We match a lower price for the identical item, in stock at a major retailer, within 14 days of purchase. "
     "Marketplace sellers, clearance and bundle prices are excluded. The difference is refunded to the original "
     "payment method."),
    ("warranty", "warranty", "Two-year warranty",
     "Electronics carry a 24-month warranty from delivery covering defects not caused by misuse. Repair first, "
     "replace if the repair fails, refund only if neither is possible. Serial and order numbers are required."),
    ("identity-verification", "security", "Identity verification and locked accounts",
     "Verify identity with a one-time code sent to the registered email or phone before discussing or changing "
     "anything on an account. After 5 failed logins an account locks for 30 minutes; agents may unlock it only "
     "after verification. Suspected unauthorised access goes to fraud & security at once. Never read out card "
     "numbers."),
    ("escalation", "escalation", "Escalating to a supervisor",
     "Escalate to the supervisor desk when the customer asks for a supervisor twice, mentions legal action or a "
     "chargeback, or when the remedy exceeds the agent's limits (refunds over 200, credits over 50). Outside "
     "supervisor desk hours, book a callback within one business day."),
    ("data-deletion", "privacy", "Deleting personal data",
     "Customers may ask for their personal data to be deleted. Verify identity, then open a privacy request; it is "
     "completed within 30 days. Order records kept 6 years for tax are anonymised rather than deleted. Active "
     "subscriptions must be cancelled first."),
    ("address-change", "shipping", "Changing a shipping address",
     "The shipping address can be changed free of charge until the order is dispatched. After dispatch, logistics "
     "may request a carrier redirect (fee 4.95, not always possible). The destination country cannot change after "
     "payment."),
]

OPS_LINES = [  # name, skills, opens, closes, ISO weekdays (1 = Monday), timezone, extension
    ("billing", ["refund", "pricing", "subscription"], "08:00", "20:00", [1, 2, 3, 4, 5], "Europe/London", "4101"),
    ("logistics", ["delivery", "shipping", "damage"], "07:00", "22:00", [1, 2, 3, 4, 5, 6], "Europe/Berlin", "4202"),
    ("technical support", ["warranty", "damage"], "06:00", "23:00", [1, 2, 3, 4, 5, 6, 7], "Europe/Dublin", "4303"),
    ("retention", ["subscription", "pricing", "refund"], "09:00", "17:30", [1, 2, 3, 4, 5], "America/New_York",
     "4404"),
    ("fraud & security", ["security", "privacy"], "00:00", "24:00", [1, 2, 3, 4, 5, 6, 7], "UTC", "4505"),
    ("supervisor desk", ["escalation", "refund", "damage", "delivery"], "09:00", "18:00", [1, 2, 3, 4, 5],
     "Europe/London", "4606"),
]
LINES = {line[0]: line for line in OPS_LINES}
STAFF = {"billing": ["Priya", "Tom", "Hannah"], "logistics": ["Jonas", "Mehmet", "Lena"],  # humans who take over
         "retention": ["Kayla", "Marcus"], "technical support": ["Sean", "Aoife", "Ravi"],
         "fraud & security": ["Ingrid", "Dev"], "supervisor desk": ["Claire (supervisor)", "Robert (supervisor)"]}

COUNTRIES = {  # weight, language, currency, symbol, first names, last names
    "GB": (26, "en", "GBP", "£", ["Oliver", "Amelia", "Harry", "Isla", "Jack", "Sophie", "George", "Emily"],
           ["Smith", "Patel", "Jones", "Taylor", "Brown", "Wilson", "Clarke", "Hughes"]),
    "US": (20, "en", "USD", "$", ["James", "Olivia", "Ethan", "Ava", "Noah", "Mia", "Lucas", "Chloe"],
           ["Johnson", "Garcia", "Miller", "Davis", "Martinez", "Lee", "Walker", "Nguyen"]),
    "IE": (6, "en", "EUR", "€", ["Ciara", "Conor", "Niamh", "Eoin"], ["Murphy", "Kelly", "O'Brien", "Byrne"]),
    "DE": (14, "de", "EUR", "€", ["Lukas", "Mia", "Felix", "Hannah", "Jonas", "Lea"],
           ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"]),
    "FR": (12, "fr", "EUR", "€", ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules"],
           ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard"]),
    "ES": (10, "es", "EUR", "€", ["Lucía", "Hugo", "Martina", "Pablo", "Sofía"],
           ["García", "Fernández", "López", "Sánchez"]),
    "NL": (12, "nl", "EUR", "€", ["Daan", "Emma", "Sem", "Julia", "Lotte"], ["de Jong", "Jansen", "de Vries", "Smit"]),
}
PRODUCTS = [("Aero 2 wireless headphones", 149.00), ("Brevo espresso machine", 229.00), ("Lumi desk lamp", 39.90),
            ("Trail 30L backpack", 89.00), ('Pixel frame 10" display', 119.00), ("Nimbus duvet (double)", 74.50),
            ("Kettle K7 (1.7 L)", 49.99), ("Vega smartwatch", 199.00), ("Orbit robot vacuum", 349.00),
            ("Set of 4 stoneware mugs", 18.50), ("Flex yoga mat", 29.95), ("Halo smart doorbell", 129.00),
            ("Cast-iron skillet 28 cm", 44.00), ("USB-C charging hub", 54.99), ("Atlas office chair", 289.00)]
CARRIERS = ["DHL", "UPS", "DPD", "GLS", "Royal Mail", "FedEx"]
STREETS = ["12 Elm Road", "4 Kerkstraat", "88 Rue de Lyon", "Hauptstr. 21", "Calle Mayor 7", "301 Pine Ave"]

OUTCOMES = ("resolved", "escalated", "abandoned", "transferred", "refund_issued")
TOPICS = {  # weight, first line, outcome weights in OUTCOMES order (0 where the outcome makes no sense)
    "refund": (16, "billing", (30, 12, 10, 13, 35)), "delivery": (16, "logistics", (40, 12, 10, 18, 20)),
    "damage": (10, "logistics", (35, 12, 8, 15, 30)), "subscription": (14, "retention", (45, 8, 12, 20, 15)),
    "pricing": (6, "billing", (40, 10, 12, 18, 20)), "warranty": (8, "technical support", (45, 12, 10, 28, 5)),
    "security": (8, "fraud & security", (45, 15, 15, 25, 0)),
    "escalation": (6, "supervisor desk", (15, 55, 8, 22, 0)),
    "privacy": (4, "fraud & security", (60, 8, 17, 15, 0)), "shipping": (12, "logistics", (60, 6, 12, 22, 0)),
}
ORDER_TOPICS = {"refund", "delivery", "damage", "pricing", "warranty", "shipping", "escalation"}
CHANNELS = {"chat": 60, "voice": 25, "email": 15}

def ts(t):
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")

def ymd(t):
    return t.strftime("%Y-%m-%d")

def ref(rng, prefix, digits=6):
    return f"{prefix}-{rng.randrange(10 ** (digits - 1), 10 ** digits)}"

# ==== Opening hours. Transfers and callbacks consult the lines' hours the way a real bot would, so the
# conversations agree with demo.ops_lines (except the deliberate mistakes noted in transfer()).

def local(line, t):
    return t.astimezone(ZoneInfo(LINES[line][5]))

def is_open(line, t):
    _, _, opens, closes, days, _, _ = LINES[line]
    lt, minutes = local(line, t), lambda s: int(s[:2]) * 60 + int(s[3:])
    return lt.isoweekday() in days and minutes(opens) <= lt.hour * 60 + lt.minute < minutes(closes)

def next_open(line, t):
    t = t.replace(minute=t.minute // 15 * 15, second=0) + TD(minutes=15)
    while not is_open(line, t):
        t += TD(minutes=15)
    return t + TD(minutes=15)  # not the very first minute of the shift

def hours_text(line):
    _, _, opens, closes, days, tz, _ = LINES[line]
    if (opens, closes) == ("00:00", "24:00"):
        return "24/7"
    which = {7: "every day", 6: "Mon-Sat", 5: "Mon-Fri"}[len(days)]
    return f"{which} {opens}-{closes} {tz} time"

# ==== A conversation being written: a clock and the rows for pa.events. The clock is the real one
# while the story is written, so hour checks made mid-story agree with the final timestamps.

class Story:
    GAPS = {"customer": (20, 110), "agent": (3, 15), "human_agent": (25, 100)}  # seconds before a message

    def __init__(self, rng, start, ctx, pace=1.0):
        self.rng, self.ctx, self.start, self.pace = rng, ctx, start, pace  # pace: slow typists, email
        self.t = start + TD(seconds=rng.randint(1, 15))
        self.rows = []  # [occurred_at, kind, role, content, name, tool_call_id, payload]
        self.asides = 0  # small-talk exchanges still to slip in after tool results

    def add(self, gap, kind, role, content=None, name=None, call=None, payload=None):
        self.t += TD(seconds=gap)  # every gap is >= 1 s, so occurred_at strictly increases
        self.rows.append([self.t, kind, role, content, name, call, payload])

    def pick(self, text):
        text = self.rng.choice(text) if isinstance(text, (list, tuple)) else text
        c = self.ctx  # derived display fields, refreshed because topics move dates and prices
        c["amt"] = f"{c['sym']}{c['price']:,.2f}"
        c.update({"d_" + k: f"{c[k]:%d %b}".lstrip("0") for k in ("ordered", "delivered", "promised") if k in c})
        return text.format(**c)

    def say(self, role, text):
        gap = self.rng.randint(*self.GAPS[role]) * (1 if role == "agent" else self.pace)
        self.add(round(gap), "message", role, self.pick(text))

    def customer(self, text): self.say("customer", text)  # noqa: E704
    def agent(self, text): self.say("agent", text)  # noqa: E704
    def human(self, text): self.say("human_agent", text)  # noqa: E704
    def system(self, text, gap=1): self.add(gap, "system", "system", self.pick(text))  # noqa: E704

    def tool(self, name, args, result):
        call = "call_%08x" % self.rng.getrandbits(32)
        self.add(self.rng.randint(2, 6), "tool_call", "agent", None, name, call, args)
        self.add(self.rng.randint(1, 3), "tool_result", "tool", None, name, call, result)
        if self.asides and self.rng.random() < 0.5:
            self.asides -= 1
            said, answer = self.rng.choice(ASIDES)
            self.customer(said)
            self.agent(answer)
        return result

    def event(self, name, payload):
        # role stays NULL, so the transcript reads "[#id time event transfer] {...}"
        self.add(self.rng.randint(1, 5), "event", None, None, name, None, payload)
        if name == "hold":
            self.t += TD(seconds=payload["seconds"])

# ==== Endings shared by every topic. Each outcome leaves its tell-tale events: issue_refund + payment,
# escalation (+ hold and a supervisor, or a callback), transfer to an ops line, a customer who goes silent.

ASIDES = [("Sorry, my connection dropped for a second.", "No problem, I'm still here."),
          ("How long is this going to take?", "Just a moment, I'm nearly there."),
          ("Sorry, I'm on my phone, typing is slow.", "Take your time, {first}."),
          ("Is this a real person?", "I'm a virtual assistant, but I can bring in a colleague if needed.")]
THANKS = ["Great, thank you!", "Perfect, thanks for sorting that.", "Thanks, that's really helpful.",
          "OK, thank you.", "Brilliant, cheers.", "Thank you so much!"]
ANGRY = ["This is ridiculous. I've been a customer for years and this is how you treat me?",
         "I'm honestly fed up. Nobody ever actually fixes anything.",
         "That's not acceptable. I want to speak to a manager.",
         "Are you serious? I've already explained this twice!",
         "If this isn't fixed today I'm disputing the charge with my bank."]
GREETING = {"chat": "Hi {first}, I'm the virtual assistant.", "voice": "Thanks for calling, {first}.",
            "email": "Hello {first}, thanks for your email."}

def wrap_up(S):
    if S.rng.random() < 0.7:
        S.agent(["Is there anything else I can help with today?", "Anything else I can do for you, {first}?"])
        S.customer(["No, that's all. Thanks!", "That's everything, thanks.", "No thanks, have a good day."])
    S.agent(["You're welcome, {first}. Have a great day!", "Glad I could help. Take care!",
             "Thanks for contacting us. Bye!"])

def refund(S, c, amount, reason):
    c["ramt"], c["rid"] = f"{c['sym']}{amount:,.2f}", ref(S.rng, "RF", 7)
    S.agent(["I can refund {ramt} to your original payment method. Shall I go ahead?",
             "Good news: you're eligible for a refund of {ramt}. Would you like me to process it now?"])
    S.customer(["Yes please.", "Yes, go ahead.", "Please do."])
    S.tool("issue_refund", {"order_id": c["order"], "amount": amount, "currency": c["cur"], "reason": reason},
           {"refund_id": c["rid"], "status": "processed", "amount": amount, "currency": c["cur"],
            "method": "original_payment", "eta_business_days": 5})
    S.event("payment", {"type": "refund", "refund_id": c["rid"], "order_id": c["order"], "amount": amount,
                        "currency": c["cur"]})
    S.agent("Done - {ramt} is on its way back to you (reference {rid}). It usually shows within 5 business days.")
    S.customer(THANKS)

def callback(S, c, line, when):
    c["when"] = f"{when:%a %d %b at %H:%M} UTC"
    S.event("callback_scheduled", {"line": line, "scheduled_for": f"{when:%Y-%m-%dT%H:%M:%SZ}", "channel": "phone"})

def transfer(S, c, line, reason):
    """Hand over to an ops line: live when it is open, else as a booked callback. One time in five
    the bot transfers into a closed line anyway: a mistake for an auditing agent to catch."""
    c["line"], c["ext"], c["hours"] = line, LINES[line][6], hours_text(line)
    S.agent(["This needs our {line} team. Let me check whether they're available.",
             "I'll need to hand this over to a specialist in {line}. One moment while I check their hours."])
    open_now = is_open(line, S.t)
    S.tool("check_line_hours", {"line": line},
           {"line": line, "open": open_now, "hours": c["hours"], "local_time": f"{local(line, S.t):%a %H:%M}"})
    if open_now or S.rng.random() < 0.2:
        S.agent("I'm transferring you to {line} now (extension {ext}). They'll see everything we've discussed.")
        S.event("transfer", {"to": line, "extension": c["ext"], "mode": "live", "reason": reason})
        if open_now and S.rng.random() < 0.6:
            S.event("hold", {"seconds": S.rng.randint(40, 420), "reason": f"waiting for a {line} specialist"})
            c["human"] = S.rng.choice(STAFF[line])
            S.human("Hi {first}, this is {human} from {line}. I've read the conversation - I'll take it from here.")
            S.customer(["Thanks. Can you sort it today?", "Finally, thank you.", "Great, thanks for picking up."])
            S.human(["Yes, I'll look into it now and email you a summary.", "I'm on it - bear with me a moment."])
    else:
        when = next_open(line, S.t)  # computed once: the time offered is the time booked
        c["when"] = f"{when:%a %d %b at %H:%M} UTC"
        S.agent("Our {line} team is closed right now (hours: {hours}). I can book a callback for {when} - "
                "does that work?")
        S.customer(["Yes, that's fine.", "OK, if that's the earliest.", "Fine. Make sure someone actually calls."])
        S.event("transfer", {"to": line, "extension": c["ext"], "mode": "callback", "reason": reason})
        callback(S, c, line, when)
        S.agent("Booked: {line} will call you on {when}. They'll have this conversation in front of them.")

def escalate(S, c, cannot, reason):
    S.agent(cannot)
    S.customer(ANGRY)
    if S.rng.random() < 0.5:
        S.agent(["I completely understand your frustration, {first}, and I'm sorry.",
                 "I hear you, and I'm sorry it has dragged on."])
        S.customer(["Just get me someone who can actually do something.", "Then escalate it. Now.",
                    "Sorry isn't good enough."])
    S.agent(["I'm escalating this to a supervisor now.", "Let me escalate this to our supervisor desk."])
    line = "supervisor desk"
    S.event("escalation", {"to": line, "reason": reason, "priority": S.rng.choice(["high", "high", "normal"]),
                           "customer_sentiment": "angry"})
    if is_open(line, S.t) and S.rng.random() < 0.65:
        S.event("hold", {"seconds": S.rng.randint(60, 300), "reason": "waiting for a supervisor"})
        c["human"] = S.rng.choice(STAFF[line])
        S.human("Hello {first}, I'm {human}. I've gone through the history and I'm sorry about this.")
        S.customer(["Thank you. I just want it fixed.", "OK. What can you do?"])
        S.human(["I'll review it personally and get back to you by email within 24 hours.",
                 "I'm authorising an exception; you'll get written confirmation within the hour."])
    else:
        callback(S, c, line, next_open(line, S.t))
        S.agent("A supervisor will call you back on {when}. I've noted everything so you won't need to repeat it.")
        if S.rng.random() < 0.5:
            S.customer(["Fine.", "We'll see.", "OK."])

def abandon(S, question):
    S.agent(question)
    if S.rng.random() < 0.4:
        S.customer(["hang on", "one sec, looking", "let me check"])
    S.add(S.rng.randint(120, 240), "message", "agent",  # the bot waits a while before asking
          S.pick(["Are you still there, {first}?", "Just checking in - do you still need help?"]))
    S.system({"chat": "Chat closed after 5 minutes without a reply from the customer.",
              "voice": "Call disconnected by the customer.", "email": "Thread closed: no reply from the customer."
              }[S.ctx["channel"]], gap=S.rng.randint(60, 300))

def ending(S, c, outcome, escalated, transferred, abandoned):
    """Endings with the same shape for every topic; the arguments are the topic's wording: escalated =
    (customer's line or None, why the bot can't, reason), transferred = (customer's line or None, ops line, reason)."""
    if outcome in ("escalated", "transferred"):
        said, *rest = escalated if outcome == "escalated" else transferred
        if said:
            S.customer(said)
        (escalate if outcome == "escalated" else transfer)(S, c, *rest)
    elif outcome == "abandoned":
        abandon(S, abandoned)

# ==== Topics. Each writes the diagnosis (the problem, lookups, facts), the topic-specific endings
# (resolved, refund_issued) and hands the others to ending().

def order_lookup(S, c, status="delivered"):
    r = {"order_id": c["order"], "status": status, "placed_on": ymd(c["ordered"]), "total": c["price"],
         "currency": c["cur"], "items": [{"name": c["product"], "price": c["price"], "qty": 1}]}
    if status == "delivered":
        r["delivered_on"] = ymd(c["delivered"])
    return S.tool("lookup_order", {"order_id": c["order"]}, r)

def give_order(S, asks):
    S.agent(asks)
    S.customer(["It's {order}.", "Order number {order}.", "{order} - I ordered it on {d_ordered}.", "Sure: {order}"])

def policy_check(S, pref, query):
    if S.rng.random() < 0.4:  # the bot sometimes consults the policy base
        p = next(p for p in POLICIES if p[0] == pref)
        S.tool("search_policy", {"query": query}, {"ref": p[0], "title": p[2], "excerpt": p[3][:160]})

def topic_refund(S, c, outcome):
    c["days"] = S.rng.randint(34, 52) if outcome == "escalated" else S.rng.randint(2, 27)  # escalated: window missed
    c["delivered"] = S.start - TD(days=c["days"])
    S.customer(["Hi, I'd like to return the {product} and get my money back.", "I want a refund for the {product}. "
                "It just isn't what I expected.", "Hello, how do I get a refund? The {product} doesn't suit me."])
    give_order(S, ["Sorry it didn't work out, {first}. Could you give me the order number?",
                   "I can help. What's the order number?"])
    order_lookup(S, c)
    policy_check(S, "refund-window", "refund window")
    S.agent("Thanks. The {product} ({amt}) was delivered on {d_delivered}, {days} days ago.")
    if outcome == "resolved":
        S.tool("create_return_label", {"order_id": c["order"]},
               {"label_id": ref(S.rng, "RL"), "carrier": c["carrier"], "emailed": True})
        S.agent("It's within 30 days, so I've emailed you a prepaid return label. The refund is issued once the "
                "parcel is scanned.")
        S.customer(THANKS)
    elif outcome == "refund_issued":
        S.customer(["It's unused, still in the box.", "I haven't even opened it properly."])
        refund(S, c, c["price"], "within_refund_window")
    ending(S, c, outcome, (None, "That's outside our 30-day refund window, so the most I can offer is store credit.",
                           "refund requested outside the 30-day window"),
           ("I paid with a gift card and a card - how does the refund split?", "billing", "split-payment refund"),
           "Is the item unused and in its original packaging?")

def topic_delivery(S, c, outcome):
    lost = outcome == "escalated"  # no tracking movement for 10+ days: lost, beyond what the bot may do
    c["late"] = S.rng.randint(11, 16) if lost else S.rng.randint(3, 9)
    c["promised"] = S.start - TD(days=c["late"])
    S.customer(["My order still hasn't arrived. It was supposed to be here on {d_promised}.",
                "Where is my parcel?? It's {late} days late.",
                "Hi, I'm still waiting for the {product}. Tracking hasn't changed in days."])
    give_order(S, ["I'm sorry about the wait, {first}. What's your order number?",
                   "Let me check. Can you share the order number?"])
    order_lookup(S, c, "shipped")
    scan = S.start - TD(days=c["late"] if lost else S.rng.randint(0, 2), hours=S.rng.randint(1, 9))
    S.tool("check_shipment", {"order_id": c["order"]},
           {"carrier": c["carrier"], "tracking": c["tracking"], "status": "no_movement" if lost else "in_transit",
            "promised_date": ymd(c["promised"]), "days_late": c["late"], "last_scan": f"{scan:%Y-%m-%dT%H:%MZ}"})
    policy_check(S, "late-delivery", "late delivery compensation")
    S.agent("I can see it with {carrier} (tracking {tracking}), {late} days past the promised date.")
    if outcome == "resolved":
        amount = min(25.0, round(c["price"] * 0.10, 2))
        c["voucher"] = f"{c['sym']}{amount:.2f}"
        S.agent("The carrier expects it within 2 days. As an apology I can give you a {voucher} voucher.")
        S.customer(["OK, I'll take the voucher.", "Fine, thanks."])
        S.tool("issue_voucher", {"customer": c["cust"], "amount": amount, "currency": c["cur"]},
               {"code": ref(S.rng, "SORRY"), "expires_in_days": 90})
    elif outcome == "refund_issued":
        S.customer("I'd rather have the delivery charge back.")
        refund(S, c, c["ship_fee"], "late_delivery_shipping_fee")
    ending(S, c, outcome, (None, "There's been no tracking movement for over 10 days, and I can't reship an order "
                           "this size myself.", f"parcel lost, order value {c['price']:.2f} {c['cur']}"),
           ("Can someone chase the carrier? I need it before the weekend.", "logistics", "carrier investigation"),
           "Could you confirm the delivery address, and whether a neighbour might have taken it in?")

def topic_damage(S, c, outcome):
    c["delivered"] = S.start - TD(days=S.rng.randint(1, 10))
    S.customer(["The {product} arrived damaged. The box was crushed and it's cracked.",
                "Hi, my {product} came broken. Really disappointed.",
                "The {product} I received doesn't work, and there's a dent on the side."])
    give_order(S, ["I'm so sorry, {first}. What's the order number?",
                   "That's not how it should arrive. What's the order number?"])
    order_lookup(S, c)
    policy_check(S, "damaged-item", "damaged on arrival")
    if outcome != "abandoned":
        if c["price"] >= 50:  # policy damaged-item: a photo for orders of 50 and more
            S.agent("Could you upload a photo of the damage?")
            S.customer(["Sent it just now.", "Uploaded two photos.", "Done, you should have it."])
        else:
            S.agent("Thanks. As the order is under 50, no photo is needed.")
    if outcome == "resolved":
        c["rep"] = ref(S.rng, "ORD", 5)
        S.tool("create_replacement", {"order_id": c["order"], "reason": "damaged_on_arrival"},
               {"replacement_order_id": c["rep"], "ships_by": ymd(S.start + TD(days=1))})
        S.agent("I've sent a free replacement ({rep}); it ships tomorrow." + (" No need to return the damaged one."
                if c["price"] < 20 else " A courier will collect the damaged one."))
        S.customer(THANKS)
    elif outcome == "refund_issued":
        S.tool("check_stock", {"product": c["product"]}, {"in_stock": False, "restock_eta_days": 21})
        S.agent("Unfortunately it's out of stock for 3 weeks, so a refund is the better option.")
        refund(S, c, c["price"], "damaged_out_of_stock")
    ending(S, c, outcome, ("This is the second one that's arrived broken.", "I can only offer another replacement "
                           "from the same warehouse.", "repeat damaged delivery"),
           (None, "logistics", "damage claim against the carrier"),
           "Could you upload a photo of the damage and the outer box?")

def topic_subscription(S, c, outcome):
    renewed, price = S.start - TD(days=S.rng.randint(1, 6)), {"plus": 12.99, "business": 49.00}[c["plan"]]
    S.customer(["I want to cancel my subscription.", "How do I stop my {plan} plan renewing?",
                "I was charged for a renewal I didn't want. Please cancel it."])
    S.agent("I can help with that, {first}. Let me pull up your subscription.")
    S.tool("lookup_subscription", {"customer": c["cust"]}, {"plan": c["plan"], "status": "active", "price": price,
           "currency": c["cur"], "renewed_on": ymd(renewed), "used_since_renewal": outcome == "escalated"})
    if outcome == "resolved":
        if S.rng.random() < 0.5:
            S.agent("Before you go: I can offer 3 months at 50% off. Interested?")
            S.customer(["Actually yes, I'll take that.", "No thanks, just cancel."])
        S.tool("cancel_subscription", {"customer": c["cust"], "effective": "end_of_period"},
               {"status": "cancelled", "access_until": ymd(renewed + TD(days=30))})
        S.agent("All set. You keep access until the end of the paid period, and nothing more is charged.")
    elif outcome == "refund_issued":
        S.customer("Can I get the renewal back? I haven't used it.")
        c["order"] = ref(S.rng, "SUB", 6)  # the renewal invoice is what gets refunded
        refund(S, c, price, "renewal_within_7_days")
    ending(S, c, outcome, (None, "The plan was used after the renewal, so that charge isn't refundable.",
                           "disputed renewal"),
           ("It's for my team - can we downgrade instead of cancelling?", "retention", "downgrade instead of cancel"),
           "To confirm: do you want it cancelled right away or at the end of the period?")

def topic_pricing(S, c, outcome):
    c["competitor"] = S.rng.choice(["Argos", "Currys", "MediaMarkt", "Best Buy", "Fnac", "Coolblue"])
    diff, eligible = round(c["price"] * S.rng.choice([0.08, 0.12, 0.15, 0.2]), 2), outcome != "escalated"
    S.customer(["I bought the {product} last week and {competitor} now sells it for less. Do you price match?",
                "Hi, {competitor} has the {product} cheaper. Can I get the difference back?"])
    give_order(S, ["We do, within 14 days. What's your order number?", "Let me check. Order number please?"])
    order_lookup(S, c)
    S.tool("check_price_match", {"order_id": c["order"], "competitor": c["competitor"]},
           {"eligible": eligible, "difference": diff if eligible else 0, "currency": c["cur"],
            "reason": "major retailer, identical item, within 14 days" if eligible else "marketplace seller listing"})
    policy_check(S, "price-match", "price match")
    if outcome == "resolved":
        S.agent("That's eligible. I can refund the difference or give it to you as store credit.")
        S.customer("Store credit is fine.")
        S.tool("issue_voucher", {"customer": c["cust"], "amount": diff, "currency": c["cur"]},
               {"code": ref(S.rng, "PM"), "expires_in_days": 365})
    elif outcome == "refund_issued":
        refund(S, c, diff, "price_match")
    ending(S, c, outcome, (None, "That listing is from a marketplace seller, which our price match excludes.",
                           "price match refused"),
           ("I also want to use my gift card balance on the difference.", "billing", "price match with gift card"),
           "Could you paste the link to the cheaper listing?")

def topic_warranty(S, c, outcome):
    c["months"] = S.rng.randint(25, 27) if outcome == "escalated" else S.rng.randint(3, 22)  # escalated: just expired
    c["delivered"] = S.start - TD(days=c["months"] * 30)
    c["serial"] = "SN" + "".join(S.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10))
    S.customer(["My {product} stopped working. It's only {months} months old.",
                "The {product} won't turn on any more. Is it under warranty?"])
    give_order(S, ["Sorry to hear that. Can you give me the order number and the serial number?",
                   "Let's check the warranty. What's the order number?"])
    S.customer("Serial is {serial}.")
    S.tool("check_warranty", {"order_id": c["order"], "serial": c["serial"]}, {"covered": outcome != "escalated",
           "months_since_delivery": c["months"], "expires_on": ymd(c["delivered"] + TD(days=730))})
    if outcome == "resolved":
        S.tool("create_repair_ticket", {"serial": c["serial"], "fault": "no power"},
               {"rma": ref(S.rng, "RMA"), "label_emailed": True})
        S.agent("It's covered. I've emailed a free shipping label; repairs take about 7 working days.")
        S.customer(THANKS)
    elif outcome == "refund_issued":
        S.agent("It was already repaired once and the part is discontinued, so under our warranty policy I can "
                "refund it.")
        refund(S, c, c["price"], "warranty_repair_impossible")
    ending(S, c, outcome, (None, "Unfortunately the 24-month warranty ended a few weeks ago.", "warranty expired"),
           ("I already tried resetting it, the light just blinks red.", "technical support", "hardware fault"),
           "Could you tell me what the status light does when you plug it in?")

def verify(S, c, outcome, lost_access):
    S.tool("send_verification_code", {"customer": c["cust"], "channel": "email"},
           {"sent": True, "expires_in_minutes": 10})
    if outcome == "abandoned":  # identity never verified: the customer drops out here
        if lost_access:
            S.customer("I don't have access to that email any more.")
        return False
    S.customer(["The code is {code}.", "Code: {code}", "{code}"])
    S.tool("verify_identity", {"customer": c["cust"], "method": "email_code"}, {"verified": True})
    return True

def topic_security(S, c, outcome):
    S.customer(["My account is locked and I can't log in.", "I can't get into my account, it says too many attempts.",
                "I got an email about a login from another country. That wasn't me!"])
    S.agent("I'll help you get back in. First I need to verify it's you: I've sent a code to your registered email.")
    if verify(S, c, outcome, lost_access=True):
        home = [c["country"]] * 2 if outcome == "resolved" else []  # a foreign login is what makes it suspicious
        c["where"] = S.rng.choice(["RO", "BR", "VN"] + home)
        S.tool("lookup_account", {"customer": c["cust"]}, {"locked": True, "failed_attempts": S.rng.randint(5, 9),
               "last_login_country": c["where"], "card_on_file_last4": c["last4"]})
    if outcome == "resolved":
        S.tool("unlock_account", {"customer": c["cust"], "force_password_reset": True},
               {"unlocked": True, "reset_link_sent": True})
        S.agent("You're verified and the account is unlocked. I've sent a password reset link; please turn on "
                "two-step login too.")
        S.customer(THANKS)
    elif outcome == "transferred":
        S.agent("The last login came from {where}, which looks suspicious.")
    ending(S, c, outcome, ("There's also a charge I didn't make on my card ending {last4}!",
                           "I can't reverse card charges from here; that needs a supervisor.", "unauthorised charge"),
           (None, "fraud & security", "suspected account takeover"),
           "Could you check the phone number on the account instead? I can send the code by SMS.")

def topic_escalation(S, c, outcome):
    c["prev"] = f"{S.start - TD(days=S.rng.randint(2, 9)):%d %b}".lstrip("0")
    S.customer(["This is my third time contacting you about order {order}. I want a supervisor.",
                "I spoke to you on {prev} and was promised a callback that never came. Supervisor please.",
                "I want to make a formal complaint about how order {order} was handled."])
    S.agent("I'm sorry you've had to come back, {first}. Let me look at the history.")
    S.tool("lookup_case_history", {"customer": c["cust"]}, {"open_cases": 1, "last_contact": c["prev"],
           "order_id": c["order"], "promised_callback": True, "callback_made": False})
    if outcome == "resolved":
        S.agent("I can see the callback was missed, I'm sorry. I've reopened the case with priority and can add a "
                "15.00 goodwill credit.")
        S.customer("OK, that works if it actually happens.")
        S.tool("issue_voucher", {"customer": c["cust"], "amount": 15.0, "currency": c["cur"]},
               {"code": ref(S.rng, "GW"), "expires_in_days": 180})
    ending(S, c, outcome, (None, "I can see what happened, but the fix needs a supervisor's approval.",
                           "repeat contact, missed callback"),
           ("I don't want the bot. Put me through to a person.", "supervisor desk", "asked for a supervisor twice"),
           "Could you summarise what was promised on the last call?")

def topic_privacy(S, c, outcome):
    S.customer(["I want you to delete all my personal data.", "Please close my account and erase my data (GDPR)."])
    S.agent("I can start that. I need to verify your identity first; I've sent a code to your email.")
    if verify(S, c, outcome, lost_access=False):
        S.agent("Verified. Note that order records we must keep 6 years for tax are anonymised, not deleted.")
    if outcome == "resolved":
        c["rid"] = ref(S.rng, "PRV")
        S.tool("create_privacy_request", {"customer": c["cust"], "type": "erasure"},
               {"request_id": c["rid"], "due_by": ymd(S.start + TD(days=30))})
        S.agent("Your request {rid} is open; it will be completed within 30 days and you'll get an email.")
    ending(S, c, outcome, ("No. I want EVERYTHING deleted or I'm going to the data protection authority.",
                           "I'm not able to override the tax-retention rule.", "threatens a regulator complaint"),
           ("I also want a copy of everything you hold before you delete it.", "fraud & security",
            "data access + erasure"),
           "Could you read me the 6-digit code from the email?")

def topic_shipping(S, c, outcome):
    S.customer(["I need to change the delivery address for my order.",
                "I've moved - can you send order {order} to my new address?"])
    give_order(S, ["Sure. What's the order number?", "No problem, which order is it?"])
    dispatched = outcome in ("transferred", "escalated")
    order_lookup(S, c, "shipped" if dispatched else "processing")
    S.customer(["The new address is {street}.", "It should go to {street} instead."])
    if outcome == "resolved":
        S.tool("update_shipping_address", {"order_id": c["order"], "address": c["street"]}, {"updated": True})
        S.agent("Done - it hadn't been dispatched yet, so the change is free.")
    elif outcome == "transferred":
        S.agent("It was dispatched this morning, so only logistics can ask the carrier to redirect it (fee 4.95).")
    ending(S, c, outcome, (None, "It's already with the carrier, and a redirect isn't possible for this service.",
                           "redirect impossible"),
           (None, "logistics", "carrier redirect after dispatch"), "Could you confirm the postcode of the new address?")

STORIES = {t: globals()["topic_" + t] for t in TOPICS}  # topic name -> the function that writes its story

# ==== Customers and their memory

def make_customers(rng, now, n=60):
    out, names, codes = [], set(), list(COUNTRIES)
    for i in range(1, n + 1):
        cc = rng.choices(codes, [COUNTRIES[k][0] for k in codes])[0]
        _, lang, cur, sym, firsts, lasts = COUNTRIES[cc]
        for _ in range(20):  # avoid two customers with the same name
            first, last = rng.choice(firsts), rng.choice(lasts)
            if f"{first} {last}" not in names:
                break
        names.add(f"{first} {last}")
        plan = rng.choices(["free", "plus", "business"], [45, 40, 15])[0]
        ltv = round(rng.uniform(*{"free": (0, 250), "plus": (120, 2600), "business": (900, 16000)}[plan]), 2)
        signup = now - TD(days=rng.randint(40, 2200))
        email = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
        email = email.lower().replace(" ", "").replace("'", "") + "@example.com"
        tier = "bronze" if ltv < 200 else "silver" if ltv < 1000 else "gold" if ltv < 5000 else "platinum"
        out.append(dict(ext=f"cust-{i:04d}", name=f"{first} {last}", first=first, country=cc, lang=lang, cur=cur,
                        sym=sym, plan=plan, signup=signup, last4=f"{rng.randint(0, 9999):04d}",
                        context={"plan": plan, "tier": tier, "language": lang, "country": cc, "email": email,
                                 "signup_date": ymd(signup), "lifetime_value": ltv}))
    return out

def make_memory(rng, now, customers):
    rows = []
    for c in customers:
        if rng.random() >= 0.5:  # about half the customers have memory
            continue
        keys = rng.sample(["preferred_contact", "open_issue", "last_refund", "tone_preference"], rng.randint(1, 3))
        for key in sorted(keys):
            if key == "preferred_contact":
                v = rng.choice([{"channel": "email", "address": c["context"]["email"]}, {"channel": "chat"},
                                {"channel": "phone", "hours": rng.choice(["after 18:00", "mornings", "9-17"])}])
            elif key == "open_issue":
                v = {"topic": rng.choice(["delivery", "warranty", "refund", "damage"]), "order_id": ref(rng, "ORD", 5),
                     "summary": rng.choice(["Replacement promised, not yet shipped", "Repair in progress",
                                            "Waiting for carrier investigation", "Refund pending inspection"]),
                     "since": ymd(now - TD(days=rng.randint(2, 20)))}
            elif key == "last_refund":
                v = {"order_id": ref(rng, "ORD", 5), "amount": round(rng.uniform(9, 180), 2), "currency": c["cur"],
                     "date": ymd(now - TD(days=rng.randint(20, 200))),
                     "reason": rng.choice(["damaged", "late_delivery", "changed_mind", "price_match"])}
            else:
                v = {"style": rng.choice(["concise", "formal", "friendly"]),
                     "note": rng.choice(["Gets annoyed by scripted apologies", "Prefers first names",
                                         "Likes step-by-step instructions", "Has complained about long holds before"])}
            rows.append((c["ext"], key, v, now - TD(days=rng.randint(0, 30), hours=rng.randint(0, 23))))
    return rows

# ==== Conversations

def context_for(rng, cust, channel, start):
    c = dict(first=cust["first"], cust=cust["ext"], cur=cust["cur"], sym=cust["sym"], plan=cust["plan"],
             country=cust["country"], last4=cust["last4"], channel=channel, order=ref(rng, "ORD", 5),
             carrier=rng.choice(CARRIERS), tracking=str(rng.randrange(10 ** 11, 10 ** 12)),
             street=rng.choice(STREETS), ship_fee=rng.choice([3.95, 4.99, 5.95, 6.50]),
             code=rng.randint(100000, 999999))  # a one-time verification code the customer reads out
    c["product"], c["price"] = rng.choice(PRODUCTS)
    c["ordered"] = start - TD(days=rng.randint(5, 20))
    c["delivered"] = c["ordered"] + TD(days=3)
    return c

def squeeze(S, start, limit=TD(minutes=39)):
    """Compress a story longer than limit (rare: a slow typist and a long hold), times still increasing."""
    span, prev = S.rows[-1][0] - start, start
    for r in S.rows if span > limit else []:
        r[0] = prev = max(start + (r[0] - start) * (limit / span), prev + TD(seconds=1)).replace(microsecond=0)

def make_conversation(rng, now, days, cust):
    # Offsets from --now are drawn without looking at the clock (no busy-hour weighting): a later --now
    # then shifts every conversation as a whole instead of drawing different ones.
    start = now - TD(seconds=rng.randint(3600, days * 86400))
    channel = rng.choices(list(CHANNELS), list(CHANNELS.values()))[0]
    topics = [t for t in TOPICS if not (t == "subscription" and cust["plan"] == "free")]
    topic = rng.choices(topics, [TOPICS[t][0] for t in topics])[0]
    outcome = rng.choices(OUTCOMES, TOPICS[topic][2])[0]
    c = context_for(rng, cust, channel, start)
    if outcome == "refund_issued" and c["price"] > 200 and rng.random() > 0.1:
        # Agents may refund up to 200 (policy refund-window); about 10% of these break the rule on purpose.
        c["product"], c["price"] = rng.choice([p for p in PRODUCTS if p[1] <= 200])
    S = Story(rng, start, c, pace=rng.uniform(0.6, 3.0) * {"chat": 1.0, "voice": 0.8, "email": 2.0}[channel])
    S.asides = rng.choices([0, 1, 2], [50, 35, 15])[0]
    if cust["lang"] != "en":
        S.system(f"Messages auto-translated from {cust['lang']} to en.")
    elif rng.random() < 0.3:
        S.system(f"Customer authenticated via {rng.choice(['app session', 'email link', 'caller ID'])}.")
    STORIES[topic](S, c, outcome)
    if outcome in ("resolved", "refund_issued"):
        wrap_up(S)
    first = next(r for r in S.rows if r[1:3] == ["message", "agent"])
    first[3] = S.pick(GREETING[channel]) + " " + first[3]  # the bot's first reply opens with a greeting
    squeeze(S, start)
    assert 6 <= len(S.rows) <= 30, (topic, outcome, len(S.rows))
    end = max(S.rows[-1][0] + TD(seconds=rng.randint(5, 60)), start + TD(seconds=rng.randint(180, 300)))
    meta = {"queue": TOPICS[topic][1], "language": cust["lang"], "topic": topic}
    if topic in ORDER_TOPICS:
        meta["order_id"] = c["order"]
    return dict(cust=cust["ext"], channel=channel, meta=meta, status="terminated", outcome=outcome, start=start,
                end=end, rows=S.rows, topic=topic)

# ==== Live conversations: active, stopped where an agent would be asked what to do next.

def live_refund_damaged(S, c):
    S.customer("Hi, the {product} I got on {d_delivered} is broken. The glass is cracked straight across.")
    S.agent("I'm really sorry, {first}. What's the order number?")
    S.customer("{order}")
    order_lookup(S, c)
    S.agent("Thanks. Could you upload a photo of the damage?")
    S.customer("I've uploaded it. I don't want a replacement, I want my {amt} back.")
    S.agent("I understand. Let me check what I can do.")
    S.customer("You said that last time as well. This is the second broken one. I'm really losing patience here.")

def live_billing_odd_hour(S, c):
    S.customer("I've been charged twice for order {order} - {amt} two times on my card ending {last4}.")
    S.agent("Sorry about that, {first}. Let me look.")
    S.tool("lookup_payments", {"order_id": c["order"]}, {"currency": c["cur"], "charges": [
        {"amount": c["price"], "status": "captured"}, {"amount": c["price"], "status": "captured"}]})
    S.agent("I can see two captured charges of {amt}. Duplicate charges are handled by billing.")
    if is_open("billing", S.t):  # whether billing is open depends on --now; the wording follows it
        S.customer("I need to speak to a person in billing right now. Can you put me through?")
    else:
        S.customer("I know it's outside office hours, but I need someone in billing now. Can you put me through?")

def live_locked_account(S, c):
    S.customer("My account got locked and I just got an email saying my password was changed. I didn't do that!")
    S.agent("That sounds worrying, {first}. I'll help. First I need to verify it's you.")
    S.tool("send_verification_code", {"customer": c["cust"], "channel": "sms"}, {"sent": True})
    S.customer("The code is {code}. Please hurry, my card is saved on that account.")
    S.tool("verify_identity", {"customer": c["cust"], "method": "sms_code"}, {"verified": True})
    S.tool("lookup_account", {"customer": c["cust"]}, {"locked": True, "failed_attempts": 7,
           "password_changed_minutes_ago": 14, "last_login_country": "RO", "card_on_file_last4": c["last4"]})
    S.customer("So what now? Has someone been buying stuff with my card?")

def live_late_delivery(S, c):
    S.customer("My parcel ({order}) was meant to arrive on {d_promised}. Still nothing.")
    S.agent("Let me check that for you, {first}.")
    S.tool("check_shipment", {"order_id": c["order"]}, {"carrier": c["carrier"], "status": "in_transit",
           "promised_date": ymd(c["promised"]), "days_late": c["late"]})
    S.agent("It's with {carrier} and {late} days late, sorry about that.")
    S.customer("What compensation do I get? I paid {amt} and extra for shipping.")

def live_cancel_and_delete(S, c):
    S.customer("I want to cancel my {plan} subscription and have all my data deleted.")
    S.agent("I can help with both, {first}. Let me check your subscription first.")
    S.tool("lookup_subscription", {"customer": c["cust"]}, {"plan": c["plan"], "status": "active",
           "currency": c["cur"],
           "renewed_on": ymd(S.start - TD(days=3)), "price": {"plus": 12.99, "business": 49.00}[c["plan"]],
           "used_since_renewal": False})
    S.customer("And I want the renewal from 3 days ago refunded. I never used it.")
    S.agent("Understood. Before I cancel anything, can I ask why you're leaving?")
    S.customer("Honestly the price. And I don't want you keeping my details after this.")

LIVE = [("refund", "billing", live_refund_damaged), ("billing", "billing", live_billing_odd_hour),
        ("security", "fraud & security", live_locked_account), ("delivery", "logistics", live_late_delivery),
        ("subscription", "retention", live_cancel_and_delete)]

def make_live(rng, now, i, cust):
    topic, queue, write = LIVE[(i - 1) % len(LIVE)]  # live-6 and on repeat the scenarios with other customers
    start = now - TD(minutes=rng.randint(8, 30), seconds=rng.randint(0, 59))
    channel = "voice" if topic == "billing" else "chat"
    c = context_for(rng, cust, channel, start)
    c["late"] = rng.randint(4, 8)
    c["promised"], c["delivered"] = start - TD(days=c["late"]), start - TD(days=2)
    S = Story(rng, start, c)
    write(S, c)
    squeeze(S, start, limit=now - TD(seconds=rng.randint(10, 90)) - start)  # nothing in the future
    meta = {"queue": queue, "language": cust["lang"], "topic": topic}
    if topic not in ("security", "subscription"):
        meta["order_id"] = c["order"]
    return dict(ext=f"live-{i}", cust=cust["ext"], channel=channel, meta=meta, status="active", outcome=None,
                start=start, end=None, rows=S.rows, topic=topic)

# ==== SQL output

def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, (dict, list)):
        v = json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
    return "'" + str(v).replace("'", "''") + "'"

def values(rows):
    return ",\n".join("  (" + ", ".join(rows_) + ")" for rows_ in rows)

def emit(w, args, now, customers, memory, convs):
    w(f"-- procedural_agent demo data: demo/generate.py --seed {args.seed} --conversations {args.conversations} "
      f"--days {args.days} --live {args.live} --now {now:%Y-%m-%dT%H:%M:%SZ}\n"
      "SET client_encoding = 'UTF8';\nSET client_min_messages = warning;\nBEGIN;\n\n"
      "-- Loading again replaces the previous demo rows (matched by their external ids).\n"
      "DELETE FROM pa.conversations WHERE external_id ~ '^(conv|live)-[0-9]+$';\n"
      "DELETE FROM pa.customers WHERE external_id ~ '^cust-[0-9]{4}$';\n\n"
      "CREATE SCHEMA IF NOT EXISTS demo;\nDROP TABLE IF EXISTS demo.policies, demo.ops_lines;\n"
      "CREATE TABLE demo.policies (ref text PRIMARY KEY, topic text NOT NULL, title text NOT NULL,\n"
      "    body text NOT NULL);\n"
      "CREATE TABLE demo.ops_lines (name text PRIMARY KEY, skills text[] NOT NULL, opens time NOT NULL,\n"
      "    closes time NOT NULL, days int[] NOT NULL /* ISO weekdays, 1 = Monday */, timezone text NOT NULL,\n"
      "    extension text NOT NULL);\n")
    w("INSERT INTO demo.policies VALUES\n" + values([map(q, p) for p in POLICIES]) + ";\n")
    w("INSERT INTO demo.ops_lines VALUES\n" + values(
        [q(n), "ARRAY[" + ", ".join(map(q, s)) + "]", q(o), q(cl), f"'{{{','.join(map(str, d))}}}'", q(tz), q(e)]
        for n, s, o, cl, d, tz, e in OPS_LINES) + ";\n\n")
    w("INSERT INTO pa.customers (external_id, name, context, created_at) VALUES\n" + values(
        [q(c["ext"]), q(c["name"]), q(c["context"]), q(ts(c["signup"]))] for c in customers) + ";\n\n")
    if memory:
        w("INSERT INTO pa.customer_memory (customer_id, key, value, updated_at)\n"
          "SELECT cu.id, v.key, v.value::jsonb, v.at::timestamptz FROM (VALUES\n" +
          values([q(e), q(k), q(v), q(ts(t))] for e, k, v, t in memory) +
          ") AS v(cust, key, value, at)\n  JOIN pa.customers cu ON cu.external_id = v.cust;\n\n")
    # Conversations and events in one transaction: the termination trigger queues agent runs that the
    # worker only reads after commit, by which time every event is there. ORDER BY: ids follow start times.
    for i in range(0, len(convs), 200):
        w("INSERT INTO pa.conversations\n"
          "    (external_id, customer_id, channel, metadata, status, outcome, started_at, ended_at)\n"
          "SELECT v.ext, cu.id, v.channel, v.meta::jsonb, v.status, v.outcome, v.started::timestamptz,\n"
          "       v.ended::timestamptz\n  FROM (VALUES\n" + values(
              [q(c["ext"]), q(c["cust"]), q(c["channel"]), q(c["meta"]), q(c["status"]), q(c["outcome"]),
               q(ts(c["start"])), q(c["end"] and ts(c["end"]))] for c in convs[i:i + 200]) +
          ") AS v(ext, cust, channel, meta, status, outcome, started, ended)\n"
          "  JOIN pa.customers cu ON cu.external_id = v.cust ORDER BY v.started, v.ext;\n\n")
    # seq is explicit (the trigger then keeps last_event_seq = max(seq)): rows from a join would not
    # reach the trigger in VALUES order, so trigger-assigned numbers could scramble a conversation.
    events = [(c["ext"], seq, r) for c in convs for seq, r in enumerate(c["rows"], 1)]
    for i in range(0, len(events), 500):
        rows = ([q(e), str(seq), q(ts(r[0]))] + [q(x) for x in r[1:]] for e, seq, r in events[i:i + 500])
        w("INSERT INTO pa.events\n"
          "    (conversation_id, seq, occurred_at, kind, role, content, name, tool_call_id, payload)\n"
          "SELECT c.id, v.seq, v.at::timestamptz, v.kind, v.role, v.content, v.name, v.call,\n"
          "       coalesce(v.payload::jsonb, '{}')\n  FROM (VALUES\n" + values(rows) +
          ") AS v(conv, seq, at, kind, role, content, name, call, payload)\n"
          "  JOIN pa.conversations c ON c.external_id = v.conv ORDER BY c.id, v.seq;\n\n")
    w("COMMIT;\n\n")
    done = [c for c in convs if c["status"] == "terminated"]
    w(f"-- Summary: {len(customers)} customers, {len(memory)} memory rows, {len(done)} terminated and "
      f"{len(convs) - len(done)} active conversations, {len(events)} events.\n")
    for key in ("outcome", "channel", "topic"):
        counts = sorted(Counter(c[key] for c in done).items(), key=lambda kv: (-kv[1], kv[0]))
        w(f"--   terminated by {key}: " + ", ".join(f"{k} {n}" for k, n in counts) + "\n")

def parse_now(s):
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--conversations", type=int, default=300, help="terminated conversations (default 300)")
    p.add_argument("--days", type=int, default=14, help="spread over the last N days (default 14)")
    p.add_argument("--live", type=int, default=5, help="active conversations live-1..live-N (default 5)")
    p.add_argument("--now", type=parse_now, help="anchor of every timestamp, ISO 8601, naive = UTC "
                   "(default: the current UTC time truncated to the hour)")
    args = p.parse_args()
    if args.conversations < 0 or args.live < 0 or args.days < 1:
        p.error("--conversations and --live must be >= 0, --days >= 1")
    now = args.now or dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    # Randomness comes from the seed only. Each conversation has its own generator (string seeds are
    # hashed with SHA-512, stable across runs), so the few branches that depend on the wall clock
    # (is an ops line open at the time of a transfer?) cannot change any other conversation.
    rng = random.Random(args.seed)
    customers = make_customers(rng, now)
    memory = make_memory(rng, now, customers)
    # A skewed pick: a few customers come back many times, most once or twice.
    regulars = rng.sample(customers, len(customers))
    weights = [1 / (i + 1) ** 0.4 for i in range(len(regulars))]
    convs = [make_conversation(random.Random(f"{args.seed}/conv/{k}"), now, args.days,
                               rng.choices(regulars, weights)[0]) for k in range(args.conversations)]
    convs.sort(key=lambda c: c["start"])  # conv-0001 is the oldest
    for i, c in enumerate(convs, 1):
        c["ext"] = f"conv-{i:0{max(4, len(str(args.conversations)))}d}"
    paying = [c for c in customers if c["plan"] != "free"]  # live-5 is about a paid subscription
    convs += [make_live(random.Random(f"{args.seed}/live/{i}"), now, i, rng.choice(paying))
              for i in range(1, args.live + 1)]
    sys.stdout.reconfigure(encoding="utf-8")
    try:
        emit(sys.stdout.write, args, now, customers, memory, convs)
    except BrokenPipeError:  # generate.py | head: stop quietly
        sys.stderr.close()

if __name__ == "__main__":
    main()
