"""Surface-form generators for the de-identification benchmark (``deid_text.py``): synthetic
identifiers of every HIPAA Safe Harbor category that occurs in report text. All values are made
up; the name pools are written by hand across cultures, independently of the scrubber's lists.
"""
from __future__ import annotations

import random

FIRST = """James Mary Robert Linda Michael Susan Emily Daniel Olivia Ethan Grace Henry Chloe Jack Hannah Owen
Maria Jose Carmen Luis Ana Javier Sofia Diego Lucia Alejandro Valentina Mateo Camila Rafael Ximena Guadalupe
Wei Li Xiaoming Mei Jun Hui Yan Qiang Xin Jing Zhiwei Lan Hao Ying Bo Ming
Priya Arjun Ananya Rahul Deepika Sanjay Lakshmi Vikram Kavya Rohan Aarav Ishaan Meera Nikhil Sunita Rajesh
Mohammed Fatima Ahmed Aisha Omar Layla Yusuf Zainab Khalid Noor Hassan Mariam Tariq Salma Karim Huda
Chukwuemeka Ngozi Oluwaseun Adebayo Chiamaka Emeka Folake Obinna Yetunde Babatunde Amara Tunde Nneka Ifeoma
Minh Thanh Huong Tuan Linh Quang Phuong Duc Thu Hoang
Seo-yeon Min-jun Ji-woo Hyun Eun-ji Jae-won Soo-ah
Haruto Yui Sota Aoi Riku Hina Takeshi Yuki Kenji Sakura
Dmitri Olga Sergei Natalia Alexei Svetlana Ivan Tatiana Yuri Irina
Lukas Anna Jonas Lena Felix Greta Matthias Ursula Klaus Heike
Jean Camille Louis Margaux Antoine Chantal Thierry Elodie
Wojciech Agnieszka Krzysztof Malgorzata Tomasz
Giorgos Eleni Dimitrios Konstantina
Mehmet Ayse Emre Zeynep Burak
Abdi Hodan Farah Ayaan
Maricel Jericho Rowena Danilo
Siobhan Padraig Niamh Eoin
Tesfaye Almaz Dawit Selam""".split()

LAST = """Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin Jackson White
Harris Clark Lewis Walker Hall Young King Wright Hill Green Baker Nelson Carter Mitchell Roberts Turner Phillips
Garcia Rodriguez Martinez Hernandez Lopez Gonzalez Perez Sanchez Ramirez Torres Flores Rivera Gomez Diaz Cruz
Morales Reyes Gutierrez Ortiz Castillo Jimenez Vargas Mendoza Ruiz Alvarez Romero Herrera Medina Aguilar
Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Gao Luo Zheng Liang Xie Tang
Patel Sharma Singh Kumar Gupta Reddy Iyer Nair Rao Menon Chatterjee Banerjee Mukherjee Desai Joshi Kapoor
Pillai Krishnan Venkataraman Subramanian Raman Bhattacharya Agarwal Malhotra
Hassan Ali Khan Ahmed Ibrahim Mahmoud Abdullah Haddad Nasser Saleh Farouk Aziz Rahman Hussein Qureshi Siddiqui
Okafor Okonkwo Adeyemi Oyelaran Nwosu Eze Chukwu Obi Balogun Adebayo Okeke Onyeka Afolabi Oladipo Nwachukwu
Nguyen Tran Le Pham Hoang Phan Vu Dang Bui Do Ngo Duong Ly
Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim
Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato
Ivanov Smirnov Kuznetsov Popov Sokolov Lebedev Kozlov Novikov Morozov Volkov
Muller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann
Dubois Lefebvre Moreau Laurent Girard Fontaine Rousseau Mercier
Kowalski Nowak Wisniewski Wojcik Kaminski
Papadopoulos Georgiou Nikolaidis Antoniou
Yilmaz Kaya Demir Sahin Celik
Mohamud Warsame Abdirahman Osman
Santos Reyes Dela-Cruz Bautista Villanueva
O'Brien Murphy Kelly O'Sullivan Walsh McCarthy
Tadesse Bekele Haile Gebremedhin""".split()

