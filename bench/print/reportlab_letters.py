"""The peer for bench/print: N one-page letters into one PDF with reportlab, laid out as
Aftercare lays them out (A4, DejaVu Sans embedded, wordmark, return address and address in
the DIN 5008 window, date, subject, wrapped body, footer). Prints JSON with the time taken."""
import json, sys, time
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

BODY = ("Beste {name},\n\nOnlangs ging er iets mis met je bestelling. Je klacht is opgelost, maar we "
        "wilden het niet bij een e-mail laten: bij deze kaart zit een reep chocola, met onze excuses.\n\n"
        "Bedankt dat je het ons liet weten. Zo worden we beter, en hopen we je nog vaak te zien.\n\n"
        "Sportieve groet,\nTeam Loopwerk")

def main():
    n = int(sys.argv[1]); fonts = sys.argv[2]; out = sys.argv[3]
    pdfmetrics.registerFont(TTFont("DejaVu", f"{fonts}/DejaVuSans.ttf"))
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", f"{fonts}/DejaVuSans-Bold.ttf"))
    width, height = A4
    started = time.perf_counter()
    c = canvas.Canvas(out, pagesize=A4)
    y = lambda v: height - v * mm
    for i in range(n):
        name = f"Klant {i}"
        c.setFillColorRGB(0x0b / 255, 0x5d / 255, 0x4b / 255)
        c.setFont("DejaVu-Bold", 20)
        c.drawRightString(190 * mm, y(28), "Loopwerk")
        c.rect(25 * mm, y(33), 165 * mm, 0.6, stroke=0, fill=1)
        c.setFillColorRGB(0x1d / 255, 0x1d / 255, 0x1b / 255)
        c.setFont("DejaVu", 7)
        c.drawString(25 * mm, y(51), "Loopwerk · Postbus 1234 · 1000 AB Amsterdam")
        c.setFont("DejaVu", 10)
        for k, line in enumerate([name, f"Kerkstraat {i % 300 + 1}", "1012 AB  AMSTERDAM"]):
            c.drawString(25 * mm, y(60 + 5 * k), line)
        c.setFont("DejaVu", 10.5)
        c.drawString(25 * mm, y(105), "Amsterdam, 27 november 2026")
        c.setFont("DejaVu-Bold", 11.5)
        c.drawString(25 * mm, y(114), "Sorry, en bedankt")
        c.setFont("DejaVu", 10.5)
        line_no = 0
        for p, paragraph in enumerate(BODY.replace("{name}", name).split("\n\n")):
            if p:
                line_no += 1
            for raw in paragraph.split("\n"):
                for line in simpleSplit(raw, "DejaVu", 10.5, 165 * mm):
                    c.drawString(25 * mm, y(122) - line_no * 14.5, line)
                    line_no += 1
        c.setFont("DejaVu", 7.5)
        c.setFillColorRGB(0x5a / 255, 0x5a / 255, 0x55 / 255)
        c.drawString(25 * mm, y(284), "loopwerk.nl · 020 123 45 67 · klantenservice@loopwerk.nl")
        c.drawRightString(190 * mm, y(284), f"ref. {i}")
        c.showPage()
    c.save()
    seconds = time.perf_counter() - started
    print(json.dumps({"letters": n, "seconds": seconds}))

main()
