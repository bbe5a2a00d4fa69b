"""The generated library that ``bench/search.py`` indexes: 10,000 videos' worth of metadata.

Deterministic (its own seed, ``SEED``), no video decoding. Each video has a file name, a topic,
20 transcript segments (one sentence each, with times), 2-4 on-screen texts and one keywords
passage. Texts come from bounded pools so the number of *distinct* texts stays near 3,500
whatever the number of videos: a multilingual embedding model at ~35 ms per text embeds the
pools once (the index's embedding cache is keyed by the text's digest), while the index and the
latency measurements still hold every one of the ~200,000 segments.

Relevance comes from *needles*: sentences that no template can produce, each placed in a few
videos (1-4) among the distractors. Distractors share the needles' vocabulary ("budget",
"deficit", "harvest", "lighthouse" in other sentences) so ranking, phrases and prefixes
matter. The labelled queries (``bench/search/queries.json``) name needles by id; this module
never reads that file.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

SEED = 150_409
SEGMENTS_PER_VIDEO = 20


@dataclass(frozen=True)
class Doc:
    """One passage before it is indexed."""

    video: int          # the video's number
    insight: str        # transcript, ocr, keywords
    item: int           # its index within the insight's items
    start: float
    end: float
    text: str
    language: str
    needle: str | None  # the needle's id when this passage is one


# Per topic: subjects x predicates x tails, English. 12 topics x 6 x 6 x 6 = 2,592 sentences.
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "finance": (["the treasurer", "our accountant", "the bank manager", "a young investor",
                 "the finance minister", "the shop owner"],
                ["reviewed the quarterly budget", "talked about interest rates",
                 "explained the tax forms", "counted the monthly revenue",
                 "checked the pension savings", "discussed a small loan"],
                ["before the annual meeting", "with the whole board", "on a rainy monday",
                 "for the new office", "after the market closed", "during the long call"]),
    "harvest": (["the farmer", "the whole village", "a team of pickers", "my grandfather",
                 "the cooperative", "the young apprentice"],
                ["started bringing in the wheat", "drove the old tractor", "sorted the apples",
                 "repaired the grain silo", "watered the vegetable rows", "fed the cattle"],
                ["at first light", "before the autumn rain", "across the hillside fields",
                 "near the river farm", "for the local market", "while the sun was setting"]),
    "cooking": (["the chef", "my aunt", "the bakery owner", "a culinary student",
                 "the restaurant crew", "our neighbour"],
                ["chopped fresh onions", "baked a loaf of sourdough", "simmered the tomato sauce",
                 "seasoned the roast chicken", "whisked the eggs", "tasted the soup"],
                ["in the small kitchen", "for the family dinner", "with a pinch of salt",
                 "before the guests arrived", "on the wood stove", "for the winter menu"]),
    "sports": (["the goalkeeper", "the captain", "our coach", "the young striker",
                "the visiting team", "the referee"],
               ["scored in the final minute", "stretched before training",
                "argued about the penalty", "ran laps around the stadium",
                "watched the match replay", "signed a new contract"],
               ["in front of a loud crowd", "during the championship", "after a long season",
                "under the stadium lights", "despite the injury", "at the summer camp"]),
    "weather": (["the forecaster", "the coastal station", "the pilot", "a storm chaser",
                 "the mountain guide", "the harbour master"],
                ["warned about strong winds", "measured the rainfall", "saw the fog rolling in",
                 "reported heavy snow", "tracked the thunderstorm", "expected a heat wave"],
                ["along the northern coast", "over the mountain pass", "for the whole weekend",
                 "near the old lighthouse", "by early evening", "across the valley"]),
    "travel": (["the tourists", "our guide", "a backpacker", "the travel writer",
                "the tour bus", "my cousin"],
               ["visited the old cathedral", "missed the night train", "booked a hotel room",
                "crossed the border", "photographed the market square",
                "walked along the canal"],
               ["in the capital city", "on a sunny afternoon", "with a paper map",
                "during the festival", "before the museum closed", "at the end of the trip"]),
    "technology": (["the engineer", "the startup founder", "our developer", "the research lab",
                    "the support team", "a hardware maker"],
                   ["released a software update", "fixed the database server",
                    "tested the new battery", "upgraded the network cables",
                    "designed a faster chip", "debugged the mobile app"],
                   ["before the product launch", "over the weekend", "in the data centre",
                    "for the spring release", "after many failed attempts",
                    "with an open source library"]),
    "health": (["the nurse", "the family doctor", "the physiotherapist", "a hospital volunteer",
                "the pharmacist", "the surgeon"],
               ["checked the blood pressure", "prescribed a short rest",
                "explained the vaccine schedule", "measured the patient's heart rate",
                "recommended daily walks", "treated a sprained ankle"],
               ["at the village clinic", "during the night shift", "before the operation",
                "in the emergency room", "at the morning visit", "after the check up"]),
    "music": (["the violinist", "the choir", "our drummer", "the orchestra",
               "a street musician", "the composer"],
              ["rehearsed the second movement", "tuned the old piano",
               "recorded a new album", "played a quiet melody", "wrote a short symphony",
               "performed the folk songs"],
              ["in the concert hall", "for the wedding guests", "on the town square",
               "late into the night", "at the jazz festival", "in a small studio"]),
    "construction": (["the builders", "the architect", "a crane operator", "the site manager",
                      "the carpenter", "the city planners"],
                     ["poured the concrete foundation", "raised the steel frame",
                      "inspected the new bridge", "laid the brick walls",
                      "installed the roof tiles", "measured the building plot"],
                     ["before the deadline", "next to the railway station",
                      "despite the cold weather", "for the new school",
                      "in the industrial zone", "along the main road"]),
    "space": (["the astronaut", "mission control", "the telescope team", "a young astronomer",
               "the rocket engineers", "the space agency"],
              ["observed a distant comet", "launched a weather satellite",
               "tested the landing module", "mapped the lunar surface",
               "studied the solar flares", "docked with the station"],
              ["late at night", "after months of preparation", "from the desert base",
               "during the eclipse", "with the new instrument", "ahead of the schedule"]),
    "education": (["the teacher", "the school principal", "a first year student",
                   "the university lecturer", "the librarian", "the exam board"],
                  ["graded the history essays", "explained the fractions lesson",
                   "organised a field trip", "opened the new library",
                   "published the exam results", "read a story aloud"],
                  ["to the whole class", "before the holidays", "in the science lab",
                   "at the parents evening", "during the morning break",
                   "for the final term"]),
}

# Other languages: 4 x 4 x 4 each, on three topics per language (384 sentences).
FOREIGN: dict[str, dict[str, tuple[list[str], list[str], list[str]]]] = {
    "fr": {
        "harvest": (["le fermier", "tout le village", "les vendangeurs", "mon grand-père"],
                    ["a coupé le blé", "a réparé le tracteur", "a trié les pommes",
                     "a nourri les vaches"],
                    ["au lever du jour", "avant la pluie d'automne", "près de la rivière",
                     "pour le marché du samedi"]),
        "weather": (["la météo", "le gardien du port", "le pilote", "le guide de montagne"],
                    ["annonce des vents forts", "a mesuré la pluie", "a vu arriver le brouillard",
                     "prévoit de la neige"],
                    ["sur la côte nord", "pour tout le week-end", "dans la vallée",
                     "en fin de soirée"]),
        "cooking": (["le chef", "ma tante", "le boulanger", "l'étudiant en cuisine"],
                    ["a préparé une soupe", "a cuit le pain", "a goûté la sauce",
                     "a coupé des oignons"],
                    ["dans la petite cuisine", "pour le dîner de famille", "avec une pincée de sel",
                     "avant l'arrivée des invités"]),
    },
    "es": {
        "sports": (["el portero", "el capitán", "nuestro entrenador", "el árbitro"],
                   ["marcó en el último minuto", "discutió el penalti",
                    "corrió alrededor del estadio", "firmó un nuevo contrato"],
                   ["delante de la afición", "durante el campeonato", "después de la temporada",
                    "bajo las luces del estadio"]),
        "travel": (["los turistas", "nuestro guía", "mi primo", "el autobús turístico"],
                   ["visitó la catedral", "perdió el tren nocturno", "reservó un hotel",
                    "cruzó la frontera"],
                   ["en la capital", "durante el festival", "con un mapa de papel",
                    "al final del viaje"]),
        "finance": (["el tesorero", "el gerente del banco", "la ministra de hacienda",
                     "el dueño de la tienda"],
                    ["revisó el presupuesto", "habló de los intereses", "contó los ingresos",
                     "pidió un préstamo"],
                    ["antes de la reunión", "con toda la junta", "un lunes lluvioso",
                     "después del cierre del mercado"]),
    },
}

# On-screen texts (signs, titles, captions) and keywords per topic: small pools.
OCR_POOL = ["OPEN", "CLOSED", "SALE 50%", "NO PARKING", "WELCOME", "CHAPTER ONE",
            "BREAKING NEWS", "LIVE", "PLATFORM 3", "TICKETS", "MENU DU JOUR", "SALIDA",
            "GATE B12", "PHARMACY", "HOTEL", "STADIUM", "LIBRARY", "BAKERY", "DANGER",
            "WET FLOOR", "KEEP LEFT", "THANK YOU", "THE END", "PART TWO", "INTERVIEW",
            "MARKET", "POLICE", "TAXI", "STATION", "MUSEUM", "ENTRANCE", "SCHOOL ZONE",
            "CITY HALL", "BANK", "FARM SHOP", "CONCERT TONIGHT", "ROAD WORKS", "ARRIVALS",
            "DEPARTURES", "RESTAURANT"]
OCR_WITH_NUMBERS = ["ROOM {n}", "BUS {n}", "EXIT {n}A", "AISLE {n}", "FLOOR {n}"]


@dataclass(frozen=True)
class Needle:
    id: str
    insight: str
    text: str
    language: str
    copies: int   # in how many videos it is placed (full corpus)


NEEDLES: list[Needle] = [
    Needle("n01", "transcript", "the council admitted a budget deficit of four million euros",
           "en", 3),
    Needle("n02", "transcript", "nobody expected the lighthouse keeper to sing opera", "en", 2),
    Needle("n03", "transcript", "the vineyard lost half its grapes to an early frost", "en", 3),
    Needle("n04", "transcript", "our drummer broke his wrist on the ferry to Norway", "en", 2),
    Needle("n05", "transcript", "the surgeon operated with a borrowed headlamp during the blackout",
           "en", 2),
    Needle("n06", "transcript", "the orbiting telescope photographed a comet with two tails",
           "en", 3),
    Needle("n07", "transcript", "the museum returned the stolen tapestry to the monastery",
           "en", 2),
    Needle("n08", "transcript", "a wildfire forced the evacuation of the campsite at midnight",
           "en", 3),
    Needle("n09", "transcript", "the bakery switched to flour milled from heirloom barley",
           "en", 2),
    Needle("n10", "transcript", "thousands of commuters were stranded when the subway flooded",
           "en", 4),
    Needle("n11", "transcript", "the striker refused to shake hands with the referee", "en", 2),
    Needle("n12", "transcript", "the startup laid off forty engineers after the funding collapsed",
           "en", 3),
    Needle("n13", "transcript", "la récolte des olives a été catastrophique cette année", "fr", 2),
    Needle("n14", "transcript", "el puente colgante fue cerrado por los fuertes vientos", "es", 2),
    Needle("n15", "transcript", "les pêcheurs ont manifesté devant la préfecture", "fr", 2),
    Needle("n16", "transcript", "the librarian discovered a hidden letter inside an atlas",
           "en", 1),
    Needle("n17", "transcript", "our pharmacist warned that the antibiotic shortage would last "
           "until spring", "en", 2),
    Needle("n18", "transcript", "the choir performed barefoot in the flooded cathedral", "en", 2),
    Needle("n19", "ocr", "EMERGENCY EXIT", "en", 4),
    Needle("n20", "ocr", "BEWARE OF FALLING ROCKS", "en", 3),
    Needle("n21", "keywords", "glacier, meltwater, climate research, expedition", "en", 2),
    Needle("n22", "transcript", "the glacier retreated two hundred metres in a single summer",
           "en", 2),
]


def _sentences() -> list[tuple[str, str, str]]:
    """Every distractor sentence: (topic, language, text)."""
    out = []
    for topic, (subjects, predicates, tails) in TOPICS.items():
        out += [(topic, "en", f"{s} {p} {t}") for s in subjects for p in predicates for t in tails]
    for language, topics in FOREIGN.items():
        for topic, (subjects, predicates, tails) in topics.items():
            out += [(topic, language, f"{s} {p} {t}")
                    for s in subjects for p in predicates for t in tails]
    return out


SENTENCES = _sentences()
TOPIC_NAMES = list(TOPICS)


def _keyword_lines(lines: int = 20) -> dict[str, list[str]]:
    """Per topic, a fixed set of keyword lines (4 words from its predicates' vocabulary)."""
    rng = random.Random(SEED + 3)
    out = {}
    for topic in TOPIC_NAMES:
        words = sorted({w for phrase in TOPICS[topic][1] for w in phrase.split()[1:] if len(w) > 4})
        out[topic] = sorted({", ".join(sorted(rng.sample(words, 4))) for _ in range(lines)})
    return out


KEYWORD_LINES = _keyword_lines()


def video_name(index: int, topic: str) -> str:
    return f"{topic}_{index:05d}.mp4"


def video_digest(index: int) -> str:
    return "sha256:" + hashlib.sha256(f"aiwork search bench video {index}".encode()).hexdigest()


def needle_videos(videos: int) -> dict[str, list[int]]:
    """Which videos hold each needle (its own seed, so the placement depends on the size only)."""
    rng = random.Random(SEED + 1)
    return {n.id: sorted(rng.sample(range(videos), n.copies)) for n in NEEDLES}


@dataclass(frozen=True)
class Video:
    index: int
    name: str
    digest: str
    topic: str
    docs: list[Doc]


def videos(count: int, pool: int | None = None) -> Iterator[Video]:
    """The library's videos, in order. ``pool`` bounds the distractor sentences used, and
    keywords lines to 4 a topic (a quick run embeds fewer distinct texts); None uses all."""
    placed: dict[int, list[Needle]] = {}
    by_id = {n.id: n for n in NEEDLES}
    for needle_id, where in needle_videos(count).items():
        for v in where:
            placed.setdefault(v, []).append(by_id[needle_id])
    sentences = SENTENCES if pool is None else random.Random(SEED + 2).sample(SENTENCES, pool)
    by_topic: dict[str, list[tuple[str, str, str]]] = {}
    for row in sentences:
        by_topic.setdefault(row[0], []).append(row)
    topics = sorted(by_topic)
    for index in range(count):
        rng = random.Random(SEED * 1_000_003 + index)
        topic = topics[rng.randrange(len(topics))]
        # Mostly its own topic, a fifth from elsewhere (a video wanders).
        docs: list[Doc] = []
        clock = 0.0
        mine = [n for n in placed.get(index, []) if n.insight == "transcript"]
        needle_slots = dict(zip(rng.sample(range(SEGMENTS_PER_VIDEO), len(mine)), mine,
                                strict=True))
        for item in range(SEGMENTS_PER_VIDEO):
            length = round(rng.uniform(2.0, 7.0), 2)
            needle = needle_slots.get(item)
            if needle is not None:
                text, language, nid = needle.text, needle.language, needle.id
            else:
                source = by_topic[topic] if rng.random() < 0.8 else sentences
                _, language, text = source[rng.randrange(len(source))]
                nid = None
            docs.append(Doc(index, "transcript", item, round(clock, 2), round(clock + length, 2),
                            text, language, nid))
            clock += length + round(rng.uniform(0.1, 1.5), 2)
        duration = clock
        signs = [OCR_POOL[rng.randrange(len(OCR_POOL))] for _ in range(rng.randrange(2, 5))]
        if rng.random() < 0.3:
            signs[0] = OCR_WITH_NUMBERS[rng.randrange(len(OCR_WITH_NUMBERS))].format(
                n=rng.randrange(1, 10))
        signs += [n.text for n in placed.get(index, []) if n.insight == "ocr"]
        for item, sign in enumerate(signs):
            start = round(rng.uniform(0, max(0.0, duration - 5)), 2)
            nid = next((n.id for n in NEEDLES if n.insight == "ocr" and n.text == sign), None)
            docs.append(Doc(index, "ocr", item, start, round(start + rng.uniform(1, 5), 2), sign,
                            "en", nid))
        keyword_needles = [n for n in placed.get(index, []) if n.insight == "keywords"]
        if keyword_needles:
            words, nid = keyword_needles[0].text, keyword_needles[0].id
        else:
            lines = KEYWORD_LINES[topic] if pool is None else KEYWORD_LINES[topic][:4]
            words = lines[rng.randrange(len(lines))]
            nid = None
        docs.append(Doc(index, "keywords", 0, 0.0, round(duration, 2), words, "en", nid))
        yield Video(index, video_name(index, topic), video_digest(index), topic, docs)