CITIES = """Springfield Riverside Fairview Franklin Greenville Bristol Clinton Madison Georgetown Salem Ashland Burlington
Dayton Fresno Tulsa Omaha Boise Spokane Tacoma Reno Akron Toledo Lansing Savannah Lubbock Modesto Durham Provo
Houston Chicago Phoenix Philadelphia Seattle Denver Boston Nashville Portland Detroit Memphis Baltimore Atlanta
Lagos Mumbai Shenzhen Hanoi Manila Nairobi Cairo Karachi Dhaka Lima Bogota Toronto Leeds Lyon Krakow Izmir""".split()
CITIES += ["San Antonio", "Los Angeles", "New Orleans", "Salt Lake City", "Cedar Rapids", "Fort Wayne", "St. Louis",
           "Ho Chi Minh City", "Rio de Janeiro", "Santa Fe", "Grand Rapids", "El Paso"]
STATES = ["MA", "NY", "CA", "TX", "IL", "OH", "GA", "WA", "MN", "NC", "MI", "FL", "AZ", "Pennsylvania", "Oregon",
          "Virginia", "Texas"]
STREET_NAMES = """Elm Oak Maple Cedar Pine Main Washington Lincoln Jefferson Park Lake Hill Church Mill River Sunset
Willow Chestnut Highland Meadow Forest Spring Valley Orchard Birch Cherry Walnut Franklin Madison Prospect""".split()
STREET_SUFFIX = ["Street", "St.", "Avenue", "Ave", "Road", "Rd.", "Boulevard", "Blvd", "Lane", "Drive", "Court",
                 "Way", "Place", "Terrace", "Circle", "Parkway", "Highway"]
HOSP_WORDS = ["General", "Memorial", "Regional", "Community", "University", "Children's", "Medical", "County",
              "Baptist", "Methodist", "Presbyterian", "Mercy", "Good Samaritan", "Sacred Heart", "Providence"]
HOSP_HEADS = ["Hospital", "Medical Center", "Clinic", "Health Center", "Infirmary", "Hospital Center",
              "Health System", "Cancer Institute", "Rehabilitation Center", "Nursing Home"]
SAINTS = ["Mary's", "Luke's", "Vincent's", "Joseph's", "Elizabeth's", "Francis", "Jude", "Anthony's", "Catherine's"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DOMAINS = ["gmail.com", "yahoo.com", "hospital.org", "mercyhealth.org", "uni-klinik.de", "nhs.net", "outlook.com",
           "clinic.co.uk", "med.example.edu"]


def case(r: random.Random, s: str) -> str:
    """Keep, lower or upper a value's case (70 / 20 / 10 %)."""
    x = r.random()
    return s if x < 0.7 else s.lower() if x < 0.9 else s.upper()


def name(r: random.Random, style: str | None = None) -> tuple[str, str, str]:
    """(surface form, first, last): "First Last", "Last, First", "LAST^FIRST", "F. Last", "First M. Last", ..."""
    f, last = r.choice(FIRST), r.choice(LAST)
    style = style or r.choice(["fl", "fl", "fl", "lf", "caret", "il", "fml", "f", "l"])
    form = {"fl": f"{f} {last}", "lf": f"{last}, {f}", "caret": f"{last.upper()}^{f.upper()}",
            "il": f"{f[0]}. {last}", "fml": f"{f} {r.choice('ABCDEJKLMRST')}. {last}", "f": f, "l": last}[style]
    return (form if style == "caret" else case(r, form)), f, last


def date(r: random.Random) -> str:
    y, m, d = r.randint(1931, 2024), r.randint(1, 12), r.randint(1, 28)
    ord_ = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(d, "th")
    forms = [f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}", f"{m:02d}/{d:02d}/{y % 100:02d}", f"{d:02d}.{m:02d}.{y}",
             f"{MONTHS[m - 1]} {d}, {y}", f"{d} {MONTHS[m - 1]} {y}", f"{ABBR[m - 1]} {d}", f"{d}-{ABBR[m - 1]}-{y}",
             f"{m}/{d}", f"{MONTHS[m - 1]} {y}", f"{y}", f"{d}{ord_} of {MONTHS[m - 1]}", f"{ABBR[m - 1]}. {d}{ord_}",
             f"{y}{m:02d}{d:02d}", f"{m:02d}/{y}", f"{MONTHS[m - 1]} {d}{ord_}, {y}", f"{r.randint(1, 12)}:{r.randint(0, 59):02d} pm",
             f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}", f"the {d}{ord_} of {MONTHS[m - 1]}, {y}"]
    return case(r, r.choice(forms)) if r.random() < 0.3 else r.choice(forms)


