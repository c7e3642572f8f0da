"""A synthetic, deterministic CRM export for demos, screenshots and tests.

``write_demo(out_dir, accounts=150, seed=7)`` writes one canonical CSV per table of the spec
(§1): comma-delimited UTF-8, the header in the column order of ``kam_core.ingest.schema.TABLES``,
ISO dates, ``revenue.period`` as ``YYYY-MM``, probabilities 0-1, blank for missing.
``generate_demo`` returns the same tables as DataFrames (every value already in its export
form: dates as ISO text, IDs as text).

Everything is anchored on the fixed date ``END`` = 2026-10-31 (a Saturday: the last thing that
happens is an e-mail), never on the wall clock: the same seed gives byte-identical files, and
the data's own as-of date (spec §2) is ``END``. There are 36 months of revenue (Nov 2023 -
Oct 2026) and three years of activities. Generation is vectorised with numpy
(``default_rng(seed)``): 150 accounts (~1.9 MB) take under a second, 10,000 accounts
(~125 MB, a million activities) about ten seconds.

The company: a team of twelve (``T-01`` ... ``T-12``): an executive sponsor, two mentors,
seven account managers, a solution and a service specialist. ``T-09`` Jonas Becker, account
manager in Hamburg, left on 2026-04-30 (``is_active`` false); his accounts were handed to
``T-04`` but his relationships are still on record.

The stories (fixed IDs, always the first accounts, present for every ``accounts`` >= 8):

- ``A-0001`` Kronberg Chemie AG -- **hostile king**: the largest customer by revenue, but its
  king (the CEO) is an opponent who favours the competitor Vantage Systems; our tie to him is
  weak and stale. Health turns red whatever the other numbers say.
- ``A-0002`` Lumivo Robotics AB -- **small and fast-growing**: a small customer whose revenue
  more than doubled (Software since 2024, Services since 2025), known through only two
  relationships, both held by its account manager.
- ``A-0003`` Brabant Logistics B.V. -- **single-threaded**: every strong relationship is held
  by one person, account manager ``T-06`` Pieter de Vries (one weak, stale tie of a
  specialist besides): one thread, key-person dependency close to 1.
- ``A-0004`` Atlantica Foods Ltd -- **reviews overdue**: the last mentor review was 262 days
  before ``END`` (2026-02-11), its plan actions are overdue, revenue is slowly declining.
- ``A-0005`` Ebro Distribución S.A. -- **loyal, low margin**: key account since 2004, flat
  revenue in Hardware, Services and Support, gross margin around 9 %.
- ``A-0006`` Rhône Biopharma SAS -- **big whitespace**: a large customer with the highest
  potential of all, buying only Support and Training; Software, Services and Hardware are
  open lines.
- ``A-0007`` Elbtal Maschinenbau GmbH -- **depends on the leaver**: the strong relationships
  (king, queen, rooks) all belong to ``T-09`` who left; the new account manager ``T-04``
  knows only a few pawns. Revenue is declining and the last review is off track.
- ``A-0008`` Kronberg Chemie France SAS -- a subsidiary of ``A-0001`` (``parent_account_id``).

Beyond the stories every account has a health *profile* (drawn from a stream of its own, so
the rest of the export keeps its draws): about half are healthy (a second thread to the top of
the board, fresh ties, actions done on time, reviewed within the cadence, an on-track rating,
revenue not falling) and come out green under health v2; about four in ten have one or two
things to fix (single-threaded, carried by one person, king not covered or not identified,
stale ties, revenue falling, an action overdue, rated at risk) and come out amber; about one
in eleven is red for a reason a mentor acts on (a hostile king, an off-track rating with
revenue collapsing, or a neglected account whose health is below 40). The profile is made in
the data — relationships, revenue, plan actions, reviews — never written as a label: the
metrics find it. With the defaults (150 accounts, seed 7): 77 green, 59 amber, 14 red.

The other accounts are random but plausible: unique company names from word lists, ten
industries, seven regions with their countries, cities and local names, groups with
subsidiaries, all five phases, ~15 contacts per account on the chess board (one king, a
queen, rooks ... mostly pawns), relationships that fade (some stale for over a year),
seasonal revenue with per-account trends, whitespace, a few credit notes, a pipeline, the
attractiveness and strength criteria with manual scores (a few missing), plan actions,
reviews every 60-120 days and competitors.

>>> frames = generate_demo(accounts=20, seed=1)
>>> frames["accounts"].loc[0, ["account_id", "name"]].tolist()
['A-0001', 'Kronberg Chemie AG']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kam_core.ingest.schema import LOAD_ORDER, TABLES

END = dt.date(2026, 10, 31)
LEAVE_DATE = dt.date(2026, 4, 30)  # T-09 Jonas Becker left
MONTHS = 36  # Nov 2023 ... Oct 2026
WINDOW_DAYS = 1095  # END - 1095 days = 2023-11-01, the first day of the first month
PRODUCT_LINES = ("Software", "Services", "Hardware", "Support", "Training")

_END64 = np.datetime64(END.isoformat(), "D")
_LEAVE_OFFSET = (END - LEAVE_DATE).days  # 184
_LEAVER = "T-09"

# ---------------------------------------------------------------------------------------------
# Word lists and fixed tables
# ---------------------------------------------------------------------------------------------

# member_id, name, role, department, location, is_active
TEAM: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("T-01", "Claudia Brandt", "executive_sponsor", "Management", "Munich", True),
    ("T-02", "Markus Keller", "mentor", "Key Account Management", "Munich", True),
    ("T-03", "Sofie Jansen", "mentor", "Key Account Management", "Amsterdam", True),
    ("T-04", "Lukas Hoffmann", "account_manager", "Sales DACH", "Munich", True),
    ("T-05", "Emma Lindqvist", "account_manager", "Sales Nordics", "Stockholm", True),
    ("T-06", "Pieter de Vries", "account_manager", "Sales Benelux", "Rotterdam", True),
    ("T-07", "Claire Dubois", "account_manager", "Sales France & Iberia", "Paris", True),
    ("T-08", "James Whitfield", "account_manager", "Sales UK & Ireland", "London", True),
    ("T-09", "Jonas Becker", "account_manager", "Sales DACH", "Hamburg", False),
    ("T-10", "Giulia Conti", "account_manager", "Sales Southern Europe", "Milan", True),
    ("T-11", "Laura Sánchez", "solution_specialist", "Presales", "Madrid", True),
    ("T-12", "Nina Schulz", "service_specialist", "Customer Success", "Vienna", True),
)
_MEMBER_IDS = np.array([t[0] for t in TEAM], dtype=object)
_MEMBER_CODE = {m: i for i, m in enumerate(_MEMBER_IDS)}
# How each member works with customers: 0 account manager, 1 specialist, 2 mentor/executive.
_MEMBER_CLASS = np.array(
    [{"account_manager": 0, "solution_specialist": 1, "service_specialist": 1}.get(t[2], 2) for t in TEAM]
)

_REGION_WEIGHTS = {
    "DACH": 0.34, "Nordics": 0.12, "Benelux": 0.13, "UK": 0.14, "France": 0.12,
    "Iberia": 0.09, "Italy": 0.06,
}  # fmt: skip


@dataclass(frozen=True)
class _Country:
    name: str
    region: str
    weight: float  # within the region
    legal: tuple[str, ...]
    cities: tuple[str, ...]  # the first is the most frequent headquarters
    language: int  # index into _NAMES
    account_manager: str
    mentor: str
    local_word: str  # how a subsidiary in this country is named


_COUNTRIES: tuple[_Country, ...] = (
    _Country("Germany", "DACH", 0.75, ("GmbH", "AG", "SE"),
             ("Munich", "Hamburg", "Stuttgart", "Frankfurt", "Düsseldorf", "Cologne", "Berlin",
              "Nuremberg"), 0, "T-04", "T-02", "Deutschland"),
    _Country("Austria", "DACH", 0.12, ("GmbH", "AG"), ("Vienna", "Graz", "Linz", "Salzburg"),
             0, "T-04", "T-02", "Austria"),
    _Country("Switzerland", "DACH", 0.13, ("AG", "SA"), ("Zurich", "Basel", "Bern", "Zug",
             "Geneva"), 0, "T-04", "T-02", "Schweiz"),
    _Country("Sweden", "Nordics", 0.40, ("AB",), ("Stockholm", "Gothenburg", "Malmö",
             "Uppsala"), 1, "T-05", "T-02", "Sverige"),
    _Country("Denmark", "Nordics", 0.22, ("A/S",), ("Copenhagen", "Aarhus", "Odense"), 1,
             "T-05", "T-02", "Danmark"),
    _Country("Norway", "Nordics", 0.20, ("AS", "ASA"), ("Oslo", "Bergen", "Stavanger"), 1,
             "T-05", "T-02", "Norge"),
    _Country("Finland", "Nordics", 0.18, ("Oy", "Oyj"), ("Helsinki", "Espoo", "Tampere"), 1,
             "T-05", "T-02", "Finland"),
    _Country("Netherlands", "Benelux", 0.60, ("B.V.", "N.V."), ("Amsterdam", "Rotterdam",
             "Eindhoven", "Utrecht"), 2, "T-06", "T-03", "Nederland"),
    _Country("Belgium", "Benelux", 0.32, ("NV", "SA"), ("Antwerp", "Brussels", "Ghent"), 2,
             "T-06", "T-03", "Belgium"),
    _Country("Luxembourg", "Benelux", 0.08, ("S.A.",), ("Luxembourg",), 2, "T-06", "T-03",
             "Luxembourg"),
    _Country("United Kingdom", "UK", 0.85, ("Ltd", "plc"), ("London", "Manchester",
             "Birmingham", "Leeds", "Bristol", "Edinburgh"), 3, "T-08", "T-03", "UK"),
    _Country("Ireland", "UK", 0.15, ("Ltd", "DAC"), ("Dublin", "Cork"), 3, "T-08", "T-03",
             "Ireland"),
    _Country("France", "France", 1.0, ("SAS", "SA"), ("Paris", "Lyon", "Toulouse", "Lille",
             "Nantes", "Grenoble"), 4, "T-07", "T-03", "France"),
    _Country("Spain", "Iberia", 0.70, ("S.A.", "S.L."), ("Madrid", "Barcelona", "Valencia",
             "Bilbao", "Zaragoza"), 5, "T-07", "T-03", "España"),
    _Country("Portugal", "Iberia", 0.30, ("S.A.", "Lda."), ("Lisbon", "Porto"), 5, "T-10",
             "T-03", "Portugal"),
    _Country("Italy", "Italy", 1.0, ("S.p.A.", "S.r.l."), ("Milan", "Turin", "Bologna", "Rome",
             "Verona"), 6, "T-10", "T-02", "Italia"),
)  # fmt: skip

# industry: (name descriptors, mean strategic fit 0-10)
_INDUSTRIES: dict[str, tuple[tuple[str, ...], float]] = {
    "Manufacturing": (("Engineering", "Industries", "Machinery"), 7.0),
    "Automotive": (("Automotive", "Mobility", "Drivetrain"), 7.0),
    "Chemicals": (("Chemicals", "Polymers", "Coatings"), 6.5),
    "Pharma & Life Sciences": (("Pharma", "Biotech", "Life Sciences"), 7.5),
    "Logistics": (("Logistics", "Freight", "Transport"), 5.0),
    "Retail": (("Retail", "Stores", "Commerce"), 4.0),
    "Energy & Utilities": (("Energy", "Power", "Utilities"), 5.5),
    "Financial Services": (("Bank", "Insurance", "Capital"), 4.5),
    "Food & Beverage": (("Foods", "Brewery", "Dairy"), 5.0),
    "Telecommunications": (("Telecom", "Networks", "Connect"), 5.0),
}
_INDUSTRY_WEIGHTS = (0.18, 0.12, 0.10, 0.10, 0.10, 0.10, 0.08, 0.08, 0.08, 0.06)

# Company name cores: prefix + stem ("Nordtec", "Alpenwerk", "Helioform"), 49 x 29 = 1421.
_PREFIXES = (
    "Nord", "Süd", "West", "Ost", "Alpen", "Rhein", "Elb", "Donau", "Stern", "Blau", "Grün",
    "Silber", "Gold", "Eisen", "Stahl", "Kron", "Adler", "Falken", "Löwen", "Hanse", "Baltic",
    "Atlas", "Helio", "Aqua", "Terra", "Vita", "Nova", "Astra", "Orbi", "Poly", "Omni",
    "Inter", "Euro", "Trans", "Mega", "Delta", "Sigma", "Alpha", "Vector", "Nexa", "Lumi",
    "Viva", "Prima", "Sana", "Cela", "Vanta", "Zeno", "Kora", "Lyra",
)  # fmt: skip
_STEMS = (
    "tec", "tek", "werk", "tron", "flex", "form", "med", "chem", "log", "net", "sys", "line",
    "gate", "port", "star", "field", "mark", "dyn", "plan", "tex", "lab", "core", "vision",
    "wave", "point", "bridge", "stone", "wood", "haven",
)  # fmt: skip

# First and last names per language (index = _Country.language).
_NAMES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("Anna", "Thomas", "Stefan", "Sabine", "Michael", "Julia", "Andreas", "Katrin",
      "Christian", "Petra", "Markus", "Claudia", "Frank", "Susanne", "Jörg", "Monika", "Tobias",
      "Birgit", "Florian", "Ute", "Matthias", "Lena", "Jan", "Sandra", "Ralf"),
     ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
      "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
      "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Werner", "Krause",
      "Lehmann", "Köhler", "Maier", "Huber", "Kaiser", "Vogt")),
    (("Erik", "Anna", "Lars", "Karin", "Johan", "Maria", "Anders", "Eva", "Mikael", "Sofia",
      "Henrik", "Ingrid", "Nils", "Astrid", "Magnus", "Sara", "Mette", "Søren", "Jukka", "Aino",
      "Ola", "Kari"),
     ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsen",
      "Hansen", "Jensen", "Nielsen", "Pedersen", "Virtanen", "Korhonen", "Berg", "Lindberg",
      "Haugen", "Dahl", "Lund", "Holm", "Strand")),
    (("Jan", "Sanne", "Pieter", "Eva", "Bram", "Lotte", "Daan", "Femke", "Joris", "Anouk",
      "Koen", "Inge", "Thijs", "Marieke", "Wouter", "Els", "Tom", "Lieve"),
     ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit",
      "Meijer", "de Boer", "Mulder", "Peeters", "Janssens", "Maes", "Willems", "Claes",
      "Hendriks", "Wouters")),
    (("James", "Emma", "Oliver", "Sophie", "William", "Charlotte", "Harry", "Amelia", "George",
      "Olivia", "Thomas", "Emily", "Jack", "Grace", "Daniel", "Hannah", "Sean", "Siobhan",
      "Aoife", "Conor"),
     ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
      "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
      "Wood", "Murphy", "Kelly", "O'Brien", "Byrne")),
    (("Marie", "Jean", "Camille", "Pierre", "Léa", "Nicolas", "Chloé", "Julien", "Manon",
      "Antoine", "Sophie", "Laurent", "Élodie", "François", "Claire", "Mathieu", "Isabelle",
      "Olivier"),
     ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
      "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier", "Girard",
      "Bonnet", "Rousseau", "Lambert")),
    (("María", "José", "Carmen", "Antonio", "Lucía", "Javier", "Ana", "Manuel", "Laura",
      "David", "Marta", "Pablo", "Inês", "João", "Beatriz", "Tiago", "Sofía", "Miguel"),
     ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
      "Gómez", "Ruiz", "Silva", "Santos", "Ferreira", "Pereira", "Costa", "Oliveira", "Navarro",
      "Moreno")),
    (("Giulia", "Marco", "Francesca", "Luca", "Chiara", "Alessandro", "Sara", "Matteo", "Elena",
      "Andrea", "Valentina", "Davide", "Federica", "Paolo", "Martina", "Giorgio"),
     ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
      "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano", "Mancini",
      "Rizzo")),
)  # fmt: skip

_PHASES = ("pre_sales", "negotiation", "delivery", "review", "growth")
_PHASE_WEIGHTS = (0.10, 0.12, 0.26, 0.20, 0.32)

_PIECES = ("king", "queen", "rook", "bishop", "knight", "pawn")
_KING, _QUEEN, _ROOK, _BISHOP, _KNIGHT, _PAWN = range(6)
_ATTITUDES = ("champion", "supporter", "neutral", "skeptic", "opponent", "")
# P(attitude | piece), columns as _ATTITUDES ("" = not recorded, loads as neutral).
_ATTITUDE_P = np.array([
    [0.12, 0.34, 0.40, 0.11, 0.03, 0.00],  # king
    [0.15, 0.35, 0.30, 0.13, 0.07, 0.00],  # queen
    [0.12, 0.33, 0.35, 0.13, 0.07, 0.00],  # rook
    [0.12, 0.30, 0.40, 0.12, 0.06, 0.00],  # bishop
    [0.12, 0.30, 0.40, 0.12, 0.06, 0.00],  # knight
    [0.07, 0.27, 0.42, 0.09, 0.03, 0.12],  # pawn
])  # fmt: skip
_LEVELS = ("executive", "senior", "manager", "operational", "")
_LEVEL_P = np.array([
    [1.00, 0.00, 0.00, 0.00, 0.00],
    [0.55, 0.45, 0.00, 0.00, 0.00],
    [0.10, 0.90, 0.00, 0.00, 0.00],
    [0.00, 0.45, 0.55, 0.00, 0.00],
    [0.00, 0.40, 0.60, 0.00, 0.00],
    [0.00, 0.00, 0.38, 0.58, 0.04],
])  # fmt: skip
_BUYING_ROLES = ("economic_buyer", "decision_maker", "technical_buyer", "user", "influencer",
                 "gatekeeper", "coach", "")  # fmt: skip
_BUYING_ROLE_P = np.array([
    [1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],
    [0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],
    [0.00, 0.40, 0.60, 0.00, 0.00, 0.00, 0.00, 0.00],
    [0.00, 0.00, 0.45, 0.00, 0.55, 0.00, 0.00, 0.00],
    [0.00, 0.00, 0.00, 0.00, 0.50, 0.00, 0.50, 0.00],
    [0.00, 0.00, 0.00, 0.50, 0.20, 0.12, 0.06, 0.12],
])  # fmt: skip
_DEPARTMENTS = ("Management", "Procurement", "IT", "Finance", "Operations", "R&D",
                "Production", "Quality", "Logistics", "Sales", "Legal", "")  # fmt: skip
_DEPT_P = np.array([
    [0.50, 0.15, 0.00, 0.20, 0.15, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],  # king
    [0.00, 0.30, 0.25, 0.15, 0.20, 0.10, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],  # queen
    [0.00, 0.25, 0.25, 0.10, 0.20, 0.15, 0.05, 0.00, 0.00, 0.00, 0.00, 0.00],  # rook
    [0.00, 0.15, 0.25, 0.10, 0.15, 0.15, 0.10, 0.05, 0.05, 0.00, 0.00, 0.00],  # bishop
    [0.00, 0.20, 0.15, 0.10, 0.15, 0.10, 0.10, 0.05, 0.05, 0.05, 0.05, 0.00],  # knight
    [0.00, 0.17, 0.16, 0.09, 0.14, 0.09, 0.10, 0.07, 0.07, 0.04, 0.03, 0.04],  # pawn
])  # fmt: skip
_EXEC_TITLES = (
    "Chief Executive Officer",
    "Chief Procurement Officer",
    "Chief Information Officer",
    "Chief Financial Officer",
    "Chief Operating Officer",
    "Chief Technology Officer",
    "Chief Operating Officer",
    "Chief Quality Officer",
    "Chief Supply Chain Officer",
    "Chief Commercial Officer",
    "General Counsel",
    "",
)
_OPERATIONAL_TITLES = (
    ("Executive Assistant", "Office Manager"), ("Buyer", "Strategic Buyer"),
    ("IT Architect", "System Administrator"), ("Controller", "Accountant"),
    ("Operations Specialist", "Shift Supervisor"), ("Development Engineer", "Research Scientist"),
    ("Production Planner", "Process Engineer"), ("Quality Engineer", "QA Specialist"),
    ("Logistics Coordinator", "Dispatcher"), ("Sales Representative", "Category Manager"),
    ("Legal Counsel", "Contract Manager"), ("Specialist", "Coordinator"),
)  # fmt: skip

# Relationship strength 0-4 and activities per year at that strength.
_ACTIVITY_RATE = np.array([0.0, 1.0, 2.5, 4.5, 7.0])
# Mean days since the last contact at that strength (exponential): weak ties go stale.
_DAYS_SINCE_CONTACT = np.array([400.0, 300.0, 150.0, 70.0, 40.0])
_ACTIVITY_TYPES = ("meeting", "call", "email", "workshop")
_ACTIVITY_TYPE_P = np.array([
    [0.30, 0.33, 0.30, 0.07],  # account manager
    [0.30, 0.20, 0.15, 0.35],  # specialist
    [0.60, 0.25, 0.10, 0.05],  # mentor / executive sponsor
])  # fmt: skip

# Product lines: share of a customer's spend, chance that it buys the line, gross margin %,
# seasonal amplitude, month-to-month noise (sigma) and the chance of an order in a month.
_LINE_MIX = np.array([0.30, 0.25, 0.25, 0.12, 0.08])
_LINE_BUY_P = np.array([0.80, 0.60, 0.50, 0.75, 0.35])
_LINE_MARGIN = np.array([0.68, 0.30, 0.17, 0.55, 0.45])
_LINE_SEASON = np.array([0.5, 1.0, 0.8, 0.0, 1.0])
_LINE_NOISE = np.array([0.10, 0.20, 0.45, 0.03, 0.35])
_LINE_ORDER_P = np.array([1.0, 1.0, 0.45, 1.0, 0.30])
# Calendar seasonality (Jan ... Dec): summer dip, year-end budget spend.
_SEASON = np.array([0.85, 0.90, 1.05, 0.95, 1.00, 1.05, 0.90, 0.75, 1.05, 1.05, 1.10, 1.35])

_STAGES_OPEN = ("Qualification", "Needs Analysis", "Proposal", "Negotiation", "Commit")
_STAGE_PROBABILITY = np.array([0.1, 0.2, 0.4, 0.6, 0.8])
_DEAL_KINDS = (  # per product line: "Software platform upgrade 2026"
    ("license renewal", "platform upgrade", "new modules"),
    ("rollout", "consulting project", "integration"),
    ("refresh", "expansion", "for the new plant"),
    ("contract renewal", "premium upgrade", "SLA extension"),
    ("academy program", "onboarding program", "certification courses"),
)

CRITERIA: tuple[tuple[str, str, str, float, str], ...] = (
    # criterion_id, name, axis, weight, source
    ("strategic_fit", "Strategic fit", "attractiveness", 3, "manual"),
    ("partnership_wish", "Customer wants a partnership", "attractiveness", 2, "manual"),
    ("revenue", "Revenue (last 12 months)", "attractiveness", 3, "ttm_revenue"),
    ("growth", "Revenue growth", "attractiveness", 2, "revenue_growth"),
    ("margin", "Gross margin %", "attractiveness", 2, "gross_margin_pct"),
    ("customer_size", "Customer size (annual revenue)", "attractiveness", 1, "annual_revenue"),
    ("whitespace", "Untapped potential (whitespace)", "attractiveness", 2, "whitespace"),
    ("coverage", "Relationship coverage", "strength", 3, "coverage"),
    ("share_of_wallet", "Share of wallet", "strength", 2, "share_of_wallet"),
    ("competitive_position", "Competitive position", "strength", 2, "manual"),
)

_OBJECTIVES = (
    ("Meet the economic buyer to present the 2027 roadmap", ""),
    ("Introduce the solution specialist to the IT department", ""),
    ("Prepare the renewal proposal for ", ""),
    ("Map the buying center in Procurement", ""),
    ("Run a ", " workshop with Operations"),
    ("Agree the joint business plan for 2027", ""),
    ("Organise a reference visit", ""),
    ("Resolve the open support escalations", ""),
    ("Build a second thread to the CFO", ""),
    ("Present the ", " business case to the board"),
    ("Update the relationship map after the reorganisation", ""),
    ("Quarterly business review", ""),
)
_NOTES = (
    ("Plan on track, next QBR scheduled.", "Renewal secured; cross-sell workshop agreed.",
     "Good access to the decision makers, keep the cadence.", "Actions from the last review done."),
    ("Coverage gap in Procurement; intro meeting planned.",
     "Revenue below plan, pricing pressure from a competitor.",
     "Key sponsor changed role: rebuild the relationship.",
     "Open actions overdue, new dates agreed."),
    ("Competitor displaced us in Hardware; escalated to the executive sponsor.",
     "No access to the economic buyer, the plan needs rework.",
     "Revenue declining for three quarters; recovery plan required."),
)  # fmt: skip
_COMPETITORS = (
    "Vantage Systems", "Nordwind IT", "Castellan Group", "Meridian Solutions", "Polaris Technik",
    "Orion Industrial", "Bluepeak Software", "Lakeside Services", "Quantis", "Arcturus Consulting",
    "Ferrum Hardware", "Helix Support", "Trident Learning",
)  # fmt: skip


@dataclass(frozen=True)
class _Story:
    """Fixed parameters of a story account (everything else is drawn like any account)."""

    name: str
    country: str
    city: str
    industry: str
    phase: str
    since: str  # key_account_since
    size: float  # the customer's annual revenue
    wallet: float  # its yearly spend in our product lines (sum of potential)
    growth: float  # log growth of our revenue per year
    buys: tuple[int, ...]  # per product line
    share: float  # share of wallet in the lines it buys
    last_review: int  # days before END
    review: tuple[str, str]  # rating and notes of the latest review
    mix: tuple[float, ...] | None = None
    partnership_wish: int | None = None
    strategic_fit: int | None = None


STORIES: tuple[_Story, ...] = (
    _Story(  # A-0001 hostile king
        name="Kronberg Chemie AG", country="Germany", city="Frankfurt", industry="Chemicals",
        phase="growth", since="2011-03-14", size=31e9, wallet=30e6, growth=0.03,
        buys=(1, 1, 1, 1, 1), share=0.6, last_review=5,
        review=("at_risk", "The CEO favours Vantage Systems; we need a sponsor at board level."),
        partnership_wish=3, strategic_fit=8,
    ),
    _Story(  # A-0002 small, fast-growing, few relationships
        name="Lumivo Robotics AB", country="Sweden", city="Gothenburg", industry="Manufacturing",
        phase="delivery", since="2025-02-03", size=45e6, wallet=0.9e6, growth=0.9,
        buys=(1, 1, 0, 0, 0), share=0.5, last_review=40,
        review=("on_track", "Fast growth in Software and Services; only two people know us."),
        partnership_wish=8, strategic_fit=9,
    ),
    _Story(  # A-0003 single-threaded
        name="Brabant Logistics B.V.", country="Netherlands", city="Eindhoven",
        industry="Logistics", phase="review", since="2016-09-01", size=1.2e9, wallet=3e6,
        growth=0.06, buys=(1, 1, 0, 1, 0), share=0.55, last_review=60,
        review=("on_track", "Everything runs through Pieter; build a second thread."),
    ),
    _Story(  # A-0004 reviews overdue
        name="Atlantica Foods Ltd", country="United Kingdom", city="Bristol",
        industry="Food & Beverage", phase="delivery", since="2019-05-20", size=8e8,
        wallet=2.5e6, growth=-0.08, buys=(1, 1, 1, 1, 0), share=0.45, last_review=262,
        review=("at_risk", "Plan not updated since the last review; next review to be scheduled."),
    ),
    _Story(  # A-0005 loyal, low margin
        name="Ebro Distribución S.A.", country="Spain", city="Zaragoza", industry="Retail",
        phase="growth", since="2004-05-03", size=2.1e9, wallet=6e6, growth=0.0,
        buys=(0, 1, 1, 1, 0), share=0.7, last_review=30,
        review=("on_track", "Loyal since 2004; margin under pressure, review pricing."),
        partnership_wish=9,
    ),
    _Story(  # A-0006 big whitespace
        name="Rhône Biopharma SAS", country="France", city="Lyon",
        industry="Pharma & Life Sciences", phase="growth", since="2018-01-15", size=18e9,
        wallet=40e6, growth=0.02, buys=(0, 0, 0, 1, 1), share=0.6, last_review=45,
        review=("on_track", "Only Support and Training so far; Software, Services, Hardware open."),
        mix=(0.35, 0.30, 0.20, 0.10, 0.05), partnership_wish=7, strategic_fit=9,
    ),
    _Story(  # A-0007 depends on the leaver
        name="Elbtal Maschinenbau GmbH", country="Germany", city="Hamburg",
        industry="Manufacturing", phase="review", since="2013-06-10", size=6.5e8, wallet=3.5e6,
        growth=-0.18, buys=(1, 1, 1, 1, 0), share=0.5, last_review=20,
        review=("off_track", "Jonas Becker left in April; hand over his relationships."),
    ),
    _Story(  # A-0008 subsidiary of A-0001
        name="Kronberg Chemie France SAS", country="France", city="Lyon", industry="Chemicals",
        phase="delivery", since="2020-10-01", size=1.5e9, wallet=2e6, growth=0.05,
        buys=(1, 1, 0, 1, 0), share=0.5, last_review=70,
        review=("on_track", "Runs under the group agreement of Kronberg Chemie AG."),
    ),
)  # fmt: skip
_HOSTILE, _FAST, _SINGLE, _OVERDUE, _LOYAL, _WHITESPACE, _LEAVER_STORY, _SUBSIDIARY = range(8)

# What a mentor finds on an account (health v2, kam-spec §3.4). About half the programme is
# healthy (green: no reason at all), a third has one or two things to fix (amber) and about a
# tenth is red for a reason a mentor acts on. Each issue is made in the data, not labelled:
# the metrics find it.
_AMBER_ISSUES = (  # name, weight
    ("single_threaded", 0.16),  # every strong tie held by the account manager
    ("key_person", 0.14),  # the top of the board known through one person only
    ("king_uncovered", 0.16),  # nobody reaches the economic decision maker
    ("no_king", 0.05),  # nobody knows who decides
    ("stale", 0.10),  # ties gone stale: low coverage
    ("declining", 0.14),  # revenue falling
    ("overdue", 0.14),  # plan actions past their due date
    ("at_risk", 0.11),  # the mentor rated it at risk
)
_RED_ISSUES = (  # name, weight: each a reason to act now
    ("hostile", 0.35),  # the king is an opponent
    ("off_track", 0.40),  # the mentor rated it off track (revenue collapsing)
    ("neglected", 0.25),  # nobody has looked after it: health below 40
)
_ISSUES = tuple(name for name, _ in _AMBER_ISSUES + _RED_ISSUES) + ("review_late",)
_P_RED, _P_AMBER = 0.085, 0.40
# the stories' own issues (the rest of each story is in its parameters)
_STORY_ISSUES: tuple[tuple[str, ...], ...] = (
    ("hostile", "king_uncovered", "at_risk"),  # A-0001
    ("single_threaded", "key_person"),  # A-0002
    ("single_threaded", "key_person"),  # A-0003
    ("review_late", "overdue", "at_risk"),  # A-0004
    (),  # A-0005: its low margin is the story
    (),  # A-0006: healthy, with whitespace to win
    ("off_track", "declining", "overdue", "key_person"),  # A-0007
    (),  # A-0008: healthy
)


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------------


def _draw(rng: np.random.Generator, p: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """One categorical draw per row from the probability row ``p[cls[i]]``."""
    cum = np.cumsum(p, axis=1)[cls]
    u = rng.random(len(cls))
    return np.minimum((u[:, None] >= cum).sum(axis=1), p.shape[1] - 1)


def _pick(rng: np.random.Generator, lists: list[tuple[str, ...]], group: np.ndarray) -> np.ndarray:
    """One random element of ``lists[group[i]]`` per row (lists of different lengths)."""
    flat = np.array([x for lst in lists for x in lst], dtype=object)
    lengths = np.array([len(lst) for lst in lists])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return flat[offsets[group] + (rng.random(len(group)) * lengths[group]).astype(int)]


def _within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each run of a repeated index: counts [2, 3] -> [0, 1, 0, 1, 2]."""
    starts = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(starts, counts)


