"""The categorical values of the synthetic world: event types, context, share targets, reasons.

Every categorical field of a raw event is drawn from a tuple here and travels through the
simulation as a small integer code (its index); Spark turns the code back into the string when
it renders the record. Keeping the values in one place means the generator, the renderer and the
tests agree on them, and a code never needs a lookup table shipped to executors.
"""
from __future__ import annotations

# Event types of the product's event log (DESIGN.md), in code order.
EVENT_TYPES: tuple[str, ...] = (
    "impression", "view", "complete_view", "replay",          # consumption
    "like", "comment", "share", "follow", "save",             # engagement
    "skip", "hide", "report", "unfollow",                     # negative
    "upload",                                                 # content
)
EVENT_CODE: dict[str, int] = {name: code for code, name in enumerate(EVENT_TYPES)}

# Event types a broken or newer client sends that the product does not know.
UNKNOWN_EVENT_TYPES: tuple[str, ...] = (
    "ad_click", "live_gift", "story_view", "duet", "profile_visit", "swipe_up",
)

# (ISO 3166 country, ISO 639 language, UTC offset in hours, share of users, iOS share of phones).
# Shares loosely follow public estimates of short-video audiences by country.
COUNTRIES: tuple[tuple[str, str, float, float, float], ...] = (
    ("US", "en", -5.0, 0.20, 0.55),
    ("BR", "pt", -3.0, 0.11, 0.15),
    ("ID", "id", 7.0, 0.12, 0.10),
    ("MX", "es", -6.0, 0.07, 0.20),
    ("GB", "en", 0.0, 0.05, 0.50),
    ("DE", "de", 1.0, 0.04, 0.40),
    ("FR", "fr", 1.0, 0.04, 0.35),
    ("JP", "ja", 9.0, 0.05, 0.65),
    ("TR", "tr", 3.0, 0.04, 0.15),
    ("PH", "en", 8.0, 0.05, 0.10),
    ("VN", "vi", 7.0, 0.06, 0.20),
    ("TH", "th", 7.0, 0.04, 0.20),
    ("SA", "ar", 3.0, 0.04, 0.45),
    ("ES", "es", 1.0, 0.03, 0.30),
    ("IT", "it", 1.0, 0.03, 0.35),
    ("KR", "ko", 9.0, 0.03, 0.40),
)
COUNTRY_CODES = tuple(c[0] for c in COUNTRIES)
COUNTRY_LANGUAGES = tuple(c[1] for c in COUNTRIES)
COUNTRY_UTC_OFFSET_H = tuple(c[2] for c in COUNTRIES)
COUNTRY_WEIGHTS = tuple(c[3] for c in COUNTRIES)
COUNTRY_IOS_SHARE = tuple(c[4] for c in COUNTRIES)

DEVICE_TYPES: tuple[str, ...] = ("phone", "tablet", "desktop")
DEVICE_WEIGHTS: tuple[float, ...] = (0.92, 0.06, 0.02)
OPERATING_SYSTEMS: tuple[str, ...] = ("android", "ios", "windows", "macos")
NETWORK_TYPES: tuple[str, ...] = ("wifi", "5g", "4g", "3g")
NETWORK_WEIGHTS: tuple[float, ...] = (0.55, 0.20, 0.22, 0.03)
APP_VERSIONS: tuple[str, ...] = ("34.2.1", "34.1.0", "33.9.4", "33.5.2", "32.8.0", "31.0.0")
APP_VERSION_WEIGHTS: tuple[float, ...] = (0.38, 0.25, 0.17, 0.11, 0.09, 0.0)
# Engagement bots run an emulator farm on an old build (a giveaway a fraud model can learn).
BOT_APP_VERSION = APP_VERSIONS.index("31.0.0")

SHARE_PLATFORMS: tuple[str, ...] = (
    "whatsapp", "instagram", "facebook", "messenger", "telegram", "x", "sms", "copy_link", "snapchat",
)
SHARE_WEIGHTS: tuple[float, ...] = (0.30, 0.15, 0.10, 0.08, 0.07, 0.06, 0.05, 0.14, 0.05)

REPORT_REASONS: tuple[str, ...] = (
    "spam", "misleading", "nudity", "violence", "hate_speech", "harassment", "dangerous_acts",
    "scam", "intellectual_property", "minor_safety", "other",
)
REPORT_WEIGHTS: tuple[float, ...] = (0.25, 0.15, 0.08, 0.07, 0.06, 0.07, 0.05, 0.10, 0.05, 0.02, 0.10)

COMMENTS: tuple[str, ...] = (
    "😂😂😂", "this is so true", "love this!!", "omg", "where is this?", "need the song name",
    "can't stop watching", "first 🔥", "who's here in 2024", "the ending tho 💀", "tutorial please",
    "my mom does this", "not me watching this 5 times", "this deserves more views", "so cute 😍",
    "I tried this and it works", "wait for it...", "facts", "how??", "who else is from the fyp",
    "lol", "❤️❤️", "the way he looked at the camera 😭", "part 2 pls", "saving this for later",
    "underrated", "this app knows me too well", "bro really said", "goals", "I'm crying",
    "this is fake", "seen this 100 times", "boring", "why is this on my fyp", "cringe",
    "stop posting this", "no way 😳", "@bestie look", "so satisfying", "the editing is insane",
)

# Names shown as #hashtags in descriptions, one per KuaiRand tag id (0..68). KuaiRand publishes
# only ids; the names are ours, so that descriptions read like a short-video app's.
TAG_NAMES: tuple[str, ...] = (
    "life", "comedy", "food", "pets", "travel", "gaming", "music", "dance", "beauty", "fashion",
    "fitness", "sports", "football", "cars", "tech", "education", "art", "diy", "nature", "kids",
    "family", "asmr", "prank", "lifehack", "cooking", "baking", "memes", "anime", "movies", "books",
    "motivation", "fishing", "gardening", "wedding", "drama", "news", "finance", "history",
    "science", "photography", "makeup", "skincare", "hair", "shopping", "unboxing", "cats", "dogs",
    "horses", "farm", "rural", "city", "streetfood", "vlog", "couple", "school", "work", "military",
    "singing", "guitar", "piano", "magic", "crafts", "painting", "skateboard", "basketball",
    "esports", "livestream", "celebrity", "tiktokmademebuyit",
)
# Hashtags many uploads carry whatever their topic.
GENERIC_HASHTAGS: tuple[str, ...] = ("fyp", "foryou", "viral", "trending", "foryoupage")
DESCRIPTIONS: tuple[str, ...] = (
    "wait for the end", "POV: you finally tried it", "day {n} of posting until it blows up",
    "this took me {n} hours", "rate this 1-10", "tell me I'm not the only one",
    "part {n}", "storytime", "had to share this", "you won't believe this", "quick one today",
    "new series!", "replying to comments", "ok but why is this so relaxing", "best day ever",
)

# UTC hours at which creators upload (a weak evening peak); local hours of app sessions follow
# HOURLY_ACTIVITY below.
HOURLY_ACTIVITY: tuple[float, ...] = (
    # 00   01   02   03   04   05   06   07   08   09   10   11
    3.0, 1.8, 1.0, 0.6, 0.5, 0.7, 1.5, 2.8, 3.5, 3.6, 3.8, 4.3,
    # 12   13   14   15   16   17   18   19   20   21   22   23
    5.2, 5.0, 4.4, 4.3, 4.6, 5.1, 5.8, 6.6, 7.3, 7.6, 6.9, 5.0,
)