def age(r: random.Random) -> tuple[str, str]:
    """(phrase, the identifying part)."""
    a = str(r.randint(90, 104))
    return r.choice([(f"{a} years old", f"{a} years old"), (f"{a}-year-old", f"{a}-year-old"), (f"age {a}", a),
                     (f"aged {a}", a), (f"{a} yo", f"{a} yo"), (f"{a} y/o", f"{a} y/o"), (f"{a}F", f"{a}F"),
                     (f"{a} year old", f"{a} year old")])


def street(r: random.Random) -> str:
    s = f"{r.randint(1, 9999)} {r.choice(STREET_NAMES)} {r.choice(STREET_SUFFIX)}"
    if r.random() < 0.3:
        s += r.choice([f", Apt {r.randint(1, 40)}", f", Suite {r.randint(100, 900)}", f" #{r.randint(1, 30)}"])
    return case(r, s)


def city(r: random.Random) -> str:
    return case(r, r.choice(CITIES))


def city_state_zip(r: random.Random) -> str:
    return f"{r.choice(CITIES)}, {r.choice(STATES)} {r.randint(1000, 99999):05d}"


def hospital(r: random.Random) -> str:
    forms = [f"{r.choice(CITIES)} {r.choice(HOSP_WORDS)} {r.choice(HOSP_HEADS)}",
             f"St. {r.choice(SAINTS)} {r.choice(HOSP_HEADS)}", f"{r.choice(LAST)} Memorial Hospital",
             f"{r.choice(HOSP_WORDS)} {r.choice(HOSP_HEADS)} of {r.choice(CITIES)}",
             f"University of {r.choice(CITIES)} Medical Center", f"{r.choice(CITIES)} {r.choice(HOSP_HEADS)}",
             f"Mount {r.choice(['Sinai', 'Carmel', 'Auburn', 'Vernon'])} {r.choice(HOSP_HEADS)}"]
    return case(r, r.choice(forms))


def phone(r: random.Random) -> str:
    a, b, c = r.randint(201, 989), r.randint(200, 999), r.randint(0, 9999)
    return r.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
                     f"1-{a}-{b}-{c:04d}", f"+44 20 {r.randint(7000, 7999)} {c:04d}", f"{b}-{c:04d}",
                     f"{a}-{b}-{c:04d} ext. {r.randint(10, 9999)}", f"+91 {r.randint(70000, 99999)} {r.randint(10000, 99999)}"])


def email(r: random.Random) -> str:
    f, last = r.choice(FIRST).lower(), r.choice(LAST).lower().replace("'", "")
    return r.choice([f"{f}.{last}", f"{f[0]}{last}", f"{last}{r.randint(1, 99)}", f"{f}_{last}"]) + "@" + r.choice(DOMAINS)


def url(r: random.Random) -> str:
    host = r.choice(["pacs", "portal", "mychart", "imaging", "records"]) + "." + r.choice(DOMAINS)
    return r.choice([f"https://{host}/study/{r.randint(1000, 99999)}", f"http://{host}", f"www.{r.choice(DOMAINS)}",
                     f"{host}/viewer?id={r.randint(100, 9999)}"])


def ip(r: random.Random) -> str:
    if r.random() < 0.6:
        return ".".join(str(r.randint(1, 254)) for _ in range(4))
    groups = [f"{r.randint(0, 65535):x}" for _ in range(8)]
    return r.choice([":".join(groups), f"{groups[0]}:{groups[1]}::{groups[6]}:{groups[7]}", f"fe80::{groups[5]}:{groups[7]}"])


def alnum(r: random.Random, n: int, letters: str = "ABCDEFGHJKLMNPRSTUVWXYZ") -> str:
    return "".join(r.choice(letters + "0123456789") for _ in range(n))


def digits(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))
