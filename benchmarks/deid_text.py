"""Benchmark of the report-text de-identifier: planted identifiers in real report sentences.

Builds N documents, each 3-6 real findings/impression sentences from the Open-i chest X-ray
reports (``tests/fetch_openi.py``; sentences holding the corpus's own "XXXX" masks are left out)
with 2-5 sentences carrying synthetic identifiers (``deid_pools.py``) between them, and measures
``scrub_text`` without and with a name list (the document's planted person names).

- Recall, per category: an identifier counts as found when every alphanumeric token of it lies
  wholly inside findings (token-overlap criterion: a partly removed identifier is a miss).
- Precision, per placeholder kind: a finding is right when it overlaps at least one character of
  a planted identifier.
- Real sentences: the untouched Open-i sentences of the same report half, scrubbed alone; every
  finding there is a false positive, and its alphanumeric tokens are clinical tokens lost.

Reports are split by number: the development seed draws from even-numbered reports, the
reported seed from odd-numbered ones, so the figures are on sentences never looked at while
writing the rules.

    python benchmarks/deid_text.py --seed 2 --n 600            # report (odd-numbered reports)
    python benchmarks/deid_text.py --seed 1 --n 600 --show 20  # develop (even), print misses
    python benchmarks/deid_text.py --seed 2 --dump docs.jsonl  # the documents, for other tools
    python benchmarks/deid_text.py --seed 2 --findings other.jsonl  # score another tool's spans
    python benchmarks/deid_text.py --seed 2 --unseen           # phrasings written after the rules froze
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent),
                str(Path(__file__).resolve().parents[1] / "tests")]  # this checkout's medmllm, the pools, fetch_openi
import deid_pools as P  # noqa: E402

# each template: text with <CATEGORY> slots; a slot's generator gives (surface, identifying part)
TEMPLATES = """Patient: <NAME>. MRN: <MRN>.
Patient name: <NAME_LF>   DOB: <DATE>
<NAME_CARET>
Findings discussed with Dr. <LAST> at <TIME> on <DATE>.
Results were called to dr. <LAST> by phone at <PHONE>.
Electronically signed by <NAME>, MD on <DATE>.
Signed: <NAME> MD
Dictated by <NAME>; transcribed by <NAME>.
Comparison is made to the study read by <NAME> on <DATE>.
The patient's daughter <FIRST> was present during the exam.
Seen by <FIRST_LOWER> <LAST_LOWER> in clinic.
<LAST> was notified of the results.
<NAME> is a <AGE> man referred for cough.
Results faxed to <NAME> at <PHONE>.
cc: <NAME>, <NAME>
Technologist: <NAME_INITIAL>
Wife <FIRST> <LAST> at bedside.
Mr. <LAST> tolerated the procedure well.
Mrs. <NAME> was accompanied by her son <FIRST>.
Patient <NAME> arrived from <HOSPITAL>.
Ordering provider: <NAME>, NP.
Referring physician: Dr. <NAME>, <HOSPITAL>.
Per <FIRST> from the ICU, the line was repositioned.
Discussed with <FIRST> <LAST> (radiology resident) on <DATE>.
The patient, <NAME>, is <AGE>.
Prior exam at <HOSPITAL> on <DATE> for comparison.
Transferred from <HOSPITAL> on <DATE>.
Outside films from <HOSPITAL> were reviewed.
The patient lives at <STREET>, <CITY_STATE_ZIP>.
Address: <STREET>, <CITY>.
Home address <STREET>.
She lives in <CITY> with her husband <FIRST>.
Patient recently travelled to <CITY>.
Resident of <CITY>, previously treated at <HOSPITAL>.
Mailing address P.O. Box <NUM4>, <CITY_STATE_ZIP>.
Date of birth <DATE>.
Exam date: <DATE>. Comparison: <DATE>.
Compared with the radiograph of <DATE>.
Follow-up CT on <DATE> is recommended.
Prior chest film dated <DATE> shows similar findings.
Symptoms began <DATE> and worsened by <DATE>.
Born in <YEAR>, diagnosed in <YEAR>.
Interval change since <DATE>.
Admitted <DATE>, discharged <DATE>.
Age: <AGE_NUM>.
A <AGE> woman with dyspnea.
Patient is <AGE>.
Contact number <PHONE>.
Call <PHONE> with questions.
Fax results to <PHONE>.
Pager <PHONE>.
E-mail: <EMAIL>.
Report sent to <EMAIL> on <DATE>.
Images available at <URL>.
Portal: <URL>
Uploaded from workstation <IP>.
PACS node <IP> received the study.
MRN <MRN>, accession number <ACC>.
Medical record number: <MRN>.
Account no. <ACCOUNT>.
Health plan member ID <PLAN>.
Medicare number <PLAN>.
Insurance policy no. <PLAN>.
Physician license #<LICENSE>, DEA <DEA>.
NPI <NPI>.
Pacemaker serial number <SERIAL>.
Device S/N <SERIAL>, model <MODEL>.
Implant serial <SERIAL> noted on the card.
Vehicle license plate <PLATE> recorded by EMS after the collision.
VIN <VIN> per the accident report.
SSN <SSN>.
Social security number <SSN>.
Photo on file: <PHOTO>.
Fingerprint ID <BIOID> verified at registration.
Retinal scan record <BIOID>.
Certificate number <LICENSE>.""".splitlines()

# Phrasings written after the rules were frozen and never run on the development seed: with
# --unseen they replace TEMPLATES, to measure how the rules carry over to new wording.
UNSEEN = """Pt <NAME> presented to the ED c/o chest pain.
Attending: <NAME>; resident: <NAME_INITIAL>.
Reading radiologist <NAME> reviewed the images with <FIRST>.
<FIRST> <LAST> (MRN <MRN>) returned for follow-up.
Images were reviewed with <NAME> over the phone.
Findings relayed to <NAME> (covering NP) at <TIME>.
The patient's son, <FIRST_LOWER>, will bring prior films from <HOSPITAL>.
Her brother <FIRST> lives in <CITY>.
Prior outside study performed <DATE> at <HOSPITAL>, <CITY_STATE_ZIP>.
Originally from <CITY>; now residing at <STREET>.
Compared to <DATE> and <DATE> studies.
Exam performed on <DATE> at <TIME>.
DOB: <DATE>. Age: <AGE_NUM>.
This <AGE> patient has a history of COPD.
Reached at home number <PHONE> or cell <PHONE>.
Send correspondence to <EMAIL>.
Remote read via <URL> from <IP>.
Claim number <ACCOUNT>; group number <PLAN>.
Prescriber DEA: <DEA>; state license no. <LICENSE>.
Insulin pump serial <SERIAL> interfered with the images.
Motor vehicle collision; plate number <PLATE>.
Patient ID photo <PHOTO> attached to the chart.""".splitlines()

PERSON_SLOTS = {"NAME", "NAME_LF", "NAME_CARET", "NAME_INITIAL", "LAST", "FIRST", "FIRST_LOWER", "LAST_LOWER"}
CATEGORY = {**{s: "name" for s in PERSON_SLOTS}, "DATE": "date", "TIME": "date", "YEAR": "date", "AGE": "age",
            "AGE_NUM": "age", "STREET": "address", "CITY": "city", "CITY_STATE_ZIP": "address",
            "NUM4": "address", "HOSPITAL": "hospital", "PHONE": "phone/fax", "EMAIL": "email", "URL": "url",
            "IP": "ip", "MRN": "record/account no.", "ACC": "record/account no.", "ACCOUNT": "record/account no.",
            "PLAN": "health plan no.", "LICENSE": "licence/certificate", "DEA": "licence/certificate",
            "NPI": "licence/certificate", "SERIAL": "device/serial", "MODEL": "device/serial", "PLATE": "vehicle",
            "VIN": "vehicle", "SSN": "ssn", "PHOTO": "photo/biometric", "BIOID": "photo/biometric"}


def _slot(r: random.Random, slot: str, people: list[str]) -> tuple[str, str]:
    """(surface text, identifying part) for one slot; person names are added to ``people``."""
    if slot in PERSON_SLOTS:
        style = {"NAME_LF": "lf", "NAME_CARET": "caret", "NAME_INITIAL": "il", "LAST": "l", "FIRST": "f",
                 "FIRST_LOWER": "f", "LAST_LOWER": "l"}.get(slot)
        form, first, last = P.name(r, style)
        if slot.endswith("_LOWER"):
            form = form.lower()
        people.append(f"{first} {last}")
        return form, form
    if slot in ("AGE", "AGE_NUM"):
        phrase, _ = P.age(r)
        num = re.search(r"\d+", phrase).group(0)
        return (num, num) if slot == "AGE_NUM" else (phrase, num)
    if slot == "PHOTO":
        v = r.choice([f"IMG_{P.digits(r, 4)}.jpg", f"patient_{P.digits(r, 6)}_face.png", f"DSC{P.digits(r, 5)}.JPG"])
        return v, v
    gen = {"DATE": lambda: P.date(r), "TIME": lambda: r.choice([f"{r.randint(1, 12)}:{r.randint(0, 59):02d} {r.choice(['am', 'pm', 'AM', 'PM'])}", f"{r.randint(0, 23):02d}{r.randint(0, 59):02d} hours", f"{r.randint(1, 12)}pm"]),
           "YEAR": lambda: str(r.randint(1925, 2023)), "STREET": lambda: P.street(r), "CITY": lambda: P.city(r),
           "CITY_STATE_ZIP": lambda: P.city_state_zip(r), "NUM4": lambda: str(r.randint(10, 99999)),
           "HOSPITAL": lambda: P.hospital(r), "PHONE": lambda: P.phone(r), "EMAIL": lambda: P.email(r),
           "URL": lambda: P.url(r), "IP": lambda: P.ip(r),
           "MRN": lambda: r.choice([P.digits(r, 8), "MR" + P.digits(r, 7), f"{P.digits(r, 3)}-{P.digits(r, 2)}-{P.digits(r, 3)}", P.alnum(r, 9)]),
           "ACC": lambda: r.choice(["ACC" + P.digits(r, 8), P.digits(r, 10), f"RAD-{P.digits(r, 6)}"]),
           "ACCOUNT": lambda: r.choice([f"{P.digits(r, 4)}-{P.digits(r, 4)}-{P.digits(r, 2)}", P.digits(r, 9)]),
           "PLAN": lambda: r.choice([P.alnum(r, 3, "ABCDEFGHJKLMNPRSTUVWXYZ") + P.digits(r, 9), f"{P.alnum(r, 4)}-{P.alnum(r, 3)}-{P.alnum(r, 4)}", f"BCX-{P.digits(r, 4)}-{P.digits(r, 2)}"]),
           "LICENSE": lambda: r.choice([f"MD-{P.digits(r, 5)}", f"{P.alnum(r, 2, 'ABCDEFGHJKLMNPRSTUVWXYZ')}{P.digits(r, 6)}", P.digits(r, 8)]),
           "DEA": lambda: P.alnum(r, 2, "ABCDEFGHJKLMNPRSTUVWXYZ")[:2].upper() + P.digits(r, 7),
           "NPI": lambda: P.digits(r, 10), "SERIAL": lambda: r.choice([f"SN{P.digits(r, 5)}{P.alnum(r, 2, 'XYZKQ')}", f"{P.digits(r, 4)}-AB-{P.digits(r, 4)}", P.alnum(r, 10), f"PJN{P.digits(r, 7)}"]),
           "MODEL": lambda: f"{P.digits(r, 4)}-{P.digits(r, 2)}", "PLATE": lambda: r.choice([f"{r.randint(1, 9)}{P.alnum(r, 3, 'ABCDEFGHJKLMNPRSTUVWXYZ')}{P.digits(r, 3)}", f"{P.alnum(r, 3, 'ABCDEFGHJKLMNPRSTUVWXYZ')}-{P.digits(r, 4)}"]),
           "VIN": lambda: P.alnum(r, 17), "SSN": lambda: f"{P.digits(r, 3)}-{P.digits(r, 2)}-{P.digits(r, 4)}",
           "BIOID": lambda: f"{r.choice(['FP', 'RS', 'BIO'])}-{P.digits(r, 5)}"}[slot]
    v = gen()
    return v, v


def real_sentences(half: int) -> list[str]:
    from fetch_openi import reports_dir

    d = reports_dir()
    if d is None:
        sys.exit("Open-i reports not found: run python tests/fetch_openi.py first")
    out = []
    for f in sorted(d.glob("*.xml"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0)):
        if int(re.sub(r"\D", "", f.stem) or 0) % 2 != half:
            continue
        xml = f.read_text(encoding="utf-8", errors="replace")
        for part in re.findall(r'<AbstractText Label="(?:FINDINGS|IMPRESSION)">(.*?)</AbstractText>', xml, re.S):
            out += [s.strip() for s in re.split(r"(?<=\.)\s+", part) if len(s.strip()) > 3 and "XXXX" not in s]
    return out


def build(seed: int, n: int, templates: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """n documents with planted identifiers, and the held-back real sentences of the same half."""
    templates = templates or TEMPLATES
    r = random.Random(seed)
    sentences = real_sentences(half=0 if seed % 2 else 1)
    r.shuffle(sentences)
    planted_pool, clean_pool = sentences[: len(sentences) // 2], sentences[len(sentences) // 2:]
    docs = []
    for k in range(n):
        text, spans, people = "", [], []
        parts = r.sample(planted_pool, r.randint(3, 6))
        for template in r.sample(templates, r.randint(2, 5)):
            parts.insert(r.randint(0, len(parts)), template)
        for part in parts:
            text += (" " if text else "")
            for piece in re.split(r"(<[A-Z_0-9]+>)", part):
                slot = piece[1:-1] if piece.startswith("<") and piece.endswith(">") else None
                if slot is None:
                    text += piece
                    continue
                surface, ident = _slot(r, slot, people)
                at = len(text) + surface.index(ident)
                spans.append({"cat": CATEGORY[slot], "start": at, "end": at + len(ident)})
                text += surface
        docs.append({"id": f"doc{seed}-{k}", "text": text, "spans": spans, "names": sorted(set(people))})
    return docs, clean_pool


_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _covered(findings: list[tuple[int, int]], a: int, b: int) -> bool:
    return any(fa <= a and b <= fb for fa, fb in findings)


def score(docs: list[dict], found: list[list[tuple[int, int, str]]]) -> dict:
    """Per-category recall (token-overlap criterion) and per-kind precision."""
    hit, total, misses = Counter(), Counter(), defaultdict(list)
    right, kinds = Counter(), Counter()
    for doc, finds in zip(docs, found):
        cover = [(a, b) for a, b, _ in finds]
        for s in doc["spans"]:
            total[s["cat"]] += 1
            toks = [(s["start"] + m.start(), s["start"] + m.end()) for m in _TOKEN.finditer(doc["text"][s["start"]:s["end"]])]
            if all(_covered(cover, a, b) for a, b in toks):
                hit[s["cat"]] += 1
            else:
                misses[s["cat"]].append((doc["text"][s["start"]:s["end"]], doc["text"][max(0, s["start"] - 40):s["end"] + 30]))
        for a, b, kind in finds:
            kinds[kind] += 1
            right[kind] += any(a < s["end"] and s["start"] < b for s in doc["spans"])
    return {"hit": hit, "total": total, "misses": misses, "right": right, "kinds": kinds}


def run_ours(texts: list[str], names: list[list[str]] | None) -> tuple[list, float]:
    from medmllm.deid.text import scrub_text

    t0 = time.perf_counter()
    out = [[(f.start, f.end, f.kind) for f in scrub_text(t, names=(names[i] if names else None))[1]]
           for i, t in enumerate(texts)]
    return out, time.perf_counter() - t0


def _table(without: dict, with_list: dict | None) -> str:
    rows = ["| category | n | recall | recall with name list |", "|---|---:|---:|---:|"]
    cats = sorted(without["total"])
    for c in cats + ["all"]:
        n = sum(without["total"].values()) if c == "all" else without["total"][c]
        h = sum(without["hit"].values()) if c == "all" else without["hit"][c]
        h2 = (sum(with_list["hit"].values()) if c == "all" else with_list["hit"][c]) if with_list else None
        rows.append(f"| {c} | {n} | {h / n:.3f} | {'' if h2 is None else f'{h2 / n:.3f}'} |")
    rows += ["", "| placeholder | findings | precision | with name list: findings | precision |", "|---|---:|---:|---:|---:|"]
    for k in sorted(without["kinds"]) + ["all"]:
        f = sum(without["kinds"].values()) if k == "all" else without["kinds"][k]
        ok = sum(without["right"].values()) if k == "all" else without["right"][k]
        f2 = (sum(with_list["kinds"].values()) if k == "all" else with_list["kinds"][k]) if with_list else 0
        ok2 = (sum(with_list["right"].values()) if k == "all" else with_list["right"][k]) if with_list else 0
        rows.append(f"| {k} | {f} | {ok / max(f, 1):.3f} | {f2 or ''} | {f'{ok2 / f2:.3f}' if f2 else ''} |")
    return "\n".join(rows)


def real_precision(sentences: list[str], found: list[list[tuple[int, int, str]]]) -> str:
    toks = sum(len(_TOKEN.findall(s)) for s in sentences)
    lost = sum(len(_TOKEN.findall(s[a:b])) for s, finds in zip(sentences, found) for a, b, _ in finds)
    changed = sum(bool(f) for f in found)
    kinds = Counter(k for finds in found for _, _, k in finds)
    return (f"{len(sentences)} real sentences, {toks} alphanumeric tokens: {changed} sentences changed "
            f"({changed / len(sentences):.2%}), {lost} tokens removed ({lost / toks:.3%}); findings by kind: "
            f"{dict(sorted(kinds.items()))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--real", type=int, default=2000, help="untouched real sentences to scrub")
    ap.add_argument("--show", type=int, default=0, help="print this many misses per category")
    ap.add_argument("--fp", type=int, default=0, help="print this many false positives on real sentences")
    ap.add_argument("--dump", help="write the documents and real sentences as JSONL and stop")
    ap.add_argument("--findings", help="score another tool: JSONL of [[start, end, kind], ...] per document")
    ap.add_argument("--unseen", action="store_true", help="use the phrasings never run while developing")
    args = ap.parse_args()
    docs, clean = build(args.seed, args.n, UNSEEN if args.unseen else None)
    clean = clean[: args.real]
    if args.dump:
        with open(args.dump, "w") as fh:
            for d in docs:
                fh.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
            for i, s in enumerate(clean):
                fh.write(json.dumps({"id": f"real-{i}", "text": s}) + "\n")
        return
    n_ids = sum(len(d["spans"]) for d in docs)
    print(f"seed {args.seed}: {len(docs)} documents, {n_ids} planted identifiers, {len(clean)} real sentences")
    if args.findings:
        rows = [json.loads(line) for line in open(args.findings)]
        found = [[tuple(x) for x in row["findings"]] for row in rows]
        print(_table(score(docs, found[: len(docs)]), None))
        print(real_precision(clean, found[len(docs):]))
        return
    found, dt = run_ours([d["text"] for d in docs], None)
    found_list, dt2 = run_ours([d["text"] for d in docs], [d["names"] for d in docs])
    a, b = score(docs, found), score(docs, found_list)
    print(_table(a, b))
    print(f"time: {dt:.1f} s without, {dt2:.1f} s with the name list ({sum(len(d['text']) for d in docs):,} characters)")
    real, dt3 = run_ours(clean, None)
    print(real_precision(clean, real), f"({dt3:.1f} s)")
    for cat, items in sorted(a["misses"].items()):
        for value, ctx in items[: args.show]:
            print(f"MISS {cat}: {value!r} in {ctx!r}")
    fps = [(s[x:y], k, s) for s, finds in zip(clean, real) for x, y, k in finds]
    for value, kind, s in fps[: args.fp]:
        print(f"FP {kind}: {value!r} in {s!r}")


if __name__ == "__main__":
    main()
