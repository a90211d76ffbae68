"""The email benchmark's peer: Python with Jinja2 and smtplib.

Renders the same order confirmation as Aftercare (programmes/templates/order_confirmation.toml,
the same HTML layout crates/engine/src/layout.html.j2) for N customers, builds a text + HTML
email with the standard library's email package, and sends each over one SMTP connection,
the way a Python mailing script does. Prints JSON with the time taken.

Usage: jinja_smtplib.py N HOST PORT ROOT
"""

import json
import smtplib
import sys
import time
import tomllib
from email.message import EmailMessage
from email.utils import formatdate

import jinja2
from markupsafe import Markup, escape


def money(cents):
    euros, rest = divmod(int(cents), 100)
    return f"€ {euros:,}".replace(",", ".") + f",{rest:02d}"


def tidy(text):
    out, blank = [], True
    for line in (l.rstrip() for l in text.splitlines()):
        if not line:
            if not blank:
                out.append("")
            blank = True
        else:
            out.append(line)
            blank = False
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def linkify(line):
    """The layout's `linkify`: the line escaped, each web address in it a link (as the
    worker does for a message that tracks no clicks)."""
    words = []
    for word in line.split(" "):
        if word.startswith(("https://", "http://")):
            url = word.rstrip(".,;:!?)")
            words.append(f'<a href="{escape(url)}" style="color:inherit;">{escape(url)}</a>'
                         f"{escape(word[len(url):])}")
        else:
            words.append(str(escape(word)))
    return Markup(" ".join(words))


def blocks(text):
    result = []
    for p in text.split("\n\n"):
        if not p.strip():
            continue
        lines = p.splitlines()
        if all(l.startswith("- ") for l in lines):
            result.append({"list": [l[2:] for l in lines]})
        else:
            result.append({"lines": lines})
    return result


def main():
    n, host, port, root = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(f"{root}/programmes/templates/order_confirmation.toml", "rb") as f:
        template = tomllib.load(f)["nl-NL"]
    with open(f"{root}/crates/engine/src/layout.html.j2") as f:
        layout_source = f.read()
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
    env.filters["money"] = money
    subject_t = env.from_string(template["subject"])
    body_t = env.from_string(template["body"])
    layout_env = jinja2.Environment(autoescape=True)
    layout_env.filters["linkify"] = linkify
    layout = layout_env.from_string(layout_source)
    brand = {
        "name": "Loopwerk", "sender_email": "hallo@loopwerk.example",
        "primary_colour": "#0b5d4b", "accent_colour": "#f2a900", "logo_url": "",
        "contact_email": "klantenservice@loopwerk.example", "contact_phone": "+31 20 123 4567",
        "contact_hours": "ma–za 8:00–20:00",
        "font_family": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    }
    names = {"LW-STRIDE-4": "Stride 4", "LW-SOCK-3": "Hardloopsok (3 paar)"}
    started = time.perf_counter()
    smtp = smtplib.SMTP(host, port)
    for i in range(n):
        lines = [
            {"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995},
            {"sku": "LW-SOCK-3", "quantity": 2, "unit_price_cents": 1295},
        ]
        for line in lines:
            line["name"] = names[line["sku"]]
        ctx = {
            "greeting": "Beste Jan,", "formal": False, "brand": brand,
            "order": {
                "external_id": f"W{i}", "delivery_method": "home_delivery", "lines": lines,
                "total_cents": sum(l["quantity"] * l["unit_price_cents"] for l in lines),
            },
        }
        subject = " ".join(subject_t.render(ctx).split())
        body = tidy(body_t.render(ctx))
        html = layout.render(brand=brand, locale="nl-NL", subject=subject,
                             blocks=blocks(body), links={})
        msg = EmailMessage()
        msg["From"] = f"{brand['name']} <{brand['sender_email']}>"
        msg["Reply-To"] = "klantenservice@loopwerk.example"
        msg["To"] = f"klant{i}@example.nl"
        msg["Subject"] = subject
        msg["Message-ID"] = f"<msg-{i}@loopwerk.example>"
        msg["Date"] = formatdate(localtime=False)
        msg.set_content(body)
        msg.add_alternative(html, subtype="html")
        smtp.send_message(msg)
    smtp.quit()
    seconds = time.perf_counter() - started
    print(json.dumps({"messages": n, "connections": 1, "seconds": round(seconds, 4)}))


if __name__ == "__main__":
    main()
