"""Per-country material for the company data set: names, places, tax-number shapes and the names of the country.

A word written "native|latin" has a Latin transliteration used for e-mail domains and English spellings; a word
without "|" is its own Latin form (accents are folded away for domains).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

_GERMAN_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def native(word: str) -> str:
    """The word as written in its own script."""
    return word.split("|", 1)[0]


def latin(word: str) -> str:
    """The word's Latin form."""
    return word.split("|", 1)[-1]


def slug(word: str) -> str:
    """Lower-case ASCII letters and digits of a word's Latin form, German umlauts spelled out (müller -> mueller)."""
    folded = unicodedata.normalize("NFKD", latin(word).translate(_GERMAN_FOLD))
    return "".join(char for char in folded.lower() if char.isascii() and char.isalnum())


@dataclass(frozen=True)
class Country:
    """How companies of one country look in the source systems."""

    code: str
    names: tuple[str, ...]  # BillingCountry spellings, each read as this country by the pipeline
    vat_prefix: str  # "" where tax numbers carry no country prefix
    vat_digits: int
    brands: tuple[str, ...]
    trades: tuple[str, ...]
    legal: tuple[str, ...]
    template: str  # from {city} {brand} {trade} {legal}
    cities: tuple[tuple[str, str], ...]  # (city, a postcode of it)
    streets: tuple[str, ...]  # with {n} for the house number
    given: tuple[str, ...]
    tld: str
    free_mail: tuple[str, ...]
    mailboxes: tuple[str, ...]
    weight: int

    def vat(self, digits: str) -> str:
        """The tax number in its canonical form (normalised as the pipeline does: A-Z0-9 only)."""
        return f"{self.vat_prefix}{digits}"

    def postcode(self, rng: random.Random, base: str) -> str:
        """A postcode near `base` (same area, last digits varied)."""
        if self.code == "GB":
            letters = "ABDEFGHJLNPQRSTUWXYZ"
            return f"{base.split()[0]} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
        head, tail = base[:-2], base[-2:]
        return head + "".join(str(rng.randint(0, 9)) if c.isdigit() else c for c in tail)