def _dates(days_before_end: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """ISO date text of END minus the given days (negative = after END); '' where missing."""
    days = np.nan_to_num(np.asarray(days_before_end, dtype=float)).astype(np.int64)
    low = days.min() if len(days) else 0
    span = np.arange(low, (days.max() if len(days) else 0) + 1)
    # format each distinct day once: a million activities span only ~1,100 days
    text = (_END64 - span.astype("timedelta64[D]")).astype(str).astype(object)[days - low]
    if missing is not None:
        text[missing] = ""
    return text


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded number (wider when the numbers need it)."""
    return np.array(prefix + pd.Series(numbers).astype(str).str.zfill(width), dtype=object)


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation of arrays and constants."""
    out = pd.Series([""] * max(len(p) for p in parts if not isinstance(p, str)), dtype=object)
    for p in parts:
        out = out + (p if isinstance(p, str) else pd.Series(p, dtype=object))
    return np.array(out, dtype=object)


def _weekday_back(days_before_end: np.ndarray) -> np.ndarray:
    """Move a Saturday back to Friday and a Sunday back to Friday (more days before END)."""
    day_number = (_END64 - days_before_end.astype("timedelta64[D]")).astype(np.int64)
    weekday = (day_number + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return days_before_end + np.where(weekday == 5, 1, 0) + np.where(weekday == 6, 2, 0)


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


@dataclass
class _Accounts:
    """Per-account arrays shared by the table generators."""

    n: int
    ids: np.ndarray
    country: np.ndarray  # index into _COUNTRIES
    industry: np.ndarray
    phase: np.ndarray
    account_manager: np.ndarray
    mentor: np.ndarray
    was_leavers: np.ndarray  # handled by T-09 before he left
    engagement: np.ndarray  # how intensively the team works the account
    wallet: np.ndarray
    growth: np.ndarray
    since_days: np.ndarray  # key_account_since, days before END (nan = unknown)
    hq: np.ndarray  # headquarters city
    frame: pd.DataFrame
    issues: dict[str, np.ndarray]  # per issue of _ISSUES: the accounts that have it
    prof: np.random.Generator  # the profiles' own stream (the main one keeps its draws)

    def has(self, *names: str) -> np.ndarray:
        """Per account: has any of the issues ``names``."""
        return np.logical_or.reduce([self.issues[name] for name in names])

    @property
    def healthy(self) -> np.ndarray:
        return ~np.logical_or.reduce(list(self.issues.values()))


def _company_names(rng: np.random.Generator, n: int, industry: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Unique names: a unique core per account, an industry word and a local legal form."""
    space = len(_PREFIXES) * len(_STEMS)
    core_index = np.concatenate([rng.permutation(space) for _ in range(n // space + 1)])[:n]
    cores = np.array([p + s for p in _PREFIXES for s in _STEMS], dtype=object)[core_index]
    repeat = np.arange(n) // space  # beyond the word lists: "Nordtec 2 Logistics"
    cores = np.where(repeat > 0, _cat(cores, " ", (repeat + 1).astype(str)), cores)
    descriptors = _pick(rng, [v[0] for v in _INDUSTRIES.values()], industry)
    legal = _pick(rng, [c.legal for c in _COUNTRIES], country)
    return _cat(cores, " ", descriptors, " ", legal)


def _profiles(prof: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per issue of ``_ISSUES``, the accounts that have it: stories as written, the others
    drawn (red, amber with one or two issues, or healthy)."""
    issues = {name: np.zeros(n, dtype=bool) for name in _ISSUES}
    u = prof.random(n)
    red = u < _P_RED
    amber = (u >= _P_RED) & (u < _P_RED + _P_AMBER)
    names = [name for name, _ in _RED_ISSUES]
    weights = np.array([w for _, w in _RED_ISSUES])
    red_issue = prof.choice(len(names), size=n, p=weights / weights.sum())
    for k, name in enumerate(names):
        issues[name] |= red & (red_issue == k)
    names = [name for name, _ in _AMBER_ISSUES]
    weights = np.array([w for _, w in _AMBER_ISSUES])
    first = prof.choice(len(names), size=n, p=weights / weights.sum())
    second = prof.choice(len(names), size=n, p=weights / weights.sum())
    two = prof.random(n) < 0.3
    for k, name in enumerate(names):
        issues[name] |= amber & ((first == k) | (two & (second == k)))
    # an off-track account is one whose revenue collapses; a neglected one has it all
    issues["declining"] |= issues["off_track"]
    for name in ("stale", "declining", "overdue", "review_late"):
        issues[name] |= issues["neglected"]
    for k in range(min(n, len(STORIES))):
        for name in _ISSUES:
            issues[name][k] = name in _STORY_ISSUES[k]
    return issues


def _accounts(rng: np.random.Generator, n: int, prof: np.random.Generator) -> _Accounts:
    n_story = min(n, len(STORIES))
    stories = STORIES[:n_story]
    country_p = np.array([_REGION_WEIGHTS[c.region] * c.weight for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n, p=country_p / country_p.sum())
    industry = rng.choice(len(_INDUSTRIES), size=n, p=_INDUSTRY_WEIGHTS)
    phase = rng.choice(len(_PHASES), size=n, p=_PHASE_WEIGHTS)
    size = np.clip(np.round(rng.lognormal(np.log(6e8), 0.9, n), -5), 1.5e7, 2.5e10)
    wallet = np.clip(size * rng.lognormal(np.log(0.003), 0.35, n), 1.5e5, 1.2e7)
    growth = rng.normal(0.04, 0.14, n)
    # the team invests more in larger customers: engagement rises with the wallet's rank
    wallet_rank = pd.Series(wallet).rank(pct=True).to_numpy()
    engagement = 0.35 + 0.55 * rng.beta(3, 2, n) + 0.4 * wallet_rank
    city_index = rng.geometric(0.45, n) - 1  # the first cities are the usual headquarters

    # key_account_since: long-standing accounts are in growth or review.
    lo = np.array([30, 30, 365, 4 * 365, 4 * 365])[phase]
    hi = np.array([2 * 365, 2 * 365, 8 * 365, 18 * 365, 18 * 365])[phase]
    since_days = np.round(lo + rng.random(n) * (hi - lo)).astype(float)
    since_days[rng.random(n) < 0.03] = np.nan

    # Groups: a few heads, each with subsidiaries (in the head's industry, usually named after
    # the head and their country). A head comes before its subsidiaries in the file.
    parent = np.full(n, -1)
    generic = np.arange(n_story, n)
    is_head = np.zeros(n, dtype=bool)
    is_head[generic] = rng.random(len(generic)) < 0.06
    heads = np.flatnonzero(is_head)
    child = generic[~is_head[generic] & (rng.random(len(generic)) < 0.12)]
    earlier_heads = np.searchsorted(heads, child)
    child, earlier_heads = child[earlier_heads > 0], earlier_heads[earlier_heads > 0]
    parent[child] = heads[(rng.random(len(child)) * earlier_heads).astype(int)]
    industry[child] = industry[parent[child]]

    names = _company_names(rng, n, industry, country)
    words = np.array([c.local_word for c in _COUNTRIES], dtype=object)
    legal = _pick(rng, [c.legal for c in _COUNTRIES], country[child])
    head_core = pd.Series(names[parent[child]], dtype=object).str.split(" ").str[0]
    sub_names = _cat(head_core.to_numpy(dtype=object), " ", words[country[child]], " ", legal)
    # a second subsidiary of one head in one country keeps its own name
    taken = pd.Series(sub_names).duplicated().to_numpy() | np.isin(sub_names, names)
    names[child[~taken]] = sub_names[~taken]
    was_leavers = (np.array([c.account_manager for c in _COUNTRIES])[country] == "T-04") & (
        np.array([c.name for c in _COUNTRIES])[country] == "Germany"
    )
    was_leavers &= rng.random(n) < 0.35

    # The stories override their own parameters.
    country_names = [c.name for c in _COUNTRIES]
    for k, s in enumerate(stories):
        c = country_names.index(s.country)
        country[k], city_index[k] = c, _COUNTRIES[c].cities.index(s.city)
        industry[k], phase[k] = list(_INDUSTRIES).index(s.industry), _PHASES.index(s.phase)
        size[k], wallet[k], growth[k], names[k] = s.size, s.wallet, s.growth, s.name
        since_days[k] = (END - dt.date.fromisoformat(s.since)).days
        engagement[k], was_leavers[k] = 1.0, k == _LEAVER_STORY
    issues = _profiles(prof, n)
    generic = np.arange(n) >= n_story
    healthy = ~np.logical_or.reduce(list(issues.values()))
    # revenue follows the profile: healthy accounts grow, troubled ones may shrink
    growth = np.where(generic & healthy, prof.uniform(0.02, 0.16, n), growth)
    steady = generic & ~healthy & ~issues["declining"]
    growth = np.where(steady, prof.uniform(0.0, 0.12, n), growth)
    growth = np.where(generic & issues["declining"], prof.uniform(-0.3, -0.14, n), growth)
    growth = np.where(generic & issues["off_track"], prof.uniform(-0.4, -0.2, n), growth)
    if n_story > _SUBSIDIARY:
        parent[_SUBSIDIARY] = _HOSTILE
    if n_story > _HOSTILE:
        engagement[_HOSTILE] = 1.15  # the big account gets all the attention

    account_manager = np.array([c.account_manager for c in _COUNTRIES], dtype=object)[country]
    mentor = np.array([c.mentor for c in _COUNTRIES], dtype=object)[country]
    mentor[wallet >= np.quantile(wallet, 0.96)] = "T-01"  # the executive sponsor's own
    ids = _ids("A-", np.arange(1, n + 1), 4)
    size_text = pd.array(size.astype(np.int64), dtype="Int64")
    size_text[np.r_[np.zeros(n_story, bool), rng.random(n - n_story) < 0.02]] = pd.NA
    frame = pd.DataFrame({
        "account_id": ids,
        "name": names,
        "industry": np.array(list(_INDUSTRIES), dtype=object)[industry],
        "region": np.array([c.region for c in _COUNTRIES], dtype=object)[country],
        "country": np.array(country_names, dtype=object)[country],
        "parent_account_id": np.where(parent >= 0, ids[np.maximum(parent, 0)], ""),
        "account_manager_id": account_manager,
        "mentor_id": mentor,
        "phase": np.array(_PHASES, dtype=object)[phase],
        "annual_revenue": size_text,
        "key_account_since": _dates(since_days, np.isnan(since_days)),
    })  # fmt: skip
    hq = _pick_city(country, city_index)
    return _Accounts(n, ids, country, industry, phase, account_manager, mentor, was_leavers,
                     engagement, wallet, growth, since_days, hq, frame, issues, prof)  # fmt: skip


def _pick_city(country: np.ndarray, city_index: np.ndarray) -> np.ndarray:
    lengths = np.array([len(c.cities) for c in _COUNTRIES])
    flat = np.array([x for c in _COUNTRIES for x in c.cities], dtype=object)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return flat[offsets[country] + city_index % lengths[country]]


@dataclass
class _Contacts:
    """The contacts table and per-contact arrays the relationships are drawn from."""

    frame: pd.DataFrame
    account: np.ndarray  # account index per contact
    piece: np.ndarray  # index into _PIECES
    dept: np.ndarray  # index into _DEPARTMENTS
    counts: np.ndarray  # contacts per account


def _contacts(rng: np.random.Generator, acc: _Accounts) -> _Contacts:
    """~15 contacts per account; position 0 is the king (unless none is identified)."""
    n = acc.n
    counts = np.clip(9 + rng.poisson(6, n), 8, 26)
    if n > _FAST:
        counts[_FAST] = 8
    account = np.repeat(np.arange(n), counts)
    pos = _within(counts)
    m = len(account)
    piece = np.full(m, _PAWN)
    piece[pos == 0] = _KING
    piece[pos == 1] = _QUEEN
    piece[pos == 2] = _ROOK
    u = rng.random(m)
    piece[pos == 3] = np.where(u[pos == 3] < 0.6, _ROOK, _BISHOP)
    piece[pos == 4] = _BISHOP
    piece[pos == 5] = _KNIGHT
    piece[pos == 6] = np.where(u[pos == 6] < 0.5, _BISHOP, np.where(u[pos == 6] < 0.75, _KNIGHT, _PAWN))
    # ~4 % of the accounts have no king identified (a finding in itself).
    rng.random(n)  # (a draw kept so that the stream stays as it was)
    no_king = acc.issues["no_king"]
    piece_text = np.array(_PIECES, dtype=object)[piece]
    piece_text[(pos == 0) & no_king[account]] = ""
    piece_text[(piece == _PAWN) & (rng.random(m) < 0.10)] = ""  # blank loads as pawn

    level = _draw(rng, _LEVEL_P, piece)
    dept = _draw(rng, _DEPT_P, piece)
    variant = rng.integers(0, 2, m)
    depts = np.array(_DEPARTMENTS, dtype=object)
    title = np.where(
        level == 0,
        np.array(_EXEC_TITLES, dtype=object)[dept],
        np.where(
            level == 1,
            _cat(np.where(variant == 0, "Head of ", "VP "), depts[dept]),
            np.where(
                level == 2,
                _cat(depts[dept], " Manager"),
                np.array([t for pair in _OPERATIONAL_TITLES for t in pair], dtype=object)[dept * 2 + variant],
            ),
        ),
    )
    title[(dept == len(_DEPARTMENTS) - 1) & (level != 3)] = ""
    dach = np.array([c.region == "DACH" for c in _COUNTRIES])
    head = (pos == 0) & (dept == 0)
    title[head] = np.where(dach[acc.country[account[head]]], "Managing Director", "Chief Executive Officer")

    language = np.array([c.language for c in _COUNTRIES])[acc.country[account]]
    first = _pick(rng, [n_[0] for n_ in _NAMES], language)
    last = _pick(rng, [n_[1] for n_ in _NAMES], language)
    doctor = (language == 0) & (level <= 1) & (rng.random(m) < 0.2)
    name = _cat(np.where(doctor, "Dr. ", ""), first, " ", last)

    hq = acc.hq[account]
    other = _pick_city(acc.country[account], rng.integers(0, 8, m))
    location = np.where((level == 0) | (rng.random(m) < 0.6), hq, other)

    attitude = _draw(rng, _ATTITUDE_P, piece)
    buying_role = _draw(rng, _BUYING_ROLE_P, piece)
    active = (rng.random(m) >= 0.04) | (pos == 0) | ((account < len(STORIES)) & (pos < 8))
    # a king is an opponent exactly where the profile says so (a red account); elsewhere a
    # king drawn as opponent is a skeptic
    king = pos == 0
    opponent, skeptic = _ATTITUDES.index("opponent"), _ATTITUDES.index("skeptic")
    attitude[king & (attitude == opponent)] = skeptic
    attitude[king & acc.issues["hostile"][account]] = opponent
    if n > _HOSTILE:  # contact 0 is the king of A-0001
        attitude[0], dept[0], level[0] = _ATTITUDES.index("opponent"), 0, 0
        name[0], title[0] = "Dr. Heinrich Vogt", "Chief Executive Officer"
    if n > _LEAVER_STORY:
        start = counts[:_LEAVER_STORY].sum()
        attitude[start : start + 3] = _ATTITUDES.index("supporter")  # they liked Jonas
    frame = pd.DataFrame({
        "contact_id": _ids("C-", np.arange(1, m + 1), 6),
        "account_id": acc.ids[account],
        "name": name,
        "title": title,
        "department": depts[dept],
        "level": np.array(_LEVELS, dtype=object)[level],
        "location": location,
        "buying_role": np.array(_BUYING_ROLES, dtype=object)[buying_role],
        "piece": piece_text,
        "attitude": np.array(_ATTITUDES, dtype=object)[attitude],
        "is_active": np.where(active, "true", "false"),
    })  # fmt: skip
    frame["reports_to"] = _reports_to(frame["contact_id"].to_numpy(), account, level, dept)
    return _Contacts(frame, account, piece, dept, counts)


def _reports_to(ids: np.ndarray, account: np.ndarray, level: np.ndarray, dept: np.ndarray) -> np.ndarray:
    """The org chart, without drawing from the generator (the other columns stay as they were):
    each contact reports to the first contact of the nearest higher level in the same account —
    of the same department if there is one —; executives report to nobody (blank)."""
    d = pd.DataFrame({"i": np.arange(len(ids)), "account": account, "level": level, "dept": dept})
    first_dept = d.drop_duplicates(["account", "dept", "level"])
    first_any = d.drop_duplicates(["account", "level"])
    boss = np.full(len(ids), -1)
    for up in range(int(level.max(initial=0))):  # nearest higher level wins: the highest `up` last
        for heads, on in ((first_any, ["account"]), (first_dept, ["account", "dept"])):
            below = d[d["level"] > up].merge(heads[heads["level"] == up][[*on, "i"]], on=on, suffixes=("", "_boss"))
            boss[below["i"].to_numpy()] = below["i_boss"].to_numpy()
    return np.where(boss >= 0, ids[np.maximum(boss, 0)], "")


def _relationships(rng: np.random.Generator, acc: _Accounts, con: _Contacts) -> pd.DataFrame:
    """Who in the team knows whom: (account, contact, member, strength, days since contact)."""
    account, piece, dept = con.account, con.piece, con.dept
    m = len(account)
    high = (piece <= _ROOK).astype(int)  # 1 for king, queen, rook
    eng = acc.engagement[account]
    parts = []

    def add(
        mask: np.ndarray,
        member: np.ndarray | str,
        p_strength: np.ndarray,
        days_factor: np.ndarray | float,
        days_min: float = 0.0,
    ) -> None:
        """Ties of ``member`` to the contacts in ``mask``; strength by piece (low/high)."""
        idx = np.flatnonzero(mask)
        strength = _draw(rng, p_strength, high[idx])
        factor = days_factor[idx] if np.ndim(days_factor) else days_factor
        days = days_min + rng.exponential(_DAYS_SINCE_CONTACT[strength] * factor)
        members = member[idx] if np.ndim(member) else np.full(len(idx), member, dtype=object)
        parts.append(pd.DataFrame({"a": account[idx], "c": idx, "m": members, "s": strength, "days": days}))

    neglect = np.where(rng.random(acc.n) < 0.2, 2.5, 1.0)
    # how long ties go without contact follows the profile: a looked-after account keeps the
    # people who matter fresh (the pawns go stale anyway)
    neglect = np.where(acc.has("stale", "neglected"), 3.5, np.where(acc.healthy, 0.45, 0.7))[account]
    neglect = np.where(piece >= _KNIGHT, np.maximum(neglect, 1.0), neglect)
    # the account manager: most ties, strongest at the top of the board
    p_am = np.array([0.95, 0.85, 0.72, 0.55, 0.55, 0.30])[piece] * eng
    add(
        rng.random(m) < p_am,
        acc.account_manager[account],
        np.array([[0.04, 0.26, 0.38, 0.24, 0.08], [0.01, 0.07, 0.22, 0.40, 0.30]]),
        neglect,
    )
    # specialists: technical departments (T-11) and operations/commercial ones (T-12)
    technical = np.isin(dept, [2, 5, 6, 7])
    service = np.isin(dept, [1, 3, 4, 8])
    p_spec = 0.35 * eng * (piece != _KING)
    spec_p = np.array([[0.05, 0.30, 0.40, 0.20, 0.05]] * 2)
    add(technical & (rng.random(m) < p_spec), "T-11", spec_p, neglect)
    add(service & (rng.random(m) < p_spec), "T-12", spec_p, neglect)
    # the mentor meets the top of the board now and then
    add(
        (piece <= _QUEEN) & (rng.random(m) < 0.3),
        acc.mentor[account],
        np.array([[0.05, 0.35, 0.35, 0.20, 0.05]] * 2),
        1.5,
    )
    # the executive sponsor for the largest customers
    top = acc.wallet >= np.quantile(acc.wallet, 0.9)
    add(
        (piece == _KING) & top[account] & (rng.random(m) < 0.75),
        "T-01",
        np.array([[0.0, 0.15, 0.35, 0.35, 0.15]] * 2),
        1.2,
    )
    # the leaver: strong ties, silent since he left
    p_leaver = np.array([0.70, 0.70, 0.60, 0.45, 0.45, 0.20])[piece]
    add(
        acc.was_leavers[account] & (rng.random(m) < p_leaver),
        _LEAVER,
        np.array([[0.0, 0.05, 0.15, 0.40, 0.40]] * 2),
        0.6,
        _LEAVE_OFFSET,
    )
    rel = _profile_relationships(acc, con, pd.concat(parts, ignore_index=True))
    rel = _story_relationships(acc, con, rel)
    rel = rel.drop_duplicates(["m", "c"], keep="first").reset_index(drop=True)
    rel["days"] = np.round(rel["days"].to_numpy()).astype(np.int64)
    return rel


def _profile_relationships(acc: _Accounts, con: _Contacts, rel: pd.DataFrame) -> pd.DataFrame:
    """The relationships as each account's profile has them.

    A well-run account has a second thread: besides the account manager, the mentor knows
    the king and the queen and a specialist the rooks, trusted and recently met. A
    single-threaded one has no other strong tie; where one person carries the account, the
    others know only the people at the bottom; an uncovered king is known by nobody well.
    """
    prof, account, piece = acc.prof, con.account, con.piece
    threaded = ~acc.has("single_threaded", "key_person", "stale", "neglected")
    top = (piece <= _ROOK) | ((piece == _BISHOP) & (prof.random(len(piece)) < 0.5))
    pick = np.flatnonzero(threaded[account] & top)
    technical = np.isin(con.dept[pick], [2, 5, 6, 7])
    second = np.where(piece[pick] == _KING, acc.mentor[account[pick]], np.where(technical, "T-11", "T-12"))
    strength = np.where(prof.random(len(pick)) < 0.55, 4, 3)
    days = prof.exponential(35.0, len(pick))
    # the second thread comes first: it wins over a drawn tie of the same pair
    rel = pd.concat([pd.DataFrame({"a": account[pick], "c": pick, "m": second, "s": strength, "days": days}),
                     rel], ignore_index=True)
    am = rel["m"].to_numpy() == acc.account_manager[rel["a"].to_numpy()]
    a, c = rel["a"].to_numpy(), rel["c"].to_numpy()
    s = rel["s"].to_numpy().copy()
    # one thread: nobody but the account manager trusted
    s = np.where(acc.has("single_threaded")[a] & ~am, np.minimum(s, 2), s)
    # one person carries it: the others know only bishops, knights and pawns
    carried = acc.has("key_person", "stale")[a] & ~am
    s = np.where(carried & (piece[c] <= _ROOK), np.minimum(s, 1), s)
    # ... but a specialist is trusted by one pawn (a second thread, though not where it counts)
    helper = carried & (piece[c] == _PAWN) & (rel["m"].isin(["T-11", "T-12"]).to_numpy())
    s = np.where(helper & ~acc.has("stale")[a], np.maximum(s, 3), s)
    # the king: nobody reaches him
    s = np.where(acc.has("king_uncovered")[a] & (piece[c] == _KING), np.minimum(s, 1), s)
    rel["s"] = s
    # the account manager knows the top of the board well wherever the account is looked
    # after, and alone where one person carries it
    fresh = (acc.has("key_person") | threaded)[a] & am & (piece[c] <= _ROOK)
    fresh &= ~(acc.has("king_uncovered")[a] & (piece[c] == _KING))
    rel["s"] = np.where(fresh, np.maximum(s, 3), rel["s"].to_numpy())
    rel["days"] = np.where(fresh, np.minimum(rel["days"].to_numpy(), 40.0), rel["days"].to_numpy())
    return rel


def _story_relationships(acc: _Accounts, con: _Contacts, rel: pd.DataFrame) -> pd.DataFrame:
    """Replace the generated relationships of the relationship stories by their own."""
    counts, piece = con.counts, con.piece
    starts = np.cumsum(counts) - counts

    def ties(
        k: int,
        member: str,
        pieces: tuple[int, ...],
        strength: list[int],
        days: list[float],
        limit: int | None = None,
    ) -> pd.DataFrame:
        c = np.arange(starts[k], starts[k] + counts[k])
        c = c[np.isin(piece[c], pieces)][:limit]
        s = np.resize(strength, len(c))
        d = np.resize(days, len(c))
        return pd.DataFrame({"a": k, "c": c, "m": member, "s": s, "days": d})

    own = []
    n = acc.n
    if n > _HOSTILE:  # the king: weak and stale with everyone
        king = starts[_HOSTILE]
        rel.loc[rel["c"] == king, ["s", "days"]] = [1, 210]
        own.append(ties(_HOSTILE, "T-01", (_KING,), [1], [240]))
    if n > _FAST:  # two relationships, the latest contact on END itself
        am = acc.account_manager[_FAST]
        own += [ties(_FAST, am, (_QUEEN,), [3], [0]), ties(_FAST, am, (_ROOK,), [2], [40], 1)]
    if n > _SINGLE:  # one person holds everything
        am = acc.account_manager[_SINGLE]
        own.append(
            ties(_SINGLE, am, (_KING, _QUEEN, _ROOK, _BISHOP, _KNIGHT), [4, 3, 4], [12, 25, 40, 18, 60])
        )
        own.append(ties(_SINGLE, am, (_PAWN,), [3, 2, 3], [30, 90, 45, 20, 75], 6))
        own.append(ties(_SINGLE, "T-11", (_PAWN,), [1], [420], 1))
    if n > _LEAVER_STORY:  # the leaver held the top of the board
        k = _LEAVER_STORY
        own.append(
            ties(
                k,
                _LEAVER,
                (_KING, _QUEEN, _ROOK, _BISHOP, _KNIGHT),
                [4, 4, 3],
                [_LEAVE_OFFSET + d for d in (3, 17, 30, 8, 45)],
            )
        )
        own.append(ties(k, acc.account_manager[k], (_PAWN,), [2, 1, 1], [35, 80, 150], 3))
        own.append(ties(k, acc.mentor[k], (_QUEEN,), [1], [300]))
    replaced = [k for k in (_FAST, _SINGLE, _LEAVER_STORY) if k < n]
    rel = rel[~rel["a"].isin(replaced)]
    return pd.concat([*own, rel], ignore_index=True)


def _activities(
    rng: np.random.Generator, acc: _Accounts, con: _Contacts, rel: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Activities drawn from the relationships; a pair's latest is its last_contact_date.

    Each live tie (strength > 0, last contact within the three years) gets one activity on
    its last-contact day and a Poisson number more, at a rate by strength, spread over the
    time before it. Weekend meetings move to the Friday before (e-mails stay).
    """
    s = rel["s"].to_numpy()
    last = rel["days"].to_numpy()
    rel_account = rel["a"].to_numpy()
    rel_member = rel["m"].map(_MEMBER_CODE).to_numpy()
    live = (s > 0) & (last <= WINDOW_DAYS)
    scale = rng.lognormal(0.0, 0.3, acc.n)[rel_account]
    span = np.maximum(WINDOW_DAYS - last, 0)
    per_pair = live * (1 + rng.poisson(_ACTIVITY_RATE[s] * scale * span / 365.0))
    row = np.repeat(np.arange(len(rel)), per_pair)
    first = _within(per_pair) == 0
    days = np.where(first, last[row], last[row] + rng.random(len(row)) * span[row])
    days = np.round(days).astype(np.int64)
    member = rel_member[row]
    kind = _draw(rng, _ACTIVITY_TYPE_P, _MEMBER_CLASS[member])
    email = _ACTIVITY_TYPES.index("email")
    kind[first & (days == 0)] = email  # END is a Saturday: the last contact is an e-mail
    days = np.where(kind == email, days, _weekday_back(days))
    contact = rel["c"].to_numpy()[row]
    account = rel_account[row]
    # the pair's latest activity is its last contact (strength 0 = never met: no date)
    rel_days = last.copy()
    rel_days[row[first]] = days[first]

    # a few activities without a contact (a shared mailbox, an internal account meeting)
    k = len(row) // 30
    pick = rng.integers(0, len(row), k) if len(row) else np.zeros(0, dtype=np.int64)
    earlier = np.minimum(days[pick] + rng.integers(1, 6, k), WINDOW_DAYS)
    days = np.concatenate([days, _weekday_back(earlier)])
    account = np.concatenate([account, account[pick]])
    member = np.concatenate([member, member[pick]])
    contact = np.concatenate([contact, np.full(k, -1)])
    kind = np.concatenate([kind, np.where(rng.random(k) < 0.5, email, _ACTIVITY_TYPES.index("meeting"))])

    order = np.lexsort((contact, member, account, -days))  # by date, then account
    contact_ids = np.append(con.frame["contact_id"].to_numpy(dtype=object), "")
    act = pd.DataFrame({
        "activity_id": _ids("ACT-", np.arange(1, len(order) + 1), 6),
        "date": _dates(days[order]),
        "account_id": acc.ids[account[order]],
        "contact_id": contact_ids[contact[order]],
        "member_id": _MEMBER_IDS[member[order]],
        "type": np.array(_ACTIVITY_TYPES, dtype=object)[kind[order]],
    })  # fmt: skip
    order = np.lexsort((rel_member, rel["c"].to_numpy()))  # by contact, then member
    rel_out = pd.DataFrame({
        "member_id": _MEMBER_IDS[rel_member[order]],
        "contact_id": contact_ids[rel["c"].to_numpy()[order]],
        "strength": s[order],
        "last_contact_date": _dates(rel_days[order], s[order] == 0),
    })  # fmt: skip
    return act, rel_out


@dataclass
class _Revenue:
    """The revenue and potential tables and what the pipeline and scores are drawn from."""

    revenue: pd.DataFrame
    potential: pd.DataFrame
    buys: np.ndarray  # (account, line) bought at all
    mix: np.ndarray  # (account, line) share of the customer's spend
    potential_matrix: np.ndarray  # (account, line) annual potential
    share_of_wallet: np.ndarray  # per account, ttm revenue / potential


def _revenue(rng: np.random.Generator, acc: _Accounts) -> _Revenue:
    """Monthly revenue per account and product line, and the potential behind it."""
    n, lines = acc.n, len(PRODUCT_LINES)
    mix = _LINE_MIX * rng.lognormal(0.0, 0.4, (n, lines))
    mix /= mix.sum(axis=1, keepdims=True)
    pre_sales = (acc.phase == 0)[:, None]
    buys = rng.random((n, lines)) < _LINE_BUY_P * np.where(pre_sales, 0.5, 1.0)
    share = np.minimum(rng.beta(2.2, 2.5, (n, lines)) * 1.1, 1.2)
    growth = acc.growth[:, None] + rng.normal(0.0, 0.08, (n, lines))
    start = np.where(rng.random((n, lines)) < 0.10, rng.integers(6, 31, (n, lines)), 0)
    start = np.where(pre_sales, rng.integers(12, 35, (n, lines)), start)
    stop = np.where(rng.random((n, lines)) < 0.04, rng.integers(6, 31, (n, lines)), MONTHS)
    stop[~acc.has("declining")] = MONTHS  # a customer drops a line only where revenue declines
    declining = acc.has("declining")
    start[declining] = 0  # ... and such a customer has bought for years
    margin = _LINE_MARGIN * rng.normal(1.0, 0.12, (n, 1))
    # A large customer orders every month and its many orders average out: smoother revenue.
    orders = 1.0 + acc.wallet[:, None] / 2e6
    noise_scale = 1.0 / np.sqrt(1.0 + acc.wallet[:, None] / 3e6)
    order_p = 1.0 - (1.0 - _LINE_ORDER_P) ** orders
    for k, s in enumerate(STORIES[:n]):
        buys[k] = np.array(s.buys, dtype=bool)
        share[k], growth[k], start[k], stop[k] = s.share, s.growth, 0, MONTHS
        if s.mix is not None:
            mix[k] = s.mix
    if n > _FAST:
        start[_FAST] = [8, 22, 0, 0, 0]
    if n > _LOYAL:
        margin[_LOYAL], noise_scale[_LOYAL], order_p[_LOYAL] = 0.09, 0.15, 1.0
    none = ~buys.any(axis=1) & ~pre_sales[:, 0]
    buys[none, np.argmax(mix[none], axis=1)] = True
    # a declining customer keeps its main line: it buys less, it has not left
    main = np.argmax(np.where(buys, mix, -1.0), axis=1)
    stop[np.arange(n), main] = MONTHS
    potential = acc.wallet[:, None] * mix
    relevant = buys | (rng.random((n, lines)) >= 0.08)  # potential rows: where the line applies
    relevant[: len(STORIES)] = True

    t = np.arange(MONTHS)
    calendar = (10 + t) % 12  # t = 0 is November
    season = 1.0 + _LINE_SEASON[:, None] * (_SEASON[calendar] - 1.0)  # (lines, months)
    annual = potential * share * buys
    level = (annual / 12.0)[:, :, None] * np.exp(growth[:, :, None] * (t - 29.5) / 12.0)
    noise = rng.lognormal(0.0, 1.0, (n, lines, MONTHS)) ** (_LINE_NOISE[:, None] * noise_scale[:, :, None])
    ordered = rng.random((n, lines, MONTHS)) < order_p[:, :, None]
    active = (t >= start[:, :, None]) & (t < stop[:, :, None])
    raw = level * season * noise * ordered / order_p[:, :, None] * active
    # lumpy orders (hardware, training) can make a sound year look like a fall: where the
    # profile does not decline, the last 12 months keep at least the growth it was given
    ttm, prior = raw[:, :, 24:].sum(axis=(1, 2)), raw[:, :, 12:24].sum(axis=(1, 2))
    floor = prior * np.exp(np.maximum(acc.growth, 0.0))
    lift = np.where(~acc.has("declining") & (prior > 0) & (ttm > 0) & (ttm < floor), floor / np.maximum(ttm, 1e-9), 1.0)
    lift[: len(STORIES)] = 1.0
    raw[:, :, 24:] *= lift[:, None, None]
    amount = np.round(raw, 2)
    a, line, month = np.nonzero(amount > 0)
    value = amount[a, line, month]
    pct = np.clip(
        margin[a, line] + rng.normal(0.0, 0.015, len(a)) * np.where(a == _LOYAL, 0.3, 1.0), 0.02, 0.9
    )
    gm = np.round(value * pct, 2)

    # a couple of credit notes (returns, price corrections): negative extra rows
    bought = np.argwhere(buys[:, 1:3] & (annual[:, 1:3] > 0))
    k = min(len(bought), max(2, n // 60))
    pick = bought[rng.choice(len(bought), k, replace=False)] if k else np.zeros((0, 2), int)
    c_a, c_line = pick[:, 0], pick[:, 1] + 1
    c_month = rng.integers(12, MONTHS, k)
    c_value = -np.round(annual[c_a, c_line] / 12.0 * rng.uniform(0.2, 0.6, k), 2)
    c_gm = np.round(c_value * _LINE_MARGIN[c_line], 2)

    a = np.concatenate([a, c_a])
    line = np.concatenate([line, c_line])
    month = np.concatenate([month, c_month])
    value = np.concatenate([value, c_value])
    gm_text = pd.array(np.concatenate([gm, c_gm]), dtype="Float64")
    gm_text[np.r_[rng.random(len(gm)) < 0.015, np.zeros(k, bool)]] = pd.NA
    order = np.lexsort((line, month, a))
    periods = pd.period_range("2023-11", periods=MONTHS, freq="M").strftime("%Y-%m")
    revenue = pd.DataFrame({
        "account_id": acc.ids[a[order]],
        "period": np.asarray(periods, dtype=object)[month[order]],
        "product_line": np.array(PRODUCT_LINES, dtype=object)[line[order]],
        "revenue": value[order],
        "gross_margin": gm_text[order],
    })  # fmt: skip
    pa, pl = np.nonzero(relevant)
    potential_frame = pd.DataFrame({
        "account_id": acc.ids[pa],
        "product_line": np.array(PRODUCT_LINES, dtype=object)[pl],
        "annual_potential": np.round(potential[pa, pl], -3).astype(np.int64),
    })  # fmt: skip
    ttm = amount[:, :, 24:].sum(axis=(1, 2))
    return _Revenue(revenue, potential_frame, buys, mix, potential, ttm / acc.wallet)


def _opportunities(rng: np.random.Generator, acc: _Accounts, rev: _Revenue) -> pd.DataFrame:
    """The pipeline: deals created over three years, closed won/lost or still open."""
    n = acc.n
    lam = np.clip(2 + 4 * acc.engagement * np.sqrt(acc.wallet / np.median(acc.wallet)), 1, 14)
    count = rng.poisson(lam)
    a = np.repeat(np.arange(n), count)
    k = len(a)
    created = rng.integers(0, WINDOW_DAYS + 1, k)
    created = _weekday_back(created)
    cycle = 30 + np.round(rng.gamma(2.0, 60.0, k)).astype(np.int64)
    close = _weekday_back(created - cycle)  # days before END; negative = expected after END
    line = _draw(rng, rev.mix, a)
    closed = close >= 0
    p_win = np.clip(0.25 + 0.3 * acc.engagement[a] + 0.1 * rev.buys[a, line], 0.1, 0.85)
    won = closed & (rng.random(k) < p_win)
    slipped = closed & (rng.random(k) < 0.06)  # past its close date, still open
    status = np.where(~closed | slipped, "open", np.where(won, "won", "lost"))
    progress = np.clip(created / np.maximum(cycle, 1), 0, 0.999)
    stage_i = np.where(slipped, 3, (progress * len(_STAGES_OPEN)).astype(int))
    stage = np.where(
        status == "open",
        np.array(_STAGES_OPEN, dtype=object)[stage_i],
        np.where(status == "won", "Closed Won", "Closed Lost"),
    )
    probability = np.where(status == "open", _STAGE_PROBABILITY[stage_i], np.where(status == "won", 1.0, 0.0))
    prob = pd.array(probability, dtype="Float64")
    prob[(status == "open") & (rng.random(k) < 0.04)] = pd.NA
    amount = np.maximum(rev.potential_matrix[a, line] * rng.uniform(0.1, 0.6, k), 2000.0)
    amount = np.round(amount, -2).astype(np.int64)
    kinds = _pick(rng, list(_DEAL_KINDS), line)
    year = (_END64 - created.astype("timedelta64[D]")).astype("datetime64[Y]").astype(int) + 1970
    no_line = rng.random(k) < 0.03
    name = np.where(
        no_line,
        _cat("Framework agreement ", year.astype(str)),
        _cat(np.array(PRODUCT_LINES, dtype=object)[line], " ", kinds, " ", year.astype(str)),
    )
    order = np.lexsort((-created, a))
    frame = pd.DataFrame({
        "opportunity_id": _ids("O-", np.arange(1, k + 1), 5),
        "account_id": acc.ids[a[order]],
        "name": name[order],
        "product_line": np.where(no_line, "", np.array(PRODUCT_LINES, dtype=object)[line])[order],
        "stage": stage[order],
        "status": status[order],
        "amount": amount[order],
        "probability": prob[order],
        "created_date": _dates(created[order]),
        "close_date": _dates(close[order]),
    })  # fmt: skip
    return frame


def _criterion_scores(rng: np.random.Generator, acc: _Accounts, rev: _Revenue) -> pd.DataFrame:
    """Manual scores 0-10 for the manual criteria; a few left blank by the team."""
    n = acc.n
    fit_mean = np.array([v[1] for v in _INDUSTRIES.values()])[acc.industry]
    fit = np.clip(np.round(fit_mean + rng.normal(0, 1.6, n)), 0, 10)
    unwilling = rng.random(n) < 0.15  # not every customer wants to be a key account
    wish = np.clip(np.round(np.where(unwilling, rng.normal(2, 1.2, n), rng.normal(6.5, 1.8, n))), 0, 10)
    position = np.clip(np.round(2 + 8 * np.minimum(rev.share_of_wallet, 1.0) + rng.normal(0, 1.5, n)), 0, 10)
    for k, s in enumerate(STORIES[:n]):
        if s.strategic_fit is not None:
            fit[k] = s.strategic_fit
        if s.partnership_wish is not None:
            wish[k] = s.partnership_wish
    manual = [c[0] for c in CRITERIA if c[4] == "manual"]
    scores = np.stack([fit, wish, position], axis=1).astype(np.int64)
    keep = rng.random((n, len(manual))) >= 0.04
    keep[: len(STORIES)] = True
    a, c = np.nonzero(keep)
    return pd.DataFrame({
        "account_id": acc.ids[a],
        "criterion_id": np.array(manual, dtype=object)[c],
        "score": scores[a, c],
    })  # fmt: skip


def _reviews(rng: np.random.Generator, acc: _Accounts) -> pd.DataFrame:
    """Mentor reviews every 60-120 days back from the latest one."""
    n, most = acc.n, WINDOW_DAYS // 60 + 1
    latest = np.where(rng.random(n) < 0.85, rng.uniform(0, 100, n), rng.uniform(100, 200, n))
    # reviewed within the cadence, unless the profile has the review late
    since_known = np.nan_to_num(acc.since_days, nan=WINDOW_DAYS)
    latest = np.where(acc.has("review_late"), acc.prof.uniform(150, 190, n),
                      np.minimum(acc.prof.uniform(3, 85, n), np.maximum(since_known - 3, 0)))
    for k, s in enumerate(STORIES[:n]):
        latest[k] = s.last_review
    offsets = latest[:, None] + np.concatenate(
        [np.zeros((n, 1)), np.cumsum(rng.uniform(60, 120, (n, most - 1)), axis=1)], axis=1
    )
    offsets = np.round(offsets).astype(np.int64)
    since = np.nan_to_num(acc.since_days, nan=WINDOW_DAYS)
    ok = (offsets <= WINDOW_DAYS) & (offsets <= since[:, None])
    a, j = np.nonzero(ok)
    days = _weekday_back(offsets[a, j])
    p_on = np.clip(0.55 + 2.0 * acc.growth, 0.2, 0.85)[a]
    rating = np.where(rng.random(len(a)) < p_on, 0, np.where(rng.random(len(a)) < 0.75, 1, 2))
    notes = _pick(rng, [list(x) for x in _NOTES], rating)
    notes[rng.random(len(a)) < 0.10] = ""
    mentor = acc.mentor[a].copy()
    other = rng.random(len(a)) < 0.10
    mentor[other] = np.where(acc.mentor[a][other] == "T-02", "T-03", "T-02")
    # the latest verdict is the profile's
    latest_one = j == 0
    rating[latest_one] = np.select([acc.has("off_track", "neglected")[a], acc.has("at_risk")[a]], [2, 1], 0)[latest_one]
    notes[latest_one] = _pick(rng, [list(x) for x in _NOTES], rating[latest_one])
    rating_text = np.array(["on_track", "at_risk", "off_track"], dtype=object)[rating]
    for k, s in enumerate(STORIES[:n]):
        here = np.flatnonzero((a == k) & (j == 0))
        rating_text[here], notes[here], mentor[here] = s.review[0], s.review[1], acc.mentor[k]
    if n > _OVERDUE:  # an older note written on two lines
        here = np.flatnonzero((a == _OVERDUE) & (j == 1))
        notes[here] = "Reviewed with James and Sofie.\nAgreed: update the plan before summer."
    order = np.lexsort((-days, a))
    return pd.DataFrame({
        "account_id": acc.ids[a[order]],
        "review_date": _dates(days[order]),
        "mentor_id": mentor[order],
        "rating": rating_text[order],
        "notes": notes[order],
    })  # fmt: skip


def _plan_actions(rng: np.random.Generator, acc: _Accounts) -> pd.DataFrame:
    """The account plans' actions: done, open, some overdue, some left with the leaver."""
    n = acc.n
    count = 1 + rng.poisson(2.5, n)
    if n > _LEAVER_STORY:
        count[_LEAVER_STORY] = max(count[_LEAVER_STORY], 3)
    a = np.repeat(np.arange(n), count)
    pos = _within(count)
    k = len(a)
    due = np.round(rng.uniform(-150, 300, k)).astype(np.int64)  # days before END
    owner_kind = _draw(rng, np.array([[0.65, 0.10, 0.10, 0.10, 0.05]]), np.zeros(k, int))
    owner = np.select(
        [owner_kind == 0, owner_kind == 1, owner_kind == 2, owner_kind == 3],
        [acc.account_manager[a], "T-11", "T-12", acc.mentor[a]],
        "",
    )
    leaver_owned = acc.was_leavers[a] & (rng.random(k) < 0.25)
    owner = np.where(leaver_owned, _LEAVER, owner)
    done = np.where(due > 0, rng.random(k) < 0.8, rng.random(k) < 0.10) & ~leaver_owned
    # a plan is carried out where the profile has no overdue actions: what was due is done
    late = acc.has("overdue")[a]
    done |= ~late & (due > 0)
    # where it has, the first action slipped
    slipped = late & (pos == 0)
    due[slipped] = np.maximum(due[slipped], acc.prof.integers(7, 120, int(slipped.sum())))
    done[slipped] = False
    if n > _OVERDUE:  # nobody followed up
        here = a == _OVERDUE
        due[here] = 30 + 40 * pos[here]
        done[here] = False
    if n > _LEAVER_STORY:  # two open actions still owned by Jonas
        here = (a == _LEAVER_STORY) & (pos < 2)
        owner[here], done[here], due[here] = _LEAVER, False, [20, -45]
    line = rng.integers(0, len(PRODUCT_LINES), k)
    template = rng.integers(0, len(_OBJECTIVES), k)
    before = np.array([o[0] for o in _OBJECTIVES], dtype=object)[template]
    after = np.array([o[1] for o in _OBJECTIVES], dtype=object)[template]
    uses_line = np.array([o[0].endswith(" ") for o in _OBJECTIVES])[template]
    objective = _cat(before, np.where(uses_line, np.array(PRODUCT_LINES, dtype=object)[line], ""), after)
    no_due = (rng.random(k) < 0.05) & (a >= len(STORIES)) & ~slipped
    return pd.DataFrame({
        "action_id": _ids("PA-", np.arange(1, k + 1), 5),
        "account_id": acc.ids[a],
        "objective": objective,
        "owner_id": owner,
        "due_date": _dates(due, no_due),
        "status": np.where(done, "done", "open"),
    })  # fmt: skip


def _competitors(rng: np.random.Generator, acc: _Accounts) -> pd.DataFrame:
    """Who else sells to the customer, per product line (blank = across lines)."""
    n = acc.n
    count = np.clip(rng.poisson(1.6, n), 0, 4)
    a = np.repeat(np.arange(n), count)
    k = len(a)
    competitor = rng.integers(0, len(_COMPETITORS), k)
    line = np.where(rng.random(k) < 0.1, -1, rng.integers(0, len(PRODUCT_LINES), k))
    share = np.round(rng.beta(2, 6, k), 2)
    frame = pd.DataFrame({
        "account_id": acc.ids[a],
        "competitor": np.array(_COMPETITORS, dtype=object)[competitor],
        "product_line": np.where(line >= 0, np.array(PRODUCT_LINES, dtype=object)[line], ""),
        "est_share": pd.array(share, dtype="Float64"),
    })  # fmt: skip
    frame.loc[rng.random(k) < 0.08, "est_share"] = pd.NA
    if n > _HOSTILE:
        frame = frame[frame["account_id"] != acc.ids[_HOSTILE]]
        story = pd.DataFrame({
            "account_id": acc.ids[_HOSTILE],
            "competitor": ["Vantage Systems", "Vantage Systems", "Ferrum Hardware"],
            "product_line": ["Software", "Services", "Hardware"],
            "est_share": pd.array([0.45, 0.30, 0.15], dtype="Float64"),
        })  # fmt: skip
        frame = pd.concat([story, frame], ignore_index=True)
    return frame.drop_duplicates(["account_id", "competitor", "product_line"]).reset_index(drop=True)


def generate_demo(accounts: int = 150, seed: int = 7) -> dict[str, pd.DataFrame]:
    """The demo CRM export as DataFrames, one per canonical table, columns in schema order.

    Values are in their export form: IDs and dates as text (``''`` or NA = blank),
    ``revenue.period`` as ``YYYY-MM``, booleans as ``true``/``false``. Deterministic for
    ``(accounts, seed)``; the first accounts are the stories of the module docstring.
    """
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    rng = np.random.default_rng(seed)
    acc = _accounts(rng, accounts, np.random.default_rng([seed, 1]))
    con = _contacts(rng, acc)
    rel = _relationships(rng, acc, con)
    act, relationships = _activities(rng, acc, con, rel)
    rev = _revenue(rng, acc)
    frames = {
        "team": pd.DataFrame(
            [(*t[:5], "true" if t[5] else "false") for t in TEAM],
            columns=TABLES["team"].column_names,
        ),
        "accounts": acc.frame,
        "contacts": con.frame,
        "relationships": relationships,
        "activities": act,
        "revenue": rev.revenue,
        "opportunities": _opportunities(rng, acc, rev),
        "potential": rev.potential,
        "criteria": pd.DataFrame(CRITERIA, columns=TABLES["criteria"].column_names),
        "criterion_scores": _criterion_scores(rng, acc, rev),
        "plan_actions": _plan_actions(rng, acc),
        "reviews": _reviews(rng, acc),
        "competitors": _competitors(rng, acc),
    }
    out = {}
    for name in LOAD_ORDER:
        # every canonical column, in order; an optional one the demo does not fill stays blank
        out[name] = frames[name].reindex(columns=TABLES[name].column_names).reset_index(drop=True)
    return out


def _csv_cells(column: pd.Series) -> pd.Series:
    """One column as CSV text: blank for missing, RFC 4180 quotes where needed."""
    text = column.astype("str").where(column.notna(), "")
    special = text.str.contains('[",\r\n]', regex=True)
    if special.any():
        text = text.where(~special, '"' + text.str.replace('"', '""', regex=False) + '"')
    return text


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """What ``frame.to_csv(path, index=False, lineterminator="\\n")`` writes, twice as fast.

    Column-wise string operations instead of pandas' row-wise writer: it matters for the
    million activity rows of ``accounts=10000``.
    """
    columns = [_csv_cells(frame[name]) for name in frame.columns]
    line = columns[0]
    for cells in columns[1:]:
        line = line + "," + cells
    body = line.str.cat(sep="\n") + "\n" if len(frame) else ""
    path.write_text(",".join(frame.columns) + "\n" + body, encoding="utf-8", newline="")


def write_demo(out_dir: Path | str, accounts: int = 150, seed: int = 7) -> dict[str, Path]:
    """Write the demo CRM export: one ``<table>.csv`` per canonical table into ``out_dir``.

    Comma-delimited UTF-8 (no BOM), ``\\n`` line ends, RFC 4180 quoting, blank for missing.
    Returns the written path per table name, in load order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in generate_demo(accounts, seed).items():
        path = out / f"{name}.csv"
        _write_csv(frame, path)
        paths[name] = path
    return paths
