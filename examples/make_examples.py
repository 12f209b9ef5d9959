"""Write examples/replies.jsonl: AI replies of "Lumen Bookings", a fictional scheduling app.

Reproducible (fixed seed and dates). A few replies of each failure auditbot detects are planted:
an unfilled placeholder, a reply sent twice, a greeting with another customer's name, the wrong
plan, a stale help-centre article; some replies also carry a low CSAT.

    python examples/make_examples.py            # writes examples/replies.jsonl
    python examples/make_examples.py -n 500 --out /tmp/replies.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)  # Monday; five working days follow
DAYS = 5
PLANS = ["Free", "Plus", "Team", "Enterprise"]  # the default [detectors] plans
KB = "https://help.lumenbookings.example/articles/"

FIRST = ["Amara", "Bruno", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Kalani", "Lucía", "Malik", "Noor", "Oskar", "Priya", "Quentin", "Rosa", "Søren", "Talia",
         "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoé"]  # fmt: skip
LAST = ["Abbott", "Bianchi", "Castillo", "Dubois", "Eriksen", "Fischer", "García", "Haddad",
        "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov"]  # fmt: skip

# (intent, template_id, customer message, reply body, kb article id); {plan} is the customer's.
TOPICS = [
    ("billing", "invoice_copy", "Where can I download last month's invoice?",
     "You can download every invoice under Settings > Billing > Invoices. Each one is a PDF with "
     "your company details, and your {plan} plan invoices are kept for seven years.", "kb-201"),
    ("billing", "refund_window", "I was charged for a year but only wanted a month. Refund?",
     "Annual payments can be refunded within 14 days of the charge. I've passed your request to "
     "our billing team; you'll get a confirmation email once it is processed.", "kb-202"),
    ("plans", "seat_limits", "How many staff calendars can we connect?",
     "Your {plan} plan includes the staff calendars listed on our pricing page. If you need more, "
     "you can add seats from Settings > Plan at any time.", "kb-203"),
    ("calendar", "google_sync", "My Google Calendar events don't show up in Lumen.",
     "Please reconnect Google Calendar under Integrations > Calendars and allow the 'See and edit "
     "events' permission. New events then sync within two minutes.", "kb-204"),
    ("calendar", "timezone_shift", "All my bookings appear one hour late since Sunday.",
     "That usually means the booking page time zone differs from your account's. Set both under "
     "Settings > Regional, and existing bookings will be shown at the right time.", "kb-205"),
    ("account", "password_reset", "I can't log in, the reset email never arrives.",
     "I've sent a fresh reset link. If it isn't in your inbox within five minutes, please check "
     "the spam folder and add no-reply@lumenbookings.example to your contacts.", "kb-206"),
    ("bookings", "reminder_sms", "Can clients get an SMS reminder before appointments?",
     "Yes: turn on SMS reminders under Notifications > Client reminders and choose how many hours "
     "before the appointment they go out. Your {plan} plan includes a monthly SMS allowance.",
     "kb-207"),
    ("bookings", "cancel_policy", "How do I stop clients cancelling at the last minute?",
     "Set a cancellation window under Booking rules: clients then can't cancel online within that "
     "many hours of the appointment, and you can require a deposit too.", "kb-208"),
]  # fmt: skip
SIGN_OFF = ["Best wishes,\nLumen Bookings Support", "Kind regards,\nThe Lumen team", "Cheers,\nLumen Support"]
GREETING = ["Hi {name},", "Hello {name},", "Hey {name}!", "Dear {name},"]
PLACEHOLDERS = ["{{first_name}}", "[CUSTOMER_NAME]", "%FIRST_NAME%", "${customer.first_name}"]


def build(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    customers = [
        {
            "id": f"LC-{300 + i}",
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "email": f"client{300 + i}@example.org",
            "plan": rng.choice(PLANS),
        }
        for i in range(max(40, n // 3))
    ]
    records: list[dict] = []
    ticket = 7000
    while len(records) < n:
        ticket += 1
        customer = rng.choice(customers)
        when = START + dt.timedelta(days=rng.randrange(DAYS), minutes=rng.randrange(11 * 60))
        records.extend(_ticket(rng, ticket, customer, customers, when))
    records = records[:n]
    records.sort(key=lambda r: r["created_at"])
    for number, record in enumerate(records, 1):
        record["id"] = f"LB-{number:05d}"
    return records


def _ticket(rng: random.Random, ticket: int, customer: dict, customers: list[dict], when: dt.datetime):
    failure = rng.choices(
        ["none", "placeholder", "duplicate", "name", "plan", "stale_kb"], [80, 4, 4, 4, 4, 4]
    )[0]
    topics = [t for t in TOPICS if "{plan}" in t[3]] if failure == "plan" else TOPICS
    intent, template, question, body, article = rng.choice(topics)
    first = customer["name"].split()[0]
    plan = customer["plan"]
    greeted = first
    if failure == "placeholder":
        greeted = rng.choice(PLACEHOLDERS)
    elif failure == "name":
        greeted = rng.choice([c for c in customers if c["name"].split()[0] != first])["name"].split()[0]
    text_plan = plan
    if failure == "plan":
        text_plan = rng.choice([p for p in PLANS if p != plan])
    reply = "\n\n".join(
        [
            rng.choice(GREETING).format(name=greeted),
            body.format(plan=text_plan),
            f"More in our help centre: {KB}{article}",
            rng.choice(SIGN_OFF),
        ]
    )
    updated = when.date() - dt.timedelta(days=rng.randrange(5, 120))
    if failure == "stale_kb":
        updated = when.date() - dt.timedelta(days=rng.randrange(200, 500))
    csat = rng.choice([None, None, 3, 4, 5, 5])
    if rng.random() < 0.06 or (failure != "none" and rng.random() < 0.4):
        csat = rng.choice([1, 2])
    record = {
        "id": "",
        "source": "example",
        "ticket_id": f"LT-{ticket}",
        "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ticket_url": f"https://lumenbookings.example/desk/tickets/{ticket}",
        "customer": customer,
        "customer_message": question,
        "reply": reply,
        "template_id": template,
        "kb_articles": [{"id": article, "url": KB + article, "updated_at": updated.isoformat()}],
        "channel": rng.choice(["email", "chat", "chat", "web"]),
        "intent": intent,
        "language": "en",
        "csat": csat,
    }
    out = [record]
    if failure == "duplicate":
        again = when + dt.timedelta(minutes=rng.randrange(3, 90))
        out.append({**record, "created_at": again.strftime("%Y-%m-%dT%H:%M:%SZ"), "csat": 1})
    elif rng.random() < 0.15:
        # A legitimate follow-up on the same ticket: different text, not a duplicate.
        later = when + dt.timedelta(hours=rng.randrange(1, 6))
        follow = f"Hi {first},\n\nJust checking in: did that solve it? Reply here if not.\n\n" + rng.choice(
            SIGN_OFF
        )
        out.append(
            {**record, "created_at": later.strftime("%Y-%m-%dT%H:%M:%SZ"), "reply": follow, "csat": None}
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="number of replies (default 300)")
    parser.add_argument("--seed", type=int, default=48)
    parser.add_argument("--out", type=Path, default=HERE / "replies.jsonl")
    args = parser.parse_args()
    records = build(args.n, args.seed)
    with args.out.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(
                json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False) + "\n"
            )
    print(f"wrote {len(records)} replies to {args.out}")


if __name__ == "__main__":
    main()