COUNTRIES: tuple[Country, ...] = (
    Country(
        "DE",
        ("DE", "Deutschland", "Germany", "Allemagne", "Germania", "ألمانيا", "德国"),
        "DE",
        9,
        (
            "Müller",
            "Schröder",
            "Weiß",
            "Groß",
            "Köhler",
            "Bäcker",
            "Fischer",
            "Schäfer",
            "Krüger",
            "Hoffmann",
            "Wagner",
            "Becker",
            "Schulz",
            "Böhm",
            "Jäger",
            "Vogel",
            "Lößner",
            "Kühn",
        ),
        ("Maschinenbau", "Logistik", "Elektrotechnik", "Metallbau", "Sanitär", "Druckerei", "Holzbau", "Kältetechnik"),
        ("GmbH", "AG", "GmbH & Co. KG", "KG", "e.K."),
        "{brand} {trade} {legal}",
        (
            ("Berlin", "10115"),
            ("München", "80331"),
            ("Köln", "50667"),
            ("Düsseldorf", "40213"),
            ("Nürnberg", "90402"),
            ("Würzburg", "97070"),
            ("Lübeck", "23552"),
            ("Göttingen", "37073"),
        ),
        ("Hauptstraße {n}", "Bahnhofstraße {n}", "Schloßallee {n}", "Gartenweg {n}", "Mühlenstraße {n}"),
        ("Jürgen", "Björn", "Anna", "Lena", "Maximilian", "Sören", "Käthe", "Uwe"),
        "de",
        ("gmail.com", "web.de", "gmx.de", "t-online.de"),
        ("info", "einkauf", "buchhaltung", "kontakt"),
        18,
    ),
    Country(
        "AT",
        ("AT", "Österreich", "Austria", "Autriche", "Rakousko"),
        "ATU",
        8,
        ("Gruber", "Huber", "Pichler", "Moser", "Höller", "Wögerer", "Strauß", "Brunner"),
        ("Holzbau", "Installationen", "Transporte", "Bäckerei", "Elektro", "Tischlerei"),
        ("GmbH", "OG", "KG"),
        "{brand} {trade} {legal}",
        (("Wien", "1010"), ("Graz", "8010"), ("Linz", "4020"), ("Salzburg", "5020"), ("Innsbruck", "6020")),
        ("Mariahilfer Straße {n}", "Hauptplatz {n}", "Kärntner Straße {n}", "Landstraße {n}"),
        ("Günther", "Jürgen", "Maria", "Theresa", "Lukas"),
        "at",
        ("gmail.com", "gmx.at", "aon.at"),
        ("office", "info", "einkauf"),
        6,
    ),
    Country(
        "IT",
        ("IT", "Italia", "Italy", "Italien", "Itálie", "意大利"),
        "IT",
        11,
        (
            "Rossi",
            "Bianchi",
            "Ferrari",
            "Esposito",
            "Colombo",
            "Ricci",
            "Marino",
            "Greco",
            "De Luca",
            "Mancini",
            "Niccolò",
            "Caffè Moretti",
            "Forlì",
            "Lucà",
        ),
        ("Meccanica", "Trasporti", "Costruzioni", "Tessile", "Alimentari", "Arredamenti", "Ceramiche", "Qualità"),
        ("S.r.l.", "S.p.A.", "S.n.c.", "S.a.s."),
        "{brand} {trade} {legal}",
        (
            ("Milano", "20121"),
            ("Roma", "00184"),
            ("Torino", "10121"),
            ("Napoli", "80133"),
            ("Forlì", "47121"),
            ("Cantù", "22063"),
        ),
        ("Via Roma {n}", "Corso Vittorio Emanuele II {n}", "Piazza Garibaldi {n}", "Via Nazionale {n}"),
        ("Niccolò", "Giulia", "Francesca", "Andrea", "Nicolò"),
        "it",
        ("gmail.com", "libero.it", "virgilio.it"),
        ("info", "amministrazione", "ordini", "commerciale"),
        14,
    ),
    Country(
        "ES",
        ("ES", "España", "Spain", "Spanien", "Espagne", "Španělsko"),
        "ES",
        9,
        (
            "García",
            "Martínez",
            "López",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Fernández",
            "Jiménez",
            "Muñoz",
            "Núñez",
            "Ibáñez",
            "Peña",
        ),
        ("Construcciones", "Transportes", "Alimentación", "Logística", "Climatización", "Ingeniería"),
        ("S.L.", "S.A.", "S.L.U."),
        "{brand} {trade} {legal}",
        (("Madrid", "28013"), ("Barcelona", "08001"), ("Sevilla", "41001"), ("Málaga", "29001"), ("A Coruña", "15001")),
        ("Calle Mayor {n}", "Avenida de la Constitución {n}", "Calle Núñez de Balboa {n}", "Plaza de España {n}"),
        ("José", "María", "Begoña", "Ángel", "Iñaki"),
        "es",
        ("gmail.com", "hotmail.es", "telefonica.net"),
        ("info", "compras", "administracion", "pedidos"),
        10,
    ),
    Country(
        "FR",
        ("FR", "France", "Frankreich", "Francia", "Francie", "法国"),
        "FR",
        11,
        (
            "Lefèvre",
            "Bérard",
            "Gérard",
            "Dupré",
            "Moreau",
            "Lemaître",
            "Fabre",
            "Mercier",
            "Rousseau",
            "Bénard",
            "Chevalier",
            "Leroy",
        ),
        ("Bâtiment", "Électricité", "Transports", "Boulangerie", "Négoce", "Menuiserie", "Matériaux"),
        ("SARL", "SAS", "SA", "EURL"),
        "{brand} {trade} {legal}",
        (("Paris", "75008"), ("Lyon", "69002"), ("Marseille", "13001"), ("Besançon", "25000"), ("Orléans", "45000")),
        ("{n} rue de la République", "{n} avenue des Champs-Élysées", "{n} boulevard Haussmann", "{n} rue d'Épinal"),
        ("Hélène", "François", "Jérôme", "Noël", "Cécile"),
        "fr",
        ("gmail.com", "orange.fr", "free.fr", "laposte.net"),
        ("contact", "comptabilite", "achats", "commandes"),
        10,
    ),
    Country(
        "CZ",
        ("CZ", "Česko", "Česká republika", "Tschechien", "Czechia", "Repubblica Ceca"),
        "CZ",
        8,
        ("Novák", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec", "Pokorný", "Růžička"),
        ("stavby", "strojírna", "doprava", "elektro", "dřevovýroba", "potraviny"),
        ("s.r.o.", "a.s.", "spol. s r.o."),
        "{brand} {trade} {legal}",
        (("Praha", "110 00"), ("Brno", "602 00"), ("Ostrava", "702 00"), ("Plzeň", "301 00"), ("Olomouc", "779 00")),
        ("Národní {n}", "Václavské náměstí {n}", "Husova {n}", "Žižkova {n}"),
        ("Jiří", "Tomáš", "Kateřina", "Lucie", "Přemysl"),
        "cz",
        ("seznam.cz", "gmail.com", "email.cz"),
        ("info", "obchod", "fakturace"),
        6,
    ),
    Country(
        "GB",
        ("GB", "United Kingdom", "UK", "Regno Unito", "Royaume-Uni", "Reino Unido", "英国"),
        "GB",
        9,
        ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright"),
        ("Engineering", "Logistics", "Builders", "Supplies", "Electrical", "Foods"),
        ("Ltd", "Limited", "PLC", "LLP"),
        "{brand} {trade} {legal}",
        (("London", "SW1A 1AA"), ("Manchester", "M1 1AE"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 4DJ")),
        ("{n} High Street", "{n} Station Road", "{n} Church Lane", "{n} Victoria Road"),
        ("Oliver", "Amelia", "Harry", "Isla", "Siobhán"),
        "co.uk",
        ("gmail.com", "outlook.com", "btinternet.com"),
        ("accounts", "sales", "info", "orders"),
        8,
    ),
    Country(
        "CN",
        ("CN", "中国", "China", "Cina", "Chine", "Čína"),
        "",
        18,
        (
            "华信|Huaxin",
            "东方|Dongfang",
            "长城|Changcheng",
            "金龙|Jinlong",
            "宏达|Hongda",
            "新世纪|Xinshiji",
            "恒通|Hengtong",
            "瑞丰|Ruifeng",
            "天成|Tiancheng",
            "中联|Zhonglian",
            "华为|Huawei",
            "永安|Yongan",
        ),
        (
            "机械|Machinery",
            "电子|Electronics",
            "贸易|Trading",
            "物流|Logistics",
            "纺织|Textile",
            "化工|Chemical",
            "科技|Technology",
        ),
        ("有限公司|Co., Ltd.", "股份有限公司|Holding Co., Ltd."),
        "{city}{brand}{trade}{legal}",
        (
            ("上海|Shanghai", "200000"),
            ("北京|Beijing", "100000"),
            ("深圳|Shenzhen", "518000"),
            ("广州|Guangzhou", "510000"),
            ("杭州|Hangzhou", "310000"),
            ("苏州|Suzhou", "215000"),
        ),
        ("南京路{n}号", "人民大道{n}号", "中山路{n}号", "解放路{n}号"),
        ("王伟|Wang Wei", "李娜|Li Na", "张敏|Zhang Min", "刘洋|Liu Yang", "陈静|Chen Jing"),
        "com.cn",
        ("qq.com", "163.com", "126.com"),
        ("sales", "info", "service"),
        10,
    ),
    Country(
        "BD",
        ("BD", "বাংলাদেশ", "Bangladesh", "Bangladesch"),
        "",
        13,
        (
            "রহমান|Rahman",
            "হোসেন|Hossain",
            "ইসলাম|Islam",
            "আহমেদ|Ahmed",
            "চৌধুরী|Chowdhury",
            "করিম|Karim",
            "সোনালী|Sonali",
            "মেঘনা|Meghna",
        ),
        ("টেক্সটাইল|Textile", "ট্রেডিং|Trading", "গার্মেন্টস|Garments", "ফার্মা|Pharma", "ইলেকট্রনিক্স|Electronics"),
        ("লিমিটেড|Limited", "প্রাইভেট লিমিটেড|Private Limited"),
        "{brand} {trade} {legal}",
        (("ঢাকা|Dhaka", "1205"), ("চট্টগ্রাম|Chattogram", "4000"), ("খুলনা|Khulna", "9100"), ("রাজশাহী|Rajshahi", "6000")),
        ("গুলশান এভিনিউ {n}", "মতিঝিল রোড {n}", "ধানমন্ডি সড়ক {n}"),
        ("মোহাম্মদ|Mohammad", "ফাতেমা|Fatema", "তানভীর|Tanvir", "নুসরাত|Nusrat"),
        "com.bd",
        ("gmail.com", "yahoo.com"),
        ("info", "sales", "accounts"),
        9,
    ),
    Country(
        "EG",
        ("EG", "مصر", "Egypt", "Ägypten", "Égypte", "Egitto"),
        "",
        9,
        ("النور|Elnour", "الأمل|Elamal", "النيل|Elnil", "الفجر|Elfagr", "الهدى|Elhoda", "الشروق|Elshorouk"),
        (
            "للتجارة|Trading",
            "للمقاولات|Contracting",
            "للصناعات الغذائية|Food Industries",
            "للنقل|Transport",
            "للأدوية|Pharmaceuticals",
        ),
        ("ش.م.م|LLC", "ش.م.م.|S.A.E."),
        "شركة {brand} {trade} {legal}",
        (("القاهرة|Cairo", "11511"), ("الإسكندرية|Alexandria", "21500"), ("الجيزة|Giza", "12511")),
        ("شارع التحرير {n}", "شارع الهرم {n}", "كورنيش النيل {n}"),
        ("أحمد|Ahmed", "فاطمة|Fatma", "محمود|Mahmoud", "مريم|Mariam"),
        "com.eg",
        ("gmail.com", "yahoo.com", "hotmail.com"),
        ("info", "sales"),
        7,
    ),
    Country(
        "MA",
        ("MA", "المغرب", "Maroc", "Morocco", "Marokko", "Marocco"),
        "",
        15,
        ("الأطلس|Atlas", "المغرب العربي|Maghreb", "الواحة|Elwaha", "السعادة|Essaada"),
        ("للتجارة|Trading", "للنقل|Transport", "للبناء|Construction"),
        ("ش.م.م|SARL",),
        "شركة {brand} {trade} {legal}",
        (("الدار البيضاء|Casablanca", "20000"), ("الرباط|Rabat", "10000"), ("مراكش|Marrakech", "40000")),
        ("شارع محمد الخامس {n}", "شارع الحسن الثاني {n}"),
        ("يوسف|Youssef", "خديجة|Khadija", "كريم|Karim"),
        "ma",
        ("gmail.com", "menara.ma"),
        ("contact", "info"),
        2,
    ),
)

BY_CODE = {country.code: country for country in COUNTRIES}
# Countries that are no country: a record carrying one is refused by cleansing.
NO_COUNTRIES = ("Atlantis", "Narnia", "XX", "Utopia", "ZZ")
# E-mail addresses missing a domain or its dot: a record carrying one is refused by cleansing.
BROKEN_EMAILS = ("info@", "kontakt@firma", "sales@@example.com", "buchhaltung")
